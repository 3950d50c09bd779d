//! What can go wrong while serving: resolving and loading a model, or predicting with it.
//! Its HTTP mapping (status, code, V2's `error` member) lives in [`crate::error`], the one
//! mapping of the request path; handlers return it as a [`RegistryError`].

use capstan_client::runtime::RuntimeError;

use crate::error::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    NotServed(String),
    /// The version is stored but cannot be served (its format, or a tree without a
    /// servable file); the message is the version's `unservable_reason`.
    #[error("{0}")]
    NotServable(String),
    #[error("cannot reach the registry: {0}")]
    Upstream(String),
    #[error("the artifact of {model} version {version} does not match its digest {expected} (got {actual})")]
    DigestMismatch {
        model: String,
        version: i64,
        expected: String,
        actual: String,
    },
}
