//! Capstan's client crate: everything an application links.
//!
//! The wire types and the newtypes that name things (`ModelName`, `ModelRef`, `Stage`,
//! `Digest`, …) are defined here once; the registry server uses them too, so a request
//! the client builds is exactly what the server parses. Server code never lives here.

/// A blocking client of the registry's API (ureq), usable from `build.rs`.
#[cfg(feature = "build")]
pub mod blocking;
/// Fetching models from an application's `build.rs`: lockfile, cache, `OUT_DIR`.
#[cfg(feature = "build")]
pub mod build;
/// The content-addressed blob cache shared by builds and `capstan pull`.
#[cfg(feature = "fetch")]
pub mod cache;
/// The `capstan` command-line tool, as a library.
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod digest;
pub mod error;
/// The registry's HTTP API: paths and queries, and (feature `http`) the async client.
#[cfg(any(feature = "http", feature = "build"))]
pub mod http;
pub mod inference;
pub mod instance;
/// Following a ref live: the model hot-swapped as the registry's events arrive (pattern 3).
#[cfg(feature = "live")]
pub mod live;
/// `capstan.lock`: models pinned by digest, and the fetch logic around it.
#[cfg(feature = "fetch")]
pub mod lock;
pub mod manifest;
/// Importing an MLflow model registry: its REST reader, the import plan and its executor.
#[cfg(feature = "http")]
pub mod mlflow;
pub mod names;
pub mod problem;
pub mod reference;
#[cfg(feature = "build")]
mod report;
/// The model runtime: predictors for the servable formats, input validation and training.
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod signature;
/// `VersionStatus` and `EventKind` as diesel TEXT values.
#[cfg(feature = "diesel")]
mod sql;
pub mod types;

pub use config::Config;
pub use digest::Digest;
pub use error::{Error, ErrorKind};
pub use names::{AliasName, ModelName, NameError};
pub use problem::Problem;
pub use reference::{ModelRef, Stage, VersionRef};
pub use signature::{ClassLabel, DataType, Feature, Signature};
