//! MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/…`): uploaded files are
//! listed and read back as MLflow lists them; versions' files are a read-only view under
//! `models/{name}/versions/{n}/`; hostile and conflicting paths are refused with MLflow's
//! error shape and change nothing.

use serde_json::Value;

use capstan_client::http::Client;
use capstan_client::types::NewVersion;
use capstan_client::{Config, ModelName};
use capstan_tests::{digest_of, raw_request, spawn_app, zoo, TestApp};

const PROXY: &str = "/api/2.0/mlflow-artifacts/artifacts";
const MLMODEL_ONNX: &str = "flavors:\n  onnx:\n    data: model.onnx\n  python_function:\n    data: model.onnx\n    loader_module: mlflow.onnx\n";

/// `PUT`s `body` at `path`, sent verbatim (no client-side normalisation of `%2e%2e`).
async fn put(app: &TestApp, path: &str, body: Vec<u8>) -> (u16, Value) {
    let head = format!("PUT {PROXY}/{path} HTTP/1.1");
    let (status, text) = raw_request(app.addr, &head, &body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get_bytes(app: &TestApp, path: &str) -> (u16, Vec<u8>, Option<String>) {
    let response = app
        .http
        .get(app.url(&format!("{PROXY}/{path}")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.bytes().await.unwrap().to_vec(), etag)
}

/// `(name, is_dir, size)` of each entry MLflow's listing shows.
async fn list(app: &TestApp, path: &str) -> Vec<(String, bool, Option<u64>)> {
    let (status, body) = app
        .get_json(&format!("{PROXY}?path={}", urlencoding(path)))
        .await;
    assert_eq!(status, 200, "{body}");
    body["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["is_dir"].as_bool().unwrap(),
                f["file_size"].as_u64(),
            )
        })
        .collect()
}

fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn assert_mlflow_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn uploaded_files_are_listed_and_read_back() {
    let app = spawn_app().await;
    let onnx = zoo::bytes(&zoo::model("logistic"));
    for (path, body) in [
        (
            "exp/m-1/artifacts/MLmodel",
            MLMODEL_ONNX.as_bytes().to_vec(),
        ),
        ("exp/m-1/artifacts/model.onnx", onnx.clone()),
        ("exp/m-1/artifacts/extra/notes ü.md", b"# notes\n".to_vec()),
    ] {
        let (status, body) = put(&app, &urlencoding(path), body).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    assert_eq!(
        list(&app, "exp/m-1/artifacts").await,
        [
            ("MLmodel".to_owned(), false, Some(MLMODEL_ONNX.len() as u64)),
            ("extra".to_owned(), true, None),
            ("model.onnx".to_owned(), false, Some(onnx.len() as u64)),
        ]
    );
    assert_eq!(list(&app, "exp").await, [("m-1".to_owned(), true, None)]);
    assert_eq!(
        list(&app, "exp/m-1/artifacts/extra").await,
        [("notes ü.md".to_owned(), false, Some(8))]
    );
    assert!(list(&app, "nothing/here").await.is_empty());

    let (status, bytes, etag) = get_bytes(&app, "exp/m-1/artifacts/model.onnx").await;
    assert_eq!(status, 200);
    assert_eq!(bytes, onnx);
    assert_eq!(etag, Some(format!("\"{}\"", digest_of(&onnx))));

    // Writing a path again replaces it; the MLflow UI's prefix reads the same files.
    let (status, _) = put(
        &app,
        "exp/m-1/artifacts/extra/notes%20%C3%BC.md",
        b"v2".to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let response = app
        .http
        .get(app.url(
            "/ajax-api/2.0/mlflow-artifacts/artifacts/exp/m-1/artifacts/extra/notes%20%C3%BC.md",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"v2");

    // Deleting a directory removes what is under it, nothing else.
    let (status, _) = app
        .delete(&format!("{PROXY}/exp/m-1/artifacts/extra"))
        .await;
    assert_eq!(status, 200);
    let names: Vec<String> = list(&app, "exp/m-1/artifacts")
        .await
        .into_iter()
        .map(|(name, ..)| name)
        .collect();
    assert_eq!(names, ["MLmodel", "model.onnx"]);
}

#[tokio::test]
async fn hostile_and_conflicting_paths_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (status, _) = put(&app, "exp/model.onnx", b"onnx".to_vec()).await;
    assert_eq!(status, 200);
    let (status, _) = put(&app, "exp/dir/file", b"x".to_vec()).await;
    assert_eq!(status, 200);

    for (path, want_status, code) in [
        ("exp/%2e%2e/escape", 400, "INVALID_PARAMETER_VALUE"),
        ("exp/..%2Fescape", 400, "INVALID_PARAMETER_VALUE"),
        ("exp/a%5Cb", 400, "INVALID_PARAMETER_VALUE"),
        ("exp//double", 400, "INVALID_PARAMETER_VALUE"),
        (
            "models/bc/versions/1/MLmodel",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("models/BC/versions/1/x", 400, "INVALID_PARAMETER_VALUE"),
        // A file below a file, and a file where a directory is.
        ("exp/model.onnx/inner", 409, "RESOURCE_CONFLICT"),
        ("exp/dir", 409, "RESOURCE_CONFLICT"),
    ] {
        let (status, body) = put(&app, path, b"hostile".to_vec()).await;
        assert_eq!(status, want_status, "{path}: {body}");
        assert_mlflow_error(status, &body, want_status, code);
    }
    let names: Vec<String> = list(&app, "exp")
        .await
        .into_iter()
        .map(|(n, ..)| n)
        .collect();
    assert_eq!(names, ["dir", "model.onnx"], "nothing was written");
    let (status, bytes, _) = get_bytes(&app, "exp/model.onnx").await;
    assert_eq!((status, bytes.as_slice()), (200, b"onnx".as_slice()));

    let (status, body) = app.get_json(&format!("{PROXY}/exp/missing")).await;
    assert_mlflow_error(status, &body, 404, "RESOURCE_DOES_NOT_EXIST");
    let (status, body) = app.get_json(&format!("{PROXY}?path=..%2Fetc")).await;
    assert_mlflow_error(status, &body, 400, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn versions_files_are_a_read_only_view_under_models() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("model");
    std::fs::create_dir_all(dir.join("code")).unwrap();
    std::fs::write(dir.join("MLmodel"), MLMODEL_ONNX).unwrap();
    let onnx = zoo::bytes(&zoo::model("logistic"));
    std::fs::write(dir.join("model.onnx"), &onnx).unwrap();
    std::fs::write(dir.join("code/helper.py"), "x = 1\n").unwrap();
    let client = Client::new(Config::new(&app.base).unwrap()).unwrap();
    let meta = NewVersion {
        format: "mlflow".into(),
        ..NewVersion::default()
    };
    let pushed = client
        .push_tree(&ModelName::parse("bc").unwrap(), &dir, meta)
        .await
        .unwrap();
    assert_eq!(pushed.version.version, 1);

    assert_eq!(
        list(&app, "models/bc/versions/1").await,
        [
            ("MLmodel".to_owned(), false, Some(MLMODEL_ONNX.len() as u64)),
            ("code".to_owned(), true, None),
            ("model.onnx".to_owned(), false, Some(onnx.len() as u64)),
        ]
    );
    let (status, bytes, _) = get_bytes(&app, "models/bc/versions/1/model.onnx").await;
    assert_eq!((status, bytes == onnx), (200, true));
    let (status, bytes, _) = get_bytes(&app, "models/bc/versions/1/code/helper.py").await;
    assert_eq!((status, bytes.as_slice()), (200, b"x = 1\n".as_slice()));

    // A version holding one blob shows it as one file.
    let v2 = app
        .upload_trained("bc", &capstan_tests::train_breast_cancer(1.0))
        .await;
    let listed = list(&app, &format!("models/bc/versions/{v2}")).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(!listed[0].1);

    for path in [
        "models/bc/versions/9/MLmodel",
        "models/nope/versions/1/MLmodel",
    ] {
        let (status, body) = app.get_json(&format!("{PROXY}/{path}")).await;
        assert_mlflow_error(status, &body, 404, "RESOURCE_DOES_NOT_EXIST");
    }
    let (status, body) = app
        .get_json(&format!("{PROXY}/models/bc/versions/1/absent"))
        .await;
    assert_mlflow_error(status, &body, 404, "RESOURCE_DOES_NOT_EXIST");
    let (status, body) = put(&app, "models/bc/versions/1/MLmodel", b"tampered".to_vec()).await;
    assert_mlflow_error(status, &body, 400, "INVALID_PARAMETER_VALUE");
    let (_, bytes, _) = get_bytes(&app, "models/bc/versions/1/MLmodel").await;
    assert_eq!(bytes, MLMODEL_ONNX.as_bytes());
}

#[tokio::test]
async fn versions_are_created_from_sources_capstan_can_read_and_refused_otherwise() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_json(
            "/api/2.0/mlflow/registered-models/create",
            &serde_json::json!({"name": "bc"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let onnx = zoo::bytes(&zoo::model("logistic"));
    // Objects in the registry's own bucket (or store directory), written by another tool.
    app.put_object("exported/bc/MLmodel", MLMODEL_ONNX.as_bytes().to_vec())
        .await;
    let url = app.put_object("exported/bc/model.onnx", onnx.clone()).await;
    let directory = url.trim_end_matches("/model.onnx").to_owned();
    // And a directory uploaded through the proxy.
    for (path, body) in [
        ("staged/bc/MLmodel", MLMODEL_ONNX.as_bytes().to_vec()),
        ("staged/bc/model.onnx", onnx.clone()),
    ] {
        assert_eq!(put(&app, path, body).await.0, 200);
    }
    let create = |source: String| {
        let app = &app;
        async move {
            app.post_json(
                "/api/2.0/mlflow/model-versions/create",
                &serde_json::json!({"name": "bc", "source": source}),
            )
            .await
        }
    };
    for (source, number) in [
        (directory.clone(), "1"),
        ("mlflow-artifacts:/staged/bc".to_owned(), "2"),
        (format!("{}{PROXY}/staged/bc/", app.base), "3"),
        ("models:/bc/1".to_owned(), "4"),
    ] {
        let (status, body) = create(source.clone()).await;
        assert_eq!(status, 200, "{source}: {body}");
        assert_eq!(body["model_version"]["version"], number, "{source}");
        assert_eq!(body["model_version"]["status"], "READY", "{source}");
        assert_eq!(body["model_version"]["source"], source.as_str());
        let (_, version) = app
            .get_json(&format!("/api/v1/models/bc/versions/{number}"))
            .await;
        assert_eq!(version["layout"], "tree", "{version}");
        assert_eq!(version["files"], 2, "{version}");
        assert_eq!(version["servable"], true, "{version}");
        assert_eq!(
            version["served_file"]["digest"],
            digest_of(&onnx).to_string(),
            "{source}"
        );
    }
    // Equal files, equal manifests: the four versions name the same bytes.
    let (_, page) = app.get_json("/api/v1/models/bc/versions").await;
    let digests: Vec<&Value> = page["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["digest"])
        .collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");

    for source in [
        "runs:/0123/model".to_owned(),
        "/tmp/model".to_owned(),
        "s3://someone-elses-bucket/model/".to_owned(),
        "file:///etc/".to_owned(),
        "mlflow-artifacts:/nothing/here".to_owned(),
        "mlflow-artifacts:/staged/%2e%2e/bc".to_owned(),
        "models:/m-00000000000000000000000000000000".to_owned(),
        "https://elsewhere.example/api/2.0/mlflow-artifacts/artifacts/nothing".to_owned(),
    ] {
        let (status, body) = create(source.clone()).await;
        assert_mlflow_error(status, &body, 400, "INVALID_PARAMETER_VALUE");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("cannot read") || message.contains("no files"),
            "{source}: {message}"
        );
    }
    let (_, page) = app.get_json("/api/v1/models/bc/versions").await;
    assert_eq!(
        page["versions"].as_array().unwrap().len(),
        4,
        "a refused source creates no version: {page}"
    );
}
