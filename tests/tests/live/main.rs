//! Pattern 3 from the subscriber's side: `capstan_client::live::LiveModel` following a
//! real registry over server-sent events, NATS JetStream and Kafka; and the `live-app`
//! example built and run. (The model server's own event following is tested with the
//! other model-server tests, in `registry/model_server.rs`.)
//! NATS tests use `CAPSTAN_TEST_NATS_URL` (default `nats://127.0.0.1:4222`) and a private
//! `nats-server`; Kafka tests need `CAPSTAN_TEST_KAFKA_BROKERS`. Outside CI a missing
//! broker skips its test with a message; under `CI=true` it fails.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod app;
mod deployment;
mod kafka;
mod nats;
mod sse;
mod support;
mod zoo;
