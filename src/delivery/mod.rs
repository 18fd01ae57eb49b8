//! Delivery of messages to people: the [`Mailer`] trait and its implementations.
//!
//! - [`LogMailer`] (the default): writes every email, link included, to the log. For
//!   development only; `build()` warns when it is in use.
//! - `SmtpMailer` (feature `smtp`): real delivery over SMTP with lettre on rustls,
//!   configured from `PORTCULLIS_SMTP_URL`.
//! - [`MemoryMailer`]: keeps every email in memory, for tests.
//!
//! Text messages go through an [`SmsSender`]: [`LogSmsSender`] (development default),
//! `WebhookSmsSender` and `TwilioSmsSender` (feature `sms`), [`MemorySmsSender`] (tests).
//!
//! Messages are rendered by [`EmailTemplates`] (text and HTML, with the host's branding);
//! hosts may replace the templates. Every email has exactly one recipient, and no header
//! value ever contains CR or LF.

#[cfg(any(feature = "sms", feature = "oauth", feature = "billing"))]
pub(crate) mod http_client;
pub(crate) mod outbox;
pub mod sms;
#[cfg(feature = "smtp")]
mod smtp;
pub mod templates;

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

pub use self::sms::{LogSmsSender, MemorySmsSender, SmsError, SmsSender, TextMessage};
#[cfg(feature = "sms")]
pub use self::sms::{TwilioSmsSender, WebhookSmsSender};
#[cfg(feature = "smtp")]
pub use self::smtp::SmtpMailer;
pub use self::templates::{Branding, DefaultTemplates, EmailTemplates, Message, Rendered};

/// One email to one recipient.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Email {
    /// The one recipient (a normalised address).
    pub to: String,
    /// The sender, e.g. `Acme <no-reply@acme.example>`.
    pub from: String,
    /// The subject (never contains CR or LF).
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
    /// Which message this is: `email_verification`, `password_reset`, `magic_link`,
    /// `email_otp`, `invitation`, `password_changed`, `sign_in_method_added`,
    /// `sign_in_method_removed`.
    pub kind: &'static str,
    /// The message's stable id, the same on every delivery attempt: the SMTP mailer sends
    /// it as `Message-ID`, and a custom mailer may use it as an idempotency key (delivery
    /// is at least once).
    pub message_id: Option<String>,
}

impl Email {
    pub(crate) fn new(to: String, from: String, kind: &'static str, rendered: Rendered) -> Self {
        Self {
            to,
            from,
            subject: single_line(&rendered.subject),
            text: rendered.text,
            html: rendered.html,
            kind,
            message_id: None,
        }
    }
}

// Hand-written: bodies carry one-time links, which must not end up in logs.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("to", &mask_email(&self.to))
            .field("kind", &self.kind)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why an email could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("email delivery failed: {0}")]
pub struct MailError(pub String);

/// Sends [`Email`]s. Implement it to plug in another transport (an HTTP email API).
///
/// ```
/// use portcullis::delivery::{Email, MailError, Mailer};
///
/// #[derive(Debug)]
/// struct Discard;
///
/// #[async_trait::async_trait]
/// impl Mailer for Discard {
///     async fn send(&self, _email: &Email) -> Result<(), MailError> {
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Mailer: Send + Sync + fmt::Debug + 'static {
    /// Sends one email.
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

/// The development default: logs each email, link included, instead of sending it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait::async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        tracing::info!(
            to = %email.to,
            kind = email.kind,
            subject = %email.subject,
            "email not sent (no mailer configured; set PORTCULLIS_SMTP_URL):\n{}",
            email.text
        );
        Ok(())
    }
}

/// Keeps every email in memory. For tests: read what was "sent" and follow its link.
#[derive(Debug, Clone, Default)]
pub struct MemoryMailer {
    sent: Arc<Mutex<Vec<Email>>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl MemoryMailer {
    /// A new, empty mailbox.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far, oldest first.
    #[must_use]
    pub fn sent(&self) -> Vec<Email> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The emails sent to `address`, oldest first.
    #[must_use]
    pub fn sent_to(&self, address: &str) -> Vec<Email> {
        self.sent()
            .into_iter()
            .filter(|email| email.to == address)
            .collect()
    }

    /// Waits (up to `timeout`) until `count` emails have been sent to `address`, and
    /// returns the `count`-th in the order they were handed over (their message ids are
    /// time-ordered), whatever order deliveries finished in. Emails leave in the
    /// background, so tests wait for them.
    pub async fn wait_for(&self, address: &str, count: usize, timeout: Duration) -> Option<Email> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.arrived.notified();
            let mut to_address = self.sent_to(address);
            if to_address.len() >= count {
                to_address.sort_by(|a, b| a.message_id.cmp(&b.message_id));
                return to_address.get(count.saturating_sub(1)).cloned();
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }
}

#[async_trait::async_trait]

impl Mailer for MemoryMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(email.clone());
        self.arrived.notify_waiters();
        Ok(())
    }
}

/// `j***@example.com`: enough to recognise in a log, not enough to harvest.
pub(crate) fn mask_email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// A header-safe line: CR, LF and other control characters become spaces.
pub(crate) fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_never_carry_line_breaks() {
        assert_eq!(
            single_line("Reset\r\nBcc: evil@example.com"),
            "Reset  Bcc: evil@example.com"
        );
        let email = Email::new(
            "a@example.com".into(),
            "x@example.com".into(),
            "password_reset",
            Rendered {
                subject: "Hi\nthere".into(),
                text: String::new(),
                html: String::new(),
            },
        );
        assert!(!email.subject.contains(['\r', '\n']));
    }

    #[test]
    fn debug_hides_bodies_and_most_of_the_address() {
        let email = Email::new(
            "jane@example.com".into(),
            "x@example.com".into(),
            "password_reset",
            Rendered {
                subject: "s".into(),
                text: "token=SECRET".into(),
                html: "SECRET".into(),
            },
        );
        let debug = format!("{email:?}");
        assert!(!debug.contains("SECRET"));
        assert!(!debug.contains("jane@"));
        assert!(debug.contains("j***@example.com"));
    }

    #[tokio::test]
    async fn the_memory_mailer_waits_for_mail() {
        let mailer = MemoryMailer::new();
        let waiting = mailer.clone();
        let handle = tokio::spawn(async move {
            waiting
                .wait_for("a@example.com", 1, Duration::from_secs(5))
                .await
        });
        tokio::task::yield_now().await;
        let email = Email::new(
            "a@example.com".into(),
            "x@example.com".into(),
            "email_verification",
            Rendered {
                subject: "s".into(),
                text: "t".into(),
                html: "h".into(),
            },
        );
        mailer.send(&email).await.unwrap();
        assert_eq!(handle.await.unwrap().unwrap().kind, "email_verification");
        assert!(
            mailer
                .wait_for("b@example.com", 1, Duration::from_millis(10))
                .await
                .is_none()
        );
    }
}
