//! The brokers the relay tests read from: the machine's NATS (`CAPSTAN_TEST_NATS_URL`,
//! default `nats://127.0.0.1:4222`), Kafka (`CAPSTAN_TEST_KAFKA_BROKERS`), and private
//! `nats-server` and `tansu` brokers a test can stop and start. Outside CI a broker that
//! is not there skips its test with a notice; under `CI=true` it fails the test.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use serde_json::Value;

use capstan_registry::events::{KafkaConfig, NatsConfig};

/// Whether the run is CI (where a configured backend that is missing fails the test).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Fails under CI, otherwise prints that `test` was skipped and why.
pub fn skip_or_fail(test: &str, why: &str) {
    assert!(!under_ci(), "{test}: {why} (required under CI=true)");
    eprintln!("skipped {test}: {why}");
}

/// A unique lowercase id for stream names, subjects and topics.
pub fn unique_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// One message as a subscriber of the stream sees it.
#[derive(Debug, Clone)]
pub struct Received {
    pub subject: String,
    /// `Nats-Msg-Id` for NATS, the `seq` header for Kafka.
    pub id: String,
    pub key: Option<String>,
    pub message: Value,
}

impl Received {
    pub fn seq(&self) -> i64 {
        self.message["seq"].as_i64().unwrap()
    }
}

/// Every seq in first-seen order: a subscriber de-duplicates by seq.
pub fn distinct_seqs(received: &[Received]) -> Vec<i64> {
    let mut seen = std::collections::BTreeSet::new();
    received
        .iter()
        .map(Received::seq)
        .filter(|seq| seen.insert(*seq))
        .collect()
}

