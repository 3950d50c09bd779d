//! `capstan-registry model-server`: pattern 2, a prediction server with no database of its
//! own. It loads the refs it is told to serve over a registry's HTTP API, verifies their
//! digests, follows the registry's event stream for moves (with a slow poll as a safety
//! net) and hot-swaps; scale it out independently.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use capstan_client::{ModelName, ModelRef};
use tokio::sync::Notify;

use crate::api::app::{self, AppSpec, Serves};
use crate::service::Limits;
use crate::serving::deployment::{DeploymentFollower, DeploymentSignal, Plan};
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
        required_unless_present = "deployment",
        conflicts_with = "deployment",
        value_name = "NAME@REF"
    )]
    pub models: Vec<ModelRef>,
    /// Serve what this deployment says instead of `--model`: its ref (under that ref's
    /// usual paths) and its canary, split by its percent. Changes to the deployment apply
    /// without a restart, and this server reports what it runs to it.
    #[arg(long, env = "CAPSTAN_DEPLOYMENT", value_name = "NAME")]
    pub deployment: Option<ModelName>,
    /// The id this server reports under, with `--deployment` [default: <hostname>-<pid>].
    #[arg(long, env = "CAPSTAN_INSTANCE_ID", value_name = "ID")]
    pub instance_id: Option<ModelName>,
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

/// Loads the configured refs — or the deployment's — (failures are retried by the
/// watcher) and starts serving.
pub async fn start(args: &ModelServerArgs) -> anyhow::Result<RunningServer<Serving>> {
    let source = RemoteSource::new(&args.registry).map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = capstan_client::http::Client::new(capstan_client::Config::new(&args.registry)?)?;
    let following = match &args.deployment {
        Some(name) => {
            let deployment = client
                .get_deployment(name)
                .await
                .with_context(|| format!("cannot read deployment {name} from {}", args.registry))?;
            let plan = Plan::of(&deployment)?;
            let heartbeat = Duration::from_millis(deployment.heartbeat_ms.max(100));
            Some((name.clone(), plan, heartbeat))
        }
        None => None,
    };
    let configured = match &following {
        Some((_, plan, _)) => plan.refs(),
        None => args.models.clone(),
    };
    let refs = Arc::new(ServedRefs::new(
        Arc::new(source),
        TableMode::Fixed,
        configured.clone(),
    ));
    let serving = Serving::new(refs.clone());
    let signal = following.as_ref().map(|(name, ..)| DeploymentSignal {
        name: name.clone(),
        notify: Arc::new(Notify::new()),
    });
    match (&following, &signal) {
        (Some((name, plan, heartbeat)), Some(signal)) => {
            let follower = DeploymentFollower {
                client: client.clone(),
                name: name.clone(),
                instance: args
                    .instance_id
                    .clone()
                    .unwrap_or_else(capstan_client::instance::default_instance_id),
                refs: refs.clone(),
                traffic: serving.traffic.clone(),
                signal: signal.clone(),
            };
            follower.apply(plan).await;
            tokio::spawn(follower.run(plan.clone(), *heartbeat));
        }
        _ => refs.load_configured().await,
    }
    // Loading happened before the subscription: the first connection re-resolves every
    // ref, so a move in between is not missed.
    tokio::spawn(watch_remote(
        refs.clone(),
        client,
        configured.iter().map(|r| r.model.clone()).collect(),
        Duration::from_millis(args.poll_interval_ms.max(50)),
        signal,
    ));
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
            auth: crate::config::AuthConfig::default(),
        },
    )?;
    let models: Vec<String> = configured.iter().map(ToString::to_string).collect();
    tracing::info!(%addr, registry = %args.registry, models = %models.join(","), deployment = ?args.deployment, "capstan model server listening");
    Ok(RunningServer {
        addr,
        handle: server.handle(),
        server,
        registry: serving,
    })
}
