//! The registry's HTTP API from the client side.
//!
//! [`api`] (endpoint paths, query types, artifact headers) is shared by both clients. With
//! feature `http`, [`Client`] is the async typed client (reqwest + tokio) for the whole
//! REST API: one method per endpoint, the crate's wire types in and out, retries with
//! backoff for idempotent calls, and errors that carry the server's problem `code`. The
//! blocking twin for `build.rs` is [`crate::blocking::Client`].

pub mod api;
#[cfg(feature = "http")]
mod artifacts;
#[cfg(feature = "http")]
mod batch;
#[cfg(feature = "http")]
mod batch_schedules;
#[cfg(feature = "http")]
mod client;
#[cfg(feature = "http")]
mod datasets;
#[cfg(feature = "http")]
mod deployments;
#[cfg(feature = "http")]
mod download;
#[cfg(feature = "http")]
mod fetch;
#[cfg(feature = "http")]
mod models;
#[cfg(feature = "http")]
mod promotions;
#[cfg(feature = "http")]
mod stages;
#[cfg(feature = "http")]
mod tokens;
#[cfg(feature = "http")]
mod trees;
#[cfg(feature = "http")]
mod versions;
#[cfg(feature = "http")]
mod webhooks;

pub use api::{
    BatchJobQuery, DeploymentQuery, EventQuery, EventStreamQuery, ModelQuery, PageQuery,
    PromotionRequestQuery, VersionQuery,
};
#[cfg(feature = "http")]
pub use client::Client;
#[cfg(feature = "http")]
pub use datasets::format_of_path;
#[cfg(feature = "http")]
pub use download::{Copied, Download};
#[cfg(feature = "http")]
pub use promotions::Promotion;
#[cfg(feature = "http")]
pub use trees::{scan_dir, tree_format, PulledTree, PushedTree, ScannedTree, TRANSFERS_IN_FLIGHT};
#[cfg(feature = "http")]
pub use versions::Upload;
