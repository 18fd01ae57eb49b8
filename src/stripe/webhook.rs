//! Stripe's webhook signature (`Stripe-Signature: t=...,v1=...`): HMAC-SHA256 of
//! `"{t}.{raw body}"` under the endpoint's secret, hex. Written here because it is twenty
//! lines of ring, and the crate that would bring it (async-stripe 1.0, a release
//! candidate) checks only one `v1` against one secret: rotation needs any against any.

use ring::hmac;

/// How far the signature's `t` may be from now, in seconds (Stripe's own default).
pub(crate) const TOLERANCE_SECS: i64 = 300;

/// Why a signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No header, or not `t=...,v1=...`.
    Malformed,
    /// `t` is more than the tolerance away from now.
    Stale,
    /// No `v1` matches any secret.
    Mismatch,
}

/// Checks `header` for `body` against every secret: any `v1` matching any secret passes.
/// Every comparison runs in constant time.
pub(crate) fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[String],
    now: i64,
) -> Result<(), Refused> {
    let header = header.ok_or(Refused::Malformed)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => timestamp = value.parse::<i64>().ok(),
            "v1" => {
                if let Some(bytes) = decode_hex(value) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Refused::Malformed)?;
    if signatures.is_empty() {
        return Err(Refused::Malformed);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(Refused::Stale);
    }
    let mut signed = Vec::with_capacity(body.len() + 12);
    signed.extend_from_slice(timestamp.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    let mut matched = false;
    for secret in secrets {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let expected = hmac::sign(&key, &signed);
        for signature in &signatures {
            // No early exit: every pair is compared.
            matched |= crate::crypto::ct_eq(expected.as_ref(), signature);
        }
    }
    if matched {
        Ok(())
    } else {
        Err(Refused::Mismatch)
    }
}

/// The header Stripe would send for `body` at `t` under `secret` (tests and benches).
pub(crate) fn sign(body: &[u8], secret: &str, t: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = t.to_string().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    format!(
        "t={t},v1={}",
        crate::crypto::hex(hmac::sign(&key, &signed).as_ref())
    )
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn any_v1_against_any_secret_within_the_tolerance() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1_000);
        let secrets = vec!["whsec_old".to_owned(), SECRET.to_owned()];
        assert_eq!(verify(Some(&header), body, &secrets, 1_000), Ok(()));
        assert_eq!(verify(Some(&header), body, &secrets, 1_300), Ok(()));
        assert_eq!(
            verify(Some(&header), body, &secrets, 1_301),
            Err(Refused::Stale)
        );
        assert_eq!(
            verify(Some(&header), body, &secrets, 699),
            Err(Refused::Stale)
        );
        // Several v1, one right: passes.
        let mixed = format!("t=1000,v1={},{}", "0".repeat(64), &header[7..]);
        assert_eq!(verify(Some(&mixed), body, &secrets, 1_000), Ok(()));
        // Tampered body, wrong secret, garbage.
        assert_eq!(
            verify(Some(&header), br#"{"id":"evt_2"}"#, &secrets, 1_000),
            Err(Refused::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), body, &["whsec_other".to_owned()], 1_000),
            Err(Refused::Mismatch)
        );
        for bad in ["", "t=1000", "v1=abc", "t=x,v1=00", "nonsense"] {
            assert_eq!(
                verify(Some(bad), body, &secrets, 1_000),
                Err(Refused::Malformed),
                "{bad}"
            );
        }
        assert_eq!(verify(None, body, &secrets, 1_000), Err(Refused::Malformed));
    }
}
