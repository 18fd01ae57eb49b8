//! [`SmtpMailer`]: delivery over SMTP with lettre, on rustls.

use lettre::{
    AsyncSmtpTransport, AsyncTransport as _, Message as LettreMessage, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use super::{Email, MailError, Mailer};

/// Sends email through an SMTP server.
///
/// ```rust,no_run
/// use portcullis::delivery::SmtpMailer;
///
/// // A local sink (plain SMTP), a provider with STARTTLS, one with implicit TLS:
/// let sink = SmtpMailer::from_url("smtp://127.0.0.1:2525").unwrap();
/// let starttls = SmtpMailer::from_url("smtp://user:pass@smtp.example.com:587?tls=starttls").unwrap();
/// let tls = SmtpMailer::from_url("smtps://user:pass@smtp.example.com").unwrap();
/// ```
#[derive(Clone)]
pub struct SmtpMailer {
    /// The URL in lettre's spelling, checked by [`from_url`](Self::from_url).
    url: String,
    /// Built on first use: lettre's connection pool needs a running Tokio runtime, which
    /// configuration code may not have yet.
    transport: std::sync::Arc<tokio::sync::OnceCell<AsyncSmtpTransport<Tokio1Executor>>>,
}

impl SmtpMailer {
    /// Parses `smtp://host[:port]` (plain, for local sinks),
    /// `smtp://[user:pass@]host[:port]?tls=starttls` (STARTTLS required) or
    /// `smtps://[user:pass@]host[:port]` (implicit TLS). Credentials may be
    /// percent-encoded.
    ///
    /// # Errors
    ///
    /// A [`MailError`] naming what is wrong with the URL.
    pub fn from_url(url: &str) -> Result<Self, MailError> {
        // Our spelling `tls=starttls` is lettre's `tls=required`.
        let url = url.replace("tls=starttls", "tls=required");
        let encrypted = url.starts_with("smtps://") || url.contains("tls=required");
        let has_credentials = url.split_once("://").is_some_and(|(_, rest)| {
            rest.split(['/', '?'])
                .next()
                .is_some_and(|authority| authority.contains('@'))
        });
        if has_credentials && !encrypted {
            return Err(MailError(
                "PORTCULLIS_SMTP_URL: credentials need TLS (smtps:// or ?tls=starttls), never plain smtp://".into(),
            ));
        }
        Self::transport_builder(&url)?;
        Ok(Self {
            url,
            transport: std::sync::Arc::default(),
        })
    }

    fn transport_builder(
        url: &str,
    ) -> Result<lettre::transport::smtp::AsyncSmtpTransportBuilder, MailError> {
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map(|builder| builder.timeout(Some(std::time::Duration::from_secs(20))))
            .map_err(|err| MailError(format!("PORTCULLIS_SMTP_URL: {err}")))
    }
}

// Hand-written: the URL may carry the SMTP password.
impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = self.url.rsplit('@').next().unwrap_or_default();
        let host = host
            .trim_start_matches("smtp://")
            .trim_start_matches("smtps://");
        f.debug_struct("SmtpMailer")
            .field("server", &host)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]

impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let from: Mailbox = email
            .from
            .parse()
            .map_err(|err| MailError(format!("bad sender address: {err}")))?;
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|err| MailError(format!("bad recipient address: {err}")))?;
        // The same Message-ID on every attempt: a retry is recognisably the same message.
        let message_id = email
            .message_id
            .as_ref()
            .map(|id| format!("<{id}@{}>", from.email.domain()));
        let message = LettreMessage::builder()
            .message_id(message_id)
            .from(from)
            .to(to)
            .subject(email.subject.as_str())
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|err| MailError(format!("building the message: {err}")))?;
        let transport = self
            .transport
            .get_or_try_init(|| async {
                Self::transport_builder(&self.url).map(|builder| builder.build())
            })
            .await?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|err| MailError(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_say_why_not() {
        assert!(SmtpMailer::from_url("smtp://127.0.0.1:2525").is_ok());
        assert!(SmtpMailer::from_url("smtp://u:p%40ss@smtp.example.com:587?tls=starttls").is_ok());
        assert!(SmtpMailer::from_url("smtps://u:p@smtp.example.com").is_ok());
        assert!(SmtpMailer::from_url("http://smtp.example.com").is_err());
        // A password never travels in clear text.
        assert!(SmtpMailer::from_url("smtp://u:p@smtp.example.com:587").is_err());
        assert!(SmtpMailer::from_url("not a url").is_err());
        let debug = format!(
            "{:?}",
            SmtpMailer::from_url("smtps://u:hunter2@smtp.example.com").unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
