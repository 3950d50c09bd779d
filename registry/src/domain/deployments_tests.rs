#![allow(clippy::unwrap_used)]

use super::*;
use capstan_client::types::CanarySpec;

const GRACE: Duration = Duration::from_secs(60);

fn digest(byte: u8) -> Digest {
    Digest::parse(&format!("sha256:{}", hex::encode([byte; 32]))).unwrap()
}

fn target(version: i64) -> VersionDigest {
    VersionDigest {
        version,
        digest: digest(version as u8),
    }
}

fn serving<'a>(id: &'a str, target: &'a VersionDigest) -> Observed<'a> {
    Observed {
        id,
        version: Some(target.version),
        digest: Some(&target.digest),
        canary: None,
        status: InstanceStatus::Serving,
        detail: None,
        stale: false,
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn desired(main: &VersionDigest) -> Desired<'_> {
    Desired {
        main: Some(main),
        canary: None,
        since: at(0),
    }
}

#[test]
fn every_live_instance_on_the_desired_digest_is_in_sync_at_once() {
    let v2 = target(2);
    let verdict = evaluate(
        &desired(&v2),
        &[serving("a", &v2), serving("b", &v2)],
        at(1),
        GRACE,
    );
    assert_eq!(verdict.state, DeploymentState::InSync);
    assert_eq!(verdict.reason, "2 of 2 live instances serve version 2");
}

#[test]
fn an_instance_on_the_old_version_is_rolling_out_then_drifted_after_the_grace_period() {
    let (v1, v2) = (target(1), target(2));
    let instances = [serving("a", &v2), serving("b", &v1)];
    let inside = evaluate(&desired(&v2), &instances, at(59), GRACE);
    assert_eq!(inside.state, DeploymentState::RollingOut);
    assert_eq!(inside.reason, "instance b serves version 1, not version 2");
    let after = evaluate(&desired(&v2), &instances, at(61), GRACE);
    assert_eq!(after.state, DeploymentState::Drifted);
    assert_eq!(after.reason, inside.reason);
}

#[test]
fn a_failed_load_is_drifted_even_inside_the_grace_period_and_says_why() {
    let (v1, v2) = (target(1), target(2));
    let mut failed = serving("b", &v1);
    failed.status = InstanceStatus::Failed;
    failed.detail = Some("version 2 is pickle, not servable");
    let verdict = evaluate(&desired(&v2), &[serving("a", &v2), failed], at(1), GRACE);
    assert_eq!(verdict.state, DeploymentState::Drifted);
    assert_eq!(
        verdict.reason,
        "instance b failed to load: version 2 is pickle, not servable"
    );
}

#[test]
fn stale_instances_are_not_counted() {
    let (v1, v2) = (target(1), target(2));
    let mut gone = serving("old", &v1);
    gone.stale = true;
    let only_stale = evaluate(&desired(&v2), std::slice::from_ref(&gone), at(100), GRACE);
    assert_eq!(only_stale.state, DeploymentState::NoInstances);
    assert_eq!(only_stale.reason, "no live instance (1 stale)");
    let verdict = evaluate(&desired(&v2), &[gone, serving("a", &v2)], at(100), GRACE);
    assert_eq!(verdict.state, DeploymentState::InSync);
    assert_eq!(
        evaluate(&desired(&v2), &[], at(0), GRACE).state,
        DeploymentState::NoInstances
    );
}

#[test]
fn staleness_is_three_missed_heartbeats() {
    let beat = Duration::from_secs(10);
    assert!(!is_stale(at(0), at(30), beat));
    assert!(is_stale(at(0), at(31), beat));
    // A clock that runs behind the reporter's is not stale.
    assert!(!is_stale(at(5), at(0), beat));
}

#[test]
fn a_canary_must_be_served_too_and_its_absence_when_none_is_wanted() {
    let (v2, v3) = (target(2), target(3));
    let wanted = Desired {
        main: Some(&v2),
        canary: Some(Some(&v3)),
        since: at(0),
    };
    let mut with_canary = serving("a", &v2);
    with_canary.canary = Some(&v3);
    assert_eq!(
        evaluate(&wanted, std::slice::from_ref(&with_canary), at(100), GRACE).state,
        DeploymentState::InSync
    );
    let verdict = evaluate(&wanted, &[serving("a", &v2)], at(100), GRACE);
    assert_eq!(verdict.state, DeploymentState::Drifted);
    assert_eq!(
        verdict.reason,
        "instance a serves canary no version, not version 3"
    );
    let verdict = evaluate(&desired(&v2), &[with_canary], at(100), GRACE);
    assert_eq!(
        verdict.reason,
        "instance a still sends traffic to canary version 3"
    );
}

#[test]
fn a_ref_that_names_nothing_cannot_be_in_sync() {
    let v1 = target(1);
    let nothing = Desired {
        main: None,
        canary: None,
        since: at(0),
    };
    let verdict = evaluate(&nothing, &[serving("a", &v1)], at(100), GRACE);
    assert_eq!(verdict.state, DeploymentState::Drifted);
    assert_eq!(verdict.reason, "the ref names no ready version");
}

#[test]
fn loading_instances_roll_out_and_more_than_one_difference_is_counted() {
    let (v1, v2) = (target(1), target(2));
    let mut loading = serving("a", &v1);
    loading.status = InstanceStatus::Loading;
    let verdict = evaluate(
        &desired(&v2),
        &[loading, serving("b", &v1), serving("c", &v1)],
        at(5),
        GRACE,
    );
    assert_eq!(verdict.state, DeploymentState::RollingOut);
    assert_eq!(verdict.reason, "instance a is loading (and 2 more)");
}

fn spec(pattern: DeploymentPattern, canary: Option<&str>) -> PutDeployment {
    PutDeployment {
        model: "bc@production".parse().unwrap(),
        pattern,
        description: None,
        labels: None,
        canary: canary.map(|model| CanarySpec {
            model: model.parse().unwrap(),
            percent: 10,
        }),
    }
}

#[test]
fn only_model_servers_split_traffic_and_only_within_one_model() {
    assert!(check_deployment(&spec(DeploymentPattern::Api, Some("bc@canary"))).is_ok());
    assert!(matches!(
        check_deployment(&spec(DeploymentPattern::Stream, Some("bc@canary"))),
        Err(DomainError::CanaryNeedsApi { .. })
    ));
    assert!(matches!(
        check_deployment(&spec(DeploymentPattern::Api, Some("other@canary"))),
        Err(DomainError::CanaryOtherModel { .. })
    ));
    let mut too_much = spec(DeploymentPattern::Api, Some("bc@canary"));
    if let Some(canary) = &mut too_much.canary {
        canary.percent = 101;
    }
    assert!(matches!(
        check_deployment(&too_much),
        Err(DomainError::InvalidPercent { percent: 101 })
    ));
}

#[test]
fn label_keys_and_values_are_checked() {
    let labels = |key: &str, value: &str| BTreeMap::from([(key.to_owned(), value.to_owned())]);
    assert!(check_labels(&labels("team", "fraud")).is_ok());
    assert!(check_labels(&labels("app.kubernetes.io/name", "bc")).is_ok());
    for key in ["", "-x", "a b", "é", &"k".repeat(64)] {
        assert!(check_labels(&labels(key, "v")).is_err(), "{key:?}");
    }
    assert!(check_labels(&labels("k", "line\nbreak")).is_err());
    assert!(check_labels(&labels("k", &"v".repeat(257))).is_err());
}
