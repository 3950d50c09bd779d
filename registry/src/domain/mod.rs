//! The rules of the registry, with no I/O: what makes input acceptable, which versions
//! may hold a stage or an alias, how pages are addressed, where refs point at a point of
//! the log. The service layer applies these inside its transactions; the newtypes
//! themselves come from `capstan_client`. A rule that refuses returns a [`DomainError`];
//! the service turns it into the request's error.

pub mod access;
pub mod batch;
pub mod deployments;
pub mod error;
pub mod metadata;
pub mod mlflow;
pub mod mlflow_artifacts;
pub mod mlflow_search;
pub mod paging;
pub mod policy;
pub mod promotion;
pub mod refs;
pub mod schedule;
pub mod trees;
pub mod webhooks;

#[cfg(test)]
mod parsers_tests;

pub use error::{DomainError, DomainResult};
