//! Test harness: start the real registry on port 0 with its own fresh database and
//! object-store prefix, and talk HTTP to it.
//!
//! Backends come from the environment:
//! - `CAPSTAN_TEST_DATABASE_URL=postgres://…`: each test gets a fresh PostgreSQL database
//!   (created here, dropped when the test ends); otherwise a fresh SQLite file.
//! - `CAPSTAN_TEST_S3_ENDPOINT=http://…` (+ `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `CAPSTAN_TEST_S3_BUCKET`, default `capstan-test`): each test gets its own prefix in
//!   that bucket; otherwise a fresh local directory.
//!
//! [`spawn_with_events`] configures event delivery (SSE heartbeat, NATS, Kafka);
//! [`TestApp::restart`] and [`TestApp::spawn_replica`] start another server on the same
//! database and object store.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

pub mod brokers;
pub mod browser;
pub mod example;
pub mod mlflow;
pub mod python;
mod raw;
pub mod sse;
pub mod zoo;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use diesel::{Connection, RunQueryDsl};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use capstan_registry::artifacts::ObjectStoreConfig;
use capstan_registry::config::{AuthConfig, BatchConfig, Config, DeploymentsConfig};
use capstan_registry::events::{EventsConfig, Shutdown};
use capstan_registry::service::{Limits, Registry};
use capstan_registry::webhooks::WebhooksConfig;

pub use raw::{cut_off_upload, raw_request};

/// Where the test's metadata lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbBackend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub registry: Registry,
    pub database_url: String,
    pub db_backend: DbBackend,
    pub s3: bool,
    /// With `TestOptions::auth` on: the admin token the server wrote at its first start
    /// (`http` sends it with every request).
    pub admin_token: Option<String>,
    /// `http://` + where gRPC listens, with `TestOptions::grpc`.
    pub grpc: Option<String>,
    handle: ServerHandle,
    transports: capstan_registry::transports::Transports,
    /// Ends the server's event streams and relays (begun before a graceful stop).
    shutdown: Shutdown,
    /// What the server was started with, for [`TestApp::restart`] and replicas.
    config: Config,
    pg_database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// Options for [`spawn_with`].
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    pub limits: Option<Limits>,
    /// Batch worker slots of the server (default 2; 0: none, jobs stay queued).
    pub batch_workers: Option<usize>,
    /// The batch worker's lease (default 30 s).
    pub batch_lease: Option<Duration>,
    /// Chunk size of CSV and JSONL batch inputs (default 8 MiB).
    pub batch_chunk_bytes: Option<u64>,
    /// Grace period, heartbeat and state-check interval of deployments (default: the
    /// server's defaults).
    pub deployments: Option<DeploymentsConfig>,
    /// Webhook delivery (default: `WebhooksConfig::default()`, private addresses refused).
    pub webhooks: Option<WebhooksConfig>,
    /// Authentication (default: off, as the embedded default).
    pub auth: Option<AuthConfig>,
    /// How long promotion requests wait for approvals (default 7 days).
    pub promotion_request_ttl: Option<Duration>,
    /// Other MLflow servers `register_model` may read from (default: none).
    pub mlflow_sources: Option<capstan_registry::service::MlflowSources>,
    /// Serve the Open Inference Protocol over gRPC too (on a free port).
    pub grpc: bool,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(TestOptions::default()).await
}

pub async fn spawn_with(options: TestOptions) -> TestApp {
    spawn_configured(options, EventsConfig::default()).await
}

/// A server with authentication on (its admin token in `admin_token`), verified tokens
/// cached for `cache` (zero: every request looks its token up).
pub async fn spawn_with_auth(cache: Duration) -> TestApp {
    spawn_with(TestOptions {
        auth: Some(AuthConfig {
            enabled: true,
            cache,
            ..AuthConfig::default()
        }),
        ..TestOptions::default()
    })
    .await
}

/// A server with these event-delivery settings (heartbeat, NATS, Kafka, …).
pub async fn spawn_with_events(events: EventsConfig) -> TestApp {
    spawn_configured(TestOptions::default(), events).await
}

/// A child process killed (`SIGKILL`) and reaped when dropped, so a failing test leaves
/// no server behind holding its output open.
pub struct KillOnDrop(pub std::process::Child);

