//! Standard Webhooks signatures (<https://www.standardwebhooks.com>, symmetric scheme):
//! `v1,<base64 HMAC-SHA256>` over `{webhook-id}.{webhook-timestamp}.{body}`, keyed with
//! the base64-decoded part of the secret after `whsec_`. Several signatures (the current
//! secret's and, for a while after a rotation, the previous one's) are space-separated in
//! one `webhook-signature` header, as the spec allows for zero-downtime rotation.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a serialised symmetric secret.
pub const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored webhook secret is not whsec_ followed by base64")]
pub struct InvalidSecret;

/// `v1,<signature>` of one message with one secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, InvalidSecret> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).ok_or(InvalidSecret)?)
        .map_err(|_| InvalidSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| InvalidSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn signature_header(
    secrets: &[String],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, InvalidSecret> {
    let signatures = secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The reference vector of the Standard Webhooks libraries' test suites (the Python
    /// `standardwebhooks` 1.3.0 package signs it the same way).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_reference_vector() {
        assert_eq!(sign(SECRET, ID, TIMESTAMP, BODY).unwrap(), SIGNATURE);
    }

    #[test]
    fn any_change_changes_the_signature() {
        assert_ne!(sign(SECRET, ID, TIMESTAMP + 1, BODY).unwrap(), SIGNATURE);
        assert_ne!(
            sign(SECRET, "msg_other", TIMESTAMP, BODY).unwrap(),
            SIGNATURE
        );
        assert_ne!(
            sign(SECRET, ID, TIMESTAMP, br#"{"test":2432232314}"#).unwrap(),
            SIGNATURE
        );
    }

    #[test]
    fn rotation_sends_both_signatures() {
        let other = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; 32]));
        let header =
            signature_header(&[other.clone(), SECRET.to_owned()], ID, TIMESTAMP, BODY).unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], sign(&other, ID, TIMESTAMP, BODY).unwrap());
        assert_eq!(parts[1], SIGNATURE);
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert_eq!(sign("MfKQ9r8G", ID, TIMESTAMP, BODY), Err(InvalidSecret));
        assert_eq!(sign("whsec_!!!", ID, TIMESTAMP, BODY), Err(InvalidSecret));
    }
}
