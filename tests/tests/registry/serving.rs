//! The registry's own serving: train → register → promote → predict over both protocols,
//! following promotions, bad input, V2 errors. The model server (pattern 2) is tested in
//! `model_server.rs`.

use std::time::Duration;

use serde_json::{json, Value};

use capstan_tests::{
    assert_problem, breast_cancer_rows, direct_probabilities, spawn_app, train_breast_cancer,
};

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
