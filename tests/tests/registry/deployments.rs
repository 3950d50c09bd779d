//! Deployments over the API: create, replace, list, delete (each an event), bad input that
//! changes nothing, and the state computed from instance reports — in sync at once,
//! rolling out within the grace period, drifted after it or on a failed load (naming the
//! instance), stale instances not counted — with each transition recorded once as a
//! `deployment_state_changed` event.

use std::time::Duration;

use serde_json::{json, Value};

use capstan_registry::config::DeploymentsConfig;
use capstan_registry::deployments::RecorderConfig;
use capstan_registry::service::deployments::DeploymentSettings;
use capstan_tests::{assert_problem, spawn_app, spawn_with, TestApp, TestOptions};

/// Short enough for tests to watch a grace period end and instances go stale.
pub fn quick_deployments(grace: Duration, heartbeat: Duration) -> TestOptions {
    TestOptions {
        deployments: Some(DeploymentsConfig {
            settings: DeploymentSettings { grace, heartbeat },
            recorder: RecorderConfig {
                interval: Duration::from_millis(100),
                lease: Duration::from_secs(5),
            },
        }),
        ..TestOptions::default()
    }
}

/// `bc` with versions 1 and 2, version 1 in production; returns their digests.
async fn bc_with_two_versions(app: &TestApp) -> (String, String) {
    app.create_model("bc").await;
    app.upload("bc", b"model one").await;
    app.upload("bc", b"model two").await;
    let (status, body) = app
        .promote("bc", "production", &json!({"version": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    (digest_of(app, 1).await, digest_of(app, 2).await)
}

async fn digest_of(app: &TestApp, version: i64) -> String {
    let (_, body) = app
        .get_json(&format!("/api/v1/models/bc/versions/{version}"))
        .await;
    body["digest"].as_str().unwrap().to_owned()
}

pub async fn report(app: &TestApp, deployment: &str, instance: &str, body: Value) -> (u16, Value) {
    app.put_json(
        &format!("/api/v1/deployments/{deployment}/instances/{instance}"),
        &body,
    )
    .await
}

pub async fn deployment(app: &TestApp, name: &str) -> Value {
    let (status, body) = app.get_json(&format!("/api/v1/deployments/{name}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls the deployment until `done` holds (10 s at most).
pub async fn wait_for_deployment(
    app: &TestApp,
    name: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body = deployment(app, name).await;
        if done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deployment {name} never got there: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `deployment_state_changed` events of `name`, as (from, to, reason).
async fn transitions(app: &TestApp, name: &str) -> Vec<(String, String, String)> {
    let (_, page) = app
        .get_json("/api/v1/events?kind=deployment_state_changed&limit=1000")
        .await;
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["deployment"] == name)
        .map(|e| {
            (
                e["from_state"].as_str().unwrap().to_owned(),
                e["to_state"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits until the last recorded transition of `name` is to `state` (5 s at most).
pub async fn wait_for_recorded_state(app: &TestApp, name: &str, state: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let recorded = transitions(app, name).await;
        if recorded.last().is_some_and(|(_, to, _)| to == state) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{state} never recorded: {recorded:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `count` transitions of `name` are recorded (5 s at most).
async fn wait_for_transitions(
    app: &TestApp,
    name: &str,
    count: usize,
) -> Vec<(String, String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let recorded = transitions(app, name).await;
        if recorded.len() >= count {
            return recorded;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {recorded:?} recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn deployments_are_created_replaced_listed_and_deleted_each_as_an_event() {
    let app = spawn_app().await;
    bc_with_two_versions(&app).await;
    let spec = json!({
        "model": "bc@production",
        "pattern": "api",
        "description": "fraud scoring",
        "labels": {"team": "risk", "app.kubernetes.io/name": "scorer"},
        "canary": {"model": "bc@2", "percent": 10},
    });
    let (status, created) = app.put_json("/api/v1/deployments/scorer", &spec).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "scorer");
    assert_eq!(created["model"], "bc@production");
    assert_eq!(created["desired"]["version"], 1);
    assert_eq!(created["canary"]["version"], 2);
    assert_eq!(created["canary"]["percent"], 10);
    assert_eq!(created["state"], "no_instances");
    assert_eq!(created["labels"]["team"], "risk");
    assert_eq!(created["instances"], json!([]));

    let (status, same) = app.put_json("/api/v1/deployments/scorer", &spec).await;
    assert_eq!(status, 200, "{same}");
    let (status, replaced) = app
        .put_json(
            "/api/v1/deployments/scorer",
            &json!({"model": "bc@production", "pattern": "api"}),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert!(replaced.get("canary").is_none(), "{replaced}");
    assert_eq!(replaced["labels"], json!({}));
    assert_eq!(replaced["created_at"], created["created_at"]);

    for (name, pattern) in [
        ("nightly", "batch"),
        ("app", "embedded"),
        ("live", "stream"),
    ] {
        let (status, body) = app
            .put_json(
                &format!("/api/v1/deployments/{name}"),
                &json!({"model": "bc@production", "pattern": pattern}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, page) = app.get_json("/api/v1/deployments?limit=2").await;
    let names: Vec<&str> = page["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "live"]);
    let token = page["next_page_token"].as_str().unwrap();
    let (_, rest) = app
        .get_json(&format!("/api/v1/deployments?limit=2&page_token={token}"))
        .await;
    assert_eq!(rest["deployments"][0]["name"], "nightly");
    assert_eq!(rest["deployments"][1]["name"], "scorer");
    assert!(rest["next_page_token"].is_null(), "{rest}");
    let (_, batch) = app.get_json("/api/v1/deployments?pattern=batch").await;
    assert_eq!(batch["deployments"].as_array().unwrap().len(), 1);
    let (_, none) = app.get_json("/api/v1/deployments?model=other").await;
    assert_eq!(none["deployments"], json!([]));
    let (_, idle) = app
        .get_json("/api/v1/deployments?state=no_instances&limit=3")
        .await;
    assert_eq!(idle["deployments"].as_array().unwrap().len(), 3);
    assert!(idle["next_page_token"].is_string(), "{idle}");

    let (status, _) = app.delete("/api/v1/deployments/app").await;
    assert_eq!(status, 204);
    let (status, body) = app.get_json("/api/v1/deployments/app").await;
    assert_problem(status, &body, 404, "deployment_not_found");
    let (status, body) = app.delete("/api/v1/deployments/app").await;
    assert_problem(status, &body, 404, "deployment_not_found");

    let (_, page) = app.get_json("/api/v1/events?limit=1000").await;
    let kinds: Vec<(String, String)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["deployment"].is_string())
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["deployment"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("deployment_created", "scorer"),
        ("deployment_updated", "scorer"),
        ("deployment_created", "nightly"),
        ("deployment_created", "app"),
        ("deployment_created", "live"),
        ("deployment_deleted", "app"),
    ]
    .iter()
    .map(|(k, d)| (k.to_string(), d.to_string()))
    .collect();
    assert_eq!(kinds, expected);
}

#[tokio::test]
async fn bad_deployments_and_reports_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    bc_with_two_versions(&app).await;
    let cases = [
        (
            "Scorer",
            json!({"model": "bc@production", "pattern": "api"}),
            400,
            "invalid_name",
        ),
        (
            "a..b",
            json!({"model": "bc@production", "pattern": "api"}),
            400,
            "invalid_name",
        ),
        (
            "s",
            json!({"model": "bc@production", "pattern": "cloud"}),
            400,
            "invalid_body",
        ),
        (
            "s",
            json!({"model": "bc@@1", "pattern": "api"}),
            400,
            "invalid_body",
        ),
        (
            "s",
            json!({"model": "bc@production", "pattern": "api", "extra": 1}),
            400,
            "invalid_body",
        ),
        (
            "s",
            json!({"model": "bc@production", "pattern": "stream", "canary": {"model": "bc@2", "percent": 5}}),
            422,
            "invalid_canary",
        ),
        (
            "s",
            json!({"model": "bc@production", "pattern": "api", "canary": {"model": "other@2", "percent": 5}}),
            422,
            "invalid_canary",
        ),
        (
            "s",
            json!({"model": "bc@production", "pattern": "api", "canary": {"model": "bc@2", "percent": 101}}),
            400,
            "invalid_percent",
        ),
        (
            "s",
            json!({"model": "bc@production", "pattern": "api", "canary": {"model": "bc@2", "percent": -1}}),
            400,
            "invalid_body",
        ),
        (
            "s",
            json!({"model": "bc@production", "pattern": "api", "labels": {"bad key": "v"}}),
            400,
            "invalid_label",
        ),
        (
            "s",
            json!({"model": "bc@production", "pattern": "api", "description": "nul\u{0}"}),
            400,
            "invalid_text",
        ),
    ];
    for (name, body, status, code) in cases {
        let (got, problem) = app
            .put_json(&format!("/api/v1/deployments/{name}"), &body)
            .await;
        assert_problem(got, &problem, status, code);
    }
    let (_, page) = app.get_json("/api/v1/deployments").await;
    assert_eq!(page["deployments"], json!([]));

    let (status, body) = report(
        &app,
        "nowhere",
        "a",
        json!({"version": 1, "digest": digest_of(&app, 1).await, "status": "serving"}),
    )
    .await;
    assert_problem(status, &body, 404, "deployment_not_found");
    let (status, _) = app
        .put_json(
            "/api/v1/deployments/scorer",
            &json!({"model": "bc@production", "pattern": "api"}),
        )
        .await;
    assert_eq!(status, 201);
    let digest = digest_of(&app, 1).await;
    let bad_reports = [
        (
            "A..b",
            json!({"version": 1, "digest": digest, "status": "serving"}),
            "invalid_instance",
        ),
        (
            "a",
            json!({"version": 1, "status": "serving"}),
            "invalid_report",
        ),
        (
            "a",
            json!({"version": 0, "digest": digest, "status": "serving"}),
            "invalid_report",
        ),
        (
            "a",
            json!({"version": 1, "digest": "sha256:xyz", "status": "serving"}),
            "invalid_body",
        ),
        (
            "a",
            json!({"version": 1, "digest": digest, "status": "asleep"}),
            "invalid_body",
        ),
        (
            "a",
            json!({"version": 1, "digest": digest, "status": "failed", "detail": "x".repeat(5000)}),
            "invalid_text",
        ),
    ];
    for (instance, body, code) in bad_reports {
        let (status, problem) = report(&app, "scorer", instance, body).await;
        assert_problem(status, &problem, 400, code);
    }
    assert_eq!(deployment(&app, "scorer").await["instances"], json!([]));
}

#[tokio::test]
async fn a_promotion_rolls_out_then_drifts_after_the_grace_period_and_syncs_when_reported() {
    let app = spawn_with(quick_deployments(
        Duration::from_millis(1500),
        Duration::from_secs(30),
    ))
    .await;
    let (one, two) = bc_with_two_versions(&app).await;
    let (status, _) = app
        .put_json(
            "/api/v1/deployments/scorer",
            &json!({"model": "bc@production", "pattern": "api"}),
        )
        .await;
    assert_eq!(status, 201);
    for instance in ["a", "b"] {
        let (status, body) = report(
            &app,
            "scorer",
            instance,
            json!({"version": 1, "digest": one, "status": "serving"}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["id"], instance);
        assert_eq!(body["stale"], false);
    }
    let synced = deployment(&app, "scorer").await;
    assert_eq!(synced["state"], "in_sync", "{synced}");
    assert_eq!(synced["reason"], "2 of 2 live instances serve version 1");

    let (status, body) = app
        .promote("bc", "production", &json!({"version": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    let rolling = deployment(&app, "scorer").await;
    assert_eq!(rolling["state"], "rolling_out", "{rolling}");
    assert_eq!(rolling["desired"]["version"], 2);
    // One instance swaps within the grace period; the other never does.
    let (status, _) = report(
        &app,
        "scorer",
        "a",
        json!({"version": 2, "digest": two, "status": "serving"}),
    )
    .await;
    assert_eq!(status, 200);
    let drifted = wait_for_deployment(&app, "scorer", |d| d["state"] == "drifted").await;
    assert_eq!(
        drifted["reason"],
        "instance b serves version 1, not version 2"
    );
    // No request causes this transition: the recorder notices it.
    wait_for_transitions(&app, "scorer", 3).await;
    // b swaps: in sync at once.
    report(
        &app,
        "scorer",
        "b",
        json!({"version": 2, "digest": two, "status": "serving"}),
    )
    .await;
    assert_eq!(deployment(&app, "scorer").await["state"], "in_sync");
    // b cannot load version 3: drifted at once, named with its reason.
    app.upload("bc", b"model three").await;
    app.promote("bc", "production", &json!({"version": 3}))
        .await;
    report(&app, "scorer", "b", json!({"version": 2, "digest": two, "status": "failed", "detail": "version 3 has format opaque, which cannot be served"})).await;
    let failed = deployment(&app, "scorer").await;
    assert_eq!(failed["state"], "drifted");
    assert_eq!(
        failed["reason"],
        "instance b failed to load: version 3 has format opaque, which cannot be served"
    );

    let recorded = transitions(&app, "scorer").await;
    let states: Vec<(&str, &str)> = recorded
        .iter()
        .map(|(from, to, _)| (from.as_str(), to.as_str()))
        .collect();
    let first_four = [
        ("no_instances", "in_sync"),
        ("in_sync", "rolling_out"),
        ("rolling_out", "drifted"),
        ("drifted", "in_sync"),
    ];
    assert_eq!(states[..4], first_four, "{recorded:?}");
    // Between the promotion of version 3 and b's failed report the recorder may run and
    // see both instances on version 2 (rolling out); either way b's report ends in drift.
    let last: &[(&str, &str)] = &states[4..];
    assert!(
        last == [("in_sync", "drifted")]
            || last == [("in_sync", "rolling_out"), ("rolling_out", "drifted")],
        "{recorded:?}"
    );
    assert_eq!(recorded[2].2, "instance b serves version 1, not version 2");
}

#[tokio::test]
async fn an_instance_that_stops_reporting_goes_stale_and_is_not_counted() {
    let app = spawn_with(quick_deployments(
        Duration::from_secs(60),
        Duration::from_millis(200),
    ))
    .await;
    let (one, _) = bc_with_two_versions(&app).await;
    app.put_json(
        "/api/v1/deployments/scorer",
        &json!({"model": "bc@production", "pattern": "stream"}),
    )
    .await;
    report(
        &app,
        "scorer",
        "a",
        json!({"version": 1, "digest": one, "status": "serving"}),
    )
    .await;
    assert_eq!(deployment(&app, "scorer").await["state"], "in_sync");
    let gone = wait_for_deployment(&app, "scorer", |d| d["state"] == "no_instances").await;
    assert_eq!(gone["instances"][0]["stale"], true, "{gone}");
    assert_eq!(gone["reason"], "no live instance (1 stale)");
    // The recorder noticed without any request.
    let recorded = wait_for_transitions(&app, "scorer", 2).await;
    assert_eq!(recorded[1].0, "in_sync");
    assert_eq!(recorded[1].1, "no_instances");
    // Reporting again brings it back at once.
    report(
        &app,
        "scorer",
        "a",
        json!({"version": 1, "digest": one, "status": "serving"}),
    )
    .await;
    let back = deployment(&app, "scorer").await;
    assert_eq!(back["state"], "in_sync");
    assert_eq!(back["instances"][0]["stale"], false);
}

/// Two replicas on one database, instances reporting to either, a promotion, a grace
/// period running out and an instance going silent: the recorded transitions form one
/// chain (each starts where the previous ended), none written twice.
#[tokio::test]
async fn replicas_record_each_transition_once() {
    let app = spawn_with(quick_deployments(
        Duration::from_millis(800),
        Duration::from_millis(200),
    ))
    .await;
    let replica = app.spawn_replica().await;
    let (one, two) = bc_with_two_versions(&app).await;
    app.put_json(
        "/api/v1/deployments/scorer",
        &json!({"model": "bc@production", "pattern": "api"}),
    )
    .await;
    let serving = |digest: &str, version: i64| json!({"version": version, "digest": digest, "status": "serving"});
    // Both instances report through both replicas, alternately, while production moves.
    for round in 0..6 {
        let (version, digest) = if round < 3 { (1, &one) } else { (2, &two) };
        if round == 3 {
            app.promote("bc", "production", &json!({"version": 2}))
                .await;
        }
        let b_version = if round < 5 { 1 } else { version };
        let b_digest = if round < 5 { &one } else { digest };
        let (a, b) = if round % 2 == 0 {
            (&app, &replica)
        } else {
            (&replica, &app)
        };
        let (s1, body) = report(a, "scorer", "a", serving(digest, version)).await;
        assert!(s1 < 300, "round {round}, instance a: {s1} {body}");
        let (s2, body) = report(b, "scorer", "b", serving(b_digest, b_version)).await;
        assert!(s2 < 300, "round {round}, instance b: {s2} {body}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Then both go silent.
    wait_for_deployment(&replica, "scorer", |d| d["state"] == "no_instances").await;
    wait_for_recorded_state(&app, "scorer", "no_instances").await;
    let recorded = transitions(&app, "scorer").await;
    for pair in recorded.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "a broken chain: {recorded:?}");
        assert_ne!(
            pair[0].0, pair[0].1,
            "a transition to the same state: {recorded:?}"
        );
    }
    assert_eq!(recorded[0].0, "no_instances", "{recorded:?}");
    assert!(
        recorded.iter().any(|(_, to, _)| to == "rolling_out"),
        "{recorded:?}"
    );
    replica.stop_gracefully().await;
    app.stop_gracefully().await;
}
