//! Cursor pagination: opaque page tokens and the limits on page size.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::error::{DomainError, DomainResult};

pub const DEFAULT_PAGE: i64 = 100;
pub const MAX_PAGE: i64 = 1000;

pub fn page_limit(limit: Option<i64>) -> DomainResult<i64> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(limit) => Err(DomainError::InvalidLimit { limit }),
    }
}

/// A token that resumes a listing after `key`; `kind` keeps tokens of different
/// listings from being mixed up.
pub fn encode_token(kind: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

pub fn decode_token(kind: &str, token: &str) -> DomainResult<String> {
    let invalid = || DomainError::InvalidPageToken;
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::to_owned)
        .ok_or_else(invalid)
}

/// A token that resumes a newest-first listing before the row numbered `number`.
pub fn encode_number_token(kind: &str, number: i64) -> String {
    encode_token(kind, &number.to_string())
}

pub fn decode_number_token(kind: &str, token: &str) -> DomainResult<i64> {
    decode_token(kind, token)?
        .parse()
        .map_err(|_| DomainError::InvalidPageToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_typed() {
        let token = encode_token("models", "bc");
        assert_eq!(decode_token("models", &token).unwrap(), "bc");
        assert!(decode_token("versions", &token).is_err());
        assert!(decode_token("models", "!!").is_err());
    }
}
