//! `capstan-registry model-server`: pattern 2, a prediction server with no database of its
//! own. It loads the refs it is told to serve over a registry's HTTP API, verifies their
//! digests, follows the registry's event stream for moves (with a slow poll as a safety
//! net) and hot-swaps; scale it out independently.
//!
//! It presents `--registry-token` (`CAPSTAN_TOKEN`) on every request to the registry
//! (reads, the event stream, downloads, deployment reports). Its own predictions can
//! require a token too: one whose sha256 is in `--auth-token-file`, and/or one the
//! registry vouches for (`--auth-from-registry`); health and the OpenAPI document stay
//! open, `/metrics` as `--auth-open-metrics` says.

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use capstan_client::{ModelName, ModelRef};
use tokio::sync::Notify;

use crate::api::app::{self, AppSpec, Serves};
use crate::api::auth::Verifier;
use crate::api::messaging::amqp::{self, AmqpSettings};
use crate::api::messaging::nats::{self, NatsSettings};
use crate::api::prediction_gate::PredictionGate;
use crate::config::AuthConfig;
use crate::service::Limits;
use crate::serving::callers::{AcceptedHashes, Callers, RegistryCallers};
use crate::serving::deployment::{DeploymentFollower, DeploymentSignal, Plan};
use crate::serving::{watch_remote, RemoteSource, ServedRefs, Serving, TableMode};
use crate::startup::{RunningServer, KEEP_ALIVE};
use crate::transports::{Jobs, Transports};

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
    /// The API token to present to the registry (a reader's is enough; reporting to a
    /// deployment needs no more). Prefer the variable: a flag shows in the process list.
    #[arg(
        long,
        env = "CAPSTAN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub registry_token: Option<RegistryToken>,
    #[command(flatten)]
    pub auth: ModelServerAuthArgs,
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
    /// HTTP worker threads, and threads of the gRPC server and broker consumers
    /// [default: one per core].
    #[arg(long, env = "CAPSTAN_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub transports: TransportArgs,
}

/// The transports beside HTTP: gRPC and message brokers (all off by default).
#[derive(Debug, Clone, Args)]
pub struct TransportArgs {
    /// Also serve the Open Inference Protocol over gRPC on this address (Triton's port is
    /// 8001), with `grpc.health.v1` and server reflection.
    #[arg(long, env = "CAPSTAN_GRPC_LISTEN", value_name = "ADDR")]
    pub grpc_listen: Option<SocketAddr>,
    /// Also take predictions from RabbitMQ (`amqp://user:password@host:5672/%2f`): one
    /// durable queue per served model, request/reply with `reply_to` and `correlation_id`.
    #[arg(
        long,
        env = "CAPSTAN_AMQP_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub amqp_url: Option<String>,
    /// The queues are named this prefix and the model's name.
    #[arg(
        long,
        env = "CAPSTAN_AMQP_QUEUE_PREFIX",
        value_name = "PREFIX",
        default_value = "capstan.predict."
    )]
    pub amqp_queue_prefix: String,
    /// How many AMQP requests may be in flight at once on this server.
    #[arg(
        long,
        env = "CAPSTAN_AMQP_PREFETCH",
        value_name = "N",
        default_value_t = 64
    )]
    pub amqp_prefetch: u16,
    /// Also answer predictions over NATS request/reply (`nats://host:4222`).
    #[arg(long, env = "CAPSTAN_NATS_PREDICT", value_name = "URL")]
    pub nats_predict: Option<String>,
    /// The NATS subjects are named this prefix and the model's name.
    #[arg(
        long,
        env = "CAPSTAN_NATS_PREDICT_PREFIX",
        value_name = "PREFIX",
        default_value = "capstan.predict."
    )]
    pub nats_predict_prefix: String,
    /// The NATS queue group the model servers of a model share requests in.
    #[arg(
        long,
        env = "CAPSTAN_NATS_QUEUE_GROUP",
        value_name = "NAME",
        default_value = "capstan-model-server"
    )]
    pub nats_queue_group: String,
}

impl Default for TransportArgs {
    fn default() -> Self {
        Self {
            grpc_listen: None,
            amqp_url: None,
            amqp_queue_prefix: "capstan.predict.".to_owned(),
            amqp_prefetch: 64,
            nats_predict: None,
            nats_predict_prefix: "capstan.predict.".to_owned(),
            nats_queue_group: "capstan-model-server".to_owned(),
        }
    }
}

/// A token the model server presents to the registry: never printed (`Debug` redacts it).
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryToken(pub String);

impl std::str::FromStr for RegistryToken {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(RegistryToken(text.trim().to_owned()))
    }
}

impl fmt::Debug for RegistryToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Who may call the model server: without a token file or `--auth-from-registry`,
/// anyone who can reach it.
#[derive(Debug, Clone, Args)]
pub struct ModelServerAuthArgs {
    /// Require a token whose sha256 (hex) is listed in this file, one per line (`#`
    /// comments; a name may follow the hash). Make a line with
    /// `printf %s "$TOKEN" | sha256sum`. Read at start-up.
    #[arg(
        long,
        env = "CAPSTAN_MODEL_SERVER_AUTH_TOKEN_FILE",
        value_name = "PATH"
    )]
    pub auth_token_file: Option<PathBuf>,
    /// Require a token the registry accepts (asked at `GET /api/v1/whoami`): any role,
    /// and for a token limited to some models, a model among them.
    #[arg(
        long,
        env = "CAPSTAN_MODEL_SERVER_AUTH_FROM_REGISTRY",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub auth_from_registry: bool,
    /// How long the registry's answer about a token is trusted, in milliseconds (0: ask
    /// on every request). A revoked token keeps working here for up to this long.
    #[arg(
        long,
        env = "CAPSTAN_MODEL_SERVER_AUTH_CACHE_MS",
        value_name = "MS",
        default_value_t = 5_000
    )]
    pub auth_cache_ms: u64,
    /// Whether `/metrics` answers without a token when tokens are required.
    #[arg(
        long,
        env = "CAPSTAN_MODEL_SERVER_AUTH_OPEN_METRICS",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub auth_open_metrics: bool,
}

