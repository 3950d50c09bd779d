//! End-to-end tests of the registry over real HTTP. Each test starts its own server with
//! its own database and object-store prefix (see `capstan_tests`).

#![allow(clippy::unwrap_used)]

mod api_fuzz;
mod artifacts;
mod auth;
mod bad_input;
mod batch;
mod batch_schedules;
mod batch_workers;
mod batch_zoo;
mod chaos;
mod datasets;
mod deployment_serving;
mod deployments;
mod deployments_batch;
mod events;
mod faults;
mod hot_swaps;
mod migrations;
mod mlflow;
mod mlflow_artifacts;
mod mlflow_client;
mod model_server;
mod model_server_auth;
mod models;
mod openapi;
mod promotion;
mod properties;
mod replicas;
mod server;
mod serving;
mod soak;
mod stages;
mod stored_values;
mod transports;
mod trees;
mod ui;
mod versions;
mod webhooks;
mod zoo;
