//! Phone numbers: E.164 only (`+` and 8 to 15 digits, no leading zero after the `+`).

use crate::Error;

/// Validates an E.164 phone number (spaces, dashes, dots and parentheses are removed
/// first) and, when `allowed_prefixes` is not empty, checks it starts with one of them
/// (calling codes such as `+1` or `+44`).
///
/// ```
/// use portcullis::users::normalize_phone;
///
/// assert_eq!(normalize_phone(" +1 (555) 555-0123 ", &[]).unwrap(), "+15555550123");
/// assert!(normalize_phone("5555550123", &[]).is_err());
/// assert!(normalize_phone("+445555550123", &["+1".into()]).is_err());
/// ```
///
/// # Errors
///
/// [`Error::InvalidRequest`] naming what is wrong.
pub fn normalize_phone(input: &str, allowed_prefixes: &[String]) -> Result<String, Error> {
    let compact: String = input
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let Some(digits) = compact.strip_prefix('+') else {
        return Err(Error::invalid_request(
            "phone: must be in E.164 form, like +15555550123",
        ));
    };
    let valid = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !valid {
        return Err(Error::invalid_request(
            "phone: must be in E.164 form, like +15555550123",
        ));
    }
    if !allowed_prefixes.is_empty()
        && !allowed_prefixes
            .iter()
            .any(|prefix| compact.starts_with(prefix.as_str()))
    {
        return Err(Error::invalid_request(
            "phone: numbers from this country are not accepted",
        ));
    }
    Ok(compact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_e164_corpus() {
        for (input, expected) in [
            ("+15555550123", "+15555550123"),
            ("+1 555 555 0123", "+15555550123"),
            ("+44 (20) 7946-0958", "+442079460958"),
            ("+33.1.23.45.67.89", "+33123456789"),
            ("+4915123456789", "+4915123456789"),
        ] {
            assert_eq!(normalize_phone(input, &[]).unwrap(), expected, "{input}");
        }
        for bad in [
            "",
            "+",
            "15555550123",
            "0015555550123",
            "+0155555501",
            "+1234567",
            "+1234567890123456",
            "+1555555O123",
            "+1 555 555 0123 ext 5",
            "+１５５５５５５０１２３",
            "+1555\u{0}5550123",
            "++15555550123",
        ] {
            assert!(normalize_phone(bad, &[]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_country_allow_list_applies() {
        let allowed = vec!["+1".to_owned(), "+44".to_owned()];
        assert!(normalize_phone("+15555550123", &allowed).is_ok());
        assert!(normalize_phone("+442079460958", &allowed).is_ok());
        assert!(normalize_phone("+33123456789", &allowed).is_err());
    }
}
