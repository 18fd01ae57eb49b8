//! Text messages: the [`SmsSender`] trait and its implementations.
//!
//! - [`LogSmsSender`] (the development default): writes each text, code included, to the
//!   log.
//! - `WebhookSmsSender` (feature `sms`): POSTs `{ "to": "+1...", "body": "..." }` as JSON to
//!   a URL of the host's (`PORTCULLIS_SMS_WEBHOOK_URL`), which relays it to any provider.
//! - `TwilioSmsSender` (feature `sms`): Twilio's Messages API, base URL configurable.
//! - [`MemorySmsSender`]: keeps every text in memory, for tests.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

/// One text message to one E.164 number.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TextMessage {
    /// The recipient, in E.164 form.
    pub to: String,
    /// The text (it carries a sign-in code).
    pub body: String,
    /// Which message this is: `sms_otp`.
    pub kind: &'static str,
}

// Hand-written: the body is a sign-in code.
impl fmt::Debug for TextMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked: String = self.to.chars().take(4).chain("***".chars()).collect();
        f.debug_struct("TextMessage")
            .field("to", &masked)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Why a text could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("text message delivery failed: {0}")]
pub struct SmsError(pub String);

/// Sends [`TextMessage`]s. Implement it to use a provider directly.
#[async_trait::async_trait]
pub trait SmsSender: Send + Sync + fmt::Debug + 'static {
    /// Sends one text.
    async fn send(&self, message: &TextMessage) -> Result<(), SmsError>;
}

/// The development default: logs each text, code included, instead of sending it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSmsSender;

#[async_trait::async_trait]

impl SmsSender for LogSmsSender {
    async fn send(&self, message: &TextMessage) -> Result<(), SmsError> {
        tracing::info!(
            to = %message.to,
            kind = message.kind,
            "text not sent (no SMS sender configured; set PORTCULLIS_SMS_WEBHOOK_URL): {}",
            message.body
        );
        Ok(())
    }
}

/// Keeps every text in memory. For tests.
#[derive(Debug, Clone, Default)]
pub struct MemorySmsSender {
    sent: Arc<Mutex<Vec<TextMessage>>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl MemorySmsSender {
    /// A new, empty outbox.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every text sent so far, oldest first.
    #[must_use]
    pub fn sent(&self) -> Vec<TextMessage> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The texts sent to `number`, oldest first.
    #[must_use]
    pub fn sent_to(&self, number: &str) -> Vec<TextMessage> {
        self.sent().into_iter().filter(|m| m.to == number).collect()
    }

    /// Waits (up to `timeout`) until `count` texts have gone to `number`; returns the last.
    pub async fn wait_for(
        &self,
        number: &str,
        count: usize,
        timeout: Duration,
    ) -> Option<TextMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.arrived.notified();
            let to_number = self.sent_to(number);
            if to_number.len() >= count {
                return to_number.last().cloned();
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }
}

#[async_trait::async_trait]

impl SmsSender for MemorySmsSender {
    async fn send(&self, message: &TextMessage) -> Result<(), SmsError> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message.clone());
        self.arrived.notify_waiters();
        Ok(())
    }
}

#[cfg(feature = "sms")]
pub use self::http::{TwilioSmsSender, WebhookSmsSender};

#[cfg(feature = "sms")]
mod http {
    use std::fmt;

    use super::{SmsError, SmsSender, TextMessage};

    /// POSTs each text as JSON `{ "to": "+1...", "body": "..." }` to the host's URL, which
    /// relays it to whatever provider the host uses. Any 2xx answer is success.
    ///
    /// ```rust,no_run
    /// use portcullis::delivery::WebhookSmsSender;
    ///
    /// let sender = WebhookSmsSender::new("https://internal.example.com/send-sms").unwrap();
    /// ```
    #[derive(Clone)]
    pub struct WebhookSmsSender {
        url: reqwest::Url,
        client: reqwest::Client,
    }

