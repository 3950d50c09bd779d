//! Parsed manifests, kept: a manifest is named by its digest and never changes, and every
//! file of a tree sent or fetched needs its version's manifest. Reading and checking a
//! 10 000-file manifest for each of its files made pushes and pulls quadratic.

use std::sync::{Arc, Mutex};

use capstan_client::manifest::Manifest;
use capstan_client::Digest;

/// How many manifests are kept (the trees being pushed or pulled at once).
const CACHED_MANIFESTS: usize = 8;

#[derive(Default)]
pub(crate) struct ManifestCache {
    /// Most recently used last.
    entries: Mutex<Vec<(Digest, Arc<Manifest>)>>,
}

impl ManifestCache {
    pub(crate) fn get(&self, digest: &Digest) -> Option<Arc<Manifest>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let at = entries.iter().position(|(d, _)| d == digest)?;
        let entry = entries.remove(at);
        let manifest = entry.1.clone();
        entries.push(entry);
        Some(manifest)
    }

    pub(crate) fn insert(&self, digest: Digest, manifest: Arc<Manifest>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(d, _)| *d != digest);
        if entries.len() >= CACHED_MANIFESTS {
            entries.remove(0);
        }
        entries.push((digest, manifest));
    }
}
