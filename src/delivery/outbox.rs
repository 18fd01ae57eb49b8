//! The [`Outbox`]: how flows talk to people. It renders a message with the host's
//! templates and branding and hands it over without waiting, so an answer never waits for
//! (or reveals) delivery.
//!
//! A message handed over is first **written to the outbox table** (`portcullis_outbox`,
//! sealed: it carries links and codes), then delivered at once. A message carrying a link
//! or code is stored in the transaction that issues the secret, which
//! [`send_on_commit`](Outbox::send_on_commit) then commits, so the secret and its message
//! commit together or not at all, and delivers. A delivery that fails is
//! retried with exponential backoff (1 s, 2 s, 4 s, ... at most 5 minutes apart,
//! [`MAX_ATTEMPTS`] attempts in all), then given up on (`dead`, audited). Any instance may
//! deliver: each message is claimed with a lease by a conditional update, so a message is
//! sent by one instance at a time, and one that an instance was holding when it crashed is
//! taken over once the lease ends. Delivery is at least once: every attempt carries the
//! same message id (SMTP `Message-ID`). A message whose link or code expired before it
//! could be delivered is dropped (audited as `message_expired`), never sent late.
//!
//! If the table cannot be written (the database is away), the message is sent directly,
//! once, as a last resort.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use ring::aead;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

use super::{
    Branding, Email, EmailTemplates, Mailer, Message, SmsSender, TextMessage, mask_email,
    single_line,
};
use crate::{
    audit::{AuditEvent, AuditKind, Auditor},
    crypto,
    entity::{Redacted, outbox_message, user},
    store,
};

/// Attempts before a message is given up on.
pub(crate) const MAX_ATTEMPTS: i32 = 8;
/// How long an instance holds a message it is delivering before others may take it over.
const LEASE: time::Duration = time::Duration::minutes(2);
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 300;
/// Messages one pass of the worker claims at a time.
const BATCH: u64 = 16;

/// Renders, brands and delivers emails and texts.
pub(crate) struct Outbox {
    inner: Arc<Inner>,
    templates: Arc<dyn EmailTemplates>,
    /// The `From` of every email.
    from: String,
    /// The host's configured branding.
    branding: Branding,
    /// Messages handed over and not yet delivered or stored (a graceful shutdown waits for
    /// them).
    in_flight: Arc<InFlight>,
}

/// What delivering needs, shared with the tasks that deliver.
struct Inner {
    db: DatabaseConnection,
    mailer: Arc<dyn Mailer>,
    /// `None`: no texts can be sent (SMS sign-in is off).
    sms: Option<Arc<dyn SmsSender>>,
    auditor: Auditor,
    sealing: Arc<aead::LessSafeKey>,
    /// Added to the system clock (tests move it).
    clock_offset: time::Duration,
}

/// A message as stored (sealed) in the outbox table.
#[derive(Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
enum Payload {
    Email {
        to: String,
        from: String,
        subject: String,
        text: String,
        html: String,
    },
    Sms {
        to: String,
        body: String,
    },
}

impl Payload {
    /// What is stored of an email, and its kind.
    fn of_email(email: Email) -> (Self, &'static str) {
        let payload = Self::Email {
            to: email.to,
            from: email.from,
            subject: email.subject,
            text: email.text,
            html: email.html,
        };
        (payload, email.kind)
    }

    fn channel(&self) -> &'static str {
        match self {
            Self::Email { .. } => "email",
            Self::Sms { .. } => "sms",
        }
    }
}

/// A message stored in the caller's transaction, to deliver once that committed.
struct Staged {
    id: Uuid,
    kind: &'static str,
    user_id: Option<Uuid>,
    payload: Payload,
}

