//! The loop that fires batch schedules: it queues what is due, then sleeps until the
//! earliest next fire time (at most a second, so schedules other replicas created or
//! changed are seen). Every `serve` replica runs one; the store makes each firing happen
//! once.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::service::Registry;

/// The longest sleep between looks at the schedules.
const MAX_SLEEP: Duration = Duration::from_secs(1);

pub async fn run(registry: Registry, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let next = match registry.fire_due_schedules().await {
            Ok(next) => next,
            Err(error) => {
                tracing::warn!(%error, "cannot fire batch schedules; retrying");
                None
            }
        };
        let wait = next
            .and_then(|at| (at - Utc::now()).to_std().ok())
            .map_or(MAX_SLEEP, |wait| wait.min(MAX_SLEEP));
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
