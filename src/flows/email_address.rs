//! Email addresses: one strict normalisation used everywhere an address comes in.

use crate::Error;

/// The longest address accepted (RFC 5321's path limit minus the angle brackets).
pub(crate) const MAX_EMAIL_LEN: usize = 254;

/// Trims, lower-cases and validates an email address.
///
/// Accepted: an ASCII dot-atom local part (at most 64 characters, no leading, trailing or
/// doubled dots) and a domain of at least two LDH labels whose last label is not numeric.
/// Refused: quoted local parts, comments, IP-literal domains, non-ASCII addresses, control
/// characters and anything over 254 characters. Lower-casing the whole address is
/// what lets `Jane@Example.com` and `jane@example.com` be one account.
///
/// ```
/// use portcullis::users::normalize_email;
///
/// assert_eq!(normalize_email("  Jane.Doe+news@Example.COM ").unwrap(), "jane.doe+news@example.com");
/// assert!(normalize_email("jane@localhost").is_err());
/// assert!(normalize_email("\"jane doe\"@example.com").is_err());
/// ```
///
/// # Errors
///
/// [`Error::InvalidRequest`] naming what is wrong.
pub fn normalize_email(input: &str) -> Result<String, Error> {
    let invalid = |why: &'static str| Err(Error::invalid_request(format!("email: {why}")));
    let email = input.trim();
    if email.is_empty() {
        return invalid("is required");
    }
    if email.len() > MAX_EMAIL_LEN {
        return invalid("is too long");
    }
    if !email.is_ascii() {
        return invalid("only ASCII addresses are supported");
    }
    let email = email.to_ascii_lowercase();
    let Some((local, domain)) = email.split_once('@') else {
        return invalid("is not an email address");
    };
    if local.is_empty() || local.len() > 64 {
        return invalid("the part before @ must be 1 to 64 characters");
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if !local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext))
    {
        return invalid("the part before @ has characters or dots that are not allowed");
    }
    if domain.len() > 253 {
        return invalid("the domain is too long");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return invalid("the domain is not valid");
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return invalid("the domain is not valid");
    }
    Ok(email)
}

/// The local part of a normalised address (a context word for the password policy).
pub(crate) fn local_part(email: &str) -> &str {
    email.split_once('@').map_or(email, |(local, _)| local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_addresses_normalise() {
        for (input, expected) in [
            ("a@example.com", "a@example.com"),
            ("  A@Example.Com\t", "a@example.com"),
            (
                "first.last+tag@sub.example.co.uk",
                "first.last+tag@sub.example.co.uk",
            ),
            ("o'brien@example.ie", "o'brien@example.ie"),
            ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
            ("user_1-2@a-b.io", "user_1-2@a-b.io"),
        ] {
            assert_eq!(normalize_email(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn bad_addresses_are_refused() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_total = format!("a@{}.com", "b".repeat(250));
        for bad in [
            "",
            "   ",
            "plainaddress",
            "@example.com",
            "a@",
            "a@@example.com",
            "a@b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a@localhost",
            "a@example",
            "a@-example.com",
            "a@example-.com",
            "a@example..com",
            "a@[127.0.0.1]",
            "a@1.2.3.4",
            "\"a b\"@example.com",
            "a b@example.com",
            "a(comment)@example.com",
            "a@exa mple.com",
            "jané@example.com",
            "a@exämple.com",
            "a\r\nbcc:x@example.com",
            "a\0@example.com",
            "<a@example.com>",
            &long_local,
            &long_total,
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn local_part_is_before_the_at() {
        assert_eq!(local_part("jane.doe@example.com"), "jane.doe");
    }
}