impl KillOnDrop {
    /// Kills the process now and waits for it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback address no one listens on right now, for a server process to bind.
pub fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Spawns a registry process (`serve` on `listen`) and waits until its `/healthz`
/// answers; fails if it exits first or takes over a minute.
pub async fn start_process(command: &mut std::process::Command, listen: SocketAddr) -> KillOnDrop {
    let mut child = KillOnDrop(command.spawn().unwrap());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Ok(response) = http.get(format!("http://{listen}/healthz")).send().await {
            if response.status().is_success() {
                return child;
            }
        }
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("the registry on {listen} exited at start: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the registry on {listen} never answered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The multipart body of an upload: `metadata` (JSON) and the `artifact` part.
pub fn upload_form(metadata: &Value, artifact: Part) -> Form {
    Form::new()
        .part(
            "metadata",
            Part::text(metadata.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part("artifact", artifact)
}

/// A server with these options and these event-delivery settings.
pub async fn spawn_configured(options: TestOptions, events: EventsConfig) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (database_url, pg_database, db_backend) = match std::env::var("CAPSTAN_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("capstan_t_{id}");
            let url = create_pg_database(&admin_url, &name);
            (url, Some((admin_url, name)), DbBackend::Postgres)
        }
        _ => (
            format!("sqlite://{}", dir.path().join("capstan.db").display()),
            None,
            DbBackend::Sqlite,
        ),
    };
    let (object_store, s3) = match std::env::var("CAPSTAN_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            let bucket =
                std::env::var("CAPSTAN_TEST_S3_BUCKET").unwrap_or_else(|_| "capstan-test".into());
            (
                ObjectStoreConfig {
                    url: format!("s3://{bucket}/{id}"),
                    s3_endpoint: Some(endpoint),
                    s3_allow_http: true,
                },
                true,
            )
        }
        _ => (
            ObjectStoreConfig {
                url: format!("file://{}", dir.path().join("objects").display()),
                s3_endpoint: None,
                s3_allow_http: false,
            },
            false,
        ),
    };
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        grpc_listen: options.grpc.then(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        data_dir: dir.path().to_owned(),
        database_url: database_url.clone(),
        object_store,
        limits: options.limits.unwrap_or_default(),
        workers: Some(2),
        db_pool_size: 8,
        events,
        batch: BatchConfig {
            workers: options.batch_workers.unwrap_or(2),
            lease: options.batch_lease.unwrap_or(Duration::from_secs(30)),
            chunk_bytes: options.batch_chunk_bytes.unwrap_or(8 * 1024 * 1024),
        },
        deployments: options.deployments.unwrap_or_default(),
        webhooks: options.webhooks.unwrap_or_default(),
        auth: options.auth.unwrap_or_default(),
        promotion_request_ttl: options
            .promotion_request_ttl
            .unwrap_or(Duration::from_secs(7 * 24 * 3600)),
        mlflow_sources: options.mlflow_sources.unwrap_or_default(),
    };
    let (running, shutdown) = start_server(&config).await;
    let base = format!("http://{}", running.addr);
    let admin_token = config.auth.enabled.then(|| {
        let path = dir.path().join(capstan_registry::startup::ADMIN_TOKEN_FILE);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no admin token at {}: {e}", path.display()))
            .trim()
            .to_owned()
    });
    TestApp {
        addr: running.addr,
        base,
        http: client_with(admin_token.as_deref()),
        admin_token,
        registry: running.registry,
        database_url,
        db_backend,
        s3,
        grpc: grpc_url(&running.transports),
        handle: running.handle,
        transports: running.transports,
        shutdown,
        config,
        pg_database,
        _dir: dir,
    }
}

/// An HTTP client for tests that sends `token`, if any, with every request (a request
/// that sets `Authorization` itself overrides it).
pub fn client_with(token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
    }
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A server started by [`start_server`], running on its own task.
struct StartedServer {
    addr: SocketAddr,
    handle: ServerHandle,
    registry: Registry,
    transports: capstan_registry::transports::Transports,
}

async fn start_server(config: &Config) -> (StartedServer, Shutdown) {
    let shutdown = Shutdown::new();
    let running = capstan_registry::startup::start_with_shutdown(config, shutdown.clone())
        .await
        .unwrap();
    tokio::spawn(running.server);
    let started = StartedServer {
        addr: running.addr,
        handle: running.handle,
        registry: running.registry,
        transports: running.transports,
    };
    (started, shutdown)
}

fn grpc_url(transports: &capstan_registry::transports::Transports) -> Option<String> {
    transports.grpc_addr.map(|addr| format!("http://{addr}"))
}

/// Creates database `name` next to the one `admin_url` names; returns its URL.
pub fn create_pg_database(admin_url: &str, name: &str) -> String {
    let mut admin = diesel::PgConnection::establish(admin_url).unwrap_or_else(|e| {
        panic!("CAPSTAN_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
    });
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .unwrap();
    let (prefix, _) = admin_url.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

pub fn drop_pg_database(admin_url: &str, name: &str) {
    if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.begin();
        drop(self.handle.stop(false));
        if let Some((admin_url, name)) = &self.pg_database {
            drop_pg_database(admin_url, name);
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The server's data directory (where `admin-token` is written).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    /// Creates a token (as the admin) and returns its secret.
    pub async fn create_token(&self, name: &str, role: &str, models: Option<&[&str]>) -> String {
        let mut body = json!({ "name": name, "role": role });
        if let Some(models) = models {
            body["models"] = json!(models);
        }
        let (status, created) = self.post_json("/api/v1/tokens", &body).await;
        assert_eq!(status, 201, "create token {name}: {created}");
        created["token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send_json(self.http.put(self.url(path)), body).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send_json(self.http.patch(self.url(path)), body).await
    }

    async fn send_json(&self, request: reqwest::RequestBuilder, body: &Value) -> (u16, Value) {
        let response = request.json(body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let response = self.http.delete(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn create_model(&self, name: &str) -> Value {
        let (status, body) = self
            .post_json("/api/v1/models", &json!({ "name": name }))
            .await;
        assert_eq!(status, 201, "create model {name}: {body}");
        body
    }

    /// One-step multipart upload; returns (status, body).
    pub async fn upload_with(
        &self,
        model: &str,
        metadata: &Value,
        artifact: Vec<u8>,
    ) -> (u16, Value) {
        let form = upload_form(metadata, Part::bytes(artifact).file_name("model.bin"));
        let response = self
            .http
            .post(self.url(&format!("/api/v1/models/{model}/versions")))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Uploads a trained model (format `linfa-logistic`, with its metrics); returns its number.
    pub async fn upload_trained(
        &self,
        model: &str,
        trained: &capstan_client::runtime::train::TrainedModel,
    ) -> i64 {
        let metrics: serde_json::Map<String, Value> = trained
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let (status, body) = self
            .upload_with(
                model,
                &json!({"format": trained.format, "metrics": metrics}),
                trained.artifact.clone(),
            )
            .await;
        assert_eq!(status, 201, "upload trained model: {body}");
        body["version"].as_i64().unwrap()
    }

    /// Uploads `artifact` as a ready version; returns its number.
    pub async fn upload(&self, model: &str, artifact: &[u8]) -> i64 {
        let (status, body) = self
            .upload_with(model, &json!({ "format": "opaque" }), artifact.to_vec())
            .await;
        assert_eq!(status, 201, "upload: {body}");
        assert_eq!(body["status"], "ready");
        body["version"].as_i64().unwrap()
    }

    pub async fn promote(&self, model: &str, stage: &str, body: &Value) -> (u16, Value) {
        self.post_json(&format!("/api/v1/models/{model}/stages/{stage}"), body)
            .await
    }

    /// Starts a graceful stop (as SIGTERM does): no new connections, in-flight requests
    /// finish, event streams end and relays give their lease up. Resolves when the server
    /// has stopped and the relays are done.
    ///
    /// On PostgreSQL, await this before a test with relays ends: dropping the app drops
    /// its database, and a relay still giving its lease up would wait for the pool's
    /// connection timeout.
    pub fn stop_gracefully(&self) -> impl std::future::Future<Output = ()> + use<> {
        self.shutdown.begin();
        let stopped = self.handle.stop(true);
        let shutdown = self.shutdown.clone();
        async move {
            stopped.await;
            shutdown.finished().await;
        }
    }

    /// Stops this server gracefully and starts a new one (on a new port) on the same
    /// database and object store, with the same settings.
    pub async fn restart(&mut self) {
        self.stop_gracefully().await;
        self.start_again().await;
    }

    /// Starts a new server (on a new port) on this app's database and object store, with
    /// the same settings, after [`TestApp::stop_gracefully`]. Meanwhile `registry` still
    /// writes to the database, as another replica would.
    pub async fn start_again(&mut self) {
        let (running, shutdown) = start_server(&self.config).await;
        self.addr = running.addr;
        self.base = format!("http://{}", running.addr);
        self.registry = running.registry;
        self.handle = running.handle;
        self.grpc = grpc_url(&running.transports);
        self.transports = running.transports;
        self.shutdown = shutdown;
    }

    /// Like [`TestApp::start_again`], but on the address the app had, so clients that
    /// follow the registry at its URL reconnect to the new server.
    pub async fn start_again_in_place(&mut self) {
        let mut config = self.config.clone();
        config.listen = self.addr;
        let (running, shutdown) = start_server(&config).await;
        self.registry = running.registry;
        self.handle = running.handle;
        self.grpc = grpc_url(&running.transports);
        self.transports = running.transports;
        self.shutdown = shutdown;
    }

    /// Writes `bytes` into the registry's object store at `relative` (under its prefix)
    /// and returns the object's URL, as a batch job names an input by URL.
    pub async fn put_object(&self, relative: &str, bytes: Vec<u8>) -> String {
        let store = capstan_registry::artifacts::open_store(&self.config.object_store).unwrap();
        store
            .put_object(
                &capstan_registry::artifacts::ObjectKey::Named(relative.to_owned()),
                bytes.into(),
            )
            .await
            .unwrap();
        format!("{}/{relative}", self.config.object_store.url)
    }

    /// The local object store's directory (`None` on S3): where blobs can be tampered with.
    pub fn objects_dir(&self) -> Option<std::path::PathBuf> {
        (!self.s3).then(|| self._dir.path().join("objects"))
    }

    /// Another registry server on the same database and object store (a replica, for
    /// PostgreSQL), with the same settings. Drop it before this app.
    pub async fn spawn_replica(&self) -> TestApp {
        let (running, shutdown) = start_server(&self.config).await;
        TestApp {
            addr: running.addr,
            base: format!("http://{}", running.addr),
            http: self.http.clone(),
            registry: running.registry,
            database_url: self.database_url.clone(),
            db_backend: self.db_backend,
            s3: self.s3,
            admin_token: self.admin_token.clone(),
            grpc: grpc_url(&running.transports),
            handle: running.handle,
            transports: running.transports,
            shutdown,
            config: self.config.clone(),
            pg_database: None,
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// How many staged uploads are lying around (deleting them).
    pub async fn staged_uploads(&self) -> usize {
        self.registry
            .sweep_staged_uploads(Duration::ZERO)
            .await
            .unwrap()
    }

    /// Runs `sql` on this test's database directly: to put it in a state the API cannot
    /// produce (a value an older or newer release wrote, a manual edit).
    pub fn execute_sql(&self, sql: &str) {
        match self.db_backend {
            DbBackend::Sqlite => {
                let path = self.database_url.trim_start_matches("sqlite://");
                let mut conn = diesel::SqliteConnection::establish(path).unwrap();
                diesel::sql_query(sql).execute(&mut conn).unwrap();
            }
            DbBackend::Postgres => {
                let mut conn = diesel::PgConnection::establish(&self.database_url).unwrap();
                diesel::sql_query(sql).execute(&mut conn).unwrap();
            }
        }
    }

    /// `capstan-registry worker` on this app's database and object store, with its batch
    /// settings: a worker process of its own (to kill), as on another machine.
    pub fn worker_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(example::registry_bin());
        let batch = &self.config.batch;
        command
            .arg("worker")
            .args(["--database-url", &self.database_url])
            .args(["--object-store-url", &self.config.object_store.url])
            .args(["--batch-workers", &batch.workers.max(1).to_string()])
            .args(["--batch-lease-ms", &batch.lease.as_millis().to_string()])
            .args(["--batch-chunk-bytes", &batch.chunk_bytes.to_string()])
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null());
        if let Some(endpoint) = &self.config.object_store.s3_endpoint {
            command
                .args(["--s3-endpoint", endpoint])
                .args(["--s3-allow-http", "true"]);
        }
        command
    }

    /// Starts [`TestApp::serve_command`] on `listen` and waits until it answers.
    pub async fn start_serve(&self, listen: SocketAddr) -> KillOnDrop {
        start_process(&mut self.serve_command(listen), listen).await
    }

    /// `capstan-registry serve` as its own process on this app's database and object
    /// store, with this app's batch, event and webhook settings, listening on `listen`.
    pub fn serve_command(&self, listen: SocketAddr) -> std::process::Command {
        let mut command = std::process::Command::new(example::registry_bin());
        let config = &self.config;
        let millis = |d: Duration| d.as_millis().to_string();
        command
            .arg("serve")
            .args(["--listen", &listen.to_string()])
            .args(["--data-dir", &self._dir.path().display().to_string()])
            .args(["--database-url", &self.database_url])
            .args(["--object-store-url", &config.object_store.url])
            .args(["--batch-workers", &config.batch.workers.to_string()])
            .args(["--batch-lease-ms", &millis(config.batch.lease)])
            .args(["--batch-chunk-bytes", &config.batch.chunk_bytes.to_string()])
            .args(["--events-poll-ms", &millis(config.events.poll_interval)])
            .args(["--relay-lease-ms", &millis(config.events.relay_lease)])
            .args([
                "--webhooks-allow-private",
                &config.webhooks.allow_private.to_string(),
            ])
            .args(["--webhooks-timeout-ms", &millis(config.webhooks.timeout)])
            .args([
                "--webhooks-retry-first-ms",
                &millis(config.webhooks.retry_first),
            ])
            .args([
                "--webhooks-retry-max-ms",
                &millis(config.webhooks.retry_max),
            ])
            .args(["--webhooks-lease-ms", &millis(config.webhooks.lease)])
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null());
        if let Some(endpoint) = &config.object_store.s3_endpoint {
            command
                .args(["--s3-endpoint", endpoint])
                .args(["--s3-allow-http", "true"]);
        }
        if let Some(nats) = &config.events.nats {
            command
                .args(["--nats-url", &nats.url])
                .args(["--nats-stream", &nats.stream])
                .args(["--nats-subject-prefix", &nats.subject_prefix]);
        }
        if let Some(kafka) = &config.events.kafka {
            command
                .args(["--kafka-brokers", &kafka.brokers.join(",")])
                .args(["--kafka-topic", &kafka.topic]);
        }
        command
    }

    /// The rows of `sql`, whose columns are named `a` (a number) and `b`, `c` (text or
    /// NULL), read from the database directly.
    pub fn select_rows(&self, sql: &str) -> Vec<(i64, Option<String>, Option<String>)> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            a: i64,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            b: Option<String>,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            c: Option<String>,
        }
        let rows: Vec<Row> = match self.db_backend {
            DbBackend::Sqlite => {
                let path = self.database_url.trim_start_matches("sqlite://");
                let mut conn = diesel::SqliteConnection::establish(path).unwrap();
                diesel::sql_query(sql).load(&mut conn).unwrap()
            }
            DbBackend::Postgres => {
                let mut conn = diesel::PgConnection::establish(&self.database_url).unwrap();
                diesel::sql_query(sql).load(&mut conn).unwrap()
            }
        };
        rows.into_iter().map(|r| (r.a, r.b, r.c)).collect()
    }

    /// The object store of this app, opened anew (works while the server is stopped).
    pub fn object_store(&self) -> capstan_registry::artifacts::ArtifactStore {
        capstan_registry::artifacts::open_store(&self.config.object_store).unwrap()
    }

    /// How many rows `table` holds, read from the database directly (works while the
    /// server is stopped).
    pub fn count_rows(&self, table: &str) -> usize {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let count: Count = match self.db_backend {
            DbBackend::Sqlite => {
                let path = self.database_url.trim_start_matches("sqlite://");
                let mut conn = diesel::SqliteConnection::establish(path).unwrap();
                diesel::sql_query(sql).get_result(&mut conn).unwrap()
            }
            DbBackend::Postgres => {
                let mut conn = diesel::PgConnection::establish(&self.database_url).unwrap();
                diesel::sql_query(sql).get_result(&mut conn).unwrap()
            }
        };
        count.n as usize
    }

    /// Polls `check` until it holds or `timeout` passes; for effects the server applies
    /// after the client is gone (a dropped connection), where there is no signal to await.
    pub async fn eventually<F, Fut>(&self, timeout: Duration, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if check().await {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The repository's copy of the breast-cancer table.
pub fn breast_cancer_csv() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/breast_cancer.csv")
}

/// Trains the seed's logistic regression on the breast-cancer table with L2 penalty `l2`.
pub fn train_breast_cancer(l2: f64) -> capstan_client::runtime::train::TrainedModel {
    use capstan_client::runtime::train::{train_logistic_csv, TrainOptions};
    let csv = std::fs::File::open(breast_cancer_csv()).unwrap();
    train_logistic_csv(
        csv,
        &TrainOptions {
            l2,
            ..TrainOptions::default()
        },
    )
    .unwrap()
}

/// The first `n` feature rows of the breast-cancer table (without the target).
pub fn breast_cancer_rows(n: usize) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(breast_cancer_csv()).unwrap();
    text.lines()
        .skip(1)
        .take(n)
        .map(|line| {
            let mut values: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
            values.pop();
            values
        })
        .collect()
}

/// The probabilities `artifact` (a `linfa-logistic` model) gives for `rows`, computed in
/// this process by the client's runtime: what a server must answer.
pub fn direct_probabilities(artifact: &[u8], rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let predictor = capstan_client::runtime::load("linfa-logistic", artifact, None).unwrap();
    let flat: Vec<f64> = rows.concat();
    let matrix =
        capstan_client::runtime::ndarray::Array2::from_shape_vec((rows.len(), rows[0].len()), flat)
            .unwrap();
    let rows = capstan_client::runtime::Rows::numeric(matrix.view());
    match predictor.predict(&rows).unwrap() {
        capstan_client::runtime::Prediction::Classes(classes) => classes.probabilities,
        other => panic!("a linfa-logistic model predicted {other:?}"),
    }
}

/// A model server (pattern 2) started in-process against `registry`, on port 0.
pub struct TestModelServer {
    pub base: String,
    /// `http://` + where gRPC listens, when asked for.
    pub grpc: Option<String>,
    handle: ServerHandle,
    _transports: capstan_registry::transports::Transports,
}

impl Drop for TestModelServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

pub async fn spawn_model_server(
    registry: &str,
    models: &[&str],
    poll_interval_ms: u64,
) -> TestModelServer {
    spawn_model_server_with(registry, models, poll_interval_ms, None, Default::default()).await
}

/// A model server presenting `token` to the registry, with `auth` deciding who may call it.
pub async fn spawn_model_server_with(
    registry: &str,
    models: &[&str],
    poll_interval_ms: u64,
    token: Option<&str>,
    auth: capstan_registry::model_server::ModelServerAuthArgs,
) -> TestModelServer {
    let args = capstan_registry::model_server::ModelServerArgs {
        registry_token: token.map(|t| capstan_registry::model_server::RegistryToken(t.to_owned())),
        auth,
        poll_interval_ms,
        ..model_server_args(registry, models)
    };
    start_model_server(&args).await
}

/// A model server's settings: `models` of `registry` on a free port, two workers, polling
/// every second, no auth, no transports beside HTTP.
pub fn model_server_args(
    registry: &str,
    models: &[&str],
) -> capstan_registry::model_server::ModelServerArgs {
    capstan_registry::model_server::ModelServerArgs {
        registry: registry.to_owned(),
        registry_token: None,
        auth: Default::default(),
        models: models.iter().map(|m| m.parse().unwrap()).collect(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        poll_interval_ms: 1000,
        workers: Some(2),
        deployment: None,
        instance_id: None,
        transports: Default::default(),
    }
}

/// Starts a model server in this process.
pub async fn start_model_server(
    args: &capstan_registry::model_server::ModelServerArgs,
) -> TestModelServer {
    let running = capstan_registry::model_server::start(args).await.unwrap();
    tokio::spawn(running.server);
    TestModelServer {
        base: format!("http://{}", running.addr),
        grpc: grpc_url(&running.transports),
        handle: running.handle,
        _transports: running.transports,
    }
}

/// A model server following deployment `deployment`, reporting as `instance`.
pub async fn spawn_deployment_server(
    registry: &str,
    deployment: &str,
    instance: &str,
) -> TestModelServer {
    spawn_deployment_server_with(registry, deployment, instance, None).await
}

/// A model server following deployment `deployment`, presenting `token` to the registry.
pub async fn spawn_deployment_server_with(
    registry: &str,
    deployment: &str,
    instance: &str,
    token: Option<&str>,
) -> TestModelServer {
    let args = capstan_registry::model_server::ModelServerArgs {
        registry: registry.to_owned(),
        registry_token: token.map(|t| capstan_registry::model_server::RegistryToken(t.to_owned())),
        auth: Default::default(),
        models: Vec::new(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        poll_interval_ms: 1000,
        workers: Some(2),
        deployment: Some(deployment.parse().unwrap()),
        instance_id: Some(instance.parse().unwrap()),
        transports: Default::default(),
    };
    start_model_server(&args).await
}

/// The sha256 of `bytes`, as `sha256:<hex>`.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Asserts a problem+json response with `status` and `code`.
pub fn assert_problem(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "unexpected status; body: {body}");
    assert_eq!(body["code"], code, "unexpected code; body: {body}");
    assert_eq!(body["status"], expected_status, "{body}");
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "problem without {field}: {body}");
    }
}
