//! A model server following a deployment (pattern 2 driven by the control plane): it
//! serves the deployment's ref and canary, splits traffic by the canary's percent, follows
//! changes to the deployment itself (its events on the model's stream wake it at once; a
//! heartbeat re-reads it anyway), and reports what it runs — at start, on every swap or
//! failed load, and every heartbeat.
//!
//! Reports that fail (the registry is down) are logged and retried on the next beat:
//! serving never waits for the control plane.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use capstan_client::http::Client;
use capstan_client::types::{Deployment, InstanceReport, InstanceStatus, VersionDigest};
use capstan_client::{ModelName, ModelRef};

use super::table::ServedRefs;
use super::traffic::{Split, Traffic};

/// Wakes the follower when the event stream carries a change to its deployment.
#[derive(Clone)]
pub struct DeploymentSignal {
    pub name: ModelName,
    pub notify: Arc<Notify>,
}

/// What a deployment says to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub main: ModelRef,
    pub canary: Option<(ModelRef, u8)>,
}

impl Plan {
    pub fn of(deployment: &Deployment) -> anyhow::Result<Self> {
        let main: ModelRef = deployment.model.parse()?;
        let canary = match &deployment.canary {
            Some(canary) => Some((canary.model.parse()?, canary.percent)),
            None => None,
        };
        Ok(Self { main, canary })
    }

    /// The refs to keep loaded: the main ref first (the V2 default).
    pub fn refs(&self) -> Vec<ModelRef> {
        std::iter::once(self.main.clone())
            .chain(self.canary.as_ref().map(|(r, _)| r.clone()))
            .collect()
    }
}

pub struct DeploymentFollower {
    pub client: Client,
    pub name: ModelName,
    pub instance: ModelName,
    pub refs: Arc<ServedRefs>,
    pub traffic: Arc<Traffic>,
    pub signal: DeploymentSignal,
}

impl DeploymentFollower {
    /// Serves what `deployment` says: a new canary is loaded before it gets traffic; a
    /// removed one stops getting traffic before it is dropped.
    pub async fn apply(&self, plan: &Plan) {
        let split = plan.canary.as_ref().map(|(canary, percent)| Split {
            main: plan.main.clone(),
            canary: canary.clone(),
            percent: *percent,
        });
        if split.is_none() {
            self.traffic.set(None);
        }
        self.refs.set_configured(plan.refs()).await;
        if split.is_some() {
            self.traffic.set(split);
        }
    }

    /// What this instance runs now, as the registry wants it reported.
    fn observe(&self, plan: &Plan) -> InstanceReport {
        let main = self.refs.loaded(&plan.main);
        let canary = plan.canary.as_ref().map(|(r, _)| (r, self.refs.loaded(r)));
        let failure = std::iter::once(&plan.main)
            .chain(plan.canary.as_ref().map(|(r, _)| r))
            .find_map(|r| {
                self.refs
                    .failure(r)
                    .map(|why| format!("cannot load {r}: {why}"))
            });
        let status = if failure.is_some() {
            InstanceStatus::Failed
        } else if main.is_none() || canary.as_ref().is_some_and(|(_, c)| c.is_none()) {
            InstanceStatus::Loading
        } else {
            InstanceStatus::Serving
        };
        InstanceReport {
            version: main.as_ref().map(|m| m.version),
            digest: main.as_ref().map(|m| m.digest),
            canary: canary.and_then(|(_, c)| c).map(|c| VersionDigest {
                version: c.version,
                digest: c.digest,
            }),
            status,
            detail: failure,
        }
    }

    async fn report(&self, plan: &Plan) {
        let report = self.observe(plan);
        if let Err(error) = self
            .client
            .report_instance(&self.name, &self.instance, &report)
            .await
        {
            tracing::warn!(deployment = %self.name, %error, "cannot report to the registry; retrying at the next heartbeat");
        }
    }

    /// Follows the deployment until the process ends, starting from `plan` (applied).
    pub async fn run(self, mut plan: Plan, mut heartbeat: Duration) {
        let mut swaps = self.refs.swaps();
        self.report(&plan).await;
        loop {
            let reread = tokio::select! {
                () = self.signal.notify.notified() => true,
                changed = swaps.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    false
                }
                () = tokio::time::sleep(heartbeat) => true,
            };
            if reread {
                match self.client.get_deployment(&self.name).await {
                    Ok(deployment) => {
                        heartbeat = Duration::from_millis(deployment.heartbeat_ms.max(100));
                        match Plan::of(&deployment) {
                            Ok(next) if next != plan => {
                                tracing::info!(deployment = %self.name, model = %next.main, canary = ?next.canary, "the deployment changed; applying it");
                                self.apply(&next).await;
                                plan = next;
                            }
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(deployment = %self.name, %error, "the deployment names refs this server cannot read")
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(deployment = %self.name, %error, "cannot read the deployment; still serving what it said last")
                    }
                }
                // Moves of a model this server's event stream does not follow (the
                // deployment switched models) are caught here.
                self.refs.refresh_model(&plan.main.model).await;
            }
            swaps.borrow_and_update();
            self.report(&plan).await;
        }
    }
}
