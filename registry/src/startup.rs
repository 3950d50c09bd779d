//! Building and running the server: connect the database (running migrations), open the
//! object store, start event delivery, and serve the API on a listener, so tests can bind
//! port 0.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use anyhow::Context;

use crate::api::app::{self, AppSpec, Serves};
use crate::api::auth::Verifier;
use crate::api::prediction_gate::PredictionGate;
use crate::artifacts::open_store;
use crate::batch::{self, worker::WorkerConfig};
use crate::config::Config;
use crate::deployments;
use crate::events::{self, Shutdown};
use crate::service::Registry;
use crate::serving::{watch_events, LocalSource, ServedRefs, Serving, TableMode};
use crate::store::Db;
use crate::transports::{Jobs, Transports};
use crate::webhooks;

/// Staged uploads older than this are debris of a crash and are deleted at start.
const STALE_STAGING: Duration = Duration::from_secs(24 * 60 * 60);
/// How often the serving watcher reads the event log when no local write woke it (this
/// catches other replicas' writes).
const EVENT_POLL: Duration = Duration::from_secs(1);

/// A server that is accepting connections; `registry` is its shared state (the
/// `Registry` for the registry, `Serving` for the model server).
pub struct RunningServer<S = Registry> {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub server: Server,
    pub registry: S,
    /// gRPC (and on a model server, the broker consumers) beside HTTP.
    pub transports: Transports,
}

/// How long an idle keep-alive connection stays open. Longer than the idle timeout of
/// common client pools (capstan's own: 60 s), so a client never sends a request on a
/// connection the server is closing at that moment — actix's 5 s default makes that race
/// routine for clients that pause a few seconds between requests.
pub const KEEP_ALIVE: Duration = Duration::from_secs(75);

/// Connects to the database and object store named by `config`.
pub async fn open_registry(config: &Config) -> anyhow::Result<Registry> {
    let url = config.database_url.clone();
    let pool_size = config.db_pool_size;
    let db = tokio::task::spawn_blocking(move || Db::connect(&url, pool_size))
        .await
        .context("database start-up task failed")?
        .with_context(|| format!("cannot open the database {}", redact(&config.database_url)))?;
    let artifacts = open_store(&config.object_store)
        .with_context(|| format!("cannot open the object store {}", config.object_store.url))?;
    let registry = Registry::new(db, artifacts, config.limits)
        .with_batch_chunk_bytes(config.batch.chunk_bytes)
        .with_deployment_settings(config.deployments.settings)
        .with_webhooks_allow_private(config.webhooks.allow_private)
        .with_auth_cache(config.auth.cache)
        .with_promotion_request_ttl(config.promotion_request_ttl)
        .with_mlflow_sources(config.mlflow_sources.clone());
    let sweeper = registry.clone();
    tokio::spawn(async move {
        match sweeper.sweep_staged_uploads(STALE_STAGING).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "deleted stale staged uploads"),
            Err(error) => tracing::warn!(%error, "could not sweep staged uploads"),
        }
    });
    Ok(registry)
}

/// Binds `config.listen` and starts serving; the returned server runs until stopped
/// (SIGTERM/SIGINT stop it gracefully, finishing in-flight requests; event streams end
/// and relays give their lease up at once).
pub async fn start(config: &Config) -> anyhow::Result<RunningServer> {
    let shutdown = Shutdown::new();
    shutdown_on_termination_signal(shutdown.clone());
    start_with_shutdown(config, shutdown).await
}

