//! Pattern 2 and the registry's own serving: train → register → promote → predict over
//! both protocols, hot swap under load, bad input.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use capstan_client::runtime;
use capstan_client::runtime::ndarray::Array2;
use capstan_tests::{
    assert_problem, breast_cancer_rows, spawn_app, spawn_model_server, train_breast_cancer,
};

fn direct_probabilities(artifact: &[u8], rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let predictor = runtime::load("linfa-logistic", artifact, None).unwrap();
    let flat: Vec<f64> = rows.concat();
    let matrix = Array2::from_shape_vec((rows.len(), rows[0].len()), flat).unwrap();
    predictor.predict(matrix.view()).unwrap().probabilities
}

#[tokio::test]
async fn train_register_promote_predict_on_the_registry() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let trained = train_breast_cancer(1.0);
    let accuracy = trained
        .metrics
        .iter()
        .find(|(k, _)| k == "accuracy")
        .unwrap()
        .1;
    assert!(accuracy >= 0.93, "accuracy {accuracy}");
    let v = app.upload_trained("bc", &trained).await;
    let (_, version) = app
        .get_json(&format!("/api/v1/models/bc/versions/{v}"))
        .await;
    assert_eq!(
        version["signature"]["inputs"].as_array().unwrap().len(),
        30,
        "signature derived from the artifact: {version}"
    );
    assert_eq!(version["signature"]["inputs"][0]["name"], "mean_radius");
    app.promote("bc", "production", &json!({"version": v}))
        .await;

    let rows = breast_cancer_rows(5);
    let expected = direct_probabilities(&trained.artifact, &rows);
    let response = app
        .http
        .post(app.url("/api/v1/models/bc/versions/production/predict"))
        .json(&json!({"instances": rows}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-capstan-model-version"], v.to_string());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["model"]["name"], "bc");
    assert_eq!(body["model"]["version"], v);
    assert_eq!(body["model"]["digest"], version["digest"]);
    assert_eq!(body["classes"], json!([0, 1]));
    let probabilities: Vec<Vec<f64>> =
        serde_json::from_value(body["probabilities"].clone()).unwrap();
    assert_eq!(
        probabilities, expected,
        "HTTP predictions equal the runtime's"
    );
    assert_eq!(body["predictions"].as_array().unwrap().len(), 5);
    // The first rows of the table are malignant (0).
    assert_eq!(body["predictions"][0], 0);

    // Named records give the same answer.
    let names: Vec<String> = version["signature"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    let records: Vec<Value> = rows
        .iter()
        .map(|row| {
            Value::Object(
                names
                    .iter()
                    .cloned()
                    .zip(row.iter().map(|v| json!(v)))
                    .collect(),
            )
        })
        .collect();
    let (status, by_name) = app
        .post_json(
            "/api/v1/models/bc/versions/production/predict",
            &json!({"inputs": records}),
        )
        .await;
    assert_eq!(status, 200, "{by_name}");
    assert_eq!(by_name["probabilities"], body["probabilities"]);

    // Open Inference Protocol on the registry.
    let (status, meta) = app.get_json("/v2/models/bc").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 30]));
    assert_eq!(meta["versions"], json!([v.to_string()]));
    let infer = json!({"inputs": [{"name": "input", "shape": [5, 30], "datatype": "FP64", "data": rows.concat()}]});
    let (status, answer) = app.post_json("/v2/models/bc/infer", &infer).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model_version"], v.to_string());
    let probabilities = answer["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "probabilities")
        .unwrap();
    assert_eq!(probabilities["shape"], json!([5, 2]));
    let flat: Vec<f64> = serde_json::from_value(probabilities["data"].clone()).unwrap();
    assert_eq!(flat, expected.concat());

    // Metrics name the model and version.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(&format!(
            "capstan_predict_requests_total{{model=\"bc\",version=\"{v}\",protocol=\"predict\"}} 2"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("capstan_predict_duration_seconds_bucket"),
        "{metrics}"
    );
}

#[tokio::test]
async fn registry_serving_follows_promotions() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload_trained("bc", &train_breast_cancer(1.0)).await;
    let v2 = app.upload_trained("bc", &train_breast_cancer(100.0)).await;
    app.promote("bc", "production", &json!({"version": v1}))
        .await;
    let rows = json!({"instances": breast_cancer_rows(1)});
    let (_, first) = app
        .post_json("/api/v1/models/bc/versions/production/predict", &rows)
        .await;
    assert_eq!(first["model"]["version"], v1);
    app.promote("bc", "production", &json!({"version": v2}))
        .await;
    // A local write wakes the watcher; the swap follows promptly.
    let swapped = app
        .eventually(Duration::from_secs(5), || async {
            let (_, answer) = app
                .post_json("/api/v1/models/bc/versions/production/predict", &rows)
                .await;
            answer["model"]["version"] == v2
        })
        .await;
    assert!(swapped, "the registry kept serving the old version");
    let (_, answer) = app
        .post_json("/api/v1/models/bc/versions/production/predict", &rows)
        .await;
    assert_ne!(
        answer["probabilities"], first["probabilities"],
        "different l2 → different model"
    );
}

