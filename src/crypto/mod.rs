//! Cryptographic building blocks: the server secret and the keys derived from it, random
//! tokens, hashing, constant-time comparison, password hashing and ES256 access tokens.
//!
//! Nothing here knows about HTTP or the database.

pub(crate) mod jwt;
pub(crate) mod password;

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{aead, digest, hkdf, hmac, rand::SecureRandom as _};
use subtle::ConstantTimeEq as _;

/// The server secret: at least 32 bytes shared by every instance of one deployment.
///
/// portcullis derives separate keys from it for sealing signing keys, chaining refresh
/// tokens, CSRF tokens and one-time codes. Its `Debug` output is redacted.
///
/// ```
/// use portcullis::Secret;
///
/// let secret = Secret::generate();
/// let again = Secret::parse(&secret.to_base64()).unwrap();
/// assert_eq!(secret.to_base64(), again.to_base64());
/// assert!(Secret::parse("too short").is_err());
/// ```
///
/// Its bytes are wiped from memory when it is dropped, and it has no `==`: compare
/// secrets, if ever, in constant time.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// The minimum length of the server secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

impl Secret {
    /// Uses raw bytes as the secret.
    ///
    /// # Errors
    ///
    /// [`SecretError`] when there are fewer than 32 bytes.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SecretError { len: bytes.len() });
        }
        Ok(Self(bytes))
    }

    /// Parses a secret written as hex or base64 (standard or URL-safe, padded or not),
    /// the forms `PORTCULLIS_SECRET` accepts.
    ///
    /// # Errors
    ///
    /// [`SecretError`] when the text is neither, or decodes to fewer than 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let decoded = decode_hex(text).or_else(|| {
            let unpadded = text.trim_end_matches('=');
            let url_safe = unpadded.replace('+', "-").replace('/', "_");
            URL_SAFE_NO_PAD.decode(url_safe).ok()
        });
        match decoded {
            Some(bytes) => Self::from_bytes(bytes),
            None => Err(SecretError { len: 0 }),
        }
    }

    /// A fresh random 32-byte secret from the operating system's RNG.
    #[must_use]
    pub fn generate() -> Self {
        Self(random_bytes::<32>().to_vec())
    }

    /// The secret as unpadded URL-safe base64, for storing it somewhere safe.
    #[must_use]
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A secret in a configuration file: the same text `PORTCULLIS_SECRET` takes.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The server secret was missing, malformed or shorter than 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server secret must be at least 32 bytes, written as hex or base64 (got {len} usable bytes)"
)]
pub struct SecretError {
    len: usize,
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The keys derived from the [`Secret`] with HKDF-SHA256, one per use, so that no two
/// mechanisms ever share key material.
pub(crate) struct DerivedKeys {
    /// Seals the private halves of signing keys at rest.
    pub(crate) key_sealing: aead::LessSafeKey,
    /// Derives each refresh token from its parent (see `flows::sessions`).
    pub(crate) refresh_chain: hmac::Key,
    /// Binds CSRF tokens to sessions.
    pub(crate) csrf: hmac::Key,
    /// Peppers short one-time codes (a stolen database alone cannot brute-force them).
    pub(crate) codes: hmac::Key,
    /// Seals TOTP secrets at rest (apart from the signing keys' key).
    totp_sealing: aead::LessSafeKey,
    /// Peppers recovery codes.
    pub(crate) recovery_codes: hmac::Key,
    /// Seals emails and texts waiting in the outbox (they carry links and codes).
    pub(crate) outbox_sealing: std::sync::Arc<aead::LessSafeKey>,
}

impl DerivedKeys {
    pub(crate) fn derive(secret: &Secret) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"portcullis/v1").extract(secret.as_bytes());
        let hmac_key = |info: &'static [u8]| -> hmac::Key {
            let info = [info];
            // `expand` only fails for outputs longer than 255 blocks; 32 bytes never are.
            prk.expand(&info, hmac::HMAC_SHA256)
                .map(hmac::Key::from)
                .unwrap_or_else(|_| unreachable!("32-byte HKDF output"))
        };
        let aead_key = |info: &'static [u8]| -> aead::LessSafeKey {
            let info = [info];
            prk.expand(&info, &aead::AES_256_GCM)
                .map(aead::UnboundKey::from)
                .map(aead::LessSafeKey::new)
                .unwrap_or_else(|_| unreachable!("32-byte HKDF output"))
        };
        Self {
            key_sealing: aead_key(b"signing-key-sealing"),
            refresh_chain: hmac_key(b"refresh-chain"),
            csrf: hmac_key(b"csrf"),
            codes: hmac_key(b"one-time-codes"),
            totp_sealing: aead_key(b"totp-sealing"),
            recovery_codes: hmac_key(b"recovery-codes"),
            outbox_sealing: std::sync::Arc::new(aead_key(b"outbox-sealing")),
        }
    }

    /// Seals a signing key's private half with AES-256-GCM, binding it to `context`:
    /// nonce ‖ ciphertext ‖ tag.
    pub(crate) fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.key_sealing, context, plaintext)
    }

    /// Opens what [`seal`](Self::seal) produced for the same `context`.
    pub(crate) fn open(&self, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        open_with(&self.key_sealing, context, sealed)
    }

    /// Seals a TOTP secret under its own key, bound to its owner.
    pub(crate) fn seal_totp(&self, user_id: &[u8], secret: &[u8]) -> Vec<u8> {
        seal_with(&self.totp_sealing, user_id, secret)
    }

    /// Opens what [`seal_totp`](Self::seal_totp) produced for the same owner.
    pub(crate) fn open_totp(&self, user_id: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        open_with(&self.totp_sealing, user_id, sealed)
    }
}

