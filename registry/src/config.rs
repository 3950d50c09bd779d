//! Configuration: every setting is a flag, an environment variable and a key in an
//! optional TOML file (`--config`), in that order of precedence, then a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

use crate::artifacts::ObjectStoreConfig;
use crate::events::{EventsConfig, KafkaConfig, NatsConfig};
use crate::service::Limits;

/// Flags of `capstan-registry serve`. Unset flags fall back to the config file, then to
/// the defaults documented on each flag.
#[derive(Debug, Default, Clone, Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (keys as the flags, with `_`).
    #[arg(long, env = "CAPSTAN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CAPSTAN_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Directory for the default SQLite database and object store; created if missing
    /// [default: ./capstan-data].
    #[arg(long, env = "CAPSTAN_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://…` [default: sqlite://DATA_DIR/capstan.db].
    #[arg(long, env = "CAPSTAN_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// `file:///ABS/PATH` or `s3://BUCKET/PREFIX` [default: file://DATA_DIR/objects].
    /// S3 reads the usual AWS_* variables.
    #[arg(long, env = "CAPSTAN_OBJECT_STORE_URL", value_name = "URL")]
    pub object_store_url: Option<String>,
    /// Endpoint of an S3-compatible server, e.g. http://127.0.0.1:9000.
    #[arg(long, env = "CAPSTAN_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Allow plain HTTP to the S3 endpoint.
    #[arg(long, env = "CAPSTAN_S3_ALLOW_HTTP", value_name = "BOOL")]
    pub s3_allow_http: Option<bool>,
    /// Largest artifact accepted, in bytes [default: 17179869184 = 16 GiB].
    #[arg(long, env = "CAPSTAN_MAX_ARTIFACT_BYTES", value_name = "BYTES")]
    pub max_artifact_bytes: Option<u64>,
    /// Largest JSON body, in bytes [default: 1048576 = 1 MiB].
    #[arg(long, env = "CAPSTAN_MAX_JSON_BYTES", value_name = "BYTES")]
    pub max_json_bytes: Option<usize>,
    /// HTTP worker threads [default: one per core].
    #[arg(long, env = "CAPSTAN_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Database connections in the pool [default: 16].
    #[arg(long, env = "CAPSTAN_DB_POOL_SIZE", value_name = "N")]
    pub db_pool_size: Option<u32>,
    #[command(flatten)]
    pub events: EventArgs,
}

/// Flags of event delivery: SSE, the relay, NATS and Kafka.
#[derive(Debug, Default, Clone, Args)]
pub struct EventArgs {
    /// The registry's public base URL, e.g. https://models.example.com: published events
    /// point at artifacts with absolute URLs under it [default: paths only].
    #[arg(long, env = "CAPSTAN_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Publish events to NATS JetStream at this URL, e.g. nats://127.0.0.1:4222.
    #[arg(long, env = "CAPSTAN_NATS_URL", value_name = "URL")]
    pub nats_url: Option<String>,
    /// JetStream stream to publish to; created if missing [default: CAPSTAN].
    #[arg(long, env = "CAPSTAN_NATS_STREAM", value_name = "NAME")]
    pub nats_stream: Option<String>,
    /// Subjects are PREFIX.<model>.<kind> [default: capstan.models].
    #[arg(long, env = "CAPSTAN_NATS_SUBJECT_PREFIX", value_name = "PREFIX")]
    pub nats_subject_prefix: Option<String>,
    /// Publish events to Kafka: comma-separated bootstrap brokers, e.g. 127.0.0.1:9092.
    #[arg(long, env = "CAPSTAN_KAFKA_BROKERS", value_name = "HOST:PORT,…")]
    pub kafka_brokers: Option<String>,
    /// Kafka topic to publish to; created if missing [default: capstan.events].
    #[arg(long, env = "CAPSTAN_KAFKA_TOPIC", value_name = "TOPIC")]
    pub kafka_topic: Option<String>,
    /// Keep-alive comment interval of idle event streams, in ms [default: 15000].
    #[arg(long, env = "CAPSTAN_SSE_HEARTBEAT_MS", value_name = "MS")]
    pub sse_heartbeat_ms: Option<u64>,
    /// How often the event log is read for other replicas' writes, in ms [default: 250].
    #[arg(long, env = "CAPSTAN_EVENTS_POLL_MS", value_name = "MS")]
    pub events_poll_ms: Option<u64>,
    /// Lease of the replica that publishes to brokers, in ms; renewed at a third of it
    /// [default: 10000].
    #[arg(long, env = "CAPSTAN_RELAY_LEASE_MS", value_name = "MS")]
    pub relay_lease_ms: Option<u64>,
}