/// A count of messages being handed over, and a signal when it falls to zero.
#[derive(Debug, Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// One message being prepared or handed over: counted until its task ends (dropping it
/// ends the count).
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
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        db: DatabaseConnection,
        mailer: Arc<dyn Mailer>,
        templates: Arc<dyn EmailTemplates>,
        sms: Option<Arc<dyn SmsSender>>,
        auditor: Auditor,
        sealing: Arc<aead::LessSafeKey>,
        clock_offset: time::Duration,
        from: String,
        branding: Branding,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                mailer,
                sms,
                auditor,
                sealing,
                clock_offset,
            }),
            templates,
            from,
            branding,
            in_flight: Arc::default(),
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
        self.inner.sms.is_some()
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

    /// Counts a message whose preparation runs in the background (a flow that answers
    /// first, then issues a secret and renders it) until the returned guard drops, so a
    /// shutdown waits for it like for a message already handed over.
    pub(crate) fn track(&self) -> Sending {
        Sending::start(&self.in_flight)
    }

    /// Resolves once every message handed over so far has been stored or delivered.
    pub(crate) async fn drained(&self) {
        loop {
            let idle = self.in_flight.idle.notified();
            tokio::pin!(idle);
            // Registered before the count is read, so a hand-over ending in between is seen.
            idle.as_mut().enable();
            if self.in_flight.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Tells a user about a change to their account, at their email address if they have
    /// one (in the background, like every email).
    pub(crate) fn notify(&self, user: &user::Model, message: &Message<'_>) {
        if let Some(address) = &user.email {
            let email = self.render(address, message, &self.branding);
            self.send(email, Some(user.id));
        }
    }

    /// Hands an email over (see the [module docs](self)).
    pub(crate) fn send(&self, email: Email, user_id: Option<Uuid>) {
        self.send_until(email, user_id, None);
    }

    /// Hands over an email carrying a link or code that expires at `expires_at`: it is
    /// dropped rather than sent after that.
    pub(crate) fn send_until(
        &self,
        email: Email,
        user_id: Option<Uuid>,
        expires_at: Option<OffsetDateTime>,
    ) {
        let (payload, kind) = Payload::of_email(email);
        self.hand_over(payload, kind, user_id, expires_at);
    }

    /// Hands a text over, like [`send_until`](Self::send_until); nothing when texts are
    /// off.
    pub(crate) fn send_text(
        &self,
        message: TextMessage,
        user_id: Option<Uuid>,
        expires_at: Option<OffsetDateTime>,
    ) {
        if self.inner.sms.is_none() {
            return;
        }
        let payload = Payload::Sms {
            to: message.to,
            body: message.body,
        };
        self.hand_over(payload, message.kind, user_id, expires_at);
    }

    /// Sends an email carrying a link or code issued in `txn`: stores the email in that
    /// transaction, commits it (the secret and its message together, or neither), then makes
    /// the first delivery attempt in the background.
    pub(crate) async fn send_on_commit(
        &self,
        txn: DatabaseTransaction,
        email: Email,
        user_id: Option<Uuid>,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(), DbErr> {
        let (payload, kind) = Payload::of_email(email);
        let staged = self
            .stage_payload(&txn, payload, kind, user_id, expires_at)
            .await?;
        txn.commit().await?;
        self.deliver(staged);
        Ok(())
    }

    /// Sends a text like [`send_on_commit`](Self::send_on_commit); when texts are off,
    /// only commits.
    pub(crate) async fn send_text_on_commit(
        &self,
        txn: DatabaseTransaction,
        message: TextMessage,
        user_id: Option<Uuid>,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(), DbErr> {
        if self.inner.sms.is_none() {
            return txn.commit().await;
        }
        let payload = Payload::Sms {
            to: message.to,
            body: message.body,
        };
        let staged = self
            .stage_payload(&txn, payload, message.kind, user_id, expires_at)
            .await?;
        txn.commit().await?;
        self.deliver(staged);
        Ok(())
    }

    async fn stage_payload(
        &self,
        db: &impl ConnectionTrait,
        payload: Payload,
        kind: &'static str,
        user_id: Option<Uuid>,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<Staged, DbErr> {
        let id = Uuid::now_v7();
        let row = self.inner.row(id, &payload, kind, user_id, expires_at);
        store::outbox::insert(db, row).await?;
        Ok(Staged {
            id,
            kind,
            user_id,
            payload,
        })
    }

    /// Makes the first delivery attempt of a message staged in a transaction that has
    /// committed, in the background (the worker retries it if need be).
    fn deliver(&self, staged: Staged) {
        let inner = self.inner.clone();
        let sending = self.track();
        tokio::spawn(async move {
            let _sending = sending;
            inner
                .attempt(staged.id, staged.kind, staged.user_id, 0, staged.payload)
                .await;
        });
    }

    fn hand_over(
        &self,
        payload: Payload,
        kind: &'static str,
        user_id: Option<Uuid>,
        expires_at: Option<OffsetDateTime>,
    ) {
        let inner = self.inner.clone();
        let sending = self.track();
        // Taken now: message ids order messages as flows handed them over.
        let id = Uuid::now_v7();
        tokio::spawn(async move {
            let _sending = sending;
            let row = inner.row(id, &payload, kind, user_id, expires_at);
            match store::outbox::insert(&inner.db, row).await {
                Ok(()) => inner.attempt(id, kind, user_id, 0, payload).await,
                Err(err) => {
                    // Without the table, one direct attempt is all that is left.
                    tracing::warn!(error = %err, kind, "the outbox could not store a message: sending it directly");
                    if let Err(err) = inner.transmit(id, kind, &payload).await {
                        inner.failed(&payload, kind, user_id, &err, true).await;
                    }
                }
            }
        });
    }

    /// Delivers what is due (first attempts that were interrupted, retries whose time has
    /// come, messages another instance was holding when it stopped); answers how many
    /// messages it handled.
    pub(crate) async fn deliver_due(&self) -> Result<usize, sea_orm::DbErr> {
        let inner = &self.inner;
        let due = store::outbox::claim_due(&inner.db, inner.now(), LEASE, BATCH).await?;
        let handled = due.len();
        for row in due {
            let kind = static_kind(&row.kind);
            let Some(payload) = inner.open(&row) else {
                tracing::error!(id = %row.id, kind, "an outbox message cannot be opened (was the server secret changed?)");
                store::outbox::finish(
                    &inner.db,
                    row.id,
                    store::outbox::DEAD,
                    row.attempts,
                    Some("cannot be opened with this server secret".into()),
                    inner.now(),
                )
                .await?;
                continue;
            };
            if row.expires_at.is_some_and(|at| at <= inner.now()) {
                store::outbox::finish(
                    &inner.db,
                    row.id,
                    store::outbox::DROPPED,
                    row.attempts,
                    None,
                    inner.now(),
                )
                .await?;
                let mut event = AuditEvent::new(AuditKind::MessageExpired)
                    .detail("kind", kind)
                    .detail("attempts", row.attempts.to_string());
                if let Some(user_id) = row.user_id {
                    event = event.user(user_id);
                }
                inner.auditor.record(event).await;
                continue;
            }
            inner
                .attempt(row.id, kind, row.user_id, row.attempts, payload)
                .await;
        }
        Ok(handled)
    }
}

impl Inner {
    /// The outbox row of a new message, sealed, held by its creator for the first attempt.
    fn row(
        &self,
        id: Uuid,
        payload: &Payload,
        kind: &'static str,
        user_id: Option<Uuid>,
        expires_at: Option<OffsetDateTime>,
    ) -> outbox_message::Model {
        let now = self.now();
        // Serialising plain strings cannot fail.
        let json = serde_json::to_vec(payload).unwrap_or_default();
        outbox_message::Model {
            id,
            channel: payload.channel().to_owned(),
            kind: kind.to_owned(),
            user_id,
            payload: Redacted(crypto::b64_encode(&crypto::seal_with(
                &self.sealing,
                id.as_bytes(),
                &json,
            ))),
            status: store::outbox::PENDING.to_owned(),
            attempts: 0,
            next_attempt_at: now,
            // Held by its creator for the first attempt; after a crash, the worker of
            // any instance takes it once the lease ends.
            locked_until: Some(now + LEASE),
            expires_at,
            last_error: None,
            created_at: now,
            sent_at: None,
        }
    }

    /// One delivery attempt of a message this instance holds, and its outcome recorded.
    async fn attempt(
        &self,
        id: Uuid,
        kind: &'static str,
        user_id: Option<Uuid>,
        attempts: i32,
        payload: Payload,
    ) {
        let attempts = attempts + 1;
        let recorded = match self.transmit(id, kind, &payload).await {
            Ok(()) => {
                store::outbox::finish(
                    &self.db,
                    id,
                    store::outbox::SENT,
                    attempts,
                    None,
                    self.now(),
                )
                .await
            }
            Err(err) => {
                let last = attempts >= MAX_ATTEMPTS;
                self.failed(&payload, kind, user_id, &err, last).await;
                let error: String = err.chars().take(255).collect();
                if last {
                    store::outbox::finish(
                        &self.db,
                        id,
                        store::outbox::DEAD,
                        attempts,
                        Some(error),
                        self.now(),
                    )
                    .await
                } else {
                    let wait = (1_i64 << (attempts - 1).min(16)).min(MAX_BACKOFF_SECS);
                    store::outbox::retry_later(
                        &self.db,
                        id,
                        attempts,
                        self.now() + time::Duration::seconds(wait),
                        error,
                    )
                    .await
                }
            }
        };
        if let Err(err) = recorded {
            // The lease ends and the message is attempted again: at least once.
            tracing::warn!(error = %err, %id, kind, "recording an outbox delivery failed");
        }
    }

    /// Sends through the mailer or the SMS sender; the error is for logs and operators.
    async fn transmit(
        &self,
        id: Uuid,
        kind: &'static str,
        payload: &Payload,
    ) -> Result<(), String> {
        match payload {
            Payload::Email {
                to,
                from,
                subject,
                text,
                html,
            } => {
                let mut email = Email::new(
                    to.clone(),
                    from.clone(),
                    kind,
                    super::Rendered {
                        subject: subject.clone(),
                        text: text.clone(),
                        html: html.clone(),
                    },
                );
                email.message_id = Some(id.simple().to_string());
                self.mailer
                    .send(&email)
                    .await
                    .map_err(|err| err.to_string())?;
                tracing::debug!(to = %mask_email(to), kind, "email sent");
                Ok(())
            }
            Payload::Sms { to, body } => {
                let Some(sender) = &self.sms else {
                    return Err("texts are off".into());
                };
                let message = TextMessage {
                    to: to.clone(),
                    body: body.clone(),
                    kind,
                };
                sender.send(&message).await.map_err(|err| err.to_string())
            }
        }
    }

    /// Logs and audits a failed attempt (`last`: no more attempts follow).
    async fn failed(
        &self,
        payload: &Payload,
        kind: &'static str,
        user_id: Option<Uuid>,
        error: &str,
        last: bool,
    ) {
        tracing::error!(kind, error, last, "delivering a message failed");
        let audit_kind = if matches!(payload, Payload::Sms { .. }) {
            AuditKind::SmsDeliveryFailed
        } else {
            AuditKind::EmailDeliveryFailed
        };
        let mut event = AuditEvent::new(audit_kind)
            .detail("kind", kind)
            .detail("final", last.to_string());
        if let Some(user_id) = user_id {
            event = event.user(user_id);
        }
        self.auditor.record(event).await;
    }

    /// Now (with the clock offset), at the microsecond precision every backend stores.
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc() + self.clock_offset;
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }

    /// The stored message, opened; `None` if it cannot be (another server secret).
    fn open(&self, row: &outbox_message::Model) -> Option<Payload> {
        let sealed = crypto::b64_decode(&row.payload.0)?;
        let json = crypto::open_with(&self.sealing, row.id.as_bytes(), &sealed)?;
        serde_json::from_slice(&json).ok()
    }
}

/// The message kinds portcullis sends, as `'static` names (a stored row names one).
fn static_kind(kind: &str) -> &'static str {
    const KINDS: [&str; 16] = [
        "email_verification",
        "password_reset",
        "magic_link",
        "email_otp",
        "invitation",
        "password_changed",
        "sign_in_method_added",
        "sign_in_method_removed",
        "too_many_wrong_codes",
        "second_factor_on",
        "second_factor_off",
        "recovery_code_used",
        "wrong_second_factor_codes",
        "waitlist_admitted",
        "sms_otp",
        "message",
    ];
    KINDS
        .iter()
        .find(|known| **known == kind)
        .copied()
        .unwrap_or("message")
}
