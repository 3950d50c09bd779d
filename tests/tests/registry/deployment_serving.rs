//! Pattern 2 driven by the control plane: model servers started with `--deployment` serve
//! its ref and canary, follow promotions and changes to the deployment without a restart,
//! split traffic by the canary's percent (every answer naming its version), and report
//! what they run — so the deployment goes `rolling_out` → `in_sync`, `drifted` when a
//! version cannot be loaded, and an instance killed outright goes stale.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use capstan_tests::{
    breast_cancer_rows, spawn_deployment_server, spawn_with, train_breast_cancer, TestApp,
};

use crate::deployments::{quick_deployments, wait_for_deployment, wait_for_recorded_state};

/// `bc` with two trained versions (1 in production) and a third that cannot be served.
async fn bc_versions(app: &TestApp) {
    app.create_model("bc").await;
    app.upload_trained("bc", &train_breast_cancer(1.0)).await;
    app.upload_trained("bc", &train_breast_cancer(100.0)).await;
    let (status, body) = app
        .upload_with("bc", &json!({"format": "pickle"}), b"not servable".to_vec())
        .await;
    assert_eq!(status, 201, "{body}");
    app.promote("bc", "production", &json!({"version": 1}))
        .await;
}

fn versions_of(deployment: &Value) -> Vec<(String, Option<i64>)> {
    deployment["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i["version"].as_i64()))
        .collect()
}

/// Predicts once; the version the answer names (body and header must agree).
async fn predict_version(http: &reqwest::Client, base: &str, rows: &[Vec<f64>]) -> Option<i64> {
    let response = http
        .post(format!(
            "{base}/api/v1/models/bc/versions/production/predict"
        ))
        .json(&json!({"instances": rows}))
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    let header: i64 = response
        .headers()
        .get("x-capstan-model-version")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    let body: Value = response.json().await.ok()?;
    assert_eq!(body["model"]["version"], header, "{body}");
    Some(header)
}

#[tokio::test]
async fn model_servers_follow_their_deployment_and_report_rollouts_and_failed_loads() {
    let app = spawn_with(quick_deployments(
        Duration::from_secs(30),
        Duration::from_millis(300),
    ))
    .await;
    bc_versions(&app).await;
    let (status, body) = app
        .put_json(
            "/api/v1/deployments/scorer",
            &json!({"model": "bc@production", "pattern": "api"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let _a = spawn_deployment_server(&app.base, "scorer", "ms-a").await;
    let b = spawn_deployment_server(&app.base, "scorer", "ms-b").await;

    let synced = wait_for_deployment(&app, "scorer", |d| {
        d["state"] == "in_sync" && d["instances"].as_array().unwrap().len() == 2
    })
    .await;
    assert_eq!(
        versions_of(&synced),
        [("ms-a".to_owned(), Some(1)), ("ms-b".to_owned(), Some(1))]
    );
    let http = reqwest::Client::new();
    let rows = breast_cancer_rows(2);
    assert_eq!(predict_version(&http, &b.base, &rows).await, Some(1));

    // A promotion: both servers swap and report; the deployment goes back in sync.
    app.promote("bc", "production", &json!({"version": 2}))
        .await;
    let swapped = wait_for_deployment(&app, "scorer", |d| {
        d["state"] == "in_sync" && d["desired"]["version"] == 2
    })
    .await;
    assert_eq!(
        versions_of(&swapped),
        [("ms-a".to_owned(), Some(2)), ("ms-b".to_owned(), Some(2))]
    );
    assert_eq!(predict_version(&http, &b.base, &rows).await, Some(2));
    wait_for_recorded_state(&app, "scorer", "in_sync").await;

    // Version 3 cannot be loaded: drifted at once, naming an instance and why; both keep
    // answering with version 2.
    app.promote("bc", "production", &json!({"version": 3}))
        .await;
    let drifted = wait_for_deployment(&app, "scorer", |d| d["state"] == "drifted").await;
    let reason = drifted["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("instance ms-a failed to load: cannot load bc@production")
            || reason.starts_with("instance ms-b failed to load: cannot load bc@production"),
        "{reason}"
    );
    assert!(reason.contains("pickle"), "{reason}");
    assert_eq!(predict_version(&http, &b.base, &rows).await, Some(2));

    let (_, page) = app
        .get_json("/api/v1/events?kind=deployment_state_changed&limit=1000")
        .await;
    let states: Vec<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}>{}",
                e["from_state"].as_str().unwrap(),
                e["to_state"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        states.first().map(String::as_str),
        Some("no_instances>in_sync"),
        "{states:?}"
    );
    assert!(
        states.iter().any(|s| s == "in_sync>rolling_out"),
        "the promotion was not seen rolling out: {states:?}"
    );
    // The recorder may see the promotion (rolling out) before the failed loads arrive.
    assert!(
        states.last().is_some_and(|s| s.ends_with(">drifted")),
        "{states:?}"
    );
}

#[tokio::test]
async fn a_canary_takes_its_percent_and_changes_apply_within_a_second_without_a_failed_request() {
    let app = spawn_with(quick_deployments(
        Duration::from_secs(30),
        Duration::from_millis(500),
    ))
    .await;
    bc_versions(&app).await;
    let deployment = |percent: Option<u8>| match percent {
        Some(percent) => json!({
            "model": "bc@production",
            "pattern": "api",
            "canary": {"model": "bc@2", "percent": percent},
        }),
        None => json!({"model": "bc@production", "pattern": "api"}),
    };
    app.put_json("/api/v1/deployments/scorer", &deployment(Some(10)))
        .await;
    let server = spawn_deployment_server(&app.base, "scorer", "canary-test").await;
    let synced = wait_for_deployment(&app, "scorer", |d| d["state"] == "in_sync").await;
    assert_eq!(synced["instances"][0]["version"], 1, "{synced}");
    assert_eq!(synced["instances"][0]["canary"]["version"], 2, "{synced}");

    let http = reqwest::Client::new();
    let rows = breast_cancer_rows(1);
    let mut canary = 0;
    for _ in 0..2000 {
        match predict_version(&http, &server.base, &rows).await {
            Some(2) => canary += 1,
            Some(1) => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        (150..=250).contains(&canary),
        "{canary} of 2000 went to the canary, not 10 % ± 5 points"
    );
    // V2 infer without a version is split too.
    let mut v2_versions = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let response: Value = http
            .post(format!("{}/v2/models/bc/infer", server.base))
            .json(&json!({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP64", "data": rows[0]}]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v2_versions.insert(response["model_version"].as_str().unwrap().to_owned());
    }
    assert_eq!(v2_versions.len(), 2, "{v2_versions:?}");

    // Clients keep predicting while the percent changes, then the canary goes.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let seen: Arc<std::sync::Mutex<Vec<(tokio::time::Instant, i64)>>> = Arc::default();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, failures, seen) = (stop.clone(), failures.clone(), seen.clone());
        let (http, base, rows) = (http.clone(), server.base.clone(), rows.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match predict_version(&http, &base, &rows).await {
                    Some(version) => seen
                        .lock()
                        .unwrap()
                        .push((tokio::time::Instant::now(), version)),
                    None => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let share_after = |from: tokio::time::Instant| {
        let seen = seen.lock().unwrap();
        let after: Vec<i64> = seen
            .iter()
            .filter(|(at, _)| *at >= from)
            .map(|(_, v)| *v)
            .collect();
        (after.iter().filter(|v| **v == 2).count(), after.len())
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.put_json("/api/v1/deployments/scorer", &deployment(Some(50)))
        .await;
    let applied = tokio::time::Instant::now() + Duration::from_secs(1);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let (to_canary, total) = share_after(applied);
    assert!(total >= 100, "only {total} requests");
    let percent = to_canary * 100 / total;
    assert!(
        (45..=55).contains(&percent),
        "{percent} % after the change to 50 %"
    );

    app.put_json("/api/v1/deployments/scorer", &deployment(None))
        .await;
    let applied = tokio::time::Instant::now() + Duration::from_secs(1);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let (to_canary, total) = share_after(applied);
    assert!(total >= 100, "only {total} requests");
    assert_eq!(to_canary, 0, "the removed canary still answered");
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0, "requests failed");

    let synced = wait_for_deployment(&app, "scorer", |d| {
        d["state"] == "in_sync" && d["instances"][0].get("canary").is_none()
    })
    .await;
    assert!(synced.get("canary").is_none(), "{synced}");
    let metrics = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for version in ["1", "2"] {
        assert!(
            metrics.contains(&format!("version=\"{version}\"")),
            "no requests counted for version {version}:\n{metrics}"
        );
    }
}

/// A `capstan-registry model-server --deployment` process killed outright (no chance to
/// say goodbye) goes stale after three missed heartbeats and stops counting.
#[tokio::test]
async fn a_killed_model_server_goes_stale() {
    // Built (if stale) before the registry starts on this test's runtime.
    let binary = capstan_tests::example::registry_bin();
    let app = spawn_with(quick_deployments(
        Duration::from_secs(30),
        Duration::from_millis(300),
    ))
    .await;
    bc_versions(&app).await;
    app.put_json(
        "/api/v1/deployments/scorer",
        &json!({"model": "bc@production", "pattern": "api"}),
    )
    .await;
    let mut process = std::process::Command::new(binary)
        .args([
            "model-server",
            "--listen",
            "127.0.0.1:0",
            "--deployment",
            "scorer",
        ])
        .args(["--registry", &app.base])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let running = wait_for_deployment(&app, "scorer", |d| d["state"] == "in_sync").await;
    let instance = running["instances"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        instance.ends_with(&format!("-{}", process.id())),
        "the default id is <hostname>-<pid>: {instance}"
    );
    process.kill().unwrap();
    process.wait().unwrap();
    let gone = wait_for_deployment(&app, "scorer", |d| d["state"] == "no_instances").await;
    assert_eq!(gone["instances"][0]["id"], instance.as_str());
    assert_eq!(gone["instances"][0]["stale"], true);
}
