//! End-to-end tests of the client side against a real registry: the async client in
//! process, the `capstan` binary (datasets, batch jobs and schedules included), training,
//! pattern 1 — a copy of the embedded example app built with cargo, pinned by
//! `capstan.lock` — and `capstan import mlflow` from a real `mlflow server`.

#![allow(clippy::unwrap_used)]

mod auth;
mod batch;
mod batch_schedules;
mod cli;
mod deployments;
mod embedded;
mod http_client;
mod mlflow;
mod mlflow_sources;
mod promotion_cli;
mod support;
mod train;
mod webhooks;
