//! The password policy (NIST SP 800-63B): length in code points, no composition rules, no
//! truncation, and a refusal of passwords an attacker would try first: common passwords,
//! repetitive or sequential strings, and words from the context (the email's local part,
//! the user's name, the product's name).

use std::{collections::HashSet, fmt, sync::LazyLock};

use crate::{Error, crypto::password::normalize};

/// The hard floor for the minimum length; [`PasswordPolicy::min_length`] cannot go below it.
pub(crate) const MIN_LENGTH_FLOOR: usize = 8;

/// What a new password must satisfy. Lengths count Unicode code points after NFKC.
///
/// ```
/// use portcullis::policy::PasswordPolicy;
///
/// let mut policy = PasswordPolicy::default();
/// policy.min_length = 12;
/// assert!(policy.check("correct horse battery staple", &[]).is_ok());
/// assert!(policy.check("password123!", &[]).is_err()); // a common password
/// assert!(policy.check("jane.doe.rocks.99", &["jane.doe"]).is_err()); // context word
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PasswordPolicy {
    /// Fewest code points. Default 8, never below 8.
    pub min_length: usize,
    /// Most code points. Default 256, never below 64. Longer passwords are refused before
    /// any hashing, never truncated.
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: MIN_LENGTH_FLOOR,
            max_length: 256,
        }
    }
}

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// Keyboard rows and alphabets, for the "sequential" rule.
const SEQUENCES: [&str; 6] = [
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
];

impl PasswordPolicy {
    /// What is wrong with the policy itself, if anything (checked at `build()`).
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if self.min_length < MIN_LENGTH_FLOOR {
            return Some("min_length cannot be below 8");
        }
        if self.max_length < 64 || self.max_length < self.min_length {
            return Some("max_length must be at least 64 and at least min_length");
        }
        None
    }

    /// Whether the password is longer than the cap (checked before any hashing, also at
    /// sign-in).
    #[must_use]
    pub fn too_long(&self, password: &str) -> bool {
        // NFKC can only grow a string by a bounded factor; counting the raw form first
        // keeps a huge input from being normalised at all.
        password.chars().count() > self.max_length * 4
            || normalize(password).chars().count() > self.max_length
    }

    /// Checks a new password. `context` holds words the password must not contain: the
    /// email's local part, the user's name, the product's name.
    ///
    /// # Errors
    ///
    /// [`Error::WeakPassword`] saying which rule failed.
    pub fn check(&self, password: &str, context: &[&str]) -> Result<(), Error> {
        let weak = |why: String| Err(Error::WeakPassword(why.into()));
        if self.too_long(password) {
            return weak(format!(
                "the password must be at most {} characters",
                self.max_length
            ));
        }
        let password = normalize(password);
        let length = password.chars().count();
        if length < self.min_length {
            return weak(format!(
                "the password must be at least {} characters",
                self.min_length
            ));
        }
        if password.chars().any(char::is_control) {
            return weak("the password must not contain control characters".into());
        }
        let lower = password.to_lowercase();
        if is_common(&lower) {
            return weak("this password is too common; choose something less predictable".into());
        }
        if is_repetitive(&lower) {
            return weak(
                "the password is a repeated pattern; choose something less predictable".into(),
            );
        }
        if is_sequential(&lower) {
            return weak("the password is a keyboard or alphabet sequence".into());
        }
        for word in context {
            let word = word.trim().to_lowercase();
            if word.chars().count() >= 3 && lower.contains(&word) {
                return weak(
                    "the password must not contain your name, email or the app's name".into(),
                );
            }
        }
        Ok(())
    }
}

/// Common as written, or common once the usual decorations are removed
/// (`P@ssw0rd2024!` → `password`).
fn is_common(lower: &str) -> bool {
    if COMMON.contains(lower) {
        return true;
    }
    let stem =
        lower.trim_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c == ' ');
    if stem.chars().count() < 3 {
        // Only digits and symbols around a tiny core: judged by the other rules.
        return false;
    }
    let unleet: String = stem
        .chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '3' => 'e',
            '1' | '!' => 'i',
            '0' => 'o',
            '$' | '5' => 's',
            '7' => 't',
            other => other,
        })
        .collect();
    COMMON.contains(stem) || COMMON.contains(unleet.as_str())
}