impl Default for ModelServerAuthArgs {
    fn default() -> Self {
        Self {
            auth_token_file: None,
            auth_from_registry: false,
            auth_cache_ms: 5_000,
            auth_open_metrics: true,
        }
    }
}

impl ModelServerAuthArgs {
    /// The gate's settings and who checks secrets (`Nobody` when no token is required).
    fn resolve(
        &self,
        client: &capstan_client::http::Client,
    ) -> anyhow::Result<(AuthConfig, Verifier)> {
        let file = self
            .auth_token_file
            .as_deref()
            .map(AcceptedHashes::read)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--auth-token-file: {e}"))?;
        let registry = self
            .auth_from_registry
            .then(|| RegistryCallers::new(client, Duration::from_millis(self.auth_cache_ms)));
        let enabled = file.is_some() || registry.is_some();
        let config = AuthConfig {
            enabled,
            open_metrics: self.auth_open_metrics,
            ..AuthConfig::default()
        };
        let verifier = if enabled {
            Verifier::ModelServer(Arc::new(Callers { file, registry }))
        } else {
            Verifier::Nobody
        };
        Ok((config, verifier))
    }
}

/// Loads the configured refs — or the deployment's — (failures are retried by the
/// watcher) and starts serving.
pub async fn start(args: &ModelServerArgs) -> anyhow::Result<RunningServer<Serving>> {
    let token = args.registry_token.clone().map(|t| t.0);
    let source =
        RemoteSource::new(&args.registry, token.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = capstan_client::http::Client::new(
        capstan_client::Config::new(&args.registry)?.with_token(token),
    )?;
    let (auth, verifier) = args.auth.resolve(&client)?;
    let instance = args
        .instance_id
        .clone()
        .unwrap_or_else(capstan_client::instance::default_instance_id);
    let gate = PredictionGate {
        enabled: auth.enabled,
        verifier: verifier.clone(),
    };
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
                instance: instance.clone(),
                refs: refs.clone(),
                traffic: serving.traffic.clone(),
                signal: signal.clone(),
            };
            follower.apply(plan).await;
            tokio::spawn(follower.run(plan.clone(), *heartbeat));
        }
        _ => refs.load_configured().await,
    }
    let mut models: Vec<ModelName> = configured.iter().map(|r| r.model.clone()).collect();
    models.dedup();
    // Loading happened before the subscription: the first connection re-resolves every
    // ref, so a move in between is not missed.
    tokio::spawn(watch_remote(
        refs.clone(),
        client,
        models.clone(),
        Duration::from_millis(args.poll_interval_ms.max(50)),
        signal,
    ));
    let listener = TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let server = app::serve(
        listener,
        AppSpec {
            serves: Serves::ModelServer { verifier },
            serving: serving.clone(),
            limits: Limits::default(),
            workers: args.workers,
            keep_alive: KEEP_ALIVE,
            auth,
        },
    )?;
    if !auth.enabled && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "predictions need no token: anyone who can reach this address may call them (see --auth-token-file, --auth-from-registry)");
    }
    let transports = start_transports(args, &serving, &gate, &models, &instance)?;
    let refs: Vec<String> = configured.iter().map(ToString::to_string).collect();
    tracing::info!(%addr, grpc = ?transports.grpc_addr, registry = %args.registry, models = %refs.join(","), deployment = ?args.deployment, auth = auth.enabled, "capstan model server listening");
    Ok(RunningServer {
        addr,
        handle: server.handle(),
        server,
        registry: serving,
        transports,
    })
}

/// gRPC and the broker consumers the flags ask for.
fn start_transports(
    args: &ModelServerArgs,
    serving: &Serving,
    gate: &PredictionGate,
    models: &[ModelName],
    instance: &ModelName,
) -> anyhow::Result<Transports> {
    let settings = &args.transports;
    let mut jobs = Jobs::new();
    let grpc_addr = match settings.grpc_listen {
        Some(addr) => Some(jobs.grpc(addr, serving, gate)?),
        None => None,
    };
    if let Some(url) = &settings.amqp_url {
        let amqp = AmqpSettings {
            url: url.clone(),
            queue_prefix: settings.amqp_queue_prefix.clone(),
            prefetch: settings.amqp_prefetch,
            instance: instance.to_string(),
        };
        let (models, serving, gate) = (models.to_vec(), serving.clone(), gate.clone());
        jobs.push(move |shutdown| async move {
            amqp::run(amqp, models, serving, gate, shutdown).await;
            Ok(())
        });
    }
    if let Some(url) = &settings.nats_predict {
        let nats = NatsSettings {
            url: url.clone(),
            subject_prefix: settings.nats_predict_prefix.clone(),
            queue_group: settings.nats_queue_group.clone(),
            instance: instance.to_string(),
        };
        let (models, serving, gate) = (models.to_vec(), serving.clone(), gate.clone());
        jobs.push(move |shutdown| nats::run(nats, models, serving, gate, shutdown));
    }
    Transports::start(jobs, args.workers, grpc_addr)
}
