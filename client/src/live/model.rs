//! [`LiveModel`]: a ref followed live. It holds the current model behind an atomic
//! pointer (a `watch` channel's value: readers clone an `Arc`, so a prediction in flight
//! finishes on the model it started with), and a background task that keeps it current
//! (see [`super::follow`]). Dropping the last handle stops the task.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::backoff::Backoff;
use super::error::LiveError;
use super::feed::EventFeed;
use super::follow::{Follower, Shared, Status};
use super::load::{Loaded, Loader};
use super::report::{report, Reporting};
use super::source::{Checkpoint, EventSource};
use super::{source_from_env, LiveUpdate};
use crate::cache::BlobCache;
use crate::http::Client;
use crate::instance::default_instance_id;
use crate::names::ModelName;
use crate::reference::ModelRef;
use crate::runtime::input::rows_from_records;
use crate::runtime::ndarray::ArrayView2;
use crate::runtime::{Prediction, Rows, RuntimeError};

/// How many updates a slow [`LiveModel::updates`] receiver may fall behind.
const UPDATE_BUFFER: usize = 1024;

/// A prediction and the model that made it.
#[derive(Clone, Debug)]
pub struct LivePrediction {
    pub prediction: Prediction,
    pub model: Arc<Loaded>,
}

/// A model that follows a ref. Cheap to clone; every clone sees the same model.
#[derive(Clone)]
pub struct LiveModel {
    reference: ModelRef,
    shared: Arc<Shared>,
    _task: Arc<AbortOnDrop>,
    _reporter: Option<Arc<AbortOnDrop>>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for LiveModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveModel")
            .field("reference", &self.reference)
            .field("current", &self.current())
            .finish_non_exhaustive()
    }
}

impl LiveModel {
    /// Follows `reference` (`bc@production`) with everything from the environment: the
    /// registry (`CAPSTAN_URL`, …), the cache (`CAPSTAN_CACHE_DIR`) and the event source
    /// (`CAPSTAN_LIVE_SOURCE`: server-sent events unless set to `nats` or `kafka`).
    /// Returns once the version the ref names now is loaded.
    pub async fn follow(reference: &str) -> Result<LiveModel, LiveError> {
        let reference = ModelRef::parse(reference).map_err(|source| LiveError::Ref {
            text: reference.to_owned(),
            source,
        })?;
        LiveModel::builder(reference).start().await
    }

    /// Follows `reference` with settings of your choosing.
    pub fn builder(reference: ModelRef) -> LiveModelBuilder {
        LiveModelBuilder {
            reference,
            client: None,
            cache: None,
            source: None,
            backoff: Backoff::default(),
            resync_every: None,
            deployment: None,
            instance_id: None,
        }
    }

    pub fn reference(&self) -> &ModelRef {
        &self.reference
    }

    /// The model serving now.
    pub fn current(&self) -> Arc<Loaded> {
        self.shared.current.borrow().clone()
    }

    /// Predicts rows of numbers (one column per feature, in signature order) with the
    /// current model; the answer names the version that made it.
    pub fn predict(&self, rows: ArrayView2<f64>) -> Result<LivePrediction, RuntimeError> {
        self.predict_rows(&Rows::numeric(rows))
    }

    /// Predicts `rows` of any feature types (see [`Rows`]) with the current model.
    pub fn predict_rows(&self, rows: &Rows<'_>) -> Result<LivePrediction, RuntimeError> {
        let model = self.current();
        let prediction = model.predictor.predict(rows)?;
        Ok(LivePrediction { prediction, model })
    }

    /// Predicts records (`{"feature": value, …}`, strings where a feature is a string)
    /// with the current model, checked against its signature as the registry's
    /// `predict` endpoint checks them.
    pub fn predict_records(
        &self,
        records: &[serde_json::Value],
    ) -> Result<LivePrediction, RuntimeError> {
        let model = self.current();
        let rows = rows_from_records(records, model.predictor.signature())?;
        let prediction = model.predictor.predict(&rows)?;
        Ok(LivePrediction { prediction, model })
    }

    /// A receiver whose value is the current model; `changed()` resolves at each swap.
    pub fn watch(&self) -> watch::Receiver<Arc<Loaded>> {
        self.shared.current.subscribe()
    }

