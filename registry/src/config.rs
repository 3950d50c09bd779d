//! Configuration: every setting is a flag, an environment variable and a key in an
//! optional TOML file (`--config`), in that order of precedence, then a default.
//!
//! One struct, [`ServeArgs`], defines all three: clap reads the flags and the environment
//! into it, serde reads the file into it, and [`ServeArgs::from_matches`] lays what the
//! command line and the environment gave over what the file says. [`Config::resolve`]
//! then fills in the defaults and checks the values.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{ArgMatches, Args, FromArgMatches};
use serde::Deserialize;

use crate::artifacts::ObjectStoreConfig;
use crate::deployments::RecorderConfig;
use crate::events::{EventsConfig, KafkaConfig, NatsConfig};
use crate::service::deployments::DeploymentSettings;
use crate::service::promotions::DEFAULT_REQUEST_TTL;
use crate::service::{Limits, MlflowSources};
use crate::webhooks::WebhooksConfig;

/// The settings of `capstan-registry serve`: its flags, their environment variables and
/// the keys of the config file (the field names). Unset flags fall back to the config
/// file, then to the defaults documented on each flag.
#[derive(Debug, Default, Clone, Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (keys as the flags, with `_`).
    #[arg(long, env = "CAPSTAN_CONFIG", value_name = "FILE")]
    #[serde(skip)]
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
    /// Largest dataset accepted, in bytes [default: the artifact limit].
    #[arg(long, env = "CAPSTAN_MAX_DATASET_BYTES", value_name = "BYTES")]
    pub max_dataset_bytes: Option<u64>,
    /// Largest JSON body, in bytes [default: 1048576 = 1 MiB].
    #[arg(long, env = "CAPSTAN_MAX_JSON_BYTES", value_name = "BYTES")]
    pub max_json_bytes: Option<usize>,
    /// HTTP worker threads, and threads of the gRPC server [default: one per core].
    #[arg(long, env = "CAPSTAN_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Also serve the Open Inference Protocol over gRPC on this address (Triton's port is
    /// 8001), with `grpc.health.v1` and server reflection [default: off].
    #[arg(long, env = "CAPSTAN_GRPC_LISTEN", value_name = "ADDR")]
    pub grpc_listen: Option<SocketAddr>,
    /// Database connections in the pool [default: 16].
    #[arg(long, env = "CAPSTAN_DB_POOL_SIZE", value_name = "N")]
    pub db_pool_size: Option<u32>,
    // Event delivery: SSE, the relay, NATS and Kafka.
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
    // Batch jobs (pattern 4).
    /// Batch-job slots of this process's worker; 0 runs no worker here (run
    /// `capstan-registry worker` elsewhere) [default: one per core].
    #[arg(long, env = "CAPSTAN_BATCH_WORKERS", value_name = "N")]
    pub batch_workers: Option<usize>,
    /// How long a worker holds a claimed chunk before another may take it over, in ms;
    /// renewed at a third of it [default: 30000].
    #[arg(long, env = "CAPSTAN_BATCH_LEASE_MS", value_name = "MS")]
    pub batch_lease_ms: Option<u64>,
    /// Size of one chunk of a CSV or JSONL input, in bytes; each is claimed and scored
    /// separately [default: 8388608 = 8 MiB].
    #[arg(long, env = "CAPSTAN_BATCH_CHUNK_BYTES", value_name = "BYTES")]
    pub batch_chunk_bytes: Option<u64>,
    // Deployments (the control plane).
    /// How long after a deployment's desired version changes its instances may still run
    /// another before it counts as drifted, in ms [default: 60000].
    #[arg(long, env = "CAPSTAN_DEPLOYMENT_GRACE_MS", value_name = "MS")]
    pub deployment_grace_ms: Option<u64>,
    /// How often deployment instances report, in ms; one silent for three intervals is
    /// stale [default: 10000].
    #[arg(long, env = "CAPSTAN_DEPLOYMENT_HEARTBEAT_MS", value_name = "MS")]
    pub deployment_heartbeat_ms: Option<u64>,
    /// How often deployments are judged for state changes no request causes (a grace
    /// period ending, an instance going silent, a promotion), in ms [default: 2000].
    #[arg(long, env = "CAPSTAN_DEPLOYMENT_CHECK_MS", value_name = "MS")]
    pub deployment_check_ms: Option<u64>,
    // Webhooks.
    /// Let webhooks deliver to loopback, private, link-local and other internal
    /// addresses (refused by default: a webhook URL must not reach the registry's own
    /// network, e.g. cloud metadata at 169.254.169.254) [default: false].
    #[arg(long, env = "CAPSTAN_WEBHOOKS_ALLOW_PRIVATE", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub webhooks_allow_private: Option<bool>,
    /// How long one webhook delivery attempt may take, in ms [default: 10000].
    #[arg(long, env = "CAPSTAN_WEBHOOKS_TIMEOUT_MS", value_name = "MS")]
    pub webhooks_timeout_ms: Option<u64>,
    /// The wait after an event's first failed delivery, in ms; doubled after each
    /// further failure, with jitter [default: 5000].
    #[arg(long, env = "CAPSTAN_WEBHOOKS_RETRY_FIRST_MS", value_name = "MS")]
    pub webhooks_retry_first_ms: Option<u64>,
    /// The longest wait between two delivery attempts, in ms [default: 3600000 = 1 h].
    #[arg(long, env = "CAPSTAN_WEBHOOKS_RETRY_MAX_MS", value_name = "MS")]
    pub webhooks_retry_max_ms: Option<u64>,
    /// How long an event may keep failing before its webhook is disabled, in ms
    /// [default: 86400000 = 24 h].
    #[arg(long, env = "CAPSTAN_WEBHOOKS_GIVE_UP_MS", value_name = "MS")]
    pub webhooks_give_up_ms: Option<u64>,
    /// Lease of the replica that delivers webhooks, in ms; renewed at a third of it
    /// [default: 10000].
    #[arg(long, env = "CAPSTAN_WEBHOOKS_LEASE_MS", value_name = "MS")]
    pub webhooks_lease_ms: Option<u64>,
    // Authentication (docs/security.md).
    /// Require an API token (`Authorization: Bearer …`) on every route but health (and,
    /// unless turned off below, the API document and /metrics). On the first start with
    /// no token in the database an admin token is written to DATA_DIR/admin-token
    /// [default: false].
    #[arg(long, env = "CAPSTAN_AUTH", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub auth: Option<bool>,
    /// Listen on a non-loopback address without --auth; refused otherwise, since anyone
    /// who can reach the registry could then delete models or promote versions
    /// [default: false].
    #[arg(long, env = "CAPSTAN_INSECURE_NO_AUTH", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub insecure_no_auth: Option<bool>,
    /// How long a verified token is trusted before it is looked up again, in ms: a token
    /// revoked on another replica is refused here after at most this long (revoking on
    /// this replica takes effect at once); 0 looks every request up [default: 1000].
    #[arg(long, env = "CAPSTAN_AUTH_CACHE_MS", value_name = "MS")]
    pub auth_cache_ms: Option<u64>,
    /// Serve the OpenAPI document and Swagger UI without a token [default: true].
    #[arg(long, env = "CAPSTAN_AUTH_OPEN_DOCS", value_name = "BOOL")]
    pub auth_open_docs: Option<bool>,
    /// Serve /metrics without a token [default: true].
    #[arg(long, env = "CAPSTAN_AUTH_OPEN_METRICS", value_name = "BOOL")]
    pub auth_open_metrics: Option<bool>,
    // Governed promotion (docs/security.md).
    /// How long a promotion request waits for approvals before it reads as `expired`, in
    /// ms [default: 604800000 = 7 days].
    #[arg(long, env = "CAPSTAN_PROMOTION_REQUEST_TTL_MS", value_name = "MS")]
    pub promotion_request_ttl_ms: Option<u64>,
    // The MLflow API (docs/mlflow.md).
    /// Other MLflow servers (origins, `http(s)://host[:port]`, comma-separated) whose
    /// artifact-proxy URLs `register_model` may name as a version's source; the registry
    /// downloads the files from there [default: none].
    #[arg(
        long,
        env = "CAPSTAN_MLFLOW_SOURCE_HOSTS",
        value_name = "URL,…",
        value_delimiter = ','
    )]
    pub mlflow_source_hosts: Option<Vec<String>>,
    /// Bearer token sent to those servers (as MLFLOW_TRACKING_TOKEN would be).
    #[arg(
        long,
        env = "CAPSTAN_MLFLOW_SOURCE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub mlflow_source_token: Option<String>,
}

