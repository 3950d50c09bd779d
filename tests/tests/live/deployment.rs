//! A `LiveModel` with `.deployment(NAME)` reports what it serves to the control plane:
//! at start, at once on every swap and on a version it cannot load (the deployment goes
//! `drifted`, naming it and why), and as a heartbeat; dropped, it goes stale.

use std::time::Duration;

use serde_json::{json, Value};

use capstan_client::cache::BlobCache;
use capstan_client::live::{LiveModel, SseSource};
use capstan_registry::config::DeploymentsConfig;
use capstan_registry::deployments::RecorderConfig;
use capstan_registry::service::deployments::DeploymentSettings;
use capstan_tests::{spawn_with, TestApp, TestOptions};

use crate::support::{bc_with_versions, client, promote, upload_unloadable, wait_serving};

async fn wait_for_state(app: &TestApp, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = app.get_json(&format!("/api/v1/deployments/{name}")).await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never got there: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_live_model_reports_swaps_failed_loads_and_goes_stale_when_dropped() {
    let app = spawn_with(TestOptions {
        deployments: Some(DeploymentsConfig {
            settings: DeploymentSettings {
                grace: Duration::from_secs(30),
                heartbeat: Duration::from_millis(300),
            },
            recorder: RecorderConfig {
                interval: Duration::from_millis(100),
                lease: Duration::from_secs(5),
            },
        }),
        ..TestOptions::default()
    })
    .await;
    let versions = bc_with_versions(&app, &[1.0, 100.0]).await;
    let (status, body) = app
        .put_json(
            "/api/v1/deployments/scoring-app",
            &json!({"model": "bc@production", "pattern": "stream"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let cache = tempfile::tempdir().unwrap();
    let live = LiveModel::builder("bc@production".parse().unwrap())
        .client(client(&app))
        .cache(BlobCache::new(cache.path()))
        .source(SseSource::new(client(&app)))
        .deployment("scoring-app".parse().unwrap())
        .instance_id("app-1".parse().unwrap())
        .start()
        .await
        .unwrap();
    let synced = wait_for_state(&app, "scoring-app", |d| d["state"] == "in_sync").await;
    assert_eq!(synced["instances"][0]["id"], "app-1");
    assert_eq!(synced["instances"][0]["version"], versions[0].version);
    assert_eq!(
        synced["instances"][0]["digest"],
        versions[0].digest.as_str()
    );

    promote(&app, versions[1].version).await;
    wait_serving(&live, versions[1].version).await;
    let swapped = wait_for_state(&app, "scoring-app", |d| {
        d["state"] == "in_sync" && d["instances"][0]["version"] == versions[1].version
    })
    .await;
    assert_eq!(swapped["desired"]["version"], versions[1].version);

    let unloadable = upload_unloadable(&app).await;
    promote(&app, unloadable).await;
    let drifted = wait_for_state(&app, "scoring-app", |d| d["state"] == "drifted").await;
    let reason = drifted["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!(
            "instance app-1 failed to load: cannot load version {unloadable}"
        )),
        "{reason}"
    );
    assert_eq!(drifted["instances"][0]["version"], versions[1].version);
    assert_eq!(drifted["instances"][0]["status"], "failed");

    // Still reporting as a heartbeat: last_seen moves on.
    let seen = drifted["instances"][0]["last_seen"].clone();
    wait_for_state(&app, "scoring-app", |d| {
        d["instances"][0]["last_seen"] != seen
    })
    .await;

    drop(live);
    let gone = wait_for_state(&app, "scoring-app", |d| d["state"] == "no_instances").await;
    assert_eq!(gone["instances"][0]["stale"], true);
}

#[tokio::test]
async fn a_live_model_for_an_unknown_deployment_does_not_start() {
    let app = capstan_tests::spawn_app().await;
    bc_with_versions(&app, &[1.0]).await;
    let cache = tempfile::tempdir().unwrap();
    let error = LiveModel::builder("bc@production".parse().unwrap())
        .client(client(&app))
        .cache(BlobCache::new(cache.path()))
        .deployment("nowhere".parse().unwrap())
        .start()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("deployment"), "{error}");
}
