//! Importing an MLflow model registry into Capstan (`capstan import mlflow`, feature
//! `http`): [`MlflowReader`] reads a tracking server's REST API and its `mlflow-artifacts`
//! proxy (`reader.rs`, `artifacts.rs`, shapes in `wire.rs`); [`plan_model`] compares what
//! MLflow holds with what Capstan holds and returns the steps, with no I/O (`plan.rs`,
//! over `source.rs`, `pointers.rs`, `names.rs`); [`import`] carries the steps out through the Capstan [`Client`]
//! (`execute.rs`, `copy.rs`, `verify.rs`) and returns an [`ImportReport`] (`report.rs`).
//!
//! It reads MLflow and never writes to it. It prints nothing: the CLI draws the progress
//! and the report.
//!
//! [`Client`]: crate::http::Client

mod artifacts;
mod copy;
mod execute;
mod names;
mod plan;
mod pointers;
mod reader;
mod report;
mod source;
mod verify;
mod wire;

pub use artifacts::{list_tree, locate, open_file, Location, RemoteFile};
pub use execute::{import, ImportRequest};
pub use names::choose_names;
pub use plan::{
    plan_model, ModelPlan, ModelStep, Note, PointerStep, TargetState, VersionAction, VersionStep,
};
pub use reader::{MlflowAuth, MlflowReader};
pub use report::{ImportReport, Outcome, OutcomeStatus};
pub use source::{capstan_tag, source_model, MlflowStage, SourceModel, SourceVersion};

/// Why reading MLflow failed.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// The server could not be reached, or the connection broke (after retries).
    #[error("cannot reach MLflow at {url}: {message}")]
    Transport { url: String, message: String },
    /// MLflow answered with an error status.
    #[error("MLflow answered {status} to {url}: {}{message}", if code.is_empty() { String::new() } else { format!("{code}: ") })]
    Api {
        url: String,
        status: u16,
        /// MLflow's `error_code` (`RESOURCE_DOES_NOT_EXIST`, …), when it sent one.
        code: String,
        message: String,
    },
    /// MLflow answered something this reader does not understand.
    #[error("unexpected answer from MLflow at {url}: {message}")]
    Protocol { url: String, message: String },
    /// A tracking URI or artifact location this reader cannot use.
    #[error("{0}")]
    Invalid(String),
    /// A local file could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl MlflowError {
    pub(crate) fn transport(url: &reqwest::Url, error: &reqwest::Error) -> Self {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        MlflowError::Transport {
            url: url.to_string(),
            message,
        }
    }

    /// MLflow has no such resource.
    pub fn is_not_found(&self) -> bool {
        matches!(self, MlflowError::Api { status: 404, .. })
            || matches!(self, MlflowError::Api { code, .. } if code == "RESOURCE_DOES_NOT_EXIST")
    }

    /// Whether trying again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            MlflowError::Transport { .. } => true,
            MlflowError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The HTTP status MLflow answered, if it answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            MlflowError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
