//! Keeping served refs current. In the registry, new rows of the event log name the
//! models whose refs may have moved (a local write wakes the watcher at once; the periodic
//! read also catches other replicas' writes). The model server polls its registry.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use capstan_client::ModelName;

use super::table::ServedRefs;
use crate::service::Registry;

/// Reads the event log after the last seen `seq` whenever the registry commits a change
/// (or every `interval`), and refreshes the refs of every model mentioned.
pub async fn watch_events(registry: Registry, refs: Arc<ServedRefs>, interval: Duration) {
    let mut after = match registry.last_event_seq().await {
        Ok(seq) => seq,
        Err(error) => {
            tracing::error!(%error, "serving watcher cannot read the event log; hot swap disabled");
            return;
        }
    };
    let changes = registry.changes();
    loop {
        tokio::select! {
            () = changes.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
        let events = match registry.events_after(after, 1000).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "serving watcher could not read the event log");
                continue;
            }
        };
        let models: BTreeSet<ModelName> = events.iter().map(|e| e.model.clone()).collect();
        if let Some(last) = events.last() {
            after = last.seq;
        }
        for model in models {
            refs.refresh_model(&model).await;
        }
    }
}

/// Re-resolves every served ref against the remote registry every `interval`.
pub async fn watch_remote(refs: Arc<ServedRefs>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        refs.refresh_all().await;
    }
}
