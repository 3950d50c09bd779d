//! `Error`: what the client's HTTP calls, blob cache, lockfile and build-time fetch fail
//! with, and [`ErrorKind`], the coarse class callers branch on (the CLI maps it to its exit
//! code). One type for the async client, the blocking client and the build-time fetch, so
//! none of them leaks its HTTP library's error types. The model runtime has its own error
//! (`runtime::RuntimeError`); this module knows nothing of it.

use std::path::PathBuf;

use crate::digest::Digest;
use crate::problem::Problem;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry refused the request: its `application/problem+json` answer (or, when the
    /// body was not a problem document, the status with a synthesized `code`).
    #[error("{}", api_message(*status, code, detail))]
    Api {
        status: u16,
        /// The problem's stable `code`, e.g. `model_not_found`, `stage_conflict`.
        code: String,
        detail: String,
    },
    /// The registry could not be reached, or the connection broke (after any retries).
    #[error("cannot reach the registry at {url}: {message}")]
    Transport { url: String, message: String },
    /// The registry answered something this client cannot understand.
    #[error("unexpected answer from {url}: {message}")]
    Protocol { url: String, message: String },
    /// Bytes whose sha256 is not the one they must have: a tampered cache entry, or a
    /// registry that now answers different bytes for a pinned digest.
    #[error("digest mismatch: {subject} has {actual}, expected {expected}{hint}")]
    Digest {
        subject: String,
        expected: Digest,
        actual: Digest,
        /// What to do about it, starting with `; ` (or empty).
        hint: String,
    },
    /// `CAPSTAN_OFFLINE=1` and what is needed is not in the cache or the lockfile.
    #[error("offline (CAPSTAN_OFFLINE=1): {0}")]
    Offline(String),
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `capstan.lock` is not valid.
    #[error("{}: {message}", path.display())]
    Lockfile { path: PathBuf, message: String },
    /// Bad input from the caller: an invalid ref, URL, setting or file.
    #[error("{0}")]
    Invalid(String),
}

/// The coarse class of an [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The model, version, alias or route does not exist (404).
    NotFound,
    /// The request conflicts with the registry's state (409): a name that exists, a stage
    /// that moved, a version that is not ready.
    Conflict,
    /// The input was rejected: by the registry (400, 413, 415, 422) or locally.
    BadInput,
    /// The registry failed (5xx), could not be reached, answered nonsense, or the cache
    /// misses something while offline.
    Unavailable,
    /// Bytes did not match their digest.
    Verification,
    /// A local file could not be read or written.
    Io,
    /// No token, or one the server does not know (401): unknown, revoked, or for another
    /// registry.
    Unauthorized,
    /// The token is known but may not do this (403): its role is too low, or it is
    /// limited to some models.
    Forbidden,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api { code, .. } if code == "digest_mismatch" => ErrorKind::Verification,
            Error::Api { status, .. } => match status {
                401 => ErrorKind::Unauthorized,
                403 => ErrorKind::Forbidden,
                404 | 410 => ErrorKind::NotFound,
                409 | 412 => ErrorKind::Conflict,
                500.. => ErrorKind::Unavailable,
                _ => ErrorKind::BadInput,
            },
            Error::Transport { .. } | Error::Protocol { .. } | Error::Offline(_) => {
                ErrorKind::Unavailable
            }
            Error::Digest { .. } => ErrorKind::Verification,
            Error::Io { .. } => ErrorKind::Io,
            Error::Lockfile { .. } | Error::Invalid(_) => ErrorKind::BadInput,
        }
    }

    /// The registry's problem `code`, when the registry answered with an error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, when the registry answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether repeating the same idempotent request may succeed: a broken connection, a
    /// timeout or a server-side failure.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            Error::Api { status, .. } => *status >= 500 && *status != 501,
            _ => false,
        }
    }

    /// Builds [`Error::Api`] from an error response's status and body: the problem document
    /// when the body is one, else the status with a synthesized code.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<Problem>(body) {
            Ok(problem) => Error::Api {
                status,
                code: problem.code,
                detail: problem.detail,
            },
            Err(_) => {
                let text: String = String::from_utf8_lossy(body).chars().take(300).collect();
                Error::Api {
                    status,
                    code: format!("http_{status}"),
                    detail: if text.trim().is_empty() {
                        "(no details)".to_owned()
                    } else {
                        text
                    },
                }
            }
        }
    }

    #[cfg(feature = "fetch")]
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// What [`Error::Api`] says: the problem, and for a refused token what to do about it.
/// The token itself is never part of it (the client does not put it in errors, and the
/// registry does not echo it).
fn api_message(status: u16, code: &str, detail: &str) -> String {
    match status {
        401 => format!(
            "the registry refused the token (401 {code}): {detail}; set CAPSTAN_TOKEN (or \
             --token, or `token` in the client config file) to a valid token"
        ),
        // Four eyes: no other token would help the requester approve their own request.
        403 if code == "self_approval" => format!("the registry answered 403 {code}: {detail}"),
        403 => format!(
            "the token may not do this (403 {code}): {detail}; ask an admin for a token \
             with the role or models it needs"
        ),
        _ => format!("the registry answered {status} {code}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_documents_keep_their_code() {
        let body = br#"{"type":"https://capstan.dev/problems/model_not_found","title":"Not Found","status":404,"detail":"no model named \"bc\"","code":"model_not_found"}"#;
        let error = Error::from_response(404, body);
        assert_eq!(error.code(), Some("model_not_found"));
        assert_eq!(error.kind(), ErrorKind::NotFound);
        assert!(error.to_string().contains("no model named"));
    }

    #[test]
    fn refused_tokens_have_their_own_kinds() {
        let body = br#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"the token is unknown or revoked","code":"unauthenticated"}"#;
        let error = Error::from_response(401, body);
        assert_eq!(error.kind(), ErrorKind::Unauthorized);
        assert!(error.to_string().contains("set CAPSTAN_TOKEN"), "{error}");
        let error = Error::from_response(403, b"");
        assert_eq!(error.kind(), ErrorKind::Forbidden);
        assert!(!error.is_transient());
    }

    #[test]
    fn other_bodies_get_a_status_code() {
        let error = Error::from_response(502, b"<html>bad gateway</html>");
        assert_eq!(error.code(), Some("http_502"));
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert!(error.is_transient());
        assert!(!Error::from_response(409, b"").is_transient());
    }
}
