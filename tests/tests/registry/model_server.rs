//! Pattern 2, `capstan-registry model-server`: a prediction server with no database of its
//! own, loading refs from a registry over HTTP — hot swaps under load and on events, keeps
//! the last good version when a new one fails to load, and speaks V2 to `tritonclient`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use capstan_tests::{
    breast_cancer_rows, direct_probabilities, spawn_app, spawn_model_server, train_breast_cancer,
    TestApp,
};

#[tokio::test]
async fn model_server_serves_over_http_and_hot_swaps_under_load() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let models = [train_breast_cancer(1.0), train_breast_cancer(100.0)];
    let v1 = app.upload_trained("bc", &models[0]).await;
    let v2 = app.upload_trained("bc", &models[1]).await;
    app.promote("bc", "production", &json!({"version": v1}))
        .await;
    let rows = breast_cancer_rows(3);
    let expected = [
        direct_probabilities(&models[0].artifact, &rows),
        direct_probabilities(&models[1].artifact, &rows),
    ];

    let server = spawn_model_server(&app.base, &["bc@production"], 100).await;
    let http = reqwest::Client::new();
    let (status, meta) = {
        let r = http
            .get(format!("{}/v2/models/bc", server.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["versions"], json!([v1.to_string()]));
    let ready = http
        .get(format!("{}/v2/health/ready", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let unserved = http
        .post(format!(
            "{}/api/v1/models/other/versions/1/predict",
            server.base
        ))
        .json(&json!({"instances": rows}))
        .send()
        .await
        .unwrap();
    assert_eq!(unserved.status(), 404);

    // Clients hammer the model server while production moves back and forth.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (http, base, stop, answered) = (
            http.clone(),
            server.base.clone(),
            stop.clone(),
            answered.clone(),
        );
        let (rows, expected) = (rows.clone(), expected.clone());
        let (v1, v2) = (v1, v2);
        clients.push(tokio::spawn(async move {
            let mut seen = std::collections::BTreeSet::new();
            while !stop.load(Ordering::Relaxed) {
                let v2_protocol = client % 2 == 1;
                let (header, version, probabilities) = if v2_protocol {
                    let body = json!({"inputs": [{"name": "input", "shape": [3, 30], "datatype": "FP64", "data": rows.concat()}]});
                    let response = http.post(format!("{base}/v2/models/bc/infer")).json(&body).send().await.unwrap();
                    assert_eq!(response.status(), 200, "a request failed during a swap");
                    let header = response.headers()["x-capstan-model-version"].to_str().unwrap().parse::<i64>().unwrap();
                    let answer: Value = response.json().await.unwrap();
                    let version: i64 = answer["model_version"].as_str().unwrap().parse().unwrap();
                    let output = answer["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "probabilities").unwrap().clone();
                    let flat: Vec<f64> = serde_json::from_value(output["data"].clone()).unwrap();
                    (header, version, flat.chunks(2).map(<[f64]>::to_vec).collect::<Vec<_>>())
                } else {
                    let response = http.post(format!("{base}/api/v1/models/bc/versions/production/predict")).json(&json!({"instances": rows})).send().await.unwrap();
                    assert_eq!(response.status(), 200, "a request failed during a swap");
                    let header = response.headers()["x-capstan-model-version"].to_str().unwrap().parse::<i64>().unwrap();
                    let answer: Value = response.json().await.unwrap();
                    let probabilities: Vec<Vec<f64>> = serde_json::from_value(answer["probabilities"].clone()).unwrap();
                    (header, answer["model"]["version"].as_i64().unwrap(), probabilities)
                };
                assert_eq!(header, version, "header and body name the same version");
                let want = if version == v1 { &expected[0] } else if version == v2 { &expected[1] } else { panic!("unknown version {version}") };
                assert_eq!(&probabilities, want, "the answer is the named version's");
                seen.insert(version);
                answered.fetch_add(1, Ordering::Relaxed);
            }
            seen
        }));
    }
    for round in 0..6 {
        let target = if round % 2 == 0 { v2 } else { v1 };
        if round % 2 == 0 {
            app.promote("bc", "production", &json!({"version": target}))
                .await;
        } else {
            let (status, _) = app
                .post_json("/api/v1/models/bc/stages/production/rollback", &json!({}))
                .await;
            assert_eq!(status, 200);
        }
        let swapped = app
            .eventually(Duration::from_secs(2), || {
                let http = http.clone();
                let base = server.base.clone();
                async move {
                    let r = http
                        .get(format!("{base}/v2/models/bc"))
                        .send()
                        .await
                        .unwrap();
                    let meta: Value = r.json().await.unwrap();
                    meta["versions"] == json!([target.to_string()])
                }
            })
            .await;
        assert!(
            swapped,
            "round {round}: the model server did not swap to version {target} within 2 s"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for client in clients {
        seen.extend(client.await.unwrap());
    }
    assert!(
        answered.load(Ordering::Relaxed) > 50,
        "the load was too light to mean anything"
    );
    assert_eq!(
        seen,
        [v1, v2].into_iter().collect(),
        "both versions answered during the run"
    );
}

#[tokio::test]
async fn model_server_keeps_the_old_version_when_the_new_one_fails_to_load() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload_trained("bc", &train_breast_cancer(1.0)).await;
    app.promote("bc", "production", &json!({"version": v1}))
        .await;
    let server = spawn_model_server(&app.base, &["bc@production"], 100).await;
    // A version whose artifact is stored but cannot be served.
    let (status, bad) = app
        .upload_with("bc", &json!({"format": "pmml"}), b"<PMML/>".to_vec())
        .await;
    assert_eq!(status, 201);
    app.promote("bc", "production", &json!({"version": bad["version"]}))
        .await;
    let http = reqwest::Client::new();
    let reported = app
        .eventually(Duration::from_secs(3), || {
            let http = http.clone();
            let base = server.base.clone();
            async move {
                let r: Value = http
                    .get(format!("{base}/readyz"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                r["failures"].as_object().is_some_and(|f| !f.is_empty())
            }
        })
        .await;
    assert!(reported, "the load failure must be reported");
    let response = http
        .post(format!(
            "{}/api/v1/models/bc/versions/production/predict",
            server.base
        ))
        .json(&json!({"instances": breast_cancer_rows(1)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-capstan-model-version"],
        v1.to_string(),
        "still serving the last good version"
    );
}

/// Python's `tritonclient.http`, unchanged, against the model server. Needs
/// `pip install 'tritonclient[http]' numpy` (`.ci/run` installs them).
#[tokio::test]
async fn tritonclient_http_works_unchanged() {
    let importable = std::process::Command::new("python3")
        .args(["-c", "import tritonclient.http, numpy"])
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install tritonclient[http] (see .ci/run)"
        );
        eprintln!("tritonclient.http is not installed: skipping the V2 client test (pip install 'tritonclient[http]' numpy)");
        return;
    }
    let app = spawn_app().await;
    app.create_model("bc").await;
    let trained = train_breast_cancer(1.0);
    let v = app.upload_trained("bc", &trained).await;
    app.promote("bc", "production", &json!({"version": v}))
        .await;
    let server = spawn_model_server(&app.base, &["bc@production"], 500).await;
    let rows = breast_cancer_rows(5);
    let expected = direct_probabilities(&trained.artifact, &rows);

    let host = server.base.trim_start_matches("http://").to_owned();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/v2_client.py");
    let csv = capstan_tests::breast_cancer_csv();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .args([host.as_str(), "bc", csv.to_str().unwrap(), "5"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["live"], true);
    assert_eq!(report["ready"], true);
    assert_eq!(report["model_ready"], true);
    assert_eq!(report["metadata"]["inputs"][0]["shape"], json!([-1, 30]));
    for kind in ["binary", "json"] {
        let outputs = &report["outputs"][kind];
        assert_eq!(outputs["model_version"], v.to_string(), "{kind}");
        let got: Vec<Vec<f64>> = serde_json::from_value(outputs["probabilities"].clone()).unwrap();
        assert_eq!(got, expected, "{kind} input tensors");
        assert_eq!(outputs["labels"].as_array().unwrap().len(), 5);
    }
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("row 0"),
        "the V2 error message reaches the client: {error}"
    );
}

/// With polling all but off, a promotion is served within moments: the model server
/// follows its registry's events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_server_swaps_on_events_not_polls() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let mut versions = Vec::new();
    for l2 in [1.0, 100.0] {
        versions.push(app.upload_trained("bc", &train_breast_cancer(l2)).await);
    }
    promote(&app, versions[0]).await;
    // A safety-net poll of ten minutes: any swap below comes from an event.
    let server = spawn_model_server(&app.base, &["bc@production"], 600_000).await;
    let http = reqwest::Client::new();
    let serving = |version: i64| {
        let (http, base) = (http.clone(), server.base.clone());
        move || {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let meta: Value = http
                    .get(format!("{base}/v2/models/bc"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                meta["versions"] == json!([version.to_string()])
            }
        }
    };
    assert!(
        app.eventually(Duration::from_secs(5), serving(versions[0]))
            .await
    );
    for target in [versions[1], versions[0], versions[1]] {
        promote(&app, target).await;
        assert!(
            app.eventually(Duration::from_secs(2), serving(target))
                .await,
            "the model server did not serve version {target} within 2 s of its promotion"
        );
    }
}

async fn promote(app: &TestApp, version: i64) {
    let (status, body) = app
        .promote("bc", "production", &json!({ "version": version }))
        .await;
    assert_eq!(status, 200, "promote {version}: {body}");
}
