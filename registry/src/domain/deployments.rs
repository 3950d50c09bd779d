//! Deployments' rules: what a deployment may say (labels, a canary only where traffic is
//! split, on the same model), and the state computed from what its ref names and what its
//! instances report. No I/O: the service loads the rows and the clock and asks here.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use capstan_client::types::{
    DeploymentPattern, DeploymentState, InstanceStatus, PutDeployment, VersionDigest, MAX_LABELS,
    MAX_LABEL_KEY_LEN, MAX_LABEL_VALUE_LEN,
};
use capstan_client::Digest;

use super::error::{DomainError, DomainResult};
use super::metadata::check_text;

/// How many heartbeat intervals an instance may miss before it is stale.
pub const STALE_AFTER_HEARTBEATS: u32 = 3;

/// Checks a create-or-replace body beyond what its types enforce.
pub fn check_deployment(spec: &PutDeployment) -> DomainResult<()> {
    check_text("description", spec.description.as_deref())?;
    if let Some(labels) = &spec.labels {
        check_labels(labels)?;
    }
    if let Some(canary) = &spec.canary {
        if spec.pattern != DeploymentPattern::Api {
            return Err(DomainError::CanaryNeedsApi {
                pattern: spec.pattern,
            });
        }
        if canary.model.model != spec.model.model {
            return Err(DomainError::CanaryOtherModel {
                model: spec.model.model.to_string(),
                canary: canary.model.model.to_string(),
            });
        }
        if canary.percent > 100 {
            return Err(DomainError::InvalidPercent {
                percent: canary.percent,
            });
        }
    }
    Ok(())
}

/// A batch job (or schedule) may run for `deployment` only when it is a batch deployment
/// of the job's model.
pub fn check_job_deployment(
    deployment: &str,
    pattern: DeploymentPattern,
    model: &str,
    job_model: &str,
) -> DomainResult<()> {
    if pattern != DeploymentPattern::Batch {
        return Err(DomainError::DeploymentNotBatch {
            deployment: deployment.to_owned(),
            pattern,
        });
    }
    if model != job_model {
        return Err(DomainError::DeploymentOtherModel {
            deployment: deployment.to_owned(),
            model: model.to_owned(),
            job_model: job_model.to_owned(),
        });
    }
    Ok(())
}

/// Label keys are 1–63 characters of `A-Z a-z 0-9 . _ - /`, starting with a letter or digit
/// (like Kubernetes'); values are up to 256 characters without control characters.
pub fn check_labels(labels: &BTreeMap<String, String>) -> DomainResult<()> {
    if labels.len() > MAX_LABELS {
        return Err(DomainError::TooManyLabels {
            count: labels.len(),
        });
    }
    for (key, value) in labels {
        let key_ok = !key.is_empty()
            && key.len() <= MAX_LABEL_KEY_LEN
            && key.as_bytes()[0].is_ascii_alphanumeric()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
        let value_ok = value.len() <= MAX_LABEL_VALUE_LEN && !value.chars().any(|c| c.is_control());
        if !key_ok || !value_ok {
            return Err(DomainError::InvalidDeploymentLabel {
                key: key.chars().take(64).collect(),
            });
        }
    }
    Ok(())
}

/// An instance's last report, as the state rules read it.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub id: &'a str,
    pub version: Option<i64>,
    pub digest: Option<&'a Digest>,
    pub canary: Option<&'a VersionDigest>,
    pub status: InstanceStatus,
    pub detail: Option<&'a str>,
    pub stale: bool,
}

/// What the deployment should run, and since when.
#[derive(Debug, Clone)]
pub struct Desired<'a> {
    /// What the main ref names; `None` when it names no ready version.
    pub main: Option<&'a VersionDigest>,
    /// The canary's ref and what it names, when the deployment has a canary.
    pub canary: Option<Option<&'a VersionDigest>>,
    /// When the ref or canary last changed what it names.
    pub since: DateTime<Utc>,
}