/// Reads the broker with `read` until it holds seq `last`, for up to `within`; returns
/// what it read last.
pub async fn wait_for_seq<F, Fut>(last: i64, within: Duration, read: F) -> Vec<Received>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<Received>>,
{
    let deadline = Instant::now() + within;
    loop {
        let received = read().await;
        if distinct_seqs(&received).contains(&last) {
            return received;
        }
        assert!(
            Instant::now() < deadline,
            "the broker never got seq {last}; it holds {:?}",
            distinct_seqs(&received)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The machine's NATS URL, or `None` (after a skip notice) when it is not reachable.
pub async fn machine_nats(test: &str) -> Option<String> {
    let url = std::env::var("CAPSTAN_TEST_NATS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    match async_nats::connect(url.as_str()).await {
        Ok(_) => Some(url),
        Err(error) => {
            skip_or_fail(test, &format!("NATS at {url} is unreachable: {error}"));
            None
        }
    }
}

/// A stream name and subject prefix of this test's own.
pub fn own_stream(url: &str) -> NatsConfig {
    let id = unique_id();
    NatsConfig {
        url: url.to_owned(),
        stream: format!("CAPSTAN_T_{id}"),
        subject_prefix: format!("capstan.t{id}.models"),
    }
}

/// Every message in the stream, in stream order.
pub async fn stream_contents(config: &NatsConfig) -> Vec<Received> {
    let client = async_nats::connect(config.url.as_str()).await.unwrap();
    let context = jetstream::new(client);
    let stream = context.get_stream(&config.stream).await.unwrap();
    let state = stream.get_info().await.unwrap().state;
    let mut received = Vec::new();
    for sequence in state.first_sequence.max(1)..=state.last_sequence {
        let message = stream.get_raw_message(sequence).await.unwrap();
        received.push(Received {
            subject: message.subject.to_string(),
            id: message
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            key: None,
            message: serde_json::from_slice(&message.payload).unwrap(),
        });
    }
    received
}

pub async fn delete_stream(config: &NatsConfig) {
    if let Ok(client) = async_nats::connect(config.url.as_str()).await {
        let _ = jetstream::new(client).delete_stream(&config.stream).await;
    }
}

/// A broker of this test's own (`nats-server` or `tansu`), on a free port with its own
/// store directory, that can be stopped and started again on the same port and store.
pub struct PrivateBroker {
    name: &'static str,
    binary: String,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    pub port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
    /// A process the broker's storage lives in (tansu's S3 server); runs until drop.
    storage: Option<Child>,
}

impl PrivateBroker {
    /// A `nats-server` with JetStream on a file store, or `None` (after a skip notice)
    /// without a `nats-server` binary (`CAPSTAN_TEST_NATS_SERVER` names one).
    pub fn nats(test: &str) -> Option<PrivateBroker> {
        let binary = std::env::var("CAPSTAN_TEST_NATS_SERVER")
            .ok()
            .or_else(|| {
                ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
                    .into_iter()
                    .find(|p| std::path::Path::new(p).exists())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "nats-server".to_owned());
        let store = tempfile::tempdir().unwrap();
        let port = crate::free_address().port();
        let args = ["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"]
            .into_iter()
            .map(str::to_owned)
            .chain([store.path().display().to_string()])
            .collect();
        let mut broker = Self::launch(test, "nats-server", binary, args, port, store)?;
        broker.resume();
        Some(broker)
    }

    /// A `tansu` Kafka-protocol broker (the binary `CAPSTAN_TEST_TANSU` names, which
    /// `.ci/run` sets) storing its topics in an S3 server of its own (s3s-fs, the binary
    /// `CAPSTAN_TEST_S3S_FS` names) that keeps running while the broker is stopped, so
    /// what the broker held survives a restart; or `None` (after a skip notice) without
    /// the binaries.
    pub fn tansu(test: &str) -> Option<PrivateBroker> {
        let binary = std::env::var("CAPSTAN_TEST_TANSU").unwrap_or_else(|_| "tansu".to_owned());
        let s3s_fs = std::env::var("CAPSTAN_TEST_S3S_FS").unwrap_or_else(|_| "s3s-fs".to_owned());
        if Command::new(&s3s_fs).arg("--help").output().is_err() {
            skip_or_fail(
                test,
                &format!("no s3s-fs binary ({s3s_fs}) for tansu's storage"),
            );
            return None;
        }
        let store = tempfile::tempdir().unwrap();
        std::fs::create_dir(store.path().join("tansu")).unwrap();
        let port = crate::free_address().port();
        let url = format!("tcp://127.0.0.1:{port}");
        let args = [
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "s3://tansu/",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        let mut broker = Self::launch(test, "tansu", binary, args, port, store)?;
        let (key, secret) = ("capstan-test", "capstan-test-secret");
        let s3_port = crate::free_address().port();
        broker.storage = Some(
            Command::new(&s3s_fs)
                .args(["--host", "127.0.0.1", "--port", &s3_port.to_string()])
                .args(["--access-key", key, "--secret-key", secret])
                .arg(broker.store.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for_port(s3_port, "s3s-fs");
        broker.env = vec![
            ("AWS_ACCESS_KEY_ID", key.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", secret.to_owned()),
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{s3_port}")),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ];
        broker.resume();
        Some(broker)
    }

    fn launch(
        test: &str,
        name: &'static str,
        binary: String,
        args: Vec<String>,
        port: u16,
        store: tempfile::TempDir,
    ) -> Option<PrivateBroker> {
        if Command::new(&binary).arg("--version").output().is_err() {
            skip_or_fail(test, &format!("no {name} binary ({binary})"));
            return None;
        }
        Some(PrivateBroker {
            name,
            binary,
            args,
            env: Vec::new(),
            port,
            store,
            child: None,
            storage: None,
        })
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker again (same port, same store) and waits until it accepts.
    pub fn resume(&mut self) {
        let child = Command::new(&self.binary)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port(self.port, self.name);
    }

    /// Stops the broker (SIGTERM, so it flushes its store) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        for mut child in [self.child.take(), self.storage.take()]
            .into_iter()
            .flatten()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until something accepts connections on `port` (at most 10 s).
fn wait_for_port(port: u16, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{name} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The Kafka brokers under test, or `None` (after a skip notice) when not configured.
pub fn kafka_brokers(test: &str) -> Option<Vec<String>> {
    match std::env::var("CAPSTAN_TEST_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.trim().is_empty() => {
            Some(brokers.split(',').map(|b| b.trim().to_owned()).collect())
        }
        _ => {
            skip_or_fail(test, "CAPSTAN_TEST_KAFKA_BROKERS is not set");
            None
        }
    }
}

pub fn own_topic(brokers: &[String]) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers.to_vec(),
        topic: format!("capstan.t{}", unique_id()),
    }
}

/// Every record of the topic's partition 0, in offset order.
pub async fn topic_contents(config: &KafkaConfig) -> Vec<Received> {
    use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
    let client = rskafka::client::ClientBuilder::new(config.brokers.clone())
        .build()
        .await
        .unwrap();
    let partition = client
        .partition_client(config.topic.clone(), 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let end = partition.get_offset(OffsetAt::Latest).await.unwrap();
    let mut offset = partition.get_offset(OffsetAt::Earliest).await.unwrap();
    let mut received = Vec::new();
    while offset < end {
        let (records, _) = partition
            .fetch_records(offset, 1..1_000_000, 1_000)
            .await
            .unwrap();
        for record in records {
            offset = record.offset + 1;
            let header = |name: &str| {
                record
                    .record
                    .headers
                    .get(name)
                    .map(|v| String::from_utf8(v.clone()).unwrap())
            };
            received.push(Received {
                subject: header("kind").unwrap_or_default(),
                id: header("seq").unwrap_or_default(),
                key: record
                    .record
                    .key
                    .as_ref()
                    .map(|k| String::from_utf8(k.clone()).unwrap()),
                message: serde_json::from_slice(record.record.value.as_ref().unwrap()).unwrap(),
            });
        }
    }
    received
}
