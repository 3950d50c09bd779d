//! Versions that hold a tree of files: pushed file by file (only what the store lacks),
//! or as one tar stream; read back as a manifest, files by path (ranges, entity tags) and
//! a tar stream; served when an MLflow `onnx` flavor or a lone `.onnx` names the model;
//! and every hostile path, link and manifest refused with nothing created.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use capstan_client::http::{Client, PushedTree};
use capstan_client::manifest::Manifest;
use capstan_client::types::NewVersion;
use capstan_client::{Config, ModelName, VersionRef};
use capstan_tests::{assert_problem, digest_of, spawn_app, zoo, TestApp};

/// Asserts a problem+json response with `status` and `code`.
async fn expect_problem(response: reqwest::Response, status: u16, code: &str) {
    let actual = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_problem(actual, &body, status, code);
}

const MLMODEL_ONNX: &str = "flavors:\n  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: 1.23.2\n  python_function:\n    data: model.onnx\n    loader_module: mlflow.onnx\nmlflow_version: 3.17.2\n";
const MLMODEL_SKLEARN: &str =
    "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n  sklearn:\n    pickled_model: model.pkl\n";

fn client(app: &TestApp) -> Client {
    Client::new(Config::new(&app.base).unwrap()).unwrap()
}

/// An MLflow model directory holding the zoo's logistic regression.
fn mlflow_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("model");
    std::fs::create_dir_all(dir.join("extra")).unwrap();
    std::fs::write(dir.join("MLmodel"), MLMODEL_ONNX).unwrap();
    std::fs::write(dir.join("model.onnx"), zoo::bytes(&zoo::model("logistic"))).unwrap();
    std::fs::write(dir.join("requirements.txt"), "mlflow==3.17.2\nonnx\n").unwrap();
    std::fs::write(dir.join("extra/notes ü.md"), "# notes\n").unwrap();
    dir
}

async fn push(app: &TestApp, dir: &Path) -> PushedTree {
    let meta = NewVersion {
        format: "mlflow".into(),
        ..NewVersion::default()
    };
    client(app)
        .push_tree(&ModelName::parse("bc").unwrap(), dir, meta)
        .await
        .unwrap()
}