    /// Everything that happens from now on: swaps, rejected versions, events,
    /// (re)connections.
    pub fn updates(&self) -> broadcast::Receiver<LiveUpdate> {
        self.shared.updates.subscribe()
    }

    /// Where the follower stands: connected or not, the newest `seq`, the last error.
    pub fn status(&self) -> Status {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Settings of a [`LiveModel`]; every one has a default from the environment.
pub struct LiveModelBuilder {
    reference: ModelRef,
    client: Option<Client>,
    cache: Option<BlobCache>,
    source: Option<Arc<dyn EventSource>>,
    backoff: Backoff,
    resync_every: Option<Duration>,
    deployment: Option<ModelName>,
    instance_id: Option<ModelName>,
}

impl LiveModelBuilder {
    /// Report what this model serves to deployment `name` (the control plane): at start,
    /// on every swap or failed load, and every heartbeat the deployment asks for. `start`
    /// fails if there is no such deployment.
    pub fn deployment(mut self, name: ModelName) -> Self {
        self.deployment = Some(name);
        self
    }

    /// The id reported to the deployment (default: `<hostname>-<pid>`).
    pub fn instance_id(mut self, id: ModelName) -> Self {
        self.instance_id = Some(id);
        self
    }

    /// The registry (default: [`Client::from_env`]).
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The blob cache (default: [`BlobCache::from_env`]).
    pub fn cache(mut self, cache: BlobCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Where events come from (default: from `CAPSTAN_LIVE_SOURCE`, else server-sent
    /// events from the client's registry).
    pub fn source(mut self, source: impl EventSource) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Where events come from, shared with other followers (one NATS connection for
    /// several models, say) or chosen at run time ([`super::source_from_env`]).
    pub fn shared_source(mut self, source: Arc<dyn EventSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// Delays between reconnections and between retries of a version that could not be
    /// fetched (default 100 ms doubling to 5 s).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Also re-resolve the ref this often without an event (default: never; events and
    /// reconnections are enough).
    pub fn resync_every(mut self, every: Duration) -> Self {
        self.resync_every = Some(every);
        self
    }

    /// Subscribes, then loads what the ref names now (in that order, so nothing that
    /// happens in between is missed), then follows in a background task on the current
    /// tokio runtime. Fails when the initial version cannot be resolved or loaded; a
    /// subscription that cannot be made yet is retried in the background.
    pub async fn start(self) -> Result<LiveModel, LiveError> {
        let client = match self.client {
            Some(client) => client,
            None => Client::from_env()?,
        };
        let cache = match self.cache {
            Some(cache) => cache,
            None => BlobCache::from_env()?,
        };
        let source = match self.source {
            Some(source) => source,
            None => source_from_env(&client)?,
        };
        let reporting = match &self.deployment {
            Some(name) => Some(Reporting {
                heartbeat: Duration::from_millis(
                    client.get_deployment(name).await?.heartbeat_ms.max(100),
                ),
                deployment: name.clone(),
                instance: self.instance_id.clone().unwrap_or_else(default_instance_id),
            }),
            None => None,
        };
        let reporter_client = client.clone();
        let mut feed = EventFeed::new(source, self.reference.model.clone(), Checkpoint::default())
            .with_backoff(self.backoff.clone());
        let first = feed.next().await;
        let loader = Loader::new(client, cache);
        let version = loader.resolve(&self.reference).await?;
        let loaded = Arc::new(loader.load(&version, None).await?);
        let (current, _) = watch::channel(loaded);
        let (updates, _) = broadcast::channel(UPDATE_BUFFER);
        let shared = Arc::new(Shared {
            current,
            updates,
            status: Mutex::new(Status::default()),
        });
        let follower = Follower::new(
            self.reference.clone(),
            loader,
            shared.clone(),
            feed,
            self.resync_every,
            self.backoff,
        );
        follower.initial(&first);
        let task = tokio::spawn(follower.run());
        let reporter = reporting.map(|reporting| {
            let task = tokio::spawn(report(reporter_client, reporting, shared.clone()));
            Arc::new(AbortOnDrop(task))
        });
        Ok(LiveModel {
            reference: self.reference,
            shared,
            _task: Arc::new(AbortOnDrop(task)),
            _reporter: reporter,
        })
    }
}