impl ServeArgs {
    /// The settings `matches` holds (flags, then environment variables) over those of the
    /// config file it names, if any. The fields have no clap defaults, so a value in
    /// `matches` was given; clap's `update_from_arg_matches` overwrites exactly those.
    pub fn from_matches(matches: &ArgMatches) -> anyhow::Result<Self> {
        let given = Self::from_arg_matches(matches)?;
        let Some(path) = &given.config else {
            return Ok(given);
        };
        let mut settings = Self::read_file(path)?;
        settings.update_from_arg_matches(matches)?;
        Ok(settings)
    }

    fn read_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }
}

/// The settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The Open Inference Protocol over gRPC, when set.
    pub grpc_listen: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub object_store: ObjectStoreConfig,
    pub limits: Limits,
    pub workers: Option<usize>,
    pub db_pool_size: u32,
    pub events: EventsConfig,
    pub batch: BatchConfig,
    pub deployments: DeploymentsConfig,
    pub webhooks: WebhooksConfig,
    pub auth: AuthConfig,
    /// How long a promotion request waits for approvals.
    pub promotion_request_ttl: Duration,
    /// Other MLflow servers `register_model` may read from.
    pub mlflow_sources: MlflowSources,
}

/// Who may call the API (see `api::auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthConfig {
    pub enabled: bool,
    /// How long a verified token is trusted before it is looked up again.
    pub cache: Duration,
    pub open_docs: bool,
    pub open_metrics: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            cache: Duration::from_secs(1),
            open_docs: true,
            open_metrics: true,
        }
    }
}

