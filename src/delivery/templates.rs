//! Email templates: text and HTML for every message, with the host's branding.
//!
//! Every string that reaches a template from outside (product name, client alias, logo
//! URL, links) is HTML-escaped in the HTML part; links are only ever built by portcullis
//! from the configured public URL or an allow-listed origin.
//!
//! Hosts replace the wording or the layout by implementing [`EmailTemplates`]:
//!
//! ```
//! use portcullis::delivery::{Branding, EmailTemplates, Message, Rendered, templates::escape_html};
//!
//! #[derive(Debug)]
//! struct Terse;
//!
//! impl EmailTemplates for Terse {
//!     fn render(&self, message: &Message<'_>, branding: &Branding) -> Rendered {
//!         let (subject, line) = match message {
//!             Message::PasswordReset { link } => ("Reset your password".to_owned(), format!("Reset it here: {link}")),
//!             other => return portcullis::delivery::DefaultTemplates.render(other, branding),
//!         };
//!         Rendered { subject, html: format!("<p>{}</p>", escape_html(&line)), text: line }
//!     }
//! }
//! ```

use std::fmt::{self, Write as _};

/// What to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a> {
    /// Confirm this address: follow `link`.
    EmailVerification {
        /// The one-time verification link.
        link: &'a str,
    },
    /// Someone asked to reset the password: follow `link` within the hour.
    PasswordReset {
        /// The one-time reset link.
        link: &'a str,
    },
    /// A one-time sign-in link (10 minutes).
    MagicLink {
        /// The link.
        link: &'a str,
    },
    /// A six-digit sign-in code (10 minutes).
    SignInCode {
        /// The code.
        code: &'a str,
    },
    /// An invitation to join an organization (7 days).
    Invitation {
        /// The organization's name.
        organization: &'a str,
        /// The role offered.
        role: &'a str,
        /// The acceptance link.
        link: &'a str,
    },
    /// The password was changed (or reset).
    PasswordChanged,
    /// A new way to sign in was added to the account (a passkey, a linked account).
    SignInMethodAdded {
        /// What was added, for people: "a passkey", "your GitHub account".
        method: &'a str,
    },
    /// A way to sign in was removed from the account.
    SignInMethodRemoved {
        /// What was removed, for people: "A passkey named \"Laptop\"".
        method: &'a str,
    },
    /// Someone entered so many wrong sign-in codes for one of the account's addresses that
    /// code sign-in to it is paused for the day.
    TooManyWrongCodes {
        /// Which address, for people: "your email address", "your phone number".
        channel: &'a str,
    },
    /// Two-step verification was turned on.
    SecondFactorOn,
    /// Two-step verification was turned off (by the owner, or reset by support).
    SecondFactorOff,
    /// A recovery code was used to sign in.
    RecoveryCodeUsed {
        /// How many unused codes are left.
        left: u64,
    },
    /// Several wrong two-step codes in a row were entered after a right first factor:
    /// someone may know the password.
    WrongSecondFactorCodes,
    /// A waitlist entry was admitted: the feature is open to the person (or their
    /// organization).
    WaitlistAdmitted {
        /// The feature.
        feature: &'a str,
    },
}

impl Message<'_> {
    /// The stable name of the message kind.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::EmailVerification { .. } => "email_verification",
            Self::PasswordReset { .. } => "password_reset",
            Self::MagicLink { .. } => "magic_link",
            Self::SignInCode { .. } => "email_otp",
            Self::Invitation { .. } => "invitation",
            Self::PasswordChanged => "password_changed",
            Self::SignInMethodAdded { .. } => "sign_in_method_added",
            Self::SignInMethodRemoved { .. } => "sign_in_method_removed",
            Self::TooManyWrongCodes { .. } => "too_many_wrong_codes",
            Self::SecondFactorOn => "second_factor_on",
            Self::SecondFactorOff => "second_factor_off",
            Self::RecoveryCodeUsed { .. } => "recovery_code_used",
            Self::WrongSecondFactorCodes => "wrong_second_factor_codes",
            Self::WaitlistAdmitted { .. } => "waitlist_admitted",
        }
    }
}