fn rows() -> Vec<Value> {
    zoo::model("logistic")["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .take(5)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_pushed_mlflow_tree_is_served_and_a_second_push_sends_one_file() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let root = tempfile::tempdir().unwrap();
    let dir = mlflow_dir(root.path());

    let first = push(&app, &dir).await;
    assert_eq!((first.files, first.files_sent), (4, 4));
    let version = &first.version;
    assert_eq!(version.status.as_str(), "ready");
    assert_eq!(version.files, Some(4));
    assert!(version.servable, "{version:?}");
    let served = version.served_file.as_ref().unwrap();
    assert_eq!(served.path.as_str(), "model.onnx");
    assert_eq!(
        served.digest.to_string(),
        digest_of(&std::fs::read(dir.join("model.onnx")).unwrap())
    );

    // Predictions through the tree equal those of the same ONNX uploaded as one blob.
    app.create_model("blob").await;
    let (status, _) = app
        .upload_with(
            "blob",
            &json!({"format": "onnx"}),
            zoo::bytes(&zoo::model("logistic")),
        )
        .await;
    assert_eq!(status, 201);
    let body = json!({"instances": rows()});
    let (status, tree_answer) = app
        .post_json("/api/v1/models/bc/versions/1/predict", &body)
        .await;
    assert_eq!(status, 200, "{tree_answer}");
    let (_, blob_answer) = app
        .post_json("/api/v1/models/blob/versions/1/predict", &body)
        .await;
    assert_eq!(tree_answer["predictions"], blob_answer["predictions"]);
    assert_eq!(tree_answer["probabilities"], blob_answer["probabilities"]);

    // One file changed: one file sent; the digest changes.
    std::fs::write(
        dir.join("requirements.txt"),
        "mlflow==3.17.2\nonnx==1.23.2\n",
    )
    .unwrap();
    let second = push(&app, &dir).await;
    assert_eq!((second.files, second.files_sent), (4, 1));
    assert_ne!(second.version.digest, first.version.digest);
    // Nothing changed: nothing sent, the same digest.
    let third = push(&app, &dir).await;
    assert_eq!(third.files_sent, 0);
    assert_eq!(third.version.digest, second.version.digest);
}

#[tokio::test]
async fn trees_read_back_as_manifest_files_ranges_and_tar() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let root = tempfile::tempdir().unwrap();
    let dir = mlflow_dir(root.path());
    let version = push(&app, &dir).await.version;
    let digest = version.digest.unwrap().to_string();

    // The manifest and `/artifact` are the same bytes, with the version's digest.
    let manifest = app.get("/api/v1/models/bc/versions/latest/manifest").await;
    assert_eq!(manifest.status(), 200);
    assert_eq!(manifest.headers()["etag"], format!("\"{digest}\""));
    let manifest_bytes = manifest.bytes().await.unwrap();
    assert_eq!(digest_of(&manifest_bytes), digest);
    let artifact = app.get("/api/v1/models/bc/versions/1/artifact").await;
    assert_eq!(artifact.bytes().await.unwrap(), manifest_bytes);
    let parsed = Manifest::parse(&manifest_bytes).unwrap();
    let paths: Vec<&str> = parsed.files().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "MLmodel",
            "extra/notes ü.md",
            "model.onnx",
            "requirements.txt"
        ]
    );

    // A file by path (percent-encoded), with its entity tag and ranges.
    let notes = app
        .get("/api/v1/models/bc/versions/1/files/extra/notes%20%C3%BC.md")
        .await;
    assert_eq!(notes.status(), 200);
    assert_eq!(
        notes.headers()["etag"],
        format!("\"{}\"", digest_of(b"# notes\n"))
    );
    assert_eq!(notes.bytes().await.unwrap().as_ref(), b"# notes\n");
    let ranged = app
        .http
        .get(app.url("/api/v1/models/bc/versions/1/files/MLmodel"))
        .header("range", "bytes=0-6")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), b"flavors");
    let missing = app.get("/api/v1/models/bc/versions/1/files/nope.txt").await;
    expect_problem(missing, 404, "file_not_found").await;

    // Hostile paths never reach a file.
    for path in [
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e/MLmodel",
        "extra/..%2F..%2FMLmodel",
        "%2Fetc%2Fpasswd",
    ] {
        let response = app
            .get(&format!("/api/v1/models/bc/versions/1/files/{path}"))
            .await;
        let status = response.status().as_u16();
        assert!(status == 400 || status == 404, "{path}: {status}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("flavors"), "{path}: {body}");
    }

    // The tar stream holds every file, byte for byte.
    let archive = app.get("/api/v1/models/bc/versions/1/archive").await;
    assert_eq!(archive.status(), 200);
    assert_eq!(archive.headers()["content-type"], "application/x-tar");
    let bytes = archive.bytes().await.unwrap();
    let mut unpacked = BTreeMap::new();
    for entry in tar::Archive::new(bytes.as_ref()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
        unpacked.insert(path, content);
    }
    assert_eq!(unpacked.len(), 4);
    assert_eq!(
        unpacked["model.onnx"],
        std::fs::read(dir.join("model.onnx")).unwrap()
    );

    // A blob version has no tree.
    app.upload("bc", b"one blob").await;
    let response = app.get("/api/v1/models/bc/versions/2/manifest").await;
    expect_problem(response, 404, "not_a_tree").await;

    // Pull writes the tree, verified; a second pull fetches nothing.
    let out = root.path().join("pulled");
    let bc = ModelName::parse("bc").unwrap();
    let pulled = client(&app)
        .pull_tree(&bc, &VersionRef::Number(1), &out, &|_| {})
        .await
        .unwrap();
    assert_eq!((pulled.files, pulled.files_fetched), (4, 4));
    for path in paths {
        assert_eq!(
            std::fs::read(out.join(path)).unwrap(),
            std::fs::read(dir.join(path)).unwrap()
        );
    }
    std::fs::write(out.join("MLmodel"), "tampered").unwrap();
    let again = client(&app)
        .pull_tree(&bc, &VersionRef::Number(1), &out, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        again.files_fetched, 1,
        "only the changed file is fetched again"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("MLmodel")).unwrap(),
        MLMODEL_ONNX
    );
}