/// How deployments are judged and their transitions recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeploymentsConfig {
    pub settings: DeploymentSettings,
    pub recorder: RecorderConfig,
}

/// How this process takes part in batch jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Worker slots (0: no worker in this process).
    pub workers: usize,
    pub lease: Duration,
    pub chunk_bytes: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            lease: Duration::from_secs(30),
            chunk_bytes: 8 * 1024 * 1024,
        }
    }
}

impl Config {
    /// Fills in the defaults of what `settings` (flags and environment over the file, see
    /// [`ServeArgs::from_matches`]) leaves unset and checks the values. Creates the data
    /// directory.
    pub fn resolve(settings: ServeArgs) -> anyhow::Result<Self> {
        let events = resolve_events(&settings)?;
        let batch = resolve_batch(&settings)?;
        let deployments = resolve_deployments(&settings)?;
        let webhooks = resolve_webhooks(&settings, &events)?;
        let listen = settings
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let auth = resolve_auth(&settings, listen)?;
        let promotion_request_ttl = resolve_promotion_request_ttl(&settings)?;
        let mlflow_sources = MlflowSources::new(
            settings.mlflow_source_hosts.as_deref().unwrap_or_default(),
            settings.mlflow_source_token.clone(),
        )
        .map_err(|e| anyhow::anyhow!("--mlflow-source-hosts: {e}"))?;
        let data_dir = settings
            .data_dir
            .unwrap_or_else(|| PathBuf::from("capstan-data"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("cannot resolve the data directory {}", data_dir.display()))?;
        let database_url = settings
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("capstan.db").display()));
        let object_store_url = settings
            .object_store_url
            .unwrap_or_else(|| format!("file://{}", data_dir.join("objects").display()));
        let defaults = Limits::default();
        Ok(Self {
            listen,
            grpc_listen: settings.grpc_listen,
            data_dir,
            database_url,
            object_store: ObjectStoreConfig {
                url: object_store_url,
                s3_endpoint: settings.s3_endpoint,
                s3_allow_http: settings.s3_allow_http.unwrap_or(false),
            },
            limits: Limits {
                max_artifact_bytes: settings
                    .max_artifact_bytes
                    .unwrap_or(defaults.max_artifact_bytes),
                max_dataset_bytes: settings
                    .max_dataset_bytes
                    .or(settings.max_artifact_bytes)
                    .unwrap_or(defaults.max_dataset_bytes),
                max_json_bytes: settings.max_json_bytes.unwrap_or(defaults.max_json_bytes),
            },
            workers: settings.workers,
            db_pool_size: settings.db_pool_size.unwrap_or(16),
            events,
            batch,
            deployments,
            webhooks,
            auth,
            promotion_request_ttl,
            mlflow_sources,
        })
    }
}

