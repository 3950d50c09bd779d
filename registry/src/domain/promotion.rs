//! Governed promotion's rules, no I/O: what makes a promotion policy acceptable, whether a
//! version meets the rule of the stage or alias it is promoted to, who may approve a
//! promotion request and when a request can still be decided. (Which versions may hold a
//! pointer at all — ready, not archived — is `policy.rs`.)

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use capstan_client::types::promotion::{MAX_ALIAS_RULES, MAX_METRIC_RULES};
use capstan_client::types::{
    PromotionPolicy, PromotionRule, PromotionStatus, PromotionTarget, MAX_APPROVALS,
};
use capstan_client::{AliasName, Stage};

use super::{DomainError, DomainResult};

/// Longest metric name a rule may name.
const MAX_METRIC_NAME_LEN: usize = 128;

fn invalid(reason: String) -> DomainError {
    DomainError::InvalidPolicy { reason }
}

/// A policy is acceptable when every alias it names is a valid alias, every threshold is
/// finite (and `min` ≤ `max`), every metric name is 1–128 printable characters and no rule
/// asks for more than [`MAX_APPROVALS`].
pub fn check_policy(policy: &PromotionPolicy) -> DomainResult<()> {
    if policy.aliases.len() > MAX_ALIAS_RULES {
        return Err(invalid(format!(
            "at most {MAX_ALIAS_RULES} aliases, got {}",
            policy.aliases.len()
        )));
    }
    for (stage, rule) in &policy.stages {
        check_rule(stage.as_str(), rule)?;
        if rule.from == Some(*stage) {
            return Err(invalid(format!("{stage}: `from` names the stage itself")));
        }
    }
    for (alias, rule) in &policy.aliases {
        let shown: String = alias.chars().take(64).collect();
        AliasName::parse(alias).map_err(|e| invalid(format!("alias {shown:?}: {e}")))?;
        check_rule(&format!("alias {alias}"), rule)?;
    }
    Ok(())
}

fn check_rule(pointer: &str, rule: &PromotionRule) -> DomainResult<()> {
    if rule.approvals > MAX_APPROVALS {
        return Err(invalid(format!(
            "{pointer}: approvals must be 0–{MAX_APPROVALS}, got {}",
            rule.approvals
        )));
    }
    if rule.metrics.len() > MAX_METRIC_RULES {
        return Err(invalid(format!(
            "{pointer}: at most {MAX_METRIC_RULES} metric thresholds"
        )));
    }
    for (metric, bound) in &rule.metrics {
        let printable = !metric.is_empty()
            && metric.chars().count() <= MAX_METRIC_NAME_LEN
            && !metric.chars().any(char::is_control);
        if !printable {
            let shown: String = metric.chars().take(64).collect();
            return Err(invalid(format!(
                "{pointer}: metric name {shown:?} must be 1–{MAX_METRIC_NAME_LEN} printable characters"
            )));
        }
        for (name, value) in [("min", bound.min), ("max", bound.max)] {
            if value.is_some_and(|v| !v.is_finite()) {
                return Err(invalid(format!(
                    "{pointer}: {metric} {name} must be a finite number"
                )));
            }
        }
        if bound.min.is_none() && bound.max.is_none() {
            return Err(invalid(format!(
                "{pointer}: {metric} needs `min`, `max` or both"
            )));
        }
        if let (Some(min), Some(max)) = (bound.min, bound.max) {
            if min > max {
                return Err(invalid(format!(
                    "{pointer}: {metric} min {min} is above its max {max}"
                )));
            }
        }
    }
    Ok(())
}

/// The rule `policy` has for `target`, if any.
pub fn rule_for<'a>(
    policy: &'a PromotionPolicy,
    target: &PromotionTarget,
) -> Option<&'a PromotionRule> {
    match target {
        PromotionTarget::Stage(stage) => policy.stages.get(stage),
        PromotionTarget::Alias(alias) => policy.aliases.get(alias.as_str()),
    }
}

/// How a target reads in messages: `production`, `alias champion`.
pub fn describe_target(target: &PromotionTarget) -> String {
    match target {
        PromotionTarget::Stage(stage) => stage.as_str().to_owned(),
        PromotionTarget::Alias(alias) => format!("alias {alias}"),
    }
}

