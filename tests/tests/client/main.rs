//! End-to-end tests of the client side against a real registry: the async client in
//! process, the `capstan` binary, training, and pattern 1 — a copy of the embedded example
//! app built with cargo, pinned by `capstan.lock`.

#![allow(clippy::unwrap_used)]

mod batch;
mod cli;
mod embedded;
mod http_client;
mod support;
mod train;
