//! Pattern 2 over the transports beside HTTP: the Open Inference Protocol over gRPC, and
//! predictions over RabbitMQ and NATS request/reply — each through real clients (Python's
//! `tritonclient.grpc`, `pika`, the generic gRPC tools; tonic; async-nats) against the
//! machine's real brokers, answers compared with the HTTP routes'.

mod amqp;
mod grpc;
mod nats;

use serde_json::{json, Value};

/// The probabilities the HTTP `predict` route of `base` answers for `rows` with `bc@reference`.
async fn http_probabilities(base: &str, reference: &str, rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let answer: Value = reqwest::Client::new()
        .post(format!(
            "{base}/api/v1/models/bc/versions/{reference}/predict"
        ))
        .json(&json!({ "instances": rows }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    serde_json::from_value(answer["probabilities"].clone()).unwrap()
}