/// Seals `plaintext` with AES-256-GCM under `key`, bound to `context`:
/// nonce ‖ ciphertext ‖ tag.
pub(crate) fn seal_with(key: &aead::LessSafeKey, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce_bytes = random_bytes::<{ aead::NONCE_LEN }>();
    let mut sealed = plaintext.to_vec();
    let nonce = aead::Nonce::assume_unique_for_key(nonce_bytes);
    // Sealing only fails for inputs over 64 GiB.
    let tag = key
        .seal_in_place_separate_tag(nonce, aead::Aad::from(context), &mut sealed)
        .unwrap_or_else(|_| unreachable!("small plaintext"));
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&sealed);
    out.extend_from_slice(tag.as_ref());
    out
}

/// Opens what [`seal_with`] produced under the same key and context.
pub(crate) fn open_with(key: &aead::LessSafeKey, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let (nonce, ciphertext) = sealed.split_at_checked(aead::NONCE_LEN)?;
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = ciphertext.to_vec();
    let plain = key
        .open_in_place(nonce, aead::Aad::from(context), &mut buffer)
        .ok()?;
    Some(plain.to_vec())
}

impl fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedKeys([redacted])")
    }
}

/// `N` bytes from the operating system's RNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS RNG failing is unrecoverable: no safe token could be made at all.
    #[allow(clippy::expect_used)]
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random number generator failed");
    bytes
}

/// A uniformly random six-digit code. Rejection sampling: a 32-bit draw at or above the
/// largest multiple of 10^6 is drawn again, so no code is likelier than another.
pub(crate) fn random_code() -> String {
    const LIMIT: u32 = u32::MAX - (u32::MAX % 1_000_000);
    loop {
        let draw = u32::from_be_bytes(random_bytes::<4>());
        if draw < LIMIT {
            return format!("{:06}", draw % 1_000_000);
        }
    }
}

/// The alphabet of recovery codes: lower-case RFC 4648 base32 (no 0/1/8/9, so no O/I/B
/// confusion when read off paper). 32 symbols: a random byte masked to 5 bits is uniform.
pub(crate) const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Symbols in a recovery code: 12 × 5 = 60 bits.
pub(crate) const RECOVERY_CODE_LEN: usize = 12;

/// A fresh recovery code, `xxxx-xxxx-xxxx` (60 random bits).
pub(crate) fn random_recovery_code() -> String {
    let bytes = random_bytes::<RECOVERY_CODE_LEN>();
    let mut code = String::with_capacity(RECOVERY_CODE_LEN + 2);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        code.push(char::from(RECOVERY_ALPHABET[usize::from(byte & 31)]));
    }
    code
}

