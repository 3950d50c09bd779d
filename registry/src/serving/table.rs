//! The served refs: `(model, ref) → loaded model`, in memory. Requests read it; only the
//! watcher (and first use, in lazy mode) writes it. Swapping an entry replaces an `Arc`,
//! so a request that already holds the old model finishes on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use capstan_client::{ModelName, ModelRef, Stage, VersionRef};

use super::model::{load_predictor, LoadedModel, PredictorCache};
use super::source::VersionLoader;
use super::ServeError;

/// How refs get into the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableMode {
    /// Any ref of any model, loaded on first use (the registry serving its own models).
    Lazy,
    /// Only the refs the process was started with (the model server).
    Fixed,
}

type Key = (ModelName, String);

pub struct ServedRefs {
    source: Arc<dyn VersionLoader>,
    cache: PredictorCache,
    mode: TableMode,
    entries: RwLock<HashMap<Key, Arc<LoadedModel>>>,
    /// In fixed mode, what is served; a model server following a deployment changes it.
    configured: RwLock<Vec<ModelRef>>,
    failures: Mutex<HashMap<String, String>>,
    /// Counts swaps to another digest and new load failures.
    swapped: watch::Sender<u64>,
}

impl ServedRefs {
    pub fn new(source: Arc<dyn VersionLoader>, mode: TableMode, configured: Vec<ModelRef>) -> Self {
        Self {
            source,
            cache: PredictorCache::default(),
            mode,
            entries: RwLock::new(HashMap::new()),
            configured: RwLock::new(configured),
            failures: Mutex::new(HashMap::new()),
            swapped: watch::Sender::new(0),
        }
    }