#[tokio::test]
async fn an_unservable_tree_is_stored_and_says_why() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("sk");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("MLmodel"), MLMODEL_SKLEARN).unwrap();
    std::fs::write(dir.join("model.pkl"), b"\x80\x04pickle").unwrap();
    let version = push(&app, &dir).await.version;
    assert_eq!(version.status.as_str(), "ready");
    assert!(!version.servable);
    let reason = version.unservable_reason.unwrap();
    assert!(reason.contains("no `onnx` flavor"), "{reason}");
    let (status, problem) = app
        .post_json(
            "/api/v1/models/bc/versions/1/predict",
            &json!({"instances": rows()}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "not_servable");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("no `onnx` flavor"));

    // An ONNX flavor whose graph is not a model: stored, not served, with the reason.
    std::fs::write(dir.join("MLmodel"), MLMODEL_ONNX).unwrap();
    std::fs::write(dir.join("model.onnx"), b"not a protobuf").unwrap();
    let version = push(&app, &dir).await.version;
    assert!(!version.servable);
    assert!(version
        .unservable_reason
        .unwrap()
        .contains("model.onnx cannot be served"));
}

/// A tar archive of `entries`: (path, kind, content or link target).
fn tar_of(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        {
            // Write the raw name: `set_path` itself refuses `..` and absolute paths.
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
        }
        if kind.is_symlink() || kind.is_hard_link() {
            header
                .set_link_name(std::str::from_utf8(data).unwrap())
                .unwrap();
            header.set_size(0);
            header.set_cksum();
            builder.append(&header, std::io::empty()).unwrap();
        } else {
            header.set_size(data.len() as u64);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
    }
    builder.into_inner().unwrap()
}

async fn put_tar(app: &TestApp, archive: Vec<u8>) -> (u16, Value, i64) {
    let (status, pending) = app
        .post_json(
            "/api/v1/models/bc/versions",
            &json!({"format": "mlflow", "layout": "tree"}),
        )
        .await;
    assert_eq!(status, 201, "{pending}");
    let number = pending["version"].as_i64().unwrap();
    let response = app
        .http
        .put(app.url(pending["upload_url"].as_str().unwrap()))
        .header("content-type", "application/x-tar")
        .body(archive)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap(), number)
}

#[tokio::test]
async fn a_tar_stream_becomes_a_tree_and_hostile_archives_are_refused() {
    use tar::EntryType::{Block, Char, Directory, Link, Regular, Symlink};
    let app = spawn_app().await;
    app.create_model("bc").await;
    let onnx = zoo::bytes(&zoo::model("logistic"));
    let good = tar_of(&[
        ("./", Directory, b""),
        ("./MLmodel", Regular, MLMODEL_ONNX.as_bytes()),
        ("./data/", Directory, b""),
        ("./data/model.onnx", Regular, &onnx),
        ("./model.onnx", Symlink, b"data/model.onnx"),
    ]);
    // The MLmodel names model.onnx: a link inside the tree is a copy of its target.
    let (status, version, _) = put_tar(&app, good).await;
    assert_eq!(status, 200, "{version}");
    assert_eq!(version["layout"], "tree");
    assert_eq!(version["files"], 3);
    assert_eq!(version["servable"], true, "{version}");
    assert_eq!(version["served_file"]["digest"], digest_of(&onnx));

    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("parent", tar_of(&[("../escape.txt", Regular, b"x")])),
        ("absolute", tar_of(&[("/etc/cron.d/x", Regular, b"x")])),
        ("nested parent", tar_of(&[("a/../../x", Regular, b"x")])),
        (
            "symlink out",
            tar_of(&[("MLmodel", Symlink, b"../../etc/passwd")]),
        ),
        (
            "absolute symlink",
            tar_of(&[("MLmodel", Symlink, b"/etc/passwd")]),
        ),
        ("hard link out", tar_of(&[("x", Link, b"../y")])),
        (
            "duplicate",
            tar_of(&[("a", Regular, b"1"), ("a", Regular, b"2")]),
        ),
        ("char device", tar_of(&[("null", Char, b"")])),
        ("block device", tar_of(&[("sda", Block, b"")])),
        (
            "file and dir",
            tar_of(&[("a", Regular, b"1"), ("a/b", Regular, b"2")]),
        ),
        (
            "not tar",
            b"this is not a tar stream at all, just text".repeat(20),
        ),
    ];
    for (what, archive) in hostile {
        let (status, problem, number) = put_tar(&app, archive).await;
        assert_eq!(status, 422, "{what}: {problem}");
        assert_eq!(problem["code"], "invalid_tar", "{what}: {problem}");
        let (_, version) = app
            .get_json(&format!("/api/v1/models/bc/versions/{number}"))
            .await;
        assert_eq!(version["status"], "failed", "{what}");
    }
    assert_eq!(
        app.staged_uploads().await,
        0,
        "nothing staged is left behind"
    );
}

