//! Capstan's registry server as a library: `main.rs` only parses flags and calls
//! [`startup::start`]; tests and benchmarks start the same server on port 0.

pub mod api;
pub mod artifacts;
pub mod batch;
pub mod config;
pub mod deployments;
pub mod domain;
pub mod error;
pub mod events;
pub mod model_server;
pub mod service;
pub mod serving;
pub mod startup;
pub mod store;
pub mod transports;
pub mod webhooks;
