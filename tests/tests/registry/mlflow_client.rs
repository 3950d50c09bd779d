//! The unmodified `mlflow` client with Capstan as its registry and artifact store
//! (`tests/python/mlflow_client_e2e.py`): a model logged with `mlflow.onnx` and registered
//! in one call, a directory and an `http` proxy URL registered as versions, an alias and a
//! stage set, `models:/…` URIs loaded with `mlflow.pyfunc` and downloaded — and all of it
//! seen through Capstan's own API, with Capstan's predictions equal to MLflow's.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use capstan_tests::spawn_app;

/// Whether the Python packages the script needs are importable; in CI they must be.
fn mlflow_installed() -> bool {
    let importable = std::process::Command::new("python3")
        .args(["-c", "import mlflow, sklearn, skl2onnx, onnxruntime"])
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install mlflow, scikit-learn, skl2onnx and onnxruntime (see .ci/run)"
        );
        eprintln!("mlflow is not installed: skipping (pip install mlflow==3.17.2 scikit-learn skl2onnx onnxruntime)");
    }
    importable
}

fn close(a: &[Vec<f64>], b: &[Vec<f64>], tolerance: f64) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| (p - q).abs() <= tolerance)
        })
}

#[tokio::test]
async fn the_mlflow_client_registers_loads_and_downloads_through_capstan() {
    if !mlflow_installed() {
        return;
    }
    let app = spawn_app().await;
    let work = tempfile::tempdir().unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/mlflow_client_e2e.py");
    let csv = capstan_tests::breast_cancer_csv();
    let (base, workdir) = (app.base.clone(), work.path().to_owned());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .arg(&base)
            .arg(csv)
            .arg(&workdir)
            .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
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

    // Version 1: the logged model, registered by log_model; 2: the uploaded directory;
    // 3: the logged model's artifact location (an http:// proxy URL).
    assert_eq!(report["logged"]["version"], "1", "{report}");
    assert_eq!(report["logged"]["status"], "READY");
    let model_id = report["logged"]["model_id"].as_str().unwrap();
    assert_eq!(report["logged"]["source"], format!("models:/{model_id}"));
    assert_eq!(report["registered"]["from_dir"]["version"], "2");
    assert_eq!(report["registered"]["from_url"]["version"], "3");
    assert_eq!(
        report["runs_uri"], "INVALID_PARAMETER_VALUE",
        "runs:/ is refused"
    );

    let (status, versions) = app.get_json("/api/v1/models/bc/versions").await;
    assert_eq!(status, 200);
    let versions = versions["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3, "{versions:?}");
    let digests: Vec<&str> = versions
        .iter()
        .map(|v| {
            assert_eq!(v["layout"], "tree", "{v}");
            assert_eq!(v["format"], "mlflow", "{v}");
            assert_eq!(v["servable"], true, "{v}");
            v["served_file"]["digest"].as_str().unwrap()
        })
        .collect();
    assert!(
        digests.windows(2).all(|w| w[0] == w[1]),
        "the three versions serve the same ONNX bytes: {digests:?}"
    );
    let (_, v1) = app.get_json("/api/v1/models/bc/versions/1").await;
    assert_eq!(v1["source"], format!("models:/{model_id}"));
    let (_, v2) = app.get_json("/api/v1/models/bc/versions/2").await;
    assert_eq!(v2["source"], "mlflow-artifacts:/staging/bc-dir");
    assert_eq!(
        v2["params"]["mlflow.run_id"], report["logged"]["tracking_run_id"],
        "{v2}"
    );
    assert_eq!(v2["tags"], json!(["team=risk"]));
    assert_eq!(v2["description"], "saved, uploaded, registered");
    assert_eq!(v1["stages"], json!(["production"]));
    assert_eq!(v1["aliases"], json!(["champion"]));

    // MLflow's pyfunc, onnxruntime and Capstan's own predict agree.
    let direct: Vec<Vec<f64>> = serde_json::from_value(report["onnxruntime"].clone()).unwrap();
    for (uri, predicted) in report["pyfunc"].as_object().unwrap() {
        let predicted: Vec<Vec<f64>> = serde_json::from_value(predicted.clone()).unwrap();
        assert!(
            close(&predicted, &direct, 1e-6),
            "{uri}: {predicted:?} vs {direct:?}"
        );
    }
    assert_eq!(report["pyfunc"].as_object().unwrap().len(), 3);
    let rows: Vec<Vec<f64>> = serde_json::from_value(report["rows"].clone()).unwrap();
    let (status, answer) = app
        .post_json(
            "/api/v1/models/bc/versions/production/predict",
            &json!({ "instances": rows }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let served: Vec<Vec<f64>> = serde_json::from_value(answer["probabilities"].clone())
        .unwrap_or_else(|_| {
            panic!("no probabilities in {answer}");
        });
    assert!(close(&served, &direct, 1e-5), "{served:?} vs {direct:?}");

    // download_artifacts("models:/bc/1") wrote exactly the version's files.
    let (_, manifest) = app.get_json("/api/v1/models/bc/versions/1/manifest").await;
    let expected: BTreeMap<String, String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut downloaded: BTreeMap<String, String> =
        serde_json::from_value(report["downloaded"].clone()).unwrap();
    // MLflow's client adds this file to a downloaded registered model.
    downloaded.remove("registered_model_meta");
    assert_eq!(downloaded, expected);
    assert!(expected.contains_key("MLmodel") && expected.contains_key("model.onnx"));
}
