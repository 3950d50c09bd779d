//! `capstan deployments …` against a live registry: create (and replace), list, show and
//! delete with JSON output parsed; `status` exiting with its state's code (in sync,
//! rolling out, drifted, no instances) and marking the desired version; `wait` returning
//! once an instance's report brings the deployment in sync, stopping early on drift, and
//! timing out when nothing reports.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use capstan_client::types::{Deployment, DeploymentPattern, DeploymentState};
use capstan_registry::config::DeploymentsConfig;
use capstan_registry::deployments::RecorderConfig;
use capstan_registry::service::deployments::DeploymentSettings;
use capstan_tests::{spawn_app, spawn_with, TestApp, TestOptions};

use crate::support::{capstan, Run};

/// A grace period short enough to watch it end.
async fn spawn_with_grace(grace: Duration) -> TestApp {
    spawn_with(TestOptions {
        deployments: Some(DeploymentsConfig {
            settings: DeploymentSettings {
                grace,
                heartbeat: Duration::from_secs(30),
            },
            recorder: RecorderConfig {
                interval: Duration::from_millis(200),
                lease: Duration::from_secs(5),
            },
        }),
        ..TestOptions::default()
    })
    .await
}

/// `bc` with versions 1 and 2 (opaque bytes), version 1 in production; their digests.
async fn bc_with_two_versions(app: &TestApp) -> (String, String) {
    app.create_model("bc").await;
    app.upload("bc", b"model one").await;
    app.upload("bc", b"model two").await;
    let (status, body) = app
        .promote("bc", "production", &json!({"version": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut digests = Vec::new();
    for version in [1, 2] {
        let (_, body) = app
            .get_json(&format!("/api/v1/models/bc/versions/{version}"))
            .await;
        digests.push(body["digest"].as_str().unwrap().to_owned());
    }
    (digests[0].clone(), digests[1].clone())
}

fn report_body(version: i64, digest: &str) -> Value {
    json!({"version": version, "digest": digest, "status": "serving"})
}

async fn report(app: &TestApp, instance: &str, version: i64, digest: &str) {
    let (status, body) = app
        .put_json(
            &format!("/api/v1/deployments/scorer/instances/{instance}"),
            &report_body(version, digest),
        )
        .await;
    assert!(status == 200 || status == 201, "{status}: {body}");
}

fn deployment_of(run: &Run) -> Deployment {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not a Deployment ({e}): {run:#?}"))
}

async fn create_scorer(app: &TestApp, cache: &std::path::Path) {
    capstan(
        app,
        cache,
        &[
            "deployments",
            "create",
            "scorer",
            "--model",
            "bc@production",
            "--pattern",
            "api",
        ],
    )
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_are_created_replaced_listed_shown_and_deleted() {
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let app = spawn_app().await;
    bc_with_two_versions(&app).await;

    let created = capstan(
        &app,
        cache,
        &[
            "deployments",
            "create",
            "scorer",
            "--model",
            "bc@production",
            "--pattern",
            "api",
            "--description",
            "fraud scoring",
            "--label",
            "team=risk",
            "--label",
            "region=eu",
            "--canary",
            "bc@2",
            "--percent",
            "10",
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    let scorer = deployment_of(&created);
    assert_eq!(scorer.name.as_str(), "scorer");
    assert_eq!(scorer.model, "bc@production");
    assert_eq!(scorer.pattern, DeploymentPattern::Api);
    assert_eq!(scorer.labels["team"], "risk");
    assert_eq!(scorer.labels["region"], "eu");
    assert_eq!(scorer.desired.as_ref().unwrap().version, 1);
    let canary = scorer.canary.unwrap();
    assert_eq!((canary.model.as_str(), canary.percent), ("bc@2", 10));
    assert_eq!(canary.version, Some(2));
    assert_eq!(scorer.state, DeploymentState::NoInstances);

    // A create of an existing name replaces it whole: the canary not given is gone.
    let replaced = capstan(
        &app,
        cache,
        &[
            "deployments",
            "create",
            "scorer",
            "--model",
            "bc@production",
            "--pattern",
            "api",
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    let scorer = deployment_of(&replaced);
    assert!(scorer.canary.is_none() && scorer.labels.is_empty());
    capstan(
        &app,
        cache,
        &[
            "deployments",
            "create",
            "nightly",
            "--model",
            "bc@production",
            "--pattern",
            "batch",
        ],
    )
    .await
    .ok();

    let listed = capstan(&app, cache, &["deployments", "list", "--output", "json"])
        .await
        .ok();
    let all: Vec<Deployment> = serde_json::from_str(&listed.stdout).unwrap();
    let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["nightly", "scorer"]);
    let batch = capstan(
        &app,
        cache,
        &[
            "deployments",
            "list",
            "--pattern",
            "batch",
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    let batch: Vec<Deployment> = serde_json::from_str(&batch.stdout).unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].name.as_str(), "nightly");
    let table = capstan(&app, cache, &["deployments", "list"]).await.ok();
    let header = table.stdout.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "MODEL", "PATTERN", "DESIRED", "STATE", "LIVE"]
    );
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["scorer", "bc@production", "api", "1", "no_instances", "0/0"]),
        "{table:#?}"
    );

    let shown = capstan(&app, cache, &["deployments", "show", "scorer"])
        .await
        .ok();
    assert_eq!(shown.field("state"), "no_instances");
    assert_eq!(shown.field("reason"), scorer.reason);
    let shown = capstan(
        &app,
        cache,
        &["deployments", "show", "scorer", "--output", "json"],
    )
    .await
    .ok();
    assert_eq!(deployment_of(&shown).name.as_str(), "scorer");

    let deleted = capstan(
        &app,
        cache,
        &["deployments", "delete", "scorer", "--output", "json"],
    )
    .await
    .ok();
    assert_eq!(deleted.json(), json!({"deleted": "scorer"}));
    let gone = capstan(&app, cache, &["deployments", "show", "scorer"]).await;
    assert_eq!(gone.code, 3, "{gone:#?}");
    assert!(gone.stderr.contains("deployment_not_found"), "{gone:#?}");

    // Usage errors are the CLI's own: exit 2, nothing sent.
    for args in [
        &[
            "deployments",
            "create",
            "x",
            "--model",
            "bc",
            "--pattern",
            "api",
            "--canary",
            "bc@2",
        ][..],
        &[
            "deployments",
            "create",
            "x",
            "--model",
            "bc",
            "--pattern",
            "cloud",
        ][..],
        &[
            "deployments",
            "create",
            "x",
            "--model",
            "bc",
            "--pattern",
            "api",
            "--label",
            "team",
        ][..],
        &["deployments", "wait", "x", "--timeout", "2 weeks"][..],
    ] {
        let refused = capstan(&app, cache, args).await;
        assert_eq!(refused.code, 2, "{args:?}: {refused:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_exits_with_the_code_of_each_state() {
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let app = spawn_with_grace(Duration::from_millis(1500)).await;
    let (one, two) = bc_with_two_versions(&app).await;
    create_scorer(&app, cache).await;

    let none = capstan(&app, cache, &["deployments", "status", "scorer"]).await;
    assert_eq!(none.code, 12, "{none:#?}");
    assert!(
        none.stdout.contains("no instances have reported"),
        "{none:#?}"
    );
    assert!(none.stderr.contains("scorer is no_instances"), "{none:#?}");

    report(&app, "a", 1, &one).await;
    report(&app, "b", 1, &one).await;
    let synced = capstan(&app, cache, &["deployments", "status", "scorer"])
        .await
        .ok();
    assert!(
        synced
            .field("state")
            .starts_with("in_sync: 2 of 2 live instances"),
        "{synced:#?}"
    );
    let rows: Vec<Vec<&str>> = synced
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("INSTANCE"))
        .skip(1)
        .take(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..4], ["a", "1", "*", "-"], "{synced:#?}");
    assert_eq!(rows[1][..4], ["b", "1", "*", "-"], "{synced:#?}");

    // Promoted: rolling out while a and b still serve 1, in the grace period.
    app.promote("bc", "production", &json!({"version": 2}))
        .await;
    report(&app, "a", 2, &two).await;
    let rolling = capstan(
        &app,
        cache,
        &["deployments", "status", "scorer", "--output", "json"],
    )
    .await;
    assert_eq!(rolling.code, 10, "{rolling:#?}");
    assert_eq!(deployment_of(&rolling).state, DeploymentState::RollingOut);

    // After it, drifted, naming b.
    let deadline = Instant::now() + Duration::from_secs(10);
    let drifted = loop {
        let run = capstan(&app, cache, &["deployments", "status", "scorer"]).await;
        if run.code != 10 || Instant::now() > deadline {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(drifted.code, 11, "{drifted:#?}");
    assert_eq!(
        drifted.field("state"),
        "drifted: instance b serves version 1, not version 2"
    );
    assert!(
        drifted
            .stdout
            .lines()
            .any(|l| l.split_whitespace().take(3).collect::<Vec<_>>() == ["a", "2", "*"]),
        "{drifted:#?}"
    );
    assert!(
        drifted.stderr.contains("deployment scorer is drifted"),
        "{drifted:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_once_in_sync_stops_on_drift_and_times_out() {
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let app = spawn_with_grace(Duration::from_millis(1500)).await;
    let (one, two) = bc_with_two_versions(&app).await;
    create_scorer(&app, cache).await;

    // Nothing reports: the timeout, its code, and the last state said.
    let started = Instant::now();
    let timed_out = capstan(
        &app,
        cache,
        &[
            "deployments",
            "wait",
            "scorer",
            "--timeout",
            "1s",
            "--interval",
            "100ms",
        ],
    )
    .await;
    assert_eq!(timed_out.code, 124, "{timed_out:#?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        timed_out.field("state").starts_with("no_instances"),
        "{timed_out:#?}"
    );
    assert!(
        timed_out.stderr.contains("still no_instances after 1s"),
        "{timed_out:#?}"
    );

    // An instance reports a little later: in sync, exit 0.
    let url = app.url("/api/v1/deployments/scorer/instances/a");
    let http = app.http.clone();
    let body = report_body(1, &one);
    let reporter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let response = http.put(url).json(&body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 201);
    });
    let synced = capstan(
        &app,
        cache,
        &[
            "deployments",
            "wait",
            "scorer",
            "--timeout",
            "30s",
            "--interval",
            "100ms",
        ],
    )
    .await;
    reporter.await.unwrap();
    assert_eq!(synced.code, 0, "{synced:#?}");
    assert!(synced.field("state").starts_with("in_sync"), "{synced:#?}");
    assert!(synced.stderr.contains("no_instances"), "{synced:#?}");

    // Promoted and never swapped: waits through the grace period, then drifted (11)
    // long before the timeout.
    app.promote("bc", "production", &json!({"version": 2}))
        .await;
    let started = Instant::now();
    let drifted = capstan(
        &app,
        cache,
        &[
            "deployments",
            "wait",
            "scorer",
            "--timeout",
            "60s",
            "--interval",
            "100ms",
        ],
    )
    .await;
    assert_eq!(drifted.code, 11, "{drifted:#?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(drifted.stderr.contains("rolling_out"), "{drifted:#?}");
    // --ignore-drift keeps waiting: the timeout ends it.
    let ignored = capstan(
        &app,
        cache,
        &[
            "deployments",
            "wait",
            "scorer",
            "--timeout",
            "500ms",
            "--interval",
            "100ms",
            "--ignore-drift",
        ],
    )
    .await;
    assert_eq!(ignored.code, 124, "{ignored:#?}");
    report(&app, "a", 2, &two).await;
    capstan(
        &app,
        cache,
        &["deployments", "wait", "scorer", "--timeout", "5s"],
    )
    .await
    .ok();
}
