//! `capstan-registry model-server`: pattern 2, a prediction server with no database of its
//! own. It loads the refs it is told to serve over a registry's HTTP API, verifies their
//! digests, follows the registry's event stream for moves (with a slow poll as a safety
//! net) and hot-swaps; scale it out independently.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use capstan_client::ModelRef;

use crate::api::app::{self, AppSpec, Serves};
use crate::service::Limits;
use crate::serving::{watch_remote, RemoteSource, ServedRefs, Serving, TableMode};
use crate::startup::{RunningServer, KEEP_ALIVE};

#[derive(Debug, Clone, Args)]
pub struct ModelServerArgs {
    /// Base URL of the registry to load models from.
    #[arg(
        long,
        env = "CAPSTAN_URL",
        value_name = "URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub registry: String,
    /// A ref to serve, `NAME@REF` (repeat for more): `bc@production`, `bc@7`, `bc@champion`.
    #[arg(
        long = "model",
        env = "CAPSTAN_MODELS",
        value_delimiter = ',',
        required = true,
        value_name = "NAME@REF"
    )]
    pub models: Vec<ModelRef>,
    /// Address to listen on.
    #[arg(
        long,
        env = "CAPSTAN_MODEL_SERVER_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:8081"
    )]
    pub listen: SocketAddr,
    /// How often to ask the registry whether a served ref moved even though no event
    /// said so, in milliseconds: a safety net, since moves arrive as server-sent events.
    #[arg(
        long,
        env = "CAPSTAN_POLL_INTERVAL_MS",
        value_name = "MS",
        default_value_t = 30_000
    )]
    pub poll_interval_ms: u64,
    /// HTTP worker threads [default: one per core].
    #[arg(long, env = "CAPSTAN_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
}

/// Loads the configured refs (failures are retried by the watcher) and starts serving.
pub async fn start(args: &ModelServerArgs) -> anyhow::Result<RunningServer<Serving>> {
    let source = RemoteSource::new(&args.registry).map_err(|e| anyhow::anyhow!("{e}"))?;
    let refs = Arc::new(ServedRefs::new(
        Arc::new(source),
        TableMode::Fixed,
        args.models.clone(),
    ));
    refs.load_configured().await;
    let client = capstan_client::http::Client::new(capstan_client::Config::new(&args.registry)?)?;
    // Loading happened before the subscription: the first connection re-resolves every
    // ref, so a move in between is not missed.
    tokio::spawn(watch_remote(
        refs.clone(),
        client,
        args.models.iter().map(|r| r.model.clone()).collect(),
        Duration::from_millis(args.poll_interval_ms.max(50)),
    ));
    let serving = Serving::new(refs);
    let listener = TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let server = app::serve(
        listener,
        AppSpec {
            serves: Serves::ModelServer,
            serving: serving.clone(),
            limits: Limits::default(),
            workers: args.workers,
            keep_alive: KEEP_ALIVE,
        },
    )?;
    let models: Vec<String> = args.models.iter().map(ToString::to_string).collect();
    tracing::info!(%addr, registry = %args.registry, models = %models.join(","), "capstan model server listening");
    Ok(RunningServer {
        addr,
        handle: server.handle(),
        server,
        registry: serving,
    })
}