/// The host's branding, from configuration, and for password-reset emails optionally
/// adjusted per request (validated first).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Branding {
    /// The product's name.
    pub product_name: String,
    /// A logo shown at the top of HTML emails (an absolute https URL).
    pub logo_url: Option<String>,
    /// Where people can ask for help.
    pub support_email: Option<String>,
    /// Which client app the request came from, if it said (`[A-Za-z0-9_-]`, ≤ 60).
    pub client_alias: Option<String>,
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// Renders messages. Implement it to change wording or layout; see the
/// [module docs](self).
pub trait EmailTemplates: Send + Sync + fmt::Debug + 'static {
    /// Renders one message with the given branding.
    fn render(&self, message: &Message<'_>, branding: &Branding) -> Rendered;
}

/// portcullis' own plain templates.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultTemplates;

impl EmailTemplates for DefaultTemplates {
    fn render(&self, message: &Message<'_>, branding: &Branding) -> Rendered {
        let product = branding.product_name.as_str();
        let (subject, intro, action, outro) = match *message {
            Message::EmailVerification { link } => (
                format!("Confirm your email address for {product}"),
                format!("Confirm that this address belongs to your {product} account."),
                Some(("Confirm my email", link)),
                "If you did not create an account, you can ignore this email.".to_owned(),
            ),
            Message::PasswordReset { link } => (
                format!("Reset your {product} password"),
                format!("Someone asked to reset the password of your {product} account."),
                Some(("Choose a new password", link)),
                "The link works once, for one hour. If it was not you, ignore this email: your password stays as it is."
                    .to_owned(),
            ),
                        Message::MagicLink { link } => (
                format!("Your {product} sign-in link"),
                format!("Use this link to sign in to {product}."),
                Some(("Sign in", link)),
                "It works once, for ten minutes. If you did not ask for it, ignore this email.".to_owned(),
            ),
            Message::SignInCode { code } => (
                format!("{code} is your {product} code"),
                format!("Your {product} sign-in code is {code}."),
                None,
                "It works once, for ten minutes. Never share it: we will never ask you for it.".to_owned(),
            ),
                        Message::Invitation { organization, role, link } => (
                format!("You are invited to join {organization} on {product}"),
                format!("You are invited to join {organization} on {product} as {role}."),
                Some(("Accept the invitation", link)),
                "The invitation works once, for seven days, and only for this email address.".to_owned(),
            ),
            Message::PasswordChanged => (
                format!("Your {product} password was changed"),
                format!("The password of your {product} account was just changed."),
                None,
                "If it was not you, reset your password now and contact support.".to_owned(),
            ),
            Message::SignInMethodAdded { method } => (
                format!("A new way to sign in to {product}"),
                format!("{method} was added to your {product} account."),
                None,
                "If it was not you, remove it from your account settings and contact support."
                    .to_owned(),
            ),
            Message::SignInMethodRemoved { method } => (
                format!("A way to sign in to {product} was removed"),
                format!("{method} was removed from your {product} account."),
                None,
                "If it was not you, sign in, review your account and contact support.".to_owned(),
            ),
            Message::TooManyWrongCodes { channel } => (
                format!("Sign-in codes for your {product} account are paused"),
                format!(
                    "Someone entered many wrong sign-in codes for {channel} today, so signing in to {product} with a code sent there is paused for a day."
                ),
                None,
                "Sign-in links, your password and your other ways to sign in still work. If it was not you trying, someone may be guessing: consider adding a passkey."
                    .to_owned(),
            ),
            Message::SecondFactorOn => (
                format!("Two-step verification is on for your {product} account"),
                format!(
                    "Signing in to {product} now asks for a code from your authenticator app after your password. Keep your recovery codes somewhere safe."
                ),
                None,
                "If it was not you, reset your password now and contact support.".to_owned(),
            ),
            Message::SecondFactorOff => (
                format!("Two-step verification is off for your {product} account"),
                format!("Two-step verification was turned off for your {product} account."),
                None,
                "If it was not you, reset your password now and contact support.".to_owned(),
            ),
            Message::RecoveryCodeUsed { left } => (
                format!("A recovery code was used for your {product} account"),
                format!(
                    "Someone signed in to your {product} account with one of your recovery codes. {left} unused codes are left."
                ),
                None,
                "If it was you, consider making a new set of codes. If it was not you, reset your password now and contact support."
                    .to_owned(),
            ),
            Message::WrongSecondFactorCodes => (
                format!("Wrong two-step codes for your {product} account"),
                format!(
                    "Several wrong two-step verification codes were entered for your {product} account, after a correct password or sign-in link."
                ),
                None,
                "If it was not you, someone may know your password: change it now.".to_owned(),
            ),
            Message::WaitlistAdmitted { feature } => (
                format!("You're in: {feature} on {product}"),
                format!("You waited for {feature} on {product}, and it is open to you now."),
                None,
                "Sign in again (or refresh the page) to start using it.".to_owned(),
            ),
        };
        let via = branding
            .client_alias
            .as_deref()
            .map(|alias| format!(" (requested from {alias})"))
            .unwrap_or_default();
        let support = branding
            .support_email
            .as_deref()
            .map(|address| format!("Questions? Write to {address}."));

        let mut text = format!("{intro}{via}\n\n");
        if let Some((label, link)) = action {
            let _ = write!(text, "{label}:\n{link}\n\n");
        }
        text.push_str(&outro);
        text.push('\n');
        if let Some(support) = &support {
            let _ = write!(text, "\n{support}\n");
        }

        let mut html = String::from(
            "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#222;max-width:36rem;margin:auto;padding:1rem\">",
        );
        if let Some(logo) = &branding.logo_url {
            let _ = write!(
                html,
                "<p><img src=\"{}\" alt=\"{}\" style=\"max-height:48px\"></p>",
                escape_html(logo),
                escape_html(product)
            );
        }
        let _ = write!(html, "<p>{}{}</p>", escape_html(&intro), escape_html(&via));
        if let Some((label, link)) = action {
            let _ = write!(
                html,
                "<p><a href=\"{}\" style=\"display:inline-block;padding:.6rem 1rem;background:#222;color:#fff;text-decoration:none;border-radius:6px\">{}</a></p><p style=\"font-size:12px;color:#666\">{}</p>",
                escape_html(link),
                escape_html(label),
                escape_html(link)
            );
        }
        let _ = write!(html, "<p>{}</p>", escape_html(&outro));
        if let Some(support) = &support {
            let _ = write!(html, "<p style=\"color:#666\">{}</p>", escape_html(support));
        }
        html.push_str("</body></html>");
        Rendered {
            subject,
            text,
            html,
        }
    }
}

