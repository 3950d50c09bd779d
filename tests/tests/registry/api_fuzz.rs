//! Schemathesis, driven by each server's own OpenAPI document, against the registry and
//! the model server: every request the document allows must be accepted, every request it
//! forbids refused, and every answer must be one the document lists. Needs
//! `pip install schemathesis` (`.ci/run` installs the pinned version); outside CI a missing
//! schemathesis skips these tests with a notice.
//!
//! Settings, and the few operations where acceptance of schema-valid data depends on data
//! no document can describe, are in `schemathesis.toml` at the repository root. The run is
//! reproducible: the seed is fixed (`CAPSTAN_SCHEMATHESIS_SEED` picks another for an
//! exploratory run) and `CAPSTAN_SCHEMATHESIS_EXAMPLES` raises the examples per operation
//! (default 10).
//!
//! With `--auth` the registry is fuzzed again with an admin token on every request
//! (`-H Authorization: Bearer …`), which also runs Schemathesis's `ignored_auth` check: a
//! request without the token must be refused. That run skips the coverage phase the run
//! without auth already made and takes 5 examples per operation.
//!
//! `.ci/run` runs the full set once, on its PostgreSQL + S3 pass (the stricter backend:
//! it refuses NUL characters SQLite stores), and sets `CAPSTAN_SCHEMATHESIS=auth-only` on
//! the SQLite pass, so the run with auth covers both backends (`skip` skips all).
//!
//! A finding of any check fails the test. A "Runtime Error" is Schemathesis failing inside
//! its own test-case generation (a Hypothesis error, no request involved); it is printed,
//! and fails the test only when nothing else ran.

use serde_json::json;

use capstan_tests::{spawn_app, spawn_model_server, spawn_with_auth, train_breast_cancer, TestApp};

const DEFAULT_SEED: &str = "20261202";

/// Whether to run a fuzz test (`with_auth`: the registry under `--auth`), as
/// `CAPSTAN_SCHEMATHESIS` says and as far as Schemathesis is installed.
fn schemathesis_installed(with_auth: bool) -> bool {
    let chosen = std::env::var("CAPSTAN_SCHEMATHESIS").unwrap_or_default();
    if chosen == "skip" || (chosen == "auth-only" && !with_auth) {
        eprintln!("CAPSTAN_SCHEMATHESIS={chosen}: not running this OpenAPI fuzz test in this run");
        return false;
    }
    let installed = std::process::Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install schemathesis (see .ci/run)"
        );
        eprintln!("schemathesis is not installed: skipping the OpenAPI fuzz test (pip install schemathesis)");
    }
    installed
}

/// Runs `schemathesis run` against `base` (with `extra` arguments, and `examples` per
/// operation unless `CAPSTAN_SCHEMATHESIS_EXAMPLES` says otherwise) and fails the test
/// with its report unless it found nothing. The report (operations and cases run) is kept
/// as `schemathesis-<label>.txt` in the test's temporary directory (`target/tmp`).
async fn run_schemathesis(label: &str, base: &str, examples: usize, extra: &[String]) {
    let seed = std::env::var("CAPSTAN_SCHEMATHESIS_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());
    let examples =
        std::env::var("CAPSTAN_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| examples.to_string());
    let report_dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "run".to_owned(),
        format!("{base}/api-docs/openapi.json"),
        "--seed".into(),
        seed,
        "--max-examples".into(),
        examples,
        "--workers".into(),
        "2".into(),
        "--no-color".into(),
        "--generation-database".into(),
        "none".into(),
        "--report-dir".into(),
        report_dir.path().display().to_string(),
    ];
    args.extend_from_slice(extra);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let work_dir = report_dir.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("schemathesis")
            .current_dir(&work_dir)
            .arg("--config-file")
            .arg(root.join("schemathesis.toml"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("schemathesis-{label}.txt")),
        report.as_bytes(),
    );
    assert!(
        !report.contains("\nFailures:"),
        "schemathesis found problems:\n{report}\n{stderr}"
    );
    assert!(
        report.contains(" passed") && report.contains("Tested:"),
        "schemathesis tested nothing:\n{report}\n{stderr}"
    );
    if !output.status.success() {
        assert!(
            report.contains("Runtime Error"),
            "schemathesis failed:\n{report}\n{stderr}"
        );
        eprintln!("schemathesis reported errors of its own (no check failed):\n{report}");
    }
}

/// A registry holding a trained `bc` model with version 1 in production.
async fn registry_serving_bc() -> TestApp {
    serving_bc(spawn_app().await).await
}

/// `app` with a trained `bc` model, version 1 in production.
async fn serving_bc(app: TestApp) -> TestApp {
    app.create_model("bc").await;
    let version = app.upload_trained("bc", &train_breast_cancer(1.0)).await;
    app.promote("bc", "production", &json!({"version": version}))
        .await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_answers_as_its_openapi_document_says() {
    if !schemathesis_installed(false) {
        return;
    }
    let app = registry_serving_bc().await;
    run_schemathesis("registry", &app.base, 10, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_with_auth_answers_as_its_openapi_document_says() {
    if !schemathesis_installed(true) {
        return;
    }
    let app = serving_bc(spawn_with_auth(std::time::Duration::ZERO).await).await;
    let token = app.admin_token.clone().unwrap();
    let extra = [
        "--header".to_owned(),
        format!("Authorization: Bearer {token}"),
        "--phases".to_owned(),
        "examples,fuzzing,stateful".to_owned(),
    ];
    run_schemathesis("registry-auth", &app.base, 5, &extra).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_server_answers_as_its_openapi_document_says() {
    if !schemathesis_installed(false) {
        return;
    }
    let app = registry_serving_bc().await;
    let server = spawn_model_server(&app.base, &["bc@production"], 500).await;
    run_schemathesis("model-server", &server.base, 10, &[]).await;
}
