//! ES256 access tokens (`typ: at+jwt`): signing, strict verification, and the JWKS.
//!
//! Verification follows RFC 8725: it refuses anything but `ES256` before touching any
//! key, accepts only a `kid` from our own key set, refuses headers that try to bring their
//! own key (`jwk`, `jku`, `x5u`, `x5c`) or anything else unknown, requires exactly three
//! canonical base64url segments under a size cap, and checks `iss`, `exp`, `iat` and `nbf`
//! with a small leeway. Signatures are checked with ring's P-256 implementation.

use std::collections::HashMap;

use ring::{
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, KeyPair as _},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{b64_decode, b64_encode};

/// The largest access token the verifier will look at, in bytes.
pub(crate) const MAX_TOKEN_LEN: usize = 4096;

/// The claims of a portcullis access token.
///
/// [`CurrentUser`](crate::CurrentUser) dereferences to this, so handlers read
/// `user.email` or `user.sub` directly. Every field comes from a token whose signature,
/// issuer, lifetime and revocation state were checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the configured public URL.
    pub iss: String,
    /// The user id.
    pub sub: Uuid,
    /// The session id.
    pub sid: Uuid,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    #[serde(default)]
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// When the session was created by an actual sign-in (Unix seconds); refreshing
    /// keeps it. Used for the fresh-session rule.
    #[serde(default)]
    pub auth_time: i64,
    /// The user's email address, if they have one.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether that address was verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Authentication methods used (RFC 8176): `pwd`, `otp`, `hwk`, ...; after a second
    /// factor, both (`["pwd", "otp"]`).
    #[serde(default)]
    pub amr: Vec<String>,
    /// What the session proved (NIST SP 800-63B): `aal1` (one factor) or `aal2` (a second
    /// factor, or a passkey with user verification).
    #[serde(default = "aal1")]
    pub acr: String,
    /// The session's active organization, if any.
    #[serde(default)]
    pub org_id: Option<Uuid>,
    /// The user's role in that organization, a hint only: permission checks re-read it.
    #[serde(default)]
    pub org_role: Option<String>,
    /// The features of the user and the active organization (admitted waitlists, plans);
    /// absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Only on an impersonation: the admin acting as this user (RFC 8693 `act`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// Only when the request authenticated with an API key (`Bearer sk_...`), never in an
    /// access token: which key, and what it is limited to.
    #[serde(skip)]
    pub api_key: Option<ApiKeyIdentity>,
}

/// The `act` claim of an impersonation: who is really acting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The impersonating admin's user id.
    pub sub: Uuid,
}

/// The API key a request authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiKeyIdentity {
    /// The key's id.
    pub id: Uuid,
    /// The organization of an organization key (which acts as the organization: the
    /// claims' `sub` is this id too).
    pub org_id: Option<Uuid>,
    /// The permissions the key is limited to; `None`: whatever its owner may do (user keys
    /// only).
    pub scopes: Option<Vec<String>>,
    /// When the key was made (a later cut-off of its owner ends it).
    pub created_at: time::OffsetDateTime,
}

fn aal1() -> String {
    "aal1".to_owned()
}

impl Claims {
    /// Whether the session passed a second factor (or signed in with a passkey):
    /// `acr` is `aal2`.
    #[must_use]
    pub fn is_aal2(&self) -> bool {
        self.acr == "aal2"
    }

    /// Whether the token carries `feature` (an admitted waitlist, a plan's feature).
    #[must_use]
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// Whether the request may use `scope`: always for a session, for an API key only if
    /// it is unscoped (user keys) or lists it.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.api_key.as_ref().is_none_or(|key| {
            key.scopes
                .as_ref()
                .is_none_or(|scopes| scopes.iter().any(|s| s == scope))
        })
    }
}

/// The only header we issue and the only shape we accept.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

const ALG: &str = "ES256";
const TYP: &str = "at+jwt";

/// Why a token was refused. Never shown to clients (they only see `unauthorized`), but
/// logged at debug level and asserted on in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum VerifyError {
    #[error("token is not three base64url segments under the size cap")]
    Malformed,
    #[error("header is not an ES256 at+jwt header with only alg, typ and kid")]
    BadHeader,
    #[error("kid names no key we publish")]
    UnknownKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("claims are missing or malformed")]
    BadClaims,
    #[error("issuer is not ours")]
    WrongIssuer,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
}