/// Escapes text for HTML element content and double-quoted attributes.
#[must_use]
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branding() -> Branding {
        Branding {
            product_name: "Acme <script>alert(1)</script>".into(),
            logo_url: Some("https://cdn.example.com/logo.png?a=1&b=\"2\"".into()),
            support_email: Some("help@example.com".into()),
            client_alias: Some("ios-app".into()),
        }
    }

    #[test]
    fn every_outside_string_is_escaped_in_html() {
        let link = "https://app.example.com/reset-password?token=abc&x=\"><script>";
        let rendered = DefaultTemplates.render(&Message::PasswordReset { link }, &branding());
        assert!(!rendered.html.contains("<script>"), "{}", rendered.html);
        assert!(rendered.html.contains("&lt;script&gt;"));
        assert!(
            rendered
                .html
                .contains("token=abc&amp;x=&quot;&gt;&lt;script&gt;")
        );
        assert!(rendered.html.contains("a=1&amp;b=&quot;2&quot;"));
        // The text part carries the link verbatim, for copying.
        assert!(rendered.text.contains(link));
        assert!(rendered.text.contains("requested from ios-app"));
        assert!(rendered.text.contains("help@example.com"));
    }

    #[test]
    fn every_message_has_both_parts() {
        let b = branding();
        for message in [
            Message::EmailVerification {
                link: "https://x.example/v?token=t",
            },
            Message::PasswordReset {
                link: "https://x.example/r?token=t",
            },
            Message::MagicLink {
                link: "https://x.example/m?token=t",
            },
            Message::SignInCode { code: "012345" },
            Message::Invitation {
                organization: "Acme",
                role: "admin",
                link: "https://x.example/i?token=t",
            },
            Message::PasswordChanged,
            Message::SignInMethodAdded {
                method: "A passkey",
            },
            Message::SignInMethodRemoved {
                method: "A passkey",
            },
            Message::TooManyWrongCodes {
                channel: "your email address",
            },
            Message::SecondFactorOn,
            Message::SecondFactorOff,
            Message::RecoveryCodeUsed { left: 9 },
            Message::WrongSecondFactorCodes,
            Message::WaitlistAdmitted { feature: "beta" },
        ] {
            let rendered = DefaultTemplates.render(&message, &b);
            assert!(!rendered.subject.is_empty() && !rendered.text.is_empty());
            assert!(rendered.html.starts_with("<!doctype html>"));
            assert!(!message.kind().is_empty());
        }
    }
}