    /// The refs served in fixed mode.
    pub fn configured(&self) -> Vec<ModelRef> {
        self.configured
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Serves `refs` from now on (fixed mode): loads those not loaded yet, then drops the
    /// entries and failures of refs no longer served. Refs that fail to load are recorded
    /// and retried by the watcher.
    pub async fn set_configured(&self, refs: Vec<ModelRef>) {
        for reference in &refs {
            let key = Self::key(&reference.model, &reference.version);
            if self.lookup(&key).is_none() {
                if let Err(error) = self.load(&reference.model, &reference.version).await {
                    self.record_failure(reference.to_string(), &error);
                }
            }
        }
        let keep: Vec<Key> = refs
            .iter()
            .map(|r| Self::key(&r.model, &r.version))
            .collect();
        *self.configured.write().unwrap_or_else(|p| p.into_inner()) = refs;
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|key, _| keep.contains(key));
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|reference, _| keep.iter().any(|(m, r)| *reference == format!("{m}@{r}")));
    }

    /// Changes whenever a served ref swaps to another digest or fails to load.
    pub fn swaps(&self) -> watch::Receiver<u64> {
        self.swapped.subscribe()
    }

    fn note_swap(&self) {
        self.swapped.send_modify(|n| *n += 1);
    }

    /// The model serving `reference` now, from memory only.
    pub fn loaded(&self, reference: &ModelRef) -> Option<Arc<LoadedModel>> {
        self.lookup(&Self::key(&reference.model, &reference.version))
    }

    /// Why `reference` last failed to load, until it loads.
    pub fn failure(&self, reference: &ModelRef) -> Option<String> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&reference.to_string())
            .cloned()
    }

    pub fn mode(&self) -> TableMode {
        self.mode
    }

    fn key(name: &ModelName, reference: &VersionRef) -> Key {
        (name.clone(), reference.to_string())
    }

    fn lookup(&self, key: &Key) -> Option<Arc<LoadedModel>> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// The model serving `name@reference`, from memory; in lazy mode a miss loads it.
    pub async fn get(
        &self,
        name: &ModelName,
        reference: &VersionRef,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        if let Some(model) = self.lookup(&Self::key(name, reference)) {
            return Ok(model);
        }
        match self.mode {
            TableMode::Lazy => self.load(name, reference).await,
            TableMode::Fixed => self.fixed_match(name, reference),
        }
    }

    /// In fixed mode a version number matches whichever served ref currently holds it.
    fn fixed_match(
        &self,
        name: &ModelName,
        reference: &VersionRef,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let found = entries.iter().find(|((model, _), loaded)| {
            model == name
                && match reference {
                    VersionRef::Number(n) => loaded.version == *n,
                    _ => false,
                }
        });
        found.map(|(_, loaded)| loaded.clone()).ok_or_else(|| {
            let served: Vec<String> = self.configured().iter().map(ToString::to_string).collect();
            ServeError::NotServed(format!(
                "{name}@{reference} is not served here; this model server serves {}",
                served.join(", ")
            ))
        })
    }

    /// The default ref of a model for endpoints that name no version (Open Inference
    /// Protocol): the first configured ref in fixed mode; production, else latest, in lazy.
    pub async fn default_for(&self, name: &ModelName) -> Result<Arc<LoadedModel>, ServeError> {
        match self.mode {
            TableMode::Fixed => {
                let reference = self
                    .configured()
                    .into_iter()
                    .find(|r| &r.model == name)
                    .ok_or_else(|| {
                        ServeError::NotServed(format!("model {name} is not served here"))
                    })?;
                self.get(name, &reference.version).await
            }
            TableMode::Lazy => match self.get(name, &VersionRef::Stage(Stage::Production)).await {
                Err(ServeError::Registry(e)) if e.problem().status == 404 => {
                    self.get(name, &VersionRef::Latest).await
                }
                other => other,
            },
        }
    }

    /// Resolves and loads `name@reference` and puts it in the table.
    pub async fn load(
        &self,
        name: &ModelName,
        reference: &VersionRef,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        let version = self.source.resolve(name, reference).await?;
        let digest = version.digest.ok_or_else(|| {
            ServeError::NotServed(format!(
                "{name}@{reference} is version {}, which has no artifact yet",
                version.version
            ))
        })?;
        let served = super::source::served_artifact(&version)?;
        let predictor = match self.cache.get(&served.digest) {
            Some(predictor) => predictor,
            None => {
                let bytes = self.source.fetch(&version).await?;
                let predictor = load_predictor(&version, bytes).await?;
                self.cache.insert(served.digest, predictor.clone());
                predictor
            }
        };
        let loaded = Arc::new(LoadedModel {
            name: name.clone(),
            version: version.version,
            digest,
            format: version.format.clone(),
            predictor,
        });
        let previous = self
            .entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(Self::key(name, reference), loaded.clone());
        let failed = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&format!("{name}@{reference}"))
            .is_some();
        if previous.as_ref().is_none_or(|p| p.digest != loaded.digest) {
            tracing::info!(model = %name, reference = %reference, version = loaded.version, digest = %loaded.digest, "serving");
            self.note_swap();
        } else if failed {
            self.note_swap();
        }
        Ok(loaded)
    }

    /// Loads every configured ref (model-server start-up). Failures are reported and
    /// retried by the watcher.
    pub async fn load_configured(&self) {
        for reference in &self.configured() {
            if let Err(error) = self.load(&reference.model, &reference.version).await {
                self.record_failure(reference.to_string(), &error);
            }
        }
    }

    /// Re-resolves every served ref of `name`; a ref that moved is loaded and swapped in.
    /// If loading fails the old model keeps serving and the failure is recorded.
    pub async fn refresh_model(&self, name: &ModelName) {
        let mut references: Vec<String> = {
            let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
            entries
                .keys()
                .filter(|(model, _)| model == name)
                .map(|(_, r)| r.clone())
                .collect()
        };
        references.extend(
            self.configured()
                .iter()
                .filter(|r| &r.model == name)
                .map(|r| r.version.to_string()),
        );
        references.sort();
        references.dedup();
        for text in references {
            let Ok(reference) = VersionRef::parse(&text) else {
                continue;
            };
            self.refresh_ref(name, &reference).await;
        }
    }

    async fn refresh_ref(&self, name: &ModelName, reference: &VersionRef) {
        let key = Self::key(name, reference);
        let current = self.lookup(&key);
        let resolved = match self.source.resolve(name, reference).await {
            Ok(version) => version,
            Err(error) => {
                if self.mode == TableMode::Lazy
                    && matches!(&error, ServeError::Registry(e) if e.problem().status == 404)
                {
                    // The ref no longer names a version (stage emptied, model deleted).
                    self.entries
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&key);
                } else {
                    self.record_failure(format!("{name}@{reference}"), &error);
                }
                return;
            }
        };
        if current
            .as_ref()
            .is_some_and(|c| Some(c.digest) == resolved.digest && c.version == resolved.version)
        {
            return;
        }
        if let Err(error) = self.load(name, reference).await {
            self.record_failure(format!("{name}@{reference}"), &error);
        }
    }

    pub async fn refresh_all(&self) {
        let mut names: Vec<ModelName> = {
            let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
            entries.keys().map(|(model, _)| model.clone()).collect()
        };
        names.extend(self.configured().iter().map(|r| r.model.clone()));
        names.sort();
        names.dedup();
        for name in names {
            self.refresh_model(&name).await;
        }
    }

    fn record_failure(&self, reference: String, error: &ServeError) {
        tracing::warn!(%reference, %error, "could not load a new version; still serving the previous one");
        let previous = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(reference, error.to_string());
        if previous.is_none_or(|p| p != error.to_string()) {
            self.note_swap();
        }
    }

    /// Load failures not yet resolved, by ref.
    pub fn failures(&self) -> HashMap<String, String> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether every configured ref has a model loaded.
    pub fn all_configured_loaded(&self) -> bool {
        self.configured()
            .iter()
            .all(|r| self.lookup(&Self::key(&r.model, &r.version)).is_some())
    }

    /// What is served now: `(ref, model)` pairs.
    pub fn served(&self) -> Vec<(String, Arc<LoadedModel>)> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let mut served: Vec<_> = entries
            .iter()
            .map(|((model, reference), loaded)| (format!("{model}@{reference}"), loaded.clone()))
            .collect();
        served.sort_by(|a, b| a.0.cmp(&b.0));
        served
    }
}
