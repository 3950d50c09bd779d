//! The control plane's background work: the loop that records deployment state
//! transitions (`deployment_state_changed`) as time passes — a grace period running out,
//! an instance going silent, a promotion moving a deployment's ref. Reports and edits
//! record their own transitions at once; this catches the ones no request causes.
//!
//! Among replicas, the holder of the `deployment-states` lease (the relays' lease table)
//! does the work; the store's conditional update makes each transition one event even if
//! two replicas judged at once. It reaches data only through `Registry`.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::service::Registry;

/// The lease's name among the relays' leases.
const LEASE: &str = "deployment-states";

/// How the recorder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderConfig {
    /// How often deployments are judged.
    pub interval: Duration,
    /// How long the lease lasts without renewal.
    pub lease: Duration,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            lease: Duration::from_secs(10),
        }
    }
}

/// Judges every deployment each `interval` while this replica holds the lease, until
/// `stop`; gives the lease up on the way out.
pub async fn run(registry: Registry, config: RecorderConfig, stop: CancellationToken) {
    let holder = format!(
        "{}/{}/{}",
        hostname(),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    if let Err(error) = registry.register_relay(LEASE, 0).await {
        tracing::warn!(%error, "cannot register the deployment-state lease; retrying on each round");
    }
    let mut holding = false;
    while !stop.is_cancelled() {
        match registry
            .acquire_relay_lease(LEASE, &holder, config.lease)
            .await
        {
            Ok(true) => {
                holding = true;
                if let Err(error) = registry.record_deployment_states().await {
                    tracing::warn!(%error, "cannot record deployment states; retrying");
                }
            }
            Ok(false) => holding = false,
            Err(error) => {
                tracing::warn!(%error, "cannot take the deployment-state lease; retrying");
                let _ = registry.register_relay(LEASE, 0).await;
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(config.interval) => {}
        }
    }
    if holding {
        if let Err(error) = registry.release_relay_lease(LEASE, &holder).await {
            tracing::warn!(%error, "cannot give the deployment-state lease up; it expires by itself");
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}
