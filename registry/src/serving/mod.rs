//! Serving: predictions over the client crate's runtime, for the registry itself (the
//! single-process default) and for the separate `model-server` process (pattern 2).
//!
//! Owns the in-memory table of served refs (`ref → loaded model`), the predictor cache
//! (by digest), the hot-swap watcher, the prediction protocols (Capstan JSON and the Open
//! Inference Protocol, KServe V2) and their Prometheus metrics. The hot path never touches
//! the database: refs are resolved once, then kept current by the watcher.

mod error;
pub mod metrics;
mod model;
mod predict;
mod remote;
mod source;
mod table;
mod v2;
mod watcher;

use std::sync::Arc;

use utoipa_actix_web::service_config::ServiceConfig;

pub use error::ServeError;
pub use metrics::Metrics;
pub use model::LoadedModel;
pub use remote::RemoteSource;
pub use source::{LocalSource, VersionLoader};
pub use table::{ServedRefs, TableMode};
pub use watcher::{watch_events, watch_remote};

/// What the serving handlers share: the served refs and the metrics.
#[derive(Clone)]
pub struct Serving {
    pub refs: Arc<ServedRefs>,
    pub metrics: Arc<Metrics>,
}

impl Serving {
    pub fn new(refs: Arc<ServedRefs>) -> Self {
        Self {
            refs,
            metrics: Arc::new(Metrics::default()),
        }
    }
}

/// The prediction routes (both protocols) and `/metrics`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(predict::predict)
        .service(v2::live)
        .service(v2::ready)
        .service(v2::model_metadata)
        .service(v2::version_metadata)
        .service(v2::model_ready)
        .service(v2::version_ready)
        .service(v2::infer)
        .service(v2::infer_version)
        .service(metrics::metrics);
}
