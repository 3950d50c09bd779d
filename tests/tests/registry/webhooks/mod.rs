//! Signed webhooks end to end: the real registry delivers to a Python receiver that
//! verifies every request with the `standardwebhooks` package from PyPI (an independent
//! implementation of the spec), on both database backends. [`delivery`]: what arrives,
//! when, and signed how; [`input`]: what is refused at the API; [`operations`]: delivery
//! under rebinding, long outages and several replicas.

mod delivery;
mod input;
mod operations;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use capstan_registry::webhooks::WebhooksConfig;
use capstan_tests::{spawn_with, TestApp, TestOptions};

pub const DEADLINE: Duration = Duration::from_secs(20);

/// The Python receiver (`tests/python/webhook_receiver.py`), killed on drop.
pub struct Receiver {
    port: u16,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Receiver {
    pub fn start() -> Self {
        let available = Command::new("python3")
            .args(["-c", "import standardwebhooks"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            available,
            "the webhook tests need Python's standardwebhooks: \
             python3 -m pip install standardwebhooks==1.3.0 (.ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("received.jsonl");
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/webhook_receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap();
        Receiver {
            port,
            child,
            log,
            _dir: dir,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sets what `path` verifies with and answers.
    pub async fn configure(&self, path: &str, settings: Value) {
        let mut command = settings;
        command["path"] = json!(path);
        let response = self
            .http
            .post(self.url("/_control"))
            .json(&command)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
    }

    /// Every request received on `path`, in arrival order.
    pub fn records(&self, path: &str) -> Vec<Value> {
        let Ok(text) = std::fs::read_to_string(&self.log) else {
            return Vec::new();
        };
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|record| record["path"] == path)
            .collect()
    }

    /// Waits until `done` holds for the records of `path`.
    pub async fn wait_for(
        &self,
        path: &str,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let records = self.records(path);
            if done(&records) {
                return records;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what} on {path}; received: {records:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server that may deliver to the local receiver, retrying fast.
pub async fn spawn_delivering() -> TestApp {
    spawn_with(TestOptions {
        webhooks: Some(WebhooksConfig {
            allow_private: true,
            retry_first: Duration::from_millis(100),
            retry_max: Duration::from_millis(300),
            timeout: Duration::from_secs(5),
            ..WebhooksConfig::default()
        }),
        ..TestOptions::default()
    })
    .await
}

pub async fn create_webhook(app: &TestApp, body: Value) -> Value {
    let (status, webhook) = app.post_json("/api/v1/webhooks", &body).await;
    assert_eq!(status, 201, "create webhook: {webhook}");
    webhook
}

/// The events the events API shows after `after`.
pub async fn events_after(app: &TestApp, after: i64) -> Vec<Value> {
    let (status, page) = app.get_json(&format!("/api/v1/events?after={after}")).await;
    assert_eq!(status, 200);
    page["events"].as_array().unwrap().clone()
}

/// The seq of each distinct `webhook-id`, by first arrival.
pub fn first_arrivals(records: &[Value]) -> Vec<i64> {
    let mut seqs = Vec::new();
    for record in records {
        let seq = record["seq"].as_i64().unwrap();
        if !seqs.contains(&seq) {
            seqs.push(seq);
        }
    }
    seqs
}

/// Seqs answered 2xx.
pub fn delivered(records: &[Value]) -> Vec<i64> {
    records
        .iter()
        .filter(|r| (200..300).contains(&r["status"].as_i64().unwrap()))
        .map(|r| r["seq"].as_i64().unwrap())
        .collect()
}

pub async fn wait_for_status(app: &TestApp, id: &str, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let (code, webhook) = app.get_json(&format!("/api/v1/webhooks/{id}")).await;
        assert_eq!(code, 200);
        if webhook["status"] == status {
            return webhook;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "webhook never became {status}: {webhook}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `capstan_webhook_attempts_total{result}` from `/metrics`.
pub async fn attempts_metric(app: &TestApp, result: &str) -> i64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let sample = format!("capstan_webhook_attempts_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&sample))
        .unwrap_or_else(|| panic!("no {sample} in /metrics:\n{text}"))
        .parse()
        .unwrap()
}
