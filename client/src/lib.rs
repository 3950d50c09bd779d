//! Capstan's client crate: everything an application links.
//!
//! The wire types and the newtypes that name things (`ModelName`, `ModelRef`, `Stage`,
//! `Digest`, …) are defined here once; the registry server uses them too, so a request
//! the client builds is exactly what the server parses. Server code never lives here.

pub mod digest;
pub mod names;
pub mod problem;
pub mod reference;
/// The model runtime: predictors for the servable formats, input validation and training.
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod signature;
pub mod types;

pub use digest::Digest;
pub use names::{AliasName, ModelName, NameError};
pub use problem::Problem;
pub use reference::{ModelRef, Stage, VersionRef};
pub use signature::{ClassLabel, DataType, Feature, Signature};
