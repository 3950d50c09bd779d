//! The model zoo served by the registry: every scikit-learn estimator of
//! `client/testdata/zoo` uploaded as `onnx`, then predicted over the JSON protocol (rows
//! and records) and the Open Inference Protocol, each answer compared with
//! scikit-learn's. Also: what upload refuses (an operator Capstan cannot run) and how
//! mixed-type input is checked.

use serde_json::{json, Value};

use capstan_tests::{assert_problem, spawn_app, zoo, TestApp};

async fn upload(app: &TestApp, name: &str, model: &Value) -> Value {
    app.create_model(name).await;
    let (status, version) = app
        .upload_with(name, &zoo::upload_metadata(model), zoo::bytes(model))
        .await;
    assert_eq!(status, 201, "{}: {version}", model["file"]);
    version
}

#[tokio::test]
async fn every_zoo_model_answers_like_scikit_learn_over_json_and_v2() {
    let app = spawn_app().await;
    for (index, model) in zoo::models().iter().enumerate() {
        let name = format!("zoo{index}");
        let version = upload(&app, &name, model).await;
        let signature = &version["signature"];
        if zoo::is_regressor(model) {
            assert!(signature["targets"].as_u64().unwrap() >= 1, "{signature}");
            assert!(signature.get("classes").is_none(), "{signature}");
        } else {
            assert_eq!(signature["classes"], model["classes"], "{signature}");
        }
        for (stored, declared) in signature["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .zip(model["features"].as_array().unwrap())
        {
            assert_eq!(stored["name"], declared["name"]);
            assert_eq!(stored["dtype"], declared["dtype"], "{}", model["file"]);
        }

        let predict = format!("/api/v1/models/{name}/versions/1/predict");
        let (status, answer) = app
            .post_json(&predict, &json!({"instances": model["inputs"]}))
            .await;
        assert_eq!(status, 200, "{}: {answer}", model["file"]);
        zoo::check_predict_answer(model, &answer);

        let (status, answer) = app
            .post_json(&predict, &json!({"inputs": zoo::records(model)}))
            .await;
        assert_eq!(status, 200, "{}: {answer}", model["file"]);
        zoo::check_predict_answer(model, &answer);

        let (status, answer) = app
            .post_json(&format!("/v2/models/{name}/infer"), &zoo::v2_request(model))
            .await;
        assert_eq!(status, 200, "{}: {answer}", model["file"]);
        zoo::check_v2_answer(model, &answer);
    }
}

#[tokio::test]
async fn v2_metadata_describes_typed_inputs_and_a_regressors_value() {
    let app = spawn_app().await;
    upload(&app, "price", &zoo::model("pipeline_ridge")).await;
    let (status, metadata) = app.get_json("/v2/models/price").await;
    assert_eq!(status, 200, "{metadata}");
    let inputs: Vec<(String, String)> = metadata["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                i["datatype"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("area", "FP32"),
        ("age", "FP32"),
        ("rooms", "INT64"),
        ("city", "BYTES"),
        ("kind", "BYTES"),
    ]
    .iter()
    .map(|(n, d)| ((*n).to_owned(), (*d).to_owned()))
    .collect();
    assert_eq!(inputs, expected);
    assert_eq!(
        metadata["outputs"],
        json!([{"name": "value", "datatype": "FP64", "shape": [-1]}])
    );

    // skl2onnx's own output name answers too.
    let model = zoo::model("pipeline_ridge");
    let mut request = zoo::v2_request(&model);
    request["outputs"] = json!([{"name": "variable"}]);
    let (status, answer) = app.post_json("/v2/models/price/infer", &request).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outputs"][0]["name"], "variable");
    assert_eq!(answer["outputs"][0]["shape"], json!([25]));
}

#[tokio::test]
async fn an_onnx_operator_capstan_cannot_run_is_refused_at_upload_by_name() {
    let app = spawn_app().await;
    let reference = zoo::reference();
    let unsupported = &reference["unsupported"][0];
    let bytes = std::fs::read(zoo::dir().join(unsupported["file"].as_str().unwrap())).unwrap();
    app.create_model("svr").await;
    let (status, body) = app
        .upload_with("svr", &json!({"format": "onnx"}), bytes)
        .await;
    assert_problem(status, &body, 422, "unsupported_operator");
    let operator = unsupported["operator"].as_str().unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains(operator),
        "{body}"
    );
    let (_, page) = app.get_json("/api/v1/models/svr/versions").await;
    assert_eq!(page["versions"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn mixed_type_input_errors_name_the_row_and_feature() {
    let app = spawn_app().await;
    let model = zoo::model("pipeline_gradient_boosting");
    upload(&app, "houses", &model).await;
    let predict = "/api/v1/models/houses/versions/1/predict";
    let mut rows = model["inputs"].as_array().unwrap()[..3].to_vec();
    rows[1][3] = json!(12);
    let (status, body) = app.post_json(predict, &json!({"instances": rows})).await;
    assert_problem(status, &body, 400, "invalid_input");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("row 1") && detail.contains("city") && detail.contains("expected a string"),
        "{body}"
    );

    let mut records = zoo::records(&model)[..2].to_vec();
    records[0]["rooms"] = json!("three");
    let (status, body) = app.post_json(predict, &json!({"inputs": records})).await;
    assert_problem(status, &body, 400, "invalid_input");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("row 0") && detail.contains("rooms"),
        "{body}"
    );

    // A nullable feature may be null or left out; a required one may not.
    let mut records = zoo::records(&model)[..1].to_vec();
    records[0].as_object_mut().unwrap().remove("age");
    records[0]["area"] = Value::Null;
    let (status, body) = app.post_json(predict, &json!({"inputs": records})).await;
    assert_eq!(status, 200, "{body}");
    records[0].as_object_mut().unwrap().remove("kind");
    let (status, body) = app.post_json(predict, &json!({"inputs": records})).await;
    assert_problem(status, &body, 400, "invalid_input");
    assert!(body["detail"].as_str().unwrap().contains("kind"), "{body}");

    // V2: a BYTES tensor for a number is refused the same way.
    let mut request = zoo::v2_request(&model);
    request["inputs"][0]["datatype"] = json!("BYTES");
    request["inputs"][0]["data"] = json!(vec!["big"; 25]);
    let (status, body) = app.post_json("/v2/models/houses/infer", &request).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("area"), "{body}");
}