/// One short unit repeated: `aaaaaaaa`, `abab abab`, `123123123`, `xyzxyzxyz`.
fn is_repetitive(lower: &str) -> bool {
    let chars: Vec<char> = lower.chars().collect();
    (1..=4).any(|unit| {
        chars.len() >= unit * 2
            && chars
                .chunks(unit)
                .all(|chunk| chunk == &chars[..chunk.len()])
    })
}

/// A run along the alphabet, the digits or a keyboard row, either way.
fn is_sequential(lower: &str) -> bool {
    SEQUENCES.iter().any(|seq| {
        let reversed: String = seq.chars().rev().collect();
        seq.contains(lower) || reversed.contains(lower)
    })
}

/// A breached-password corpus (for example a k-anonymity range API) consulted when a
/// password is set.
///
/// When the check itself fails, the password is accepted and the failure logged (an
/// outage of the corpus does not stop sign-ups), unless the host chose
/// [`breached_passwords_fail_closed`](crate::config::PasswordConfig::breached_fail_closed):
/// then it is refused with 503 `unavailable`.
#[async_trait::async_trait]
pub trait BreachedPasswords: Send + Sync + fmt::Debug + 'static {
    /// Whether the password appears in the corpus.
    async fn is_breached(
        &self,
        password: &str,
    ) -> Result<bool, Box<dyn std::error::Error + Send + Sync>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Result<(), Error> {
        PasswordPolicy::default().check(password, &["jane.doe", "portcullis"])
    }

    #[test]
    fn good_passwords_pass() {
        for ok in [
            "correct horse battery staple",
            "Tr0ub4dor&3-extra",
            "ça-c'est-très-long",
            "пароль-надёжный-1",
            "🦀🦀 crab rave 🦀🦀",
            &"x1"
                .repeat(20)
                .chars()
                .chain("yz".chars())
                .collect::<String>(),
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn length_counts_code_points() {
        // Seven emoji are 28 bytes but only seven characters.
        assert!(check("🦀🐢🦊🐙🦉🐝🐞").is_err());
        assert!(check("🦀🐢🦊🐙🦉🐝🐞🦎").is_ok());
        let policy = PasswordPolicy::default();
        let max: String = "ab".repeat(128);
        assert!(policy.check(&format!("{max}q"), &[]).is_err());
        assert!(policy.check(&format!("{}q", &max[..255]), &[]).is_ok());
    }

    #[test]
    fn at_least_64_characters_are_accepted() {
        let long = "a quiet river runs under the old stone bridge at dawn every day!";
        assert!(long.chars().count() >= 64);
        assert!(check(long).is_ok());
    }

    #[test]
    fn common_and_decorated_common_passwords_fail() {
        for bad in [
            "password",
            "Password123!",
            "P@ssw0rd2024",
            "qwerty123",
            "iloveyou!!",
            "12345678",
            "Football2023",
            "letmein!!!",
        ] {
            assert!(matches!(check(bad), Err(Error::WeakPassword(_))), "{bad}");
        }
    }

    #[test]
    fn repetitive_and_sequential_passwords_fail() {
        for bad in [
            "aaaaaaaa",
            "abababab",
            "123123123",
            "abcdefgh",
            "hgfedcba",
            "87654321",
            "qwertyuiop",
            "asdfghjkl",
        ] {
            assert!(matches!(check(bad), Err(Error::WeakPassword(_))), "{bad}");
        }
    }

    #[test]
    fn context_words_fail() {
        assert!(check("my-jane.doe-secret").is_err());
        assert!(check("Portcullis-rules-ok").is_err());
    }

    #[test]
    fn control_characters_fail() {
        assert!(check("abc\u{0}defghij").is_err());
    }

    #[test]
    fn the_floor_cannot_be_lowered() {
        let policy = PasswordPolicy {
            min_length: 6,
            ..PasswordPolicy::default()
        };
        assert!(policy.problem().is_some());
        let policy = PasswordPolicy {
            max_length: 32,
            ..PasswordPolicy::default()
        };
        assert!(policy.problem().is_some());
    }
}
