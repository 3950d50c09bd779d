//! Keeping served refs current. In the registry, new rows of the event log name the
//! models whose refs may have moved (a local write wakes the watcher at once; the periodic
//! read also catches other replicas' writes). The model server follows its registry's
//! event stream (server-sent events, through the client crate's `live` feed) and keeps a
//! slow poll as a safety net.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use capstan_client::http::Client;
use capstan_client::live::{Backoff, Checkpoint, EventFeed, FeedItem, SseSource};
use capstan_client::ModelName;

use super::deployment::DeploymentSignal;
use super::table::ServedRefs;
use crate::service::Registry;

/// Reads the event log after the last seen `seq` whenever the registry commits a change
/// (or every `interval`), and refreshes the refs of every model mentioned.
pub async fn watch_events(registry: Registry, refs: Arc<ServedRefs>, interval: Duration) {
    let mut changes = registry.changes();
    let mut after = match registry.last_event_seq().await {
        Ok(seq) => seq,
        Err(error) => {
            tracing::error!(%error, "serving watcher cannot read the event log; hot swap disabled");
            return;
        }
    };
    loop {
        tokio::select! {
            () = changes.next() => {}
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

/// Follows the remote registry's events for each of `models` and refreshes that model's
/// served refs on every event that may have moved one, and on every (re)connection (the
/// stream may have missed something meanwhile). Without events a model is re-resolved
/// every `safety_poll`, and sooner — with backoff — while one of its refs fails to load.
///
/// A model server following a deployment passes its `signal`: events that change that
/// deployment (carried on its model's stream) wake the deployment follower.
pub async fn watch_remote(
    refs: Arc<ServedRefs>,
    client: Client,
    models: Vec<ModelName>,
    safety_poll: Duration,
    deployment: Option<DeploymentSignal>,
) {
    let source = Arc::new(SseSource::new(client));
    let mut tasks = tokio::task::JoinSet::new();
    for model in models.into_iter().collect::<BTreeSet<_>>() {
        let feed = EventFeed::new(source.clone(), model.clone(), Checkpoint::default());
        tasks.spawn(follow_model(
            refs.clone(),
            feed,
            model,
            safety_poll,
            deployment.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

async fn follow_model(
    refs: Arc<ServedRefs>,
    mut feed: EventFeed,
    model: ModelName,
    safety_poll: Duration,
    deployment: Option<DeploymentSignal>,
) {
    let mut retry = Backoff::new(Duration::from_millis(500), safety_poll);
    let mut next_check = safety_poll;
    loop {
        let item = tokio::select! {
            item = feed.next() => Some(item),
            () = tokio::time::sleep(next_check) => None,
        };
        let refresh = match item {
            None => true,
            Some(FeedItem::Event(delivery)) => {
                if let (Some(signal), Some(message)) = (&deployment, &delivery.message) {
                    if message.event.deployment.as_deref() == Some(signal.name.as_str()) {
                        signal.notify.notify_one();
                    }
                }
                delivery
                    .message
                    .as_ref()
                    .is_none_or(|m| m.event.kind.moves_refs())
            }
            Some(FeedItem::Connected { resumed_after }) => {
                tracing::info!(%model, source = %feed.source().describe(), ?resumed_after, "following the registry's events");
                true
            }
            Some(FeedItem::Disconnected { error, retry_in }) => {
                tracing::warn!(%model, %error, ?retry_in, "the registry's event stream broke; reconnecting");
                false
            }
        };
        if refresh {
            refs.refresh_model(&model).await;
            let prefix = format!("{model}@");
            next_check = if refs.failures().keys().any(|r| r.starts_with(&prefix)) {
                retry.next_delay()
            } else {
                retry.reset();
                safety_poll
            };
        }
    }
}
