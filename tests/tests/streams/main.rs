//! End-to-end tests of model-as-data delivery: server-sent events, and the relay to NATS
//! JetStream and Kafka. Broker tests read `CAPSTAN_TEST_NATS_URL` (default
//! `nats://127.0.0.1:4222`) and `CAPSTAN_TEST_KAFKA_BROKERS`; outside CI a missing broker
//! skips its test with a notice, under `CI=true` it fails.

#![allow(clippy::unwrap_used)]

mod kafka;
mod nats;
mod relay;
mod sse;
mod support;