fn resolve_promotion_request_ttl(settings: &ServeArgs) -> anyhow::Result<Duration> {
    let ttl = settings
        .promotion_request_ttl_ms
        .map_or(DEFAULT_REQUEST_TTL, Duration::from_millis);
    anyhow::ensure!(!ttl.is_zero(), "--promotion-request-ttl-ms must be above 0");
    Ok(ttl)
}

/// Authentication; refuses to serve a non-loopback address without it unless told to.
fn resolve_auth(settings: &ServeArgs, listen: SocketAddr) -> anyhow::Result<AuthConfig> {
    let defaults = AuthConfig::default();
    let enabled = settings.auth.unwrap_or(false);
    anyhow::ensure!(
        enabled || listen.ip().is_loopback() || settings.insecure_no_auth == Some(true),
        "refusing to listen on {listen} without authentication: anyone who can reach it could \
         delete models and promote versions. Pass --auth (CAPSTAN_AUTH=true) to require \
         tokens, or --insecure-no-auth (CAPSTAN_INSECURE_NO_AUTH=true) on a network you trust"
    );
    Ok(AuthConfig {
        enabled,
        cache: settings
            .auth_cache_ms
            .map_or(defaults.cache, Duration::from_millis),
        open_docs: settings.auth_open_docs.unwrap_or(defaults.open_docs),
        open_metrics: settings.auth_open_metrics.unwrap_or(defaults.open_metrics),
    })
}

fn resolve_deployments(settings: &ServeArgs) -> anyhow::Result<DeploymentsConfig> {
    let defaults = DeploymentsConfig::default();
    let millis = |ms: Option<u64>, default: Duration, flag: &str| {
        let value = ms.map_or(default, Duration::from_millis);
        anyhow::ensure!(
            value >= Duration::from_millis(100),
            "--{flag} must be at least 100"
        );
        Ok(value)
    };
    Ok(DeploymentsConfig {
        settings: DeploymentSettings {
            grace: millis(
                settings.deployment_grace_ms,
                defaults.settings.grace,
                "deployment-grace-ms",
            )?,
            heartbeat: millis(
                settings.deployment_heartbeat_ms,
                defaults.settings.heartbeat,
                "deployment-heartbeat-ms",
            )?,
        },
        recorder: RecorderConfig {
            interval: millis(
                settings.deployment_check_ms,
                defaults.recorder.interval,
                "deployment-check-ms",
            )?,
            ..defaults.recorder
        },
    })
}

fn resolve_batch(settings: &ServeArgs) -> anyhow::Result<BatchConfig> {
    let defaults = BatchConfig::default();
    let lease = settings
        .batch_lease_ms
        .map_or(defaults.lease, Duration::from_millis);
    if lease < Duration::from_millis(300) {
        anyhow::bail!("--batch-lease-ms must be at least 300");
    }
    let chunk_bytes = settings.batch_chunk_bytes.unwrap_or(defaults.chunk_bytes);
    if !(4096..=1 << 34).contains(&chunk_bytes) {
        anyhow::bail!("--batch-chunk-bytes must be between 4096 and 17179869184");
    }
    Ok(BatchConfig {
        workers: settings.batch_workers.unwrap_or(defaults.workers),
        lease,
        chunk_bytes,
    })
}

