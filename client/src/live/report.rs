//! Reporting a live model to its deployment (the control plane): what it serves, at
//! start, at once on every swap or failed load, and every heartbeat. A report that fails
//! (the registry is down) is simply sent again at the next beat: predictions never wait
//! for the control plane.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::follow::Shared;
use super::LiveUpdate;
use crate::http::Client;
use crate::names::ModelName;
use crate::types::{InstanceReport, InstanceStatus};

/// Where and as whom a live model reports.
#[derive(Clone, Debug)]
pub(crate) struct Reporting {
    pub deployment: ModelName,
    pub instance: ModelName,
    pub heartbeat: Duration,
}

/// Reports until the live model is dropped (the task is aborted with it).
pub(crate) async fn report(client: Client, reporting: Reporting, shared: Arc<Shared>) {
    let mut current = shared.current.subscribe();
    let mut updates = shared.updates.subscribe();
    let mut failure: Option<String> = None;
    loop {
        let loaded = current.borrow_and_update().clone();
        let report = InstanceReport {
            version: Some(loaded.version),
            digest: Some(loaded.digest),
            canary: None,
            status: if failure.is_some() {
                InstanceStatus::Failed
            } else {
                InstanceStatus::Serving
            },
            detail: failure.clone(),
        };
        // Errors are retried at the next beat.
        let _ = client
            .report_instance(&reporting.deployment, &reporting.instance, &report)
            .await;
        let deadline = tokio::time::Instant::now() + reporting.heartbeat;
        loop {
            tokio::select! {
                changed = current.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    failure = None;
                    break;
                }
                update = updates.recv() => match update {
                    Ok(LiveUpdate::Failed { version: Some(version), error, .. }) => {
                        failure = Some(format!("cannot load version {version}: {error}"));
                        break;
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
    }
}