/// A private key that signs access tokens.
pub(crate) struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl SigningKey {
    /// A fresh P-256 key: its `kid`, its PKCS#8 document (to be sealed) and the key.
    pub(crate) fn generate(kid: String) -> Option<(Vec<u8>, Self)> {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).ok()?;
        let key = Self::from_pkcs8(kid, pkcs8.as_ref())?;
        Some((pkcs8.as_ref().to_vec(), key))
    }

    pub(crate) fn from_pkcs8(kid: String, pkcs8: &[u8]) -> Option<Self> {
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .ok()?;
        Some(Self { kid, pair, rng })
    }

    /// The uncompressed SEC1 public point (65 bytes).
    pub(crate) fn public_point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// Signs the claims into a compact JWS.
    pub(crate) fn sign(&self, claims: &Claims) -> Result<String, crate::Error> {
        let header = Header {
            alg: ALG,
            typ: TYP,
            kid: &self.kid,
        };
        let header = serde_json::to_vec(&header).map_err(crate::Error::internal)?;
        let payload = serde_json::to_vec(claims).map_err(crate::Error::internal)?;
        let mut token = b64_encode(&header);
        token.push('.');
        token.push_str(&b64_encode(&payload));
        let signature = self
            .pair
            .sign(&self.rng, token.as_bytes())
            .map_err(|_| crate::Error::internal("ES256 signing failed"))?;
        token.push('.');
        token.push_str(&b64_encode(signature.as_ref()));
        Ok(token)
    }
}

/// A public key that verifies access tokens.
#[derive(Debug, Clone)]
pub(crate) struct VerifyingKey {
    pub(crate) kid: String,
    /// Uncompressed SEC1 point: 0x04 ‖ x ‖ y.
    pub(crate) point: Vec<u8>,
}

impl VerifyingKey {
    /// The key as a JWK for `/.well-known/jwks.json`.
    pub(crate) fn to_jwk(&self) -> serde_json::Value {
        let (x, y) = self
            .point
            .get(1..33)
            .zip(self.point.get(33..65))
            .unwrap_or((&[], &[]));
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": b64_encode(x),
            "y": b64_encode(y),
            "kid": self.kid,
            "alg": ALG,
            "use": "sig",
        })
    }
}

/// The parts of a token that passed the structural checks, before the signature.
struct Parsed<'t> {
    kid: String,
    signed: &'t str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

fn parse(token: &str) -> Result<Parsed<'_>, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::Malformed);
    }
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(VerifyError::Malformed);
    };
    let header_bytes = b64_decode(header).ok_or(VerifyError::Malformed)?;
    let parsed: Header<'_> =
        serde_json::from_slice(&header_bytes).map_err(|_| VerifyError::BadHeader)?;
    // The algorithm is decided by us, never by the token: anything else (`none`, `HS256`
    // with our public key as the secret, ...) is refused before any key is touched.
    if parsed.alg != ALG || parsed.typ != TYP {
        return Err(VerifyError::BadHeader);
    }
    let kid = parsed.kid.to_owned();
    let payload_bytes = b64_decode(payload).ok_or(VerifyError::Malformed)?;
    let signature_bytes = b64_decode(signature).ok_or(VerifyError::Malformed)?;
    let signed_len = header.len() + 1 + payload.len();
    Ok(Parsed {
        kid,
        signed: token.get(..signed_len).ok_or(VerifyError::Malformed)?,
        payload: payload_bytes,
        signature: signature_bytes,
    })
}

/// What verification checks the claims against.
pub(crate) struct Expectations<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) now: i64,
    pub(crate) leeway: i64,
}

