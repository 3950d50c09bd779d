//! Serving: predictions over the client crate's runtime, for the registry itself (the
//! single-process default) and for the separate `model-server` process (pattern 2).
//!
//! Owns the in-memory table of served refs (`ref → loaded model`), the predictor cache
//! (by digest), the hot-swap watcher, the prediction protocols (Capstan JSON and the Open
//! Inference Protocol, KServe V2) and their Prometheus metrics. The hot path never touches
//! the database: refs are resolved once, then kept current by the watcher.
//!
//! This is a service: its HTTP routes are in `api/` (`predict.rs`, `open_inference.rs`,
//! `metrics.rs`), which call [`Serving`]'s methods; nothing here knows about HTTP.

pub mod callers;
pub mod deployment;
mod error;
pub mod metrics;
mod model;
mod predict;
mod remote;
mod source;
mod table;
pub mod traffic;
pub mod v2;
mod watcher;

use std::sync::Arc;

use capstan_client::{ModelName, VersionRef};

pub use error::ServeError;
pub use metrics::Metrics;
pub use model::{load_predictor, LoadedModel, PredictorCache};
pub use remote::RemoteSource;
pub use source::{served_artifact, LocalSource, VersionLoader};
pub use table::{ServedRefs, TableMode};
pub use traffic::{Split, Traffic};
pub use watcher::{watch_events, watch_remote};

/// What the serving handlers share: the served refs, the canary split and the metrics.
#[derive(Clone)]
pub struct Serving {
    pub refs: Arc<ServedRefs>,
    pub traffic: Arc<Traffic>,
    pub metrics: Arc<Metrics>,
}

impl Serving {
    pub fn new(refs: Arc<ServedRefs>) -> Self {
        Self {
            refs,
            traffic: Arc::default(),
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// The model answering a request for `name@reference`: the canary's when the split
    /// picks this request and the canary is loaded, else the ref's own.
    pub async fn route(
        &self,
        name: &ModelName,
        reference: &VersionRef,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        if let Some(canary) = self.traffic.route(name, reference) {
            if let Some(model) = self.refs.loaded(&canary) {
                return Ok(model);
            }
        }
        self.refs.get(name, reference).await
    }

    /// The prediction metrics in Prometheus text format.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(&self.refs.served())
    }
}