/// Like [`start`], but long-lived work — event streams, the event tail, relays — stops
/// when `shutdown` begins rather than on a signal. Begin it before stopping the server
/// gracefully (actix waits for open responses, and an event stream never ends by
/// itself); [`Shutdown::finished`] tells when relays have given their lease up.
pub async fn start_with_shutdown(
    config: &Config,
    shutdown: Shutdown,
) -> anyhow::Result<RunningServer> {
    let registry = open_registry(config).await?;
    if config.auth.enabled {
        bootstrap_admin_token(&registry, &config.data_dir).await?;
    }
    if config.batch.workers > 0 {
        tokio::spawn(batch::worker::run(
            registry.clone(),
            worker_config(config),
            shutdown.token(),
        ));
    }
    tokio::spawn(batch::scheduler::run(registry.clone(), shutdown.token()));
    shutdown.spawn(deployments::run(
        registry.clone(),
        config.deployments.recorder,
        shutdown.token(),
    ));
    let refs = Arc::new(ServedRefs::new(
        Arc::new(LocalSource::new(registry.clone())),
        TableMode::Lazy,
        Vec::new(),
    ));
    tokio::spawn(watch_events(registry.clone(), refs.clone(), EVENT_POLL));
    let serving = Serving::new(refs);
    let transports = match config.grpc_listen {
        Some(addr) => {
            let mut jobs = Jobs::new();
            let gate = PredictionGate {
                enabled: config.auth.enabled,
                verifier: Verifier::Registry(Box::new(registry.clone())),
            };
            let bound = jobs.grpc(addr, &serving, &gate)?;
            Transports::start(jobs, config.workers, Some(bound))?
        }
        None => Transports::none(),
    };
    let events = events::start(&registry, &config.events, &shutdown);
    let webhooks = webhooks::start(&events.hub, &config.webhooks, &shutdown);
    let listener = TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let server = app::serve(
        listener,
        AppSpec {
            serves: Serves::Registry {
                registry: registry.clone(),
                hub: events.hub,
                relays: events.relays,
                webhooks,
                shutdown: shutdown.token(),
            },
            serving,
            limits: config.limits,
            workers: config.workers,
            keep_alive: KEEP_ALIVE,
            auth: config.auth,
        },
    )?;
    tracing::info!(%addr, grpc = ?transports.grpc_addr, database = %redact(&config.database_url), object_store = %config.object_store.url, "capstan registry listening");
    Ok(RunningServer {
        addr,
        handle: server.handle(),
        server,
        registry,
        transports,
    })
}

/// The file the first admin token is written to.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// With authentication on and no token in the database, creates an admin token and
/// writes its secret once to `<data_dir>/admin-token` (mode 0600). The secret is never
/// logged; the log says where it is.
async fn bootstrap_admin_token(registry: &Registry, data_dir: &Path) -> anyhow::Result<()> {
    let Some(created) = registry
        .bootstrap_admin_token()
        .await
        .context("cannot create the first admin token")?
    else {
        return Ok(());
    };
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    write_secret(&path, &created.token)
        .with_context(|| format!("cannot write the first admin token to {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        token = %created.name,
        "authentication is on and the database held no token: created an admin token and \
         wrote it to this file (readable by this user only); move it somewhere safe"
    );
    Ok(())
}

/// Writes `secret` to `path`, readable and writable by this user only.
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

fn worker_config(config: &Config) -> WorkerConfig {
    WorkerConfig {
        slots: config.batch.workers,
        lease: config.batch.lease,
        ..WorkerConfig::default()
    }
}

/// Runs a batch worker on the database and object store `config` names, without the
/// HTTP API (`capstan-registry worker`), until SIGTERM or SIGINT. A step in progress when
/// it stops is taken over by another worker once its lease expires.
pub async fn run_worker(config: &Config) -> anyhow::Result<()> {
    let registry = open_registry(config).await?;
    let shutdown = Shutdown::new();
    shutdown_on_termination_signal(shutdown.clone());
    let mut worker = worker_config(config);
    worker.slots = worker.slots.max(1);
    tracing::info!(database = %redact(&config.database_url), object_store = %config.object_store.url, "capstan batch worker starting");
    batch::worker::run(registry, worker, shutdown.token()).await;
    tracing::info!("capstan batch worker stopped");
    Ok(())
}

/// Begins `shutdown` on SIGTERM or SIGINT (actix stops the server on the same signals).
fn shutdown_on_termination_signal(shutdown: Shutdown) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut terminate) = signal(SignalKind::terminate()) else {
                tracing::warn!(
                    "cannot listen for SIGTERM; event streams end only with the process"
                );
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping: closing event streams and relays");
        shutdown.begin();
    });
}

/// Hides a password in a database URL before it is logged.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
