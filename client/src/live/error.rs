//! `LiveError`: what following a ref can fail with — reaching the registry, the event
//! source (SSE, NATS, Kafka), or turning a version into a loaded model. Each failure says
//! whether trying again later can help ([`LiveError::is_transient`]), which is how the
//! follower tells "retry with backoff" from "report and skip this version".

use crate::error::Error;
use crate::names::ModelName;
use crate::reference::RefError;
use crate::runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The ref to follow does not parse.
    #[error("invalid ref {text:?}: {source}")]
    Ref { text: String, source: RefError },
    /// A setting (environment variable or builder option) is wrong.
    #[error("{0}")]
    Config(String),
    /// The registry refused a request, could not be reached, or sent bytes that do not
    /// match their digest.
    #[error(transparent)]
    Registry(#[from] Error),
    /// The event source could not be reached, or its connection broke.
    #[error("event source {source_name}: {message}")]
    Source {
        source_name: String,
        message: String,
    },
    /// The ref names a version that has no artifact (yet).
    #[error("{model} version {version} has no artifact")]
    NotReady { model: ModelName, version: i64 },
    /// The artifact was fetched and verified, but the runtime cannot load it.
    #[error("{model} version {version} cannot be loaded: {source}")]
    Load {
        model: ModelName,
        version: i64,
        source: RuntimeError,
    },
}

impl LiveError {
    pub(crate) fn unavailable(
        source_name: impl Into<String>,
        message: impl std::fmt::Display,
    ) -> Self {
        LiveError::Source {
            source_name: source_name.into(),
            message: message.to_string(),
        }
    }

    /// Whether the same attempt may succeed later: the registry or the event source was
    /// unreachable or failed on its side, or a local file could not be written. A bad
    /// artifact (digest mismatch, unloadable) or a ref that names nothing is not.
    pub fn is_transient(&self) -> bool {
        match self {
            LiveError::Registry(error) => {
                error.is_transient()
                    || matches!(
                        error,
                        Error::Transport { .. } | Error::Protocol { .. } | Error::Io { .. }
                    )
            }
            LiveError::Source { .. } => true,
            LiveError::Ref { .. }
            | LiveError::Config(_)
            | LiveError::NotReady { .. }
            | LiveError::Load { .. } => false,
        }
    }
}
