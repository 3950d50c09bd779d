//! A loaded model: the predictor plus the identity of the version it came from, and the
//! cache that shares predictors between refs naming the same bytes.

use std::sync::{Arc, Mutex};

use capstan_client::runtime::{self, Predictor};
use capstan_client::types::Version;
use capstan_client::{Digest, ModelName};

use super::ServeError;

/// Predictors kept in memory at once; beyond this the cache forgets the oldest.
const MAX_CACHED_PREDICTORS: usize = 64;

pub struct LoadedModel {
    pub name: ModelName,
    pub version: i64,
    pub digest: Digest,
    pub format: String,
    pub predictor: Arc<dyn Predictor>,
}

/// Predictors by digest: equal bytes are loaded once, whichever refs name them.
#[derive(Default)]
pub struct PredictorCache {
    entries: Mutex<Vec<(Digest, Arc<dyn Predictor>)>>,
}

impl PredictorCache {
    pub fn get(&self, digest: &Digest) -> Option<Arc<dyn Predictor>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, p)| p.clone())
    }

    pub fn insert(&self, digest: Digest, predictor: Arc<dyn Predictor>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(d, _)| *d != digest);
        if entries.len() >= MAX_CACHED_PREDICTORS {
            entries.remove(0);
        }
        entries.push((digest, predictor));
    }
}

/// Loads `bytes` (already verified: the version's served artifact) on the blocking pool.
pub async fn load_predictor(
    version: &Version,
    bytes: bytes::Bytes,
) -> Result<Arc<dyn Predictor>, ServeError> {
    let format = super::source::served_artifact(version)?.format;
    let signature = version.signature.clone();
    tokio::task::spawn_blocking(move || runtime::load(&format, &bytes, signature.as_ref()))
        .await
        .map_err(|e| ServeError::Upstream(format!("model loading task failed: {e}")))?
        .map_err(ServeError::from)
}
