//! The [`Outbox`]: how flows talk to people. It renders a message with the host's
//! templates and branding, and sends it in the background, so an answer never waits for
//! (or reveals) delivery; a failure is logged and audited, never shown to the requester.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::Notify;

use uuid::Uuid;

use super::{
    Branding, Email, EmailTemplates, Mailer, Message, SmsSender, TextMessage, mask_email,
    single_line,
};
use crate::{
    audit::AuditEvent,
    audit::{AuditKind, Auditor},
    entity::user,
};

/// Renders, brands and delivers emails and texts.
pub(crate) struct Outbox {
    mailer: Arc<dyn Mailer>,
    templates: Arc<dyn EmailTemplates>,
    /// `None`: no texts can be sent (SMS sign-in is off).
    sms: Option<Arc<dyn SmsSender>>,
    auditor: Auditor,
    /// The `From` of every email.
    from: String,
    /// The host's configured branding.
    branding: Branding,
    /// Messages handed over and not yet sent (a graceful shutdown waits for them).
    in_flight: Arc<InFlight>,
}

/// A count of messages being sent, and a signal when it falls to zero.
#[derive(Debug, Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// One message being prepared or sent: counted from its hand-over until its task ends
/// (dropping it ends the count).
pub(crate) struct Sending(Arc<InFlight>);

impl Sending {
    fn start(in_flight: &Arc<InFlight>) -> Self {
        in_flight.count.fetch_add(1, Ordering::SeqCst);
        Self(in_flight.clone())
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Outbox {
    pub(crate) fn new(
        mailer: Arc<dyn Mailer>,
        templates: Arc<dyn EmailTemplates>,
        sms: Option<Arc<dyn SmsSender>>,
        auditor: Auditor,
        from: String,
        branding: Branding,
    ) -> Self {
        Self {
            mailer,
            templates,
            sms,
            auditor,
            from,
            branding,
            in_flight: Arc::default(),
        }
    }

    /// Counts a message whose preparation runs in the background (a flow that answers
    /// first, then issues a secret and renders it) until the returned guard drops, so a
    /// shutdown waits for it like for a message already rendered.
    pub(crate) fn track(&self) -> Sending {
        Sending::start(&self.in_flight)
    }

    /// Resolves once every message handed over so far has been sent (or has failed).
    pub(crate) async fn drained(&self) {
        loop {
            let idle = self.in_flight.idle.notified();
            tokio::pin!(idle);
            // Registered before the count is read, so a send ending in between is seen.
            idle.as_mut().enable();
            if self.in_flight.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// The default sender: `{app} <no-reply@{public host}>` (a dotless host such as
    /// `localhost` is no mail domain; a development sink takes `localhost.localdomain`).
    pub(crate) fn default_from(app_name: &str, public_host: &str) -> String {
        let domain = if public_host.contains('.') {
            public_host
        } else {
            "localhost.localdomain"
        };
        format!(
            "{} <no-reply@{domain}>",
            single_line(app_name).replace(['<', '>', '"'], "")
        )
    }

    /// The host's configured branding (a request may adjust a copy of it).
    pub(crate) fn branding(&self) -> Branding {
        self.branding.clone()
    }

    /// Whether texts can be sent at all.
    pub(crate) fn can_text(&self) -> bool {
        self.sms.is_some()
    }

    /// Renders `message` for `to` with `branding`.
    pub(crate) fn render(&self, to: &str, message: &Message<'_>, branding: &Branding) -> Email {
        Email::new(
            to.to_owned(),
            self.from.clone(),
            message.kind(),
            self.templates.render(message, branding),
        )
    }

    /// Tells a user about a change to their account, at their email address if they have
    /// one (in the background, like every email).
    pub(crate) fn notify(&self, user: &user::Model, message: &Message<'_>) {
        if let Some(address) = &user.email {
            let email = self.render(address, message, &self.branding);
            self.send(email, Some(user.id));
        }
    }

    /// Sends an email in the background.
    pub(crate) fn send(&self, email: Email, user_id: Option<Uuid>) {
        let mailer = self.mailer.clone();
        let auditor = self.auditor.clone();
        let sending = Sending::start(&self.in_flight);
        tokio::spawn(async move {
            let _sending = sending;
            match mailer.send(&email).await {
                Ok(()) => {
                    tracing::debug!(to = %mask_email(&email.to), kind = email.kind, "email sent");
                }
                Err(err) => {
                    tracing::error!(to = %mask_email(&email.to), kind = email.kind, error = %err, "email delivery failed");
                    let mut event =
                        AuditEvent::new(AuditKind::EmailDeliveryFailed).detail("kind", email.kind);
                    if let Some(user_id) = user_id {
                        event = event.user(user_id);
                    }
                    auditor.record(event).await;
                }
            }
        });
    }

    /// Sends a text in the background, like [`send`](Self::send); nothing when texts are
    /// off.
    pub(crate) fn send_text(&self, message: TextMessage, user_id: Option<Uuid>) {
        let Some(sender) = self.sms.clone() else {
            return;
        };
        let auditor = self.auditor.clone();
        let sending = Sending::start(&self.in_flight);
        tokio::spawn(async move {
            let _sending = sending;
            if let Err(err) = sender.send(&message).await {
                tracing::error!(kind = message.kind, error = %err, "text message delivery failed");
                let mut event =
                    AuditEvent::new(AuditKind::SmsDeliveryFailed).detail("kind", message.kind);
                if let Some(user_id) = user_id {
                    event = event.user(user_id);
                }
                auditor.record(event).await;
            }
        });
    }
}