    impl WebhookSmsSender {
        /// A sender POSTing to `url` (http or https).
        ///
        /// # Errors
        ///
        /// An [`SmsError`] when the URL is not an absolute http(s) URL.
        pub fn new(url: &str) -> Result<Self, SmsError> {
            let url = reqwest::Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| {
                    SmsError("PORTCULLIS_SMS_WEBHOOK_URL: not an absolute http(s) URL".into())
                })?;
            Ok(Self {
                url,
                client: crate::delivery::http_client::client().map_err(SmsError)?,
            })
        }
    }

    // Hand-written: the URL's query may hold a token of the host's relay.
    impl fmt::Debug for WebhookSmsSender {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("WebhookSmsSender")
                .field("host", &self.url.host_str())
                .finish_non_exhaustive()
        }
    }

    #[async_trait::async_trait]

    impl SmsSender for WebhookSmsSender {
        async fn send(&self, message: &TextMessage) -> Result<(), SmsError> {
            let body = serde_json::json!({ "to": message.to, "body": message.body });
            let response = self
                .client
                .post(self.url.clone())
                .json(&body)
                .send()
                .await
                .map_err(|err| SmsError(err.without_url().to_string()))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(SmsError(format!(
                    "the SMS webhook answered {}",
                    response.status()
                )))
            }
        }
    }

    /// Sends texts through Twilio's Messages API.
    ///
    /// ```rust,no_run
    /// use portcullis::delivery::TwilioSmsSender;
    ///
    /// let sender = TwilioSmsSender::new("AC123", "auth-token", "+15005550006").unwrap();
    /// ```
    #[derive(Clone)]
    pub struct TwilioSmsSender {
        account_sid: String,
        auth_token: String,
        from: String,
        api_base: String,
        client: reqwest::Client,
    }

    impl TwilioSmsSender {
        /// A sender for the account `account_sid`, texting from `from` (E.164).
        ///
        /// # Errors
        ///
        /// An [`SmsError`] when the HTTP client cannot be built.
        pub fn new(
            account_sid: impl Into<String>,
            auth_token: impl Into<String>,
            from: impl Into<String>,
        ) -> Result<Self, SmsError> {
            Ok(Self {
                account_sid: account_sid.into(),
                auth_token: auth_token.into(),
                from: from.into(),
                api_base: "https://api.twilio.com".into(),
                client: crate::delivery::http_client::client().map_err(SmsError)?,
            })
        }

        /// Another API base URL (a regional endpoint, or a local stand-in in tests).
        #[must_use]
        pub fn api_base(mut self, base: impl Into<String>) -> Self {
            self.api_base = base.into().trim_end_matches('/').to_owned();
            self
        }
    }

    // Hand-written: never print the auth token.
    impl fmt::Debug for TwilioSmsSender {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TwilioSmsSender")
                .field("account_sid", &self.account_sid)
                .field("api_base", &self.api_base)
                .finish_non_exhaustive()
        }
    }

    #[async_trait::async_trait]

    impl SmsSender for TwilioSmsSender {
        async fn send(&self, message: &TextMessage) -> Result<(), SmsError> {
            let url = format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.api_base, self.account_sid
            );
            let response = self
                .client
                .post(url)
                .basic_auth(&self.account_sid, Some(&self.auth_token))
                .form(&[
                    ("To", message.to.as_str()),
                    ("From", self.from.as_str()),
                    ("Body", message.body.as_str()),
                ])
                .send()
                .await
                .map_err(|err| SmsError(err.without_url().to_string()))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(SmsError(format!("Twilio answered {}", response.status())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_code_and_most_of_the_number() {
        let message = TextMessage {
            to: "+15555550123".into(),
            body: "Your code is 123456".into(),
            kind: "sms_otp",
        };
        let debug = format!("{message:?}");
        assert!(!debug.contains("123456"));
        assert!(!debug.contains("5550123"));
    }
}