/// The event-delivery settings, checked (a bad stream name or subject prefix fails at
/// start, not at the first publish): the common ones here, each broker's in its own
/// function.
fn resolve_events(settings: &ServeArgs) -> anyhow::Result<EventsConfig> {
    let defaults = EventsConfig::default();
    let millis = |ms: Option<u64>, default: Duration| {
        ms.map_or(default, |ms| Duration::from_millis(ms.max(1)))
    };
    if let Some(url) = &settings.public_url {
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "--public-url must start with http:// or https://, got {url:?}"
        );
    }
    Ok(EventsConfig {
        public_url: settings.public_url.clone(),
        heartbeat: millis(settings.sse_heartbeat_ms, defaults.heartbeat),
        poll_interval: millis(settings.events_poll_ms, defaults.poll_interval),
        relay_lease: millis(settings.relay_lease_ms, defaults.relay_lease),
        broadcast_capacity: defaults.broadcast_capacity,
        nats: resolve_nats(settings)?,
        kafka: resolve_kafka(settings)?,
    })
}

/// NATS JetStream publishing, when `--nats-url` is set.
fn resolve_nats(settings: &ServeArgs) -> anyhow::Result<Option<NatsConfig>> {
    let Some(url) = settings.nats_url.clone() else {
        return Ok(None);
    };
    let stream = settings
        .nats_stream
        .clone()
        .unwrap_or_else(|| NatsConfig::DEFAULT_STREAM.to_owned());
    anyhow::ensure!(
        !stream.is_empty() && !stream.contains(['.', '*', '>', ' ', '\t', '/', '\\']),
        "--nats-stream {stream:?} is not a valid JetStream stream name"
    );
    let subject_prefix = settings
        .nats_subject_prefix
        .clone()
        .unwrap_or_else(|| NatsConfig::DEFAULT_SUBJECT_PREFIX.to_owned());
    anyhow::ensure!(
        subject_prefix
            .split('.')
            .all(|token| !token.is_empty() && !token.contains(['*', '>', ' ', '\t'])),
        "--nats-subject-prefix {subject_prefix:?} is not a valid subject prefix"
    );
    Ok(Some(NatsConfig {
        url,
        stream,
        subject_prefix,
    }))
}

/// Kafka publishing, when `--kafka-brokers` is set.
fn resolve_kafka(settings: &ServeArgs) -> anyhow::Result<Option<KafkaConfig>> {
    let Some(brokers) = &settings.kafka_brokers else {
        return Ok(None);
    };
    let brokers: Vec<String> = brokers
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(!brokers.is_empty(), "--kafka-brokers names no broker");
    let topic = settings
        .kafka_topic
        .clone()
        .unwrap_or_else(|| KafkaConfig::DEFAULT_TOPIC.to_owned());
    anyhow::ensure!(
        !topic.is_empty()
            && topic.len() <= 249
            && topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
        "--kafka-topic {topic:?} is not a valid Kafka topic name"
    );
    Ok(Some(KafkaConfig { brokers, topic }))
}

/// Webhook delivery: its retry schedule, timeout and lease (it polls as often as the
/// event tail).
fn resolve_webhooks(settings: &ServeArgs, events: &EventsConfig) -> anyhow::Result<WebhooksConfig> {
    let defaults = WebhooksConfig::default();
    let millis = |ms: Option<u64>, default: Duration| ms.map_or(default, Duration::from_millis);
    let config = WebhooksConfig {
        allow_private: settings
            .webhooks_allow_private
            .unwrap_or(defaults.allow_private),
        timeout: millis(settings.webhooks_timeout_ms, defaults.timeout),
        retry_first: millis(settings.webhooks_retry_first_ms, defaults.retry_first),
        retry_max: millis(settings.webhooks_retry_max_ms, defaults.retry_max),
        give_up: millis(settings.webhooks_give_up_ms, defaults.give_up),
        lease: millis(settings.webhooks_lease_ms, defaults.lease),
        poll_interval: events.poll_interval,
    };
    anyhow::ensure!(
        config.timeout >= Duration::from_millis(100),
        "--webhooks-timeout-ms must be at least 100"
    );
    anyhow::ensure!(
        config.retry_first >= Duration::from_millis(10) && config.retry_first <= config.retry_max,
        "--webhooks-retry-first-ms must be at least 10 and at most --webhooks-retry-max-ms"
    );
    anyhow::ensure!(
        config.lease >= Duration::from_millis(300),
        "--webhooks-lease-ms must be at least 300"
    );
    Ok(config)
}

#[cfg(test)]
mod tests;