/// What every secret API key starts with.
pub(crate) const API_KEY_PREFIX: &str = "sk_";

/// A fresh API key: `sk_` + 256 random bits, base64url (46 characters).
pub(crate) fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_token())
}

/// What lists show of an API key: its first ten characters (`sk_` and 7 of the secret's
/// 43: too few to guess the rest from).
pub(crate) fn api_key_prefix(key: &str) -> String {
    key.chars().take(10).collect()
}

/// 128 random bits, unpadded base64url (22 characters): a publishable key's suffix.
pub(crate) fn random_key_suffix() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// A fresh 256-bit random token, unpadded base64url (43 characters).
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// SHA-256 of `data`, lower-case hex: how link tokens and refresh tokens are stored.
///
/// Hex rather than base64 because MySQL's default collations compare text
/// case-insensitively; a hex digest means the same thing whatever the collation.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// HMAC-SHA256 of the parts (each length-prefixed, so parts cannot run into each other).
pub(crate) fn hmac_parts(key: &hmac::Key, parts: &[&[u8]]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    for part in parts {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    ctx.sign()
}

/// Constant-time equality of two byte strings (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub(crate) fn b64_encode(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_parses_hex_and_both_base64_alphabets() {
        let bytes: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(37)).collect();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(Secret::parse(&hex).unwrap().as_bytes(), bytes);
        let standard = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(Secret::parse(&standard).unwrap().as_bytes(), bytes);
        assert_eq!(
            Secret::parse(&URL_SAFE_NO_PAD.encode(&bytes))
                .unwrap()
                .as_bytes(),
            bytes
        );
    }

    #[test]
    fn short_or_garbled_secrets_are_refused() {
        assert!(Secret::parse(&"ab".repeat(31)).is_err());
        assert!(Secret::parse("not a secret at all, not base64 ###").is_err());
        assert!(Secret::from_bytes(vec![0u8; 31]).is_err());
        assert!(Secret::from_bytes(vec![0u8; 32]).is_ok());
    }

    #[test]
    fn secret_debug_is_redacted() {
        let secret = Secret::generate();
        assert!(!format!("{secret:?}").contains(&secret.to_base64()));
    }

    #[test]
    fn sealed_data_opens_only_with_its_context_and_key() {
        let keys = DerivedKeys::derive(&Secret::generate());
        let sealed = keys.seal(b"kid-1", b"private key");
        assert_eq!(
            keys.open(b"kid-1", &sealed).as_deref(),
            Some(&b"private key"[..])
        );
        assert_eq!(keys.open(b"kid-2", &sealed), None);
        let other = DerivedKeys::derive(&Secret::generate());
        assert_eq!(other.open(b"kid-1", &sealed), None);
        let mut tampered = sealed.clone();
        tampered[15] ^= 1;
        assert_eq!(keys.open(b"kid-1", &tampered), None);
        assert_eq!(keys.open(b"kid-1", &sealed[..5]), None);
    }

    #[test]
    fn codes_are_six_digits_and_spread_evenly() {
        let mut first_digit = [0u32; 10];
        for _ in 0..20_000 {
            let code = random_code();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
            first_digit[usize::from(code.as_bytes()[0] - b'0')] += 1;
        }
        // Each leading digit ~2000 times; a modulo bias or a fixed width bug would skew it.
        for count in first_digit {
            assert!((1600..2400).contains(&count), "{first_digit:?}");
        }
    }

    #[test]
    fn tokens_are_256_bits_and_distinct() {
        let a = random_token();
        assert_eq!(b64_decode(&a).unwrap().len(), 32);
        assert_ne!(a, random_token());
    }

    #[test]
    fn sha256_hex_is_the_lowercase_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_parts_are_length_prefixed() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
        let ab_c = hmac_parts(&key, &[b"ab", b"c"]);
        let a_bc = hmac_parts(&key, &[b"a", b"bc"]);
        assert_ne!(ab_c.as_ref(), a_bc.as_ref());
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