/// What a rule reads of the version being promoted.
pub struct Candidate<'a> {
    pub version: i64,
    pub metrics: &'a BTreeMap<String, f64>,
    /// The stages the version holds now.
    pub stages: &'a [Stage],
    /// A rollback: the version held the target before, which is what `from` asks, so
    /// `from` is not checked (the previous holder has usually left the `from` stage).
    pub rollback: bool,
}

/// Whether `candidate` meets `rule` for `target`; a refusal names every broken rule
/// with the values it read.
pub fn check_candidate(
    rule: &PromotionRule,
    target: &PromotionTarget,
    candidate: &Candidate<'_>,
) -> DomainResult<()> {
    let pointer = describe_target(target);
    let mut violations = Vec::new();
    if let Some(from) = rule.from.filter(|_| !candidate.rollback) {
        if !candidate.stages.contains(&from) {
            violations.push(format!(
                "version {} does not hold {from}, which {pointer} requires",
                candidate.version
            ));
        }
    }
    for (metric, bound) in &rule.metrics {
        let Some(&value) = candidate.metrics.get(metric) else {
            violations.push(format!("metric {metric} is missing; {pointer} requires it"));
            continue;
        };
        if let Some(min) = bound.min {
            if value.is_nan() || value < min {
                violations.push(format!(
                    "{metric} {value} is below the minimum {min} required for {pointer}"
                ));
            }
        }
        if let Some(max) = bound.max {
            if value.is_nan() || value > max {
                violations.push(format!(
                    "{metric} {value} is above the maximum {max} allowed for {pointer}"
                ));
            }
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(DomainError::PolicyViolation {
            version: candidate.version,
            target: pointer,
            violations,
        })
    }
}

/// The status a stored request reads as at `now`: a pending one past its expiry is
/// `expired`.
pub fn effective_status(
    stored: PromotionStatus,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> PromotionStatus {
    if stored == PromotionStatus::Pending && expires_at <= now {
        PromotionStatus::Expired
    } else {
        stored
    }
}

/// A request can be approved or rejected only while it is pending (not expired).
pub fn check_decidable(id: &str, status: PromotionStatus) -> DomainResult<()> {
    match status {
        PromotionStatus::Pending => Ok(()),
        PromotionStatus::Expired => Err(DomainError::RequestExpired { id: id.to_owned() }),
        status => Err(DomainError::RequestNotPending {
            id: id.to_owned(),
            status,
        }),
    }
}

/// Four eyes: the requester may not approve their own request, and nobody approves twice.
pub fn check_approver(
    requested_by: &str,
    approver: &str,
    approved_by: &[&str],
) -> DomainResult<()> {
    if approver == requested_by {
        return Err(DomainError::SelfApproval {
            requester: requested_by.to_owned(),
        });
    }
    if approved_by.contains(&approver) {
        return Err(DomainError::AlreadyApproved {
            approver: approver.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use capstan_client::types::MetricBound;

    use super::*;

    fn production_rule() -> PromotionRule {
        PromotionRule {
            from: Some(Stage::Staging),
            metrics: BTreeMap::from([
                (
                    "accuracy".to_owned(),
                    MetricBound {
                        min: Some(0.95),
                        max: None,
                    },
                ),
                (
                    "latency_ms".to_owned(),
                    MetricBound {
                        min: None,
                        max: Some(20.0),
                    },
                ),
            ]),
            approvals: 1,
        }
    }

    const PRODUCTION: PromotionTarget = PromotionTarget::Stage(Stage::Production);

    #[test]
    fn a_version_meeting_every_rule_passes() {
        let metrics = BTreeMap::from([("accuracy".into(), 0.97), ("latency_ms".into(), 20.0)]);
        let candidate = Candidate {
            version: 3,
            metrics: &metrics,
            stages: &[Stage::Staging],
            rollback: false,
        };
        assert!(check_candidate(&production_rule(), &PRODUCTION, &candidate).is_ok());
        // A rollback to a previous holder that left staging is judged on its metrics only.
        let candidate = Candidate {
            stages: &[],
            rollback: true,
            ..candidate
        };
        assert!(check_candidate(&production_rule(), &PRODUCTION, &candidate).is_ok());
    }

    #[test]
    fn each_broken_rule_is_named_with_its_values() {
        let metrics = BTreeMap::from([("accuracy".into(), 0.93)]);
        let candidate = Candidate {
            version: 3,
            metrics: &metrics,
            stages: &[],
            rollback: false,
        };
        let error = check_candidate(&production_rule(), &PRODUCTION, &candidate).unwrap_err();
        let DomainError::PolicyViolation { violations, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(
            violations,
            &[
                "version 3 does not hold staging, which production requires".to_owned(),
                "accuracy 0.93 is below the minimum 0.95 required for production".to_owned(),
                "metric latency_ms is missing; production requires it".to_owned(),
            ]
        );
        let metrics = BTreeMap::from([("accuracy".into(), 0.99), ("latency_ms".into(), 21.5)]);
        let candidate = Candidate {
            version: 4,
            metrics: &metrics,
            stages: &[Stage::Staging],
            rollback: false,
        };
        let error = check_candidate(&production_rule(), &PRODUCTION, &candidate).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("latency_ms 21.5 is above the maximum 20 allowed for production"),
            "{error}"
        );
    }

    #[test]
    fn policies_with_bad_thresholds_or_names_are_refused() {
        let mut policy = PromotionPolicy::default();
        policy.stages.insert(Stage::Production, production_rule());
        policy
            .aliases
            .insert("champion".into(), PromotionRule::default());
        assert!(check_policy(&policy).is_ok());

        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut bad_policy = policy.clone();
            bad_policy
                .stages
                .get_mut(&Stage::Production)
                .unwrap()
                .metrics
                .get_mut("accuracy")
                .unwrap()
                .min = Some(bad);
            assert!(check_policy(&bad_policy).is_err(), "{bad}");
        }
        let mut too_many = policy.clone();
        too_many
            .stages
            .get_mut(&Stage::Production)
            .unwrap()
            .approvals = MAX_APPROVALS + 1;
        assert!(check_policy(&too_many).is_err());
        let mut bad_alias = policy.clone();
        bad_alias
            .aliases
            .insert("production".into(), PromotionRule::default());
        assert!(check_policy(&bad_alias).is_err());
        let mut itself = policy.clone();
        itself.stages.get_mut(&Stage::Production).unwrap().from = Some(Stage::Production);
        assert!(check_policy(&itself).is_err());
        let mut inverted = policy;
        inverted
            .stages
            .get_mut(&Stage::Production)
            .unwrap()
            .metrics
            .insert(
                "f1".into(),
                MetricBound {
                    min: Some(0.9),
                    max: Some(0.1),
                },
            );
        assert!(check_policy(&inverted).is_err());
    }

    #[test]
    fn four_eyes_and_decidable_requests() {
        assert!(matches!(
            check_approver("alice", "alice", &[]),
            Err(DomainError::SelfApproval { .. })
        ));
        assert!(matches!(
            check_approver("alice", "bob", &["bob"]),
            Err(DomainError::AlreadyApproved { .. })
        ));
        assert!(check_approver("alice", "bob", &["carol"]).is_ok());

        let at = chrono::DateTime::from_timestamp(1_000, 0)
            .unwrap()
            .naive_utc();
        let later = at + chrono::TimeDelta::seconds(1);
        assert_eq!(
            effective_status(PromotionStatus::Pending, at, later),
            PromotionStatus::Expired
        );
        assert_eq!(
            effective_status(PromotionStatus::Pending, later, at),
            PromotionStatus::Pending
        );
        assert_eq!(
            effective_status(PromotionStatus::Approved, at, later),
            PromotionStatus::Approved
        );
        assert!(check_decidable("r", PromotionStatus::Pending).is_ok());
        assert!(matches!(
            check_decidable("r", PromotionStatus::Expired),
            Err(DomainError::RequestExpired { .. })
        ));
        assert!(matches!(
            check_decidable("r", PromotionStatus::Rejected),
            Err(DomainError::RequestNotPending { .. })
        ));
    }
}