#[tokio::test]
async fn bad_prediction_input_names_the_row_and_field() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let trained = train_breast_cancer(1.0);
    let v = app.upload_trained("bc", &trained).await;
    let path = format!("/api/v1/models/bc/versions/{v}/predict");
    let good = breast_cancer_rows(2);
    let mut short = good.clone();
    short[1].pop();
    let cases = vec![
        (
            json!({"instances": [good[0].clone(), short[1].clone()]}),
            "row 1",
        ),
        (json!({"instances": [[1, 2, "x"]]}), "row 0"),
        (
            json!({"instances": [good[0].iter().map(|_| json!("NaN")).collect::<Vec<_>>()]}),
            "row 0",
        ),
        (
            json!({"instances": [good[0].iter().map(|_| json!(null)).collect::<Vec<_>>()]}),
            "row 0",
        ),
        (json!({"inputs": [{"mean_radius": 1.0}]}), "row 0"),
        (json!({"inputs": [{"bogus": 1.0}]}), "bogus"),
        (json!({"instances": []}), "row"),
        (json!({}), "exactly one"),
        (
            json!({"instances": [good[0].clone()], "inputs": []}),
            "exactly one",
        ),
    ];
    for (body, mentions) in cases {
        let (status, problem) = app.post_json(&path, &body).await;
        assert_problem(
            status,
            &problem,
            400,
            problem["code"].as_str().unwrap_or("?"),
        );
        assert!(
            problem["code"] == "invalid_input" || problem["code"] == "invalid_body",
            "{problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(mentions),
            "{body} → {problem}"
        );
    }
    // A numeric literal too large for f64 is not a finite number either.
    let mut raw = serde_json::to_string(&json!({"instances": [good[0].clone()]})).unwrap();
    raw = raw.replacen("17.99", "1e999", 1);
    let response = app
        .http
        .post(app.url(&path))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn unservable_formats_are_422_naming_the_servable_ones() {
    let app = spawn_app().await;
    app.create_model("pkl").await;
    let (status, _) = app
        .upload_with(
            "pkl",
            &json!({"format": "pickle"}),
            b"\x80\x04fake pickle".to_vec(),
        )
        .await;
    assert_eq!(status, 201, "any format is stored");
    let (status, problem) = app
        .post_json(
            "/api/v1/models/pkl/versions/latest/predict",
            &json!({"instances": [[1.0]]}),
        )
        .await;
    assert_problem(status, &problem, 422, "unservable_format");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("linfa-logistic") && detail.contains("onnx"),
        "{detail}"
    );
    // Fetching still works.
    assert_eq!(
        app.get("/api/v1/models/pkl/versions/latest/artifact")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn invalid_artifacts_of_servable_formats_are_rejected_at_upload() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    for format in ["onnx", "linfa-logistic"] {
        let (status, problem) = app
            .upload_with("bc", &json!({"format": format}), b"not a model".to_vec())
            .await;
        assert_problem(status, &problem, 422, "invalid_artifact");
    }
    let (_, page) = app.get_json("/api/v1/models/bc/versions").await;
    assert_eq!(page["versions"], json!([]));
}

#[tokio::test]
async fn onnx_models_served_over_http_match_scikit_learn() {
    let app = spawn_app().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../client/testdata/onnx");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    for (index, model) in reference["models"].as_array().unwrap().iter().enumerate() {
        let name = format!("onnx{index}");
        app.create_model(&name).await;
        let bytes = std::fs::read(dir.join(model["file"].as_str().unwrap())).unwrap();
        let (status, version) = app
            .upload_with(&name, &json!({"format": "onnx"}), bytes)
            .await;
        assert_eq!(status, 201, "{version}");
        let (status, answer) = app
            .post_json(
                &format!("/api/v1/models/{name}/versions/1/predict"),
                &json!({"instances": model["inputs"]}),
            )
            .await;
        assert_eq!(status, 200, "{}: {answer}", model["file"]);
        assert_eq!(answer["predictions"], model["labels"], "{}", model["file"]);
        let got: Vec<Vec<f64>> = serde_json::from_value(answer["probabilities"].clone()).unwrap();
        let want: Vec<Vec<f64>> = serde_json::from_value(model["probabilities"].clone()).unwrap();
        for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!((g - w).abs() < 1e-5, "{}: {g} vs {w}", model["file"]);
        }
    }
}

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

#[tokio::test]
async fn v2_errors_carry_an_error_member() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    app.upload_trained("bc", &train_breast_cancer(1.0)).await;
    let cases = [
        json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}),
        json!({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "BYTES", "data": ["a"]}]}),
        json!({"inputs": []}),
        json!({"nope": 1}),
    ];
    for body in cases {
        let (status, answer) = app.post_json("/v2/models/bc/infer", &body).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(answer["error"].is_string(), "{answer}");
        assert!(answer["code"].is_string(), "{answer}");
    }
    let (status, answer) = app.get_json("/v2/models/ghost").await;
    assert_eq!(status, 404);
    assert!(answer["error"].is_string());
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