/// The computed state, and a sentence saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub state: DeploymentState,
    pub reason: String,
}

/// Whether an instance last seen at `last_seen` has missed three heartbeats at `now`.
pub fn is_stale(last_seen: DateTime<Utc>, now: DateTime<Utc>, heartbeat: Duration) -> bool {
    let limit = heartbeat * STALE_AFTER_HEARTBEATS;
    (now - last_seen)
        .to_std()
        .is_ok_and(|silent| silent > limit)
}

fn describe(version: Option<i64>) -> String {
    version.map_or_else(|| "no version".to_owned(), |v| format!("version {v}"))
}

/// Why `instance` does not run what is desired, or `None` when it does.
fn mismatch(instance: &Observed<'_>, desired: &Desired<'_>) -> Option<String> {
    let Some(main) = desired.main else {
        return Some("the ref names no ready version".to_owned());
    };
    if instance.digest != Some(&main.digest) {
        return Some(format!(
            "instance {} serves {}, not version {}",
            instance.id,
            describe(instance.version),
            main.version
        ));
    }
    match (desired.canary, instance.canary) {
        (None, None) => None,
        (None, Some(canary)) => Some(format!(
            "instance {} still sends traffic to canary version {}",
            instance.id, canary.version
        )),
        (Some(None), _) => Some("the canary ref names no ready version".to_owned()),
        (Some(Some(wanted)), Some(canary)) if canary.digest == wanted.digest => None,
        (Some(Some(wanted)), other) => Some(format!(
            "instance {} serves canary {}, not version {}",
            instance.id,
            describe(other.map(|c| c.version)),
            wanted.version
        )),
    }
}

/// The state of a deployment at `now`, from what is desired and what the instances report:
///
/// - `no_instances`: no instance is live (stale ones are shown but not counted);
/// - `in_sync`: every live instance serves the desired digest (and the canary's), at once,
///   even inside the grace period;
/// - `drifted`: a live instance failed to load, or still differs once `grace` has passed
///   since the desired version changed;
/// - `rolling_out`: some live instance still differs, within the grace period.
pub fn evaluate(
    desired: &Desired<'_>,
    instances: &[Observed<'_>],
    now: DateTime<Utc>,
    grace: Duration,
) -> Verdict {
    let live: Vec<&Observed<'_>> = instances.iter().filter(|i| !i.stale).collect();
    if live.is_empty() {
        let stale = instances.len();
        return Verdict {
            state: DeploymentState::NoInstances,
            reason: if stale == 0 {
                "no instance has reported".to_owned()
            } else {
                format!("no live instance ({stale} stale)")
            },
        };
    }
    if let Some(failed) = live.iter().find(|i| i.status == InstanceStatus::Failed) {
        return Verdict {
            state: DeploymentState::Drifted,
            reason: format!(
                "instance {} failed to load: {}",
                failed.id,
                failed.detail.unwrap_or("no detail given")
            ),
        };
    }
    let differing: Vec<String> = live
        .iter()
        .filter_map(|instance| match instance.status {
            InstanceStatus::Loading => Some(format!("instance {} is loading", instance.id)),
            _ => mismatch(instance, desired),
        })
        .collect();
    if differing.is_empty() {
        let version = desired.main.map_or(0, |m| m.version);
        return Verdict {
            state: DeploymentState::InSync,
            reason: format!(
                "{} of {} live instances serve version {version}",
                live.len(),
                live.len()
            ),
        };
    }
    let within_grace = (now - desired.since)
        .to_std()
        .map_or(true, |elapsed| elapsed < grace);
    let state = if within_grace {
        DeploymentState::RollingOut
    } else {
        DeploymentState::Drifted
    };
    let mut reason = differing[0].clone();
    if differing.len() > 1 {
        reason.push_str(&format!(" (and {} more)", differing.len() - 1));
    }
    Verdict { state, reason }
}

#[cfg(test)]
#[path = "deployments_tests.rs"]
mod tests;