/// Verifies a compact JWS with the key its `kid` names in `keys`.
pub(crate) fn verify(
    token: &str,
    keys: &HashMap<String, VerifyingKey>,
    expect: &Expectations<'_>,
) -> Result<Claims, VerifyError> {
    let parsed = parse(token)?;
    let key = keys.get(&parsed.kid).ok_or(VerifyError::UnknownKey)?;
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &key.point)
        .verify(parsed.signed.as_bytes(), &parsed.signature)
        .map_err(|_| VerifyError::BadSignature)?;
    let claims: Claims =
        serde_json::from_slice(&parsed.payload).map_err(|_| VerifyError::BadClaims)?;
    check_claims(&claims, expect)?;
    Ok(claims)
}

/// The time-dependent checks, also re-run on every cache hit.
pub(crate) fn check_claims(claims: &Claims, expect: &Expectations<'_>) -> Result<(), VerifyError> {
    if claims.iss != expect.issuer {
        return Err(VerifyError::WrongIssuer);
    }
    if claims.exp <= expect.now - expect.leeway {
        return Err(VerifyError::Expired);
    }
    if claims.iat > expect.now + expect.leeway || claims.nbf > expect.now + expect.leeway {
        return Err(VerifyError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ring::hmac;

    use super::*;

    const ISS: &str = "https://app.example.com";

    fn key() -> (SigningKey, HashMap<String, VerifyingKey>) {
        let (_, key) = SigningKey::generate("k1".into()).unwrap();
        let vk = VerifyingKey {
            kid: "k1".into(),
            point: key.public_point().to_vec(),
        };
        (key, HashMap::from([("k1".into(), vk)]))
    }

    fn claims(now: i64) -> Claims {
        Claims {
            iss: ISS.into(),
            sub: Uuid::now_v7(),
            sid: Uuid::now_v7(),
            iat: now,
            nbf: now,
            exp: now + 300,
            auth_time: now,
            email: Some("a@example.com".into()),
            email_verified: false,
            amr: vec!["pwd".into()],
            acr: "aal1".into(),
            act: None,
            features: Vec::new(),
            api_key: None,
            org_id: None,
            org_role: None,
        }
    }

    fn expect(now: i64) -> Expectations<'static> {
        Expectations {
            issuer: ISS,
            now,
            leeway: 15,
        }
    }

    fn forge(header: &str, payload: &Claims, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64_encode(header.as_bytes()),
            b64_encode(&serde_json::to_vec(payload).unwrap()),
            b64_encode(signature)
        )
    }

    #[test]
    fn a_signed_token_round_trips() {
        let (key, keys) = key();
        let c = claims(1_000_000);
        let token = key.sign(&c).unwrap();
        assert_eq!(verify(&token, &keys, &expect(1_000_010)).unwrap(), c);
    }

    #[test]
    fn the_header_is_es256_at_jwt_with_our_kid() {
        let (key, _) = key();
        let token = key.sign(&claims(0)).unwrap();
        let header = b64_decode(token.split('.').next().unwrap()).unwrap();
        let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(
            header,
            serde_json::json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" })
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let (_, keys) = key();
        let token = forge(
            r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#,
            &claims(0),
            b"",
        );
        assert_eq!(
            verify(&token, &keys, &expect(0)),
            Err(VerifyError::BadHeader)
        );
        let token = format!("{}.", token.trim_end_matches('.'));
        assert!(verify(&token, &keys, &expect(0)).is_err());
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_refused() {
        let (_, keys) = key();
        let header = b64_encode(br#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#);
        let payload = b64_encode(&serde_json::to_vec(&claims(0)).unwrap());
        let signed = format!("{header}.{payload}");
        let mac = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &keys["k1"].point),
            signed.as_bytes(),
        );
        let token = format!("{signed}.{}", b64_encode(mac.as_ref()));
        assert_eq!(
            verify(&token, &keys, &expect(0)),
            Err(VerifyError::BadHeader)
        );
    }

    #[test]
    fn embedded_keys_and_unknown_header_fields_are_refused() {
        let (key, keys) = key();
        let good = key.sign(&claims(0)).unwrap();
        let mut parts = good.split('.');
        let (_, payload, sig) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        for header in [
            r#"{"alg":"ES256","typ":"at+jwt","kid":"k1","jwk":{}}"#,
            r#"{"alg":"ES256","typ":"at+jwt","kid":"k1","jku":"https://evil"}"#,
            r#"{"alg":"ES256","typ":"at+jwt","kid":"k1","x5u":"https://evil"}"#,
            r#"{"alg":"ES256","typ":"at+jwt","kid":"k1","x5c":[]}"#,
            r#"{"alg":"ES256","typ":"at+jwt","kid":"k1","crit":["exp"]}"#,
            r#"{"alg":"ES256","typ":"JWT","kid":"k1"}"#,
            r#"{"alg":"ES256","kid":"k1"}"#,
            r#"{"alg":"ES384","typ":"at+jwt","kid":"k1"}"#,
        ] {
            let token = format!("{}.{payload}.{sig}", b64_encode(header.as_bytes()));
            assert_eq!(
                verify(&token, &keys, &expect(0)),
                Err(VerifyError::BadHeader),
                "{header}"
            );
        }
    }

    #[test]
    fn an_unknown_kid_is_refused() {
        let (_, keys) = key();
        let (_, other) = SigningKey::generate("k2".into()).unwrap();
        let token = other.sign(&claims(0)).unwrap();
        assert_eq!(
            verify(&token, &keys, &expect(0)),
            Err(VerifyError::UnknownKey)
        );
    }

    #[test]
    fn a_key_with_a_borrowed_kid_is_refused() {
        let (_, keys) = key();
        let (_, attacker) = SigningKey::generate("k1".into()).unwrap();
        let token = attacker.sign(&claims(0)).unwrap();
        assert_eq!(
            verify(&token, &keys, &expect(0)),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn tampered_claims_are_refused() {
        let (key, keys) = key();
        let token = key.sign(&claims(0)).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut c = claims(0);
        c.email = Some("admin@example.com".into());
        let forged_payload = b64_encode(&serde_json::to_vec(&c).unwrap());
        parts[1] = &forged_payload;
        assert_eq!(
            verify(&parts.join("."), &keys, &expect(0)),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn structure_is_checked() {
        let (key, keys) = key();
        let token = key.sign(&claims(0)).unwrap();
        for bad in [
            String::new(),
            "a.b".into(),
            format!("{token}.extra"),
            format!("{token}="),
            token.replace('.', ".."),
            "x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(verify(&bad, &keys, &expect(0)).is_err(), "{bad}");
        }
    }

    #[test]
    fn lifetime_and_issuer_are_checked_with_leeway() {
        let (key, keys) = key();
        let token = key.sign(&claims(1_000)).unwrap();
        assert!(verify(&token, &keys, &expect(1_000 + 300 + 14)).is_ok());
        assert_eq!(
            verify(&token, &keys, &expect(1_000 + 300 + 15)),
            Err(VerifyError::Expired)
        );
        assert!(verify(&token, &keys, &expect(1_000 - 15)).is_ok());
        assert_eq!(
            verify(&token, &keys, &expect(1_000 - 16)),
            Err(VerifyError::NotYetValid)
        );
        let other_issuer = Expectations {
            issuer: "https://evil.example",
            now: 1_000,
            leeway: 15,
        };
        assert_eq!(
            verify(&token, &keys, &other_issuer),
            Err(VerifyError::WrongIssuer)
        );
    }

    #[test]
    fn missing_required_claims_are_refused() {
        let (key, keys) = key();
        let header = r#"{"alg":"ES256","typ":"at+jwt","kid":"k1"}"#;
        let signed = format!(
            "{}.{}",
            b64_encode(header.as_bytes()),
            b64_encode(br#"{"iss":"https://app.example.com","exp":99999999999}"#)
        );
        let sig = key.pair.sign(&key.rng, signed.as_bytes()).unwrap();
        let token = format!("{signed}.{}", b64_encode(sig.as_ref()));
        assert_eq!(
            verify(&token, &keys, &expect(0)),
            Err(VerifyError::BadClaims)
        );
    }

    #[test]
    fn jwk_has_the_published_shape() {
        let (key, keys) = key();
        let jwk = keys["k1"].to_jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["use"], "sig");
        let x = b64_decode(jwk["x"].as_str().unwrap()).unwrap();
        let y = b64_decode(jwk["y"].as_str().unwrap()).unwrap();
        assert_eq!([&[4u8][..], &x, &y].concat(), key.public_point());
    }
}