#[tokio::test]
async fn manifests_and_blob_uploads_are_checked() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let zero = format!("sha256:{}", "0".repeat(64));
    for (what, files) in [
        (
            "parent",
            json!([{"path": "../x", "digest": zero, "size": 1}]),
        ),
        (
            "absolute",
            json!([{"path": "/x", "digest": zero, "size": 1}]),
        ),
        (
            "duplicate",
            json!([{"path": "a", "digest": zero, "size": 1}, {"path": "a", "digest": zero, "size": 1}]),
        ),
        ("empty", json!([])),
        (
            "bad digest",
            json!([{"path": "a", "digest": "sha256:zz", "size": 1}]),
        ),
    ] {
        let (status, problem) = app
            .post_json(
                "/api/v1/models/bc/versions",
                &json!({"format": "files", "manifest": {"files": files}}),
            )
            .await;
        assert_eq!(status, 400, "{what}: {problem}");
    }
    let (_, listed) = app.get_json("/api/v1/models/bc/versions").await;
    assert_eq!(
        listed["versions"].as_array().unwrap().len(),
        0,
        "nothing created"
    );

    let content = b"hello tree".to_vec();
    let digest = digest_of(&content);
    let (status, pending) = app
        .post_json(
            "/api/v1/models/bc/versions",
            &json!({"format": "files", "manifest": {"files": [
                {"path": "b.txt", "digest": digest, "size": content.len()},
                {"path": "a.txt", "digest": digest, "size": content.len()}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{pending}");
    assert!(pending.get("upload_url").is_none());
    let (_, missing) = app.get_json("/api/v1/models/bc/versions/1/missing").await;
    assert_eq!(missing["files"], 2);
    assert_eq!(
        missing["missing"].as_array().unwrap().len(),
        1,
        "equal contents once"
    );

    let (status, problem) = app
        .post_json("/api/v1/models/bc/versions/1/commit", &json!({}))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "files_missing");

    let put = |digest: String, body: Vec<u8>| {
        let app = &app;
        async move {
            app.http
                .put(app.url(&format!("/api/v1/models/bc/versions/1/blobs/{digest}")))
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    expect_problem(
        put(zero.clone(), b"x".to_vec()).await,
        400,
        "not_in_manifest",
    )
    .await;
    let wrong = put(digest.clone(), b"other bytes".to_vec()).await;
    expect_problem(wrong, 422, "digest_mismatch").await;
    assert_eq!(put(digest.clone(), content.clone()).await.status(), 204);
    let (_, missing) = app.get_json("/api/v1/models/bc/versions/1/missing").await;
    assert_eq!(missing["missing"].as_array().unwrap().len(), 0);
    let (status, version) = app
        .post_json("/api/v1/models/bc/versions/1/commit", &json!({}))
        .await;
    assert_eq!(status, 200, "{version}");
    assert_eq!(version["status"], "ready");
    assert_eq!(version["size"], 20);
    assert_eq!(version["servable"], false);
    let (status, _) = app
        .post_json("/api/v1/models/bc/versions/1/commit", &json!({}))
        .await;
    assert_eq!(status, 409, "a ready version is not committed twice");
    assert_eq!(app.staged_uploads().await, 0);
}

#[tokio::test]
async fn versions_keep_the_numbers_an_import_asks_for() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let (status, created) = app
        .post_json(
            "/api/v1/models/bc/versions",
            &json!({"format": "files", "version": 5}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["version"], 5);
    for taken in [5, 3] {
        let (status, problem) = app
            .post_json(
                "/api/v1/models/bc/versions",
                &json!({"format": "files", "version": taken}),
            )
            .await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(problem["code"], "version_exists");
    }
    let (_, next) = app
        .post_json("/api/v1/models/bc/versions", &json!({"format": "files"}))
        .await;
    assert_eq!(next["version"], 6);
    for bad in [json!(0), json!(i64::MAX), json!(1_000_000_001)] {
        let (status, problem) = app
            .post_json(
                "/api/v1/models/bc/versions",
                &json!({"format": "files", "version": bad}),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {problem}");
    }
}

#[tokio::test]
async fn a_build_script_fetches_a_tree_verified_from_the_cache() {
    use capstan_client::build::Fetcher;
    use capstan_client::cache::BlobCache;
    use capstan_client::lock::pin::PinOptions;

    let app = spawn_app().await;
    app.create_model("bc").await;
    let root = tempfile::tempdir().unwrap();
    let dir = mlflow_dir(root.path());
    let version = push(&app, &dir).await.version;
    let fetcher = |offline: bool| {
        Fetcher::new(
            Config::new(&app.base).unwrap(),
            BlobCache::new(root.path().join("cache")),
            root.path().join("capstan.lock"),
            root.path().join("out"),
            PinOptions {
                offline,
                update: false,
            },
        )
    };
    let online = fetcher(false);
    let embedded = tokio::task::spawn_blocking(move || online.fetch("bc@latest"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(embedded.digest, version.digest.unwrap());
    assert_eq!(embedded.size, version.size.unwrap() as u64);
    assert!(embedded.path.is_dir(), "{embedded:?}");
    for path in [
        "MLmodel",
        "model.onnx",
        "requirements.txt",
        "extra/notes ü.md",
    ] {
        assert_eq!(
            std::fs::read(embedded.path.join(path)).unwrap(),
            std::fs::read(dir.join(path)).unwrap(),
            "{path}"
        );
    }
    let lock = std::fs::read_to_string(root.path().join("capstan.lock")).unwrap();
    assert!(lock.contains("layout = \"tree\""), "{lock}");

    // Offline, the tree comes from the cache alone; a tampered cached file is refused.
    let offline = fetcher(true);
    tokio::task::spawn_blocking(move || offline.fetch("bc@latest"))
        .await
        .unwrap()
        .unwrap();
    let onnx =
        BlobCache::new(root.path().join("cache")).blob_path(&version.served_file.unwrap().digest);
    std::fs::write(&onnx, b"tampered").unwrap();
    let offline = fetcher(true);
    let error = tokio::task::spawn_blocking(move || offline.fetch("bc@latest"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(error.to_string().contains("tampered"), "{error}");
}

#[tokio::test]
async fn the_model_server_serves_a_tree_fetched_file_by_file() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let root = tempfile::tempdir().unwrap();
    push(&app, &mlflow_dir(root.path())).await;
    app.promote("bc", "production", &json!({"version": 1}))
        .await;
    let server = capstan_tests::spawn_model_server(&app.base, &["bc@production"], 100).await;
    let body = json!({"instances": rows()});
    let answer: Value = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/models/bc/versions/production/predict",
            server.base
        ))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (_, direct) = app
        .post_json("/api/v1/models/bc/versions/production/predict", &body)
        .await;
    assert_eq!(answer["predictions"], direct["predictions"], "{answer}");
    assert_eq!(answer["model"]["version"], 1, "{answer}");
}