/// Python's `tritonclient.http`, unchanged, sends a pipeline's typed column tensors —
/// FP32 with NaN, INT64 and BYTES, in the binary extension and as JSON — to a model server.
#[tokio::test]
async fn tritonclient_sends_typed_column_tensors_to_a_model_server() {
    let importable = std::process::Command::new("python3")
        .args(["-c", "import tritonclient.http, numpy"])
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install tritonclient[http] (see .ci/run)"
        );
        eprintln!(
            "tritonclient.http is not installed: skipping (pip install 'tritonclient[http]' numpy)"
        );
        return;
    }
    let app = spawn_app().await;
    let models = [
        ("price", zoo::model("pipeline_ridge")),
        ("houses", zoo::model("pipeline_gradient_boosting")),
    ];
    for (name, model) in &models {
        upload(&app, name, model).await;
        app.promote(name, "production", &json!({"version": 1}))
            .await;
    }
    let server = capstan_tests::spawn_model_server(
        &app.base,
        &["price@production", "houses@production"],
        500,
    )
    .await;
    let host = server.base.trim_start_matches("http://").to_owned();
    for (name, model) in models {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/v2_zoo_client.py");
        let reference = zoo::dir().join("reference.json");
        let file = model["file"].as_str().unwrap().to_owned();
        let host = host.clone();
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new("python3")
                .arg(script)
                .args([
                    host.as_str(),
                    name,
                    reference.to_str().unwrap(),
                    file.as_str(),
                ])
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
        for encoding in ["binary", "json"] {
            let outputs = &report["outputs"][encoding];
            let rows: Vec<usize> = serde_json::from_value(outputs["rows"].clone()).unwrap();
            assert!(rows.len() >= 10, "{encoding}: {rows:?}");
            let model = zoo::only_rows(&model, &rows);
            // The same checks as a JSON infer answer, on what tritonclient decoded.
            let as_answer = if zoo::is_regressor(&model) {
                json!({"outputs": [{"name": "value", "datatype": "FP64",
                    "shape": [outputs["value"].as_array().unwrap().len()], "data": outputs["value"]}]})
            } else {
                json!({"outputs": [
                    {"name": "label", "data": outputs["label"]},
                    {"name": "probabilities", "data": outputs["probabilities"]},
                ]})
            };
            zoo::check_v2_answer(&model, &as_answer);
        }
    }
}
