//! Password hashing: argon2id through the `password-hash` traits, verification of imported
//! bcrypt, scrypt and PBKDF2 hashes, all on the blocking pool behind a semaphore.
//!
//! Argon2id with the OWASP parameters costs about 13 ms of CPU and 19 MiB of memory per
//! call. Running it on the async workers would stall every other request, and running an
//! unbounded number at once would exhaust memory during a sign-in flood, so every hash
//! waits for one of `cores` permits and then runs in `spawn_blocking`.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, Version};
use password_hash::{PasswordHasher as _, phc::PasswordHash};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization as _;

use crate::Error;

/// The formats [`Hasher::verify`] understands, as a hash string starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashFormat {
    Argon2,
    Bcrypt,
    Scrypt,
    Pbkdf2,
}

impl HashFormat {
    /// Recognises a stored or imported hash string, checking it parses.
    pub(crate) fn detect(hash: &str) -> Option<Self> {
        if hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$") {
            // bcrypt's modular-crypt form: `$2b$cost$` + 53 characters of salt and hash.
            let ok = hash.len() == 60 && hash.get(4..6).is_some_and(|c| c.parse::<u32>().is_ok());
            return ok.then_some(Self::Bcrypt);
        }
        let parsed = PasswordHash::new(hash).ok()?;
        let format = match parsed.algorithm.as_str() {
            "argon2id" | "argon2i" | "argon2d" => Self::Argon2,
            "scrypt" => Self::Scrypt,
            "pbkdf2-sha256" | "pbkdf2-sha512" => Self::Pbkdf2,
            _ => return None,
        };
        (parsed.salt.is_some() && parsed.hash.is_some()).then_some(format)
    }
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verified {
    /// Wrong password (or no stored hash at all).
    No,
    /// Right password; `rehash` when the stored hash is not argon2id with our parameters.
    Yes { rehash: bool },
}

/// Hashes and verifies passwords without blocking the async runtime.
#[derive(Clone)]
pub(crate) struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real argon2id hash of a random password: unknown emails are checked against it,
    /// so they cost the same time as known ones.
    dummy: Arc<str>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// A hasher with `params`, at most `concurrency` hashes at once. Computes the dummy
    /// hash, so call it from async code (it runs on the blocking pool).
    pub(crate) async fn new(params: Params, concurrency: usize) -> Result<Self, Error> {
        let mut hasher = Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::from(""),
        };
        let random_password = super::random_token();
        hasher.dummy = Arc::from(hasher.hash(&random_password).await?);
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes a password (after NFKC normalisation) into an argon2id PHC string.
    pub(crate) async fn hash(&self, password: &str) -> Result<String, Error> {
        let password = normalize(password);
        let argon2 = self.argon2();
        self.run_blocking(move || {
            argon2
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|err| Error::internal(format!("argon2 hashing failed: {err}")))
        })
        .await?
    }

    /// Checks `password` against a stored hash, or against the dummy hash when there is
    /// none, so the answer takes the same time either way.
    pub(crate) async fn verify(
        &self,
        password: &str,
        stored: Option<&str>,
    ) -> Result<Verified, Error> {
        let Some(stored) = stored else {
            let dummy = self.dummy.clone();
            let password = normalize(password);
            let argon2 = self.argon2();
            self.run_blocking(move || verify_phc(&argon2, &password, &dummy))
                .await?;
            return Ok(Verified::No);
        };
        let Some(format) = HashFormat::detect(stored) else {
            tracing::warn!("a stored password hash is in no format portcullis understands");
            // Still pay one hash, so this account answers as slowly as any other.
            return Box::pin(self.verify(password, None)).await;
        };
        let stored = stored.to_owned();
        let normalized = normalize(password);
        // Hashes made elsewhere may predate normalisation: try the raw form as well.
        let raw =
            (format != HashFormat::Argon2 && normalized != password).then(|| password.to_owned());
        let argon2 = self.argon2();
        let ours = self.params.clone();
        self.run_blocking(move || {
            let matches = |candidate: &str| match format {
                HashFormat::Argon2 => verify_phc(&argon2, candidate, &stored),
                HashFormat::Bcrypt => bcrypt::verify(candidate, &stored).unwrap_or(false),
                HashFormat::Scrypt => verify_phc(&scrypt::Scrypt::new(), candidate, &stored),
                HashFormat::Pbkdf2 => verify_phc(&pbkdf2::Pbkdf2::SHA256, candidate, &stored),
            };
            let matched = if matches(&normalized) {
                normalized.as_str()
            } else if let Some(raw) = raw.as_deref().filter(|raw| matches(raw)) {
                raw
            } else {
                return Verified::No;
            };
            // bcrypt reads only the first 72 bytes: from 72 on, a match says nothing about
            // what follows (the stored password may be longer), so the guess must never
            // become the stored password. The sign-in
            // stands (the old system accepted the same), the bcrypt hash stays.
            if format == HashFormat::Bcrypt && matched.len() >= BCRYPT_MAX_BYTES {
                return Verified::Yes { rehash: false };
            }
            let rehash = format != HashFormat::Argon2 || !is_current_argon2id(&stored, &ours);
            Verified::Yes { rehash }
        })
        .await
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(Error::internal)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(Error::internal)
    }
}