/// The config file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    object_store_url: Option<String>,
    s3_endpoint: Option<String>,
    s3_allow_http: Option<bool>,
    max_artifact_bytes: Option<u64>,
    max_json_bytes: Option<usize>,
    workers: Option<usize>,
    db_pool_size: Option<u32>,
    public_url: Option<String>,
    nats_url: Option<String>,
    nats_stream: Option<String>,
    nats_subject_prefix: Option<String>,
    kafka_brokers: Option<String>,
    kafka_topic: Option<String>,
    sse_heartbeat_ms: Option<u64>,
    events_poll_ms: Option<u64>,
    relay_lease_ms: Option<u64>,
}

/// The settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub object_store: ObjectStoreConfig,
    pub limits: Limits,
    pub workers: Option<usize>,
    pub db_pool_size: u32,
    pub events: EventsConfig,
}

impl Config {
    /// Resolves flags/environment, then the config file, then defaults. Creates the
    /// data directory.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let events = resolve_events(args.events, &file)?;
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("capstan-data"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("cannot resolve the data directory {}", data_dir.display()))?;
        let database_url = args
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("capstan.db").display()));
        let object_store_url = args
            .object_store_url
            .or(file.object_store_url)
            .unwrap_or_else(|| format!("file://{}", data_dir.join("objects").display()));
        let defaults = Limits::default();
        Ok(Self {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir,
            database_url,
            object_store: ObjectStoreConfig {
                url: object_store_url,
                s3_endpoint: args.s3_endpoint.or(file.s3_endpoint),
                s3_allow_http: args.s3_allow_http.or(file.s3_allow_http).unwrap_or(false),
            },
            limits: Limits {
                max_artifact_bytes: args
                    .max_artifact_bytes
                    .or(file.max_artifact_bytes)
                    .unwrap_or(defaults.max_artifact_bytes),
                max_json_bytes: args
                    .max_json_bytes
                    .or(file.max_json_bytes)
                    .unwrap_or(defaults.max_json_bytes),
            },
            workers: args.workers.or(file.workers),
            db_pool_size: args.db_pool_size.or(file.db_pool_size).unwrap_or(16),
            events,
        })
    }
}

/// The event-delivery settings, checked (a bad stream name or subject prefix fails at
/// start, not at the first publish).
fn resolve_events(args: EventArgs, file: &FileConfig) -> anyhow::Result<EventsConfig> {
    let defaults = EventsConfig::default();
    let millis = |flag: Option<u64>, key: Option<u64>, default: std::time::Duration| {
        flag.or(key)
            .map_or(default, |ms| std::time::Duration::from_millis(ms.max(1)))
    };
    let public_url = args.public_url.or(file.public_url.clone());
    if let Some(url) = &public_url {
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "--public-url must start with http:// or https://, got {url:?}"
        );
    }
    let nats = match args.nats_url.or(file.nats_url.clone()) {
        Some(url) => {
            let stream = args
                .nats_stream
                .or(file.nats_stream.clone())
                .unwrap_or_else(|| NatsConfig::DEFAULT_STREAM.to_owned());
            anyhow::ensure!(
                !stream.is_empty() && !stream.contains(['.', '*', '>', ' ', '\t', '/', '\\']),
                "--nats-stream {stream:?} is not a valid JetStream stream name"
            );
            let subject_prefix = args
                .nats_subject_prefix
                .or(file.nats_subject_prefix.clone())
                .unwrap_or_else(|| NatsConfig::DEFAULT_SUBJECT_PREFIX.to_owned());
            anyhow::ensure!(
                subject_prefix
                    .split('.')
                    .all(|token| !token.is_empty() && !token.contains(['*', '>', ' ', '\t'])),
                "--nats-subject-prefix {subject_prefix:?} is not a valid subject prefix"
            );
            Some(NatsConfig {
                url,
                stream,
                subject_prefix,
            })
        }
        None => None,
    };
    let kafka = match args.kafka_brokers.or(file.kafka_brokers.clone()) {
        Some(brokers) => {
            let brokers: Vec<String> = brokers
                .split(',')
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .map(str::to_owned)
                .collect();
            anyhow::ensure!(!brokers.is_empty(), "--kafka-brokers names no broker");
            let topic = args
                .kafka_topic
                .or(file.kafka_topic.clone())
                .unwrap_or_else(|| KafkaConfig::DEFAULT_TOPIC.to_owned());
            anyhow::ensure!(
                !topic.is_empty()
                    && topic.len() <= 249
                    && topic
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
                "--kafka-topic {topic:?} is not a valid Kafka topic name"
            );
            Some(KafkaConfig { brokers, topic })
        }
        None => None,
    };
    Ok(EventsConfig {
        public_url,
        heartbeat: millis(
            args.sse_heartbeat_ms,
            file.sse_heartbeat_ms,
            defaults.heartbeat,
        ),
        poll_interval: millis(
            args.events_poll_ms,
            file.events_poll_ms,
            defaults.poll_interval,
        ),
        relay_lease: millis(
            args.relay_lease_ms,
            file.relay_lease_ms,
            defaults.relay_lease,
        ),
        broadcast_capacity: defaults.broadcast_capacity,
        nats,
        kafka,
    })
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}