/// The most bcrypt reads of a password.
const BCRYPT_MAX_BYTES: usize = 72;

fn verify_phc(
    verifier: &impl password_hash::PasswordVerifier<PasswordHash>,
    password: &str,
    stored: &str,
) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|hash| verifier.verify_password(password.as_bytes(), &hash).is_ok())
}

fn is_current_argon2id(stored: &str, ours: &Params) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    hash.algorithm.as_str() == "argon2id"
        && hash.version.is_some_and(|v| v == u32::from(Version::V0x13))
        && params.m_cost() == ours.m_cost()
        && params.t_cost() == ours.t_cost()
        && params.p_cost() == ours.p_cost()
}

/// The one canonical form of a password, applied identically when setting and checking:
/// Unicode NFKC. Never trimmed, never case-folded.
pub(crate) fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(Params::MIN_M_COST.max(64), 1, 1, None).unwrap()
    }

    async fn hasher() -> Hasher {
        Hasher::new(cheap(), 2).await.unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let h = hasher().await;
        let hash = h.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"));
        assert_eq!(
            h.verify("correct horse battery", Some(&hash))
                .await
                .unwrap(),
            Verified::Yes { rehash: false }
        );
        assert_eq!(
            h.verify("correct horse batterY", Some(&hash))
                .await
                .unwrap(),
            Verified::No
        );
        assert_eq!(h.verify("anything", None).await.unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn nothing_is_truncated() {
        let h = hasher().await;
        let long = "a".repeat(200);
        let hash = h.hash(&long).await.unwrap();
        let mut longer = long.clone();
        longer.push('b');
        assert_eq!(h.verify(&longer, Some(&hash)).await.unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn passwords_are_nfkc_normalised_not_trimmed_or_folded() {
        let h = hasher().await;
        // U+FB01 (the "fi" ligature) is NFKC-equal to "fi".
        let hash = h.hash("pass\u{FB01}rmly-secret").await.unwrap();
        assert!(matches!(
            h.verify("passfirmly-secret", Some(&hash)).await.unwrap(),
            Verified::Yes { .. }
        ));
        assert_eq!(
            h.verify(" passfirmly-secret", Some(&hash)).await.unwrap(),
            Verified::No
        );
        assert_eq!(
            h.verify("PASSFIRMLY-SECRET", Some(&hash)).await.unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn stale_parameters_ask_for_a_rehash() {
        let old = Hasher::new(cheap(), 1).await.unwrap();
        let hash = old.hash("s3cret-enough").await.unwrap();
        let new_params = Params::new(cheap().m_cost() * 2, 1, 1, None).unwrap();
        let new = Hasher::new(new_params, 1).await.unwrap();
        assert_eq!(
            new.verify("s3cret-enough", Some(&hash)).await.unwrap(),
            Verified::Yes { rehash: true }
        );
    }

    #[tokio::test]
    async fn legacy_hashes_verify_and_ask_for_an_upgrade() {
        let h = hasher().await;
        let bcrypt_hash = bcrypt::hash("legacy-password", 4).unwrap();
        let scrypt_hash = scrypt::Scrypt::new_with_params(scrypt::Params::new(4, 8, 1).unwrap())
            .hash_password(b"legacy-password")
            .unwrap()
            .to_string();
        let pbkdf2_hash = pbkdf2::Pbkdf2::new(
            pbkdf2::Algorithm::Pbkdf2Sha256,
            pbkdf2::Params::new(1000).unwrap(),
        )
        .hash_password(b"legacy-password")
        .unwrap()
        .to_string();
        for hash in [bcrypt_hash, scrypt_hash, pbkdf2_hash] {
            assert!(HashFormat::detect(&hash).is_some(), "{hash}");
            assert_eq!(
                h.verify("legacy-password", Some(&hash)).await.unwrap(),
                Verified::Yes { rehash: true },
                "{hash}"
            );
            assert_eq!(
                h.verify("wrong-password", Some(&hash)).await.unwrap(),
                Verified::No
            );
        }
    }

    #[test]
    fn unknown_formats_are_not_detected() {
        for hash in [
            "",
            "plaintext",
            "$1$md5$crypt",
            "$2b$xx$short",
            "$argon2id$v=19$m=1",
        ] {
            assert_eq!(HashFormat::detect(hash), None, "{hash}");
        }
    }
}
