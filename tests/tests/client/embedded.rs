//! Pattern 1, end to end: a copy of `client/examples/embedded-app` built with cargo
//! against a live registry embeds the production model, stays pinned to it by
//! `capstan.lock` when production moves, follows it after `capstan lock update`, refuses a
//! tampered cache, and builds offline from a warm cache but not a cold one.

use std::path::Path;

use capstan_registry::config::DeploymentsConfig;
use capstan_registry::service::deployments::DeploymentSettings;
use capstan_tests::{spawn_with, TestApp, TestOptions};

use crate::support::{capstan, capstan_with, first_row_features, train_bc, ExampleApp, Run};

/// Trains on the breast-cancer table, registers the model as a new version of `bc` and
/// promotes it to production; returns its digest.
async fn train_and_promote(app: &TestApp, cache: &Path, l2: &str) -> String {
    let trained = train_bc(app, cache, &["--l2", l2]).await.ok();
    let registered = trained.field("registered");
    capstan(app, cache, &["promote", &registered, "--to", "production"])
        .await
        .ok();
    trained.field("digest")
}

fn assert_embeds(run: &Run, version: &str, digest: &str) {
    assert_eq!(run.field("class"), "0", "{run:#?}");
    let probability: f64 = run.field("probability").parse().unwrap();
    assert!(probability > 0.5 && probability <= 1.0, "{run:#?}");
    assert_eq!(run.field("model"), "bc@production");
    assert_eq!(run.field("version"), version, "{run:#?}");
    assert_eq!(run.field("digest"), digest, "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_app_is_pinned_by_digest_until_lock_update() {
    // The example is built and run before it reports, which can take longer than the
    // default grace period on a busy machine: give it ten minutes to count as rolling out.
    let app = spawn_with(TestOptions {
        deployments: Some(DeploymentsConfig {
            settings: DeploymentSettings {
                grace: std::time::Duration::from_secs(600),
                ..DeploymentSettings::default()
            },
            ..DeploymentsConfig::default()
        }),
        ..TestOptions::default()
    })
    .await;
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_dir.path().display().to_string();
    let features = first_row_features();
    let example = ExampleApp::copy();
    let online = [
        ("CAPSTAN_URL", app.base.as_str()),
        ("CAPSTAN_CACHE_DIR", cache.as_str()),
    ];
    let run_args = ["run", "--quiet", "--", features.as_str()];

    // Version 1 in production: the first build pins it and embeds it.
    let v1 = train_and_promote(&app, cache_dir.path(), "1.0").await;
    let first = example.cargo(&run_args, &online).await.ok();
    assert_embeds(&first, "1", &v1);
    let lock = std::fs::read_to_string(example.lockfile()).unwrap();
    assert!(lock.contains("ref = \"bc@production\""), "{lock}");
    assert!(lock.contains(&format!("digest = \"{v1}\"")), "{lock}");

    // Version 2 in production: rebuilding without `lock update` still embeds version 1.
    let v2 = train_and_promote(&app, cache_dir.path(), "0.1").await;
    assert_ne!(v1, v2);
    let pinned = example.cargo(&run_args, &online).await.ok();
    assert_embeds(&pinned, "1", &v1);
    // Reporting to a deployment, the pinned build shows as still on version 1.
    let (status, body) = app
        .put_json(
            "/api/v1/deployments/embedded-app",
            &serde_json::json!({"model": "bc@production", "pattern": "embedded"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let reporting = [
        ("CAPSTAN_URL", app.base.as_str()),
        ("CAPSTAN_CACHE_DIR", cache.as_str()),
        ("CAPSTAN_DEPLOYMENT", "embedded-app"),
        ("CAPSTAN_INSTANCE_ID", "build-1"),
    ];
    let reported = example.cargo(&run_args, &reporting).await.ok();
    assert_eq!(reported.field("reported"), "build-1", "{reported:#?}");
    assert_embeds(&reported, "1", &v1);
    let (_, deployment) = app.get_json("/api/v1/deployments/embedded-app").await;
    assert_eq!(deployment["desired"]["version"], 2, "{deployment}");
    assert_eq!(deployment["instances"][0]["id"], "build-1");
    assert_eq!(deployment["instances"][0]["version"], 1);
    assert_eq!(deployment["instances"][0]["digest"], v1.as_str());
    assert_eq!(deployment["state"], "rolling_out", "{deployment}");
    assert_eq!(
        deployment["reason"],
        "instance build-1 serves version 1, not version 2"
    );
    let unknown = [
        ("CAPSTAN_URL", app.base.as_str()),
        ("CAPSTAN_CACHE_DIR", cache.as_str()),
        ("CAPSTAN_DEPLOYMENT", "no-such-deployment"),
    ];
    let warned = example.cargo(&run_args, &unknown).await.ok();
    assert_embeds(&warned, "1", &v1);
    assert!(
        warned
            .stderr
            .contains("warning: cannot report to the deployment"),
        "{warned:#?}"
    );
    // Pinned and cached, a build needs no registry at all.
    let unreachable = [
        ("CAPSTAN_URL", "http://127.0.0.1:1"),
        ("CAPSTAN_CACHE_DIR", cache.as_str()),
    ];
    let no_network = example.cargo(&run_args, &unreachable).await.ok();
    assert_embeds(&no_network, "1", &v1);

    // `capstan lock update` in the crate's directory moves the pin; the next build follows.
    let updated = capstan_with(
        &app,
        cache_dir.path(),
        &["lock", "update"],
        &[],
        Some(example.path()),
    )
    .await
    .ok();
    assert!(
        updated.stdout.contains("1 of 1 entries changed"),
        "{updated:#?}"
    );
    let followed = example.cargo(&run_args, &reporting).await.ok();
    assert_embeds(&followed, "2", &v2);
    let (_, deployment) = app.get_json("/api/v1/deployments/embedded-app").await;
    assert_eq!(deployment["state"], "in_sync", "{deployment}");
    assert_eq!(deployment["instances"][0]["version"], 2);

    // A tampered cache entry is a digest error, not a silently different model.
    let blob = cache_dir
        .path()
        .join("blobs/sha256")
        .join(v2.trim_start_matches("sha256:"));
    let good = std::fs::read(&blob).unwrap();
    std::fs::write(&blob, b"not the model").unwrap();
    let tampered = example.cargo(&["build"], &online).await;
    assert_ne!(tampered.code, 0, "{tampered:#?}");
    assert!(tampered.stderr.contains("digest mismatch"), "{tampered:#?}");
    assert!(
        tampered.stderr.contains(&blob.display().to_string()),
        "{tampered:#?}"
    );
    std::fs::write(&blob, good).unwrap();

    // Offline with a warm cache builds; with a cold one it fails, naming what is missing.
    let offline_warm = [
        ("CAPSTAN_URL", "http://127.0.0.1:1"),
        ("CAPSTAN_CACHE_DIR", cache.as_str()),
        ("CAPSTAN_OFFLINE", "1"),
    ];
    let warm = example.cargo(&run_args, &offline_warm).await.ok();
    assert_embeds(&warm, "2", &v2);
    let cold_dir = tempfile::tempdir().unwrap();
    let cold_cache = cold_dir.path().display().to_string();
    let offline_cold = [
        ("CAPSTAN_URL", app.base.as_str()),
        ("CAPSTAN_CACHE_DIR", cold_cache.as_str()),
        ("CAPSTAN_OFFLINE", "1"),
    ];
    let cold = example.cargo(&["build"], &offline_cold).await;
    assert_ne!(cold.code, 0, "{cold:#?}");
    assert!(
        cold.stderr.contains("offline (CAPSTAN_OFFLINE=1)"),
        "{cold:#?}"
    );
    assert!(cold.stderr.contains(&v2), "{cold:#?}");
    assert!(cold.stderr.contains("is not in the cache"), "{cold:#?}");

    // CAPSTAN_UPDATE=1 re-resolves at build time; CAPSTAN_LOCKFILE puts the lock elsewhere.
    capstan(
        &app,
        cache_dir.path(),
        &["rollback", "bc", "--stage", "production"],
    )
    .await
    .ok();
    let elsewhere = example.path().join("elsewhere.lock");
    let elsewhere_text = elsewhere.display().to_string();
    let update = [
        ("CAPSTAN_URL", app.base.as_str()),
        ("CAPSTAN_CACHE_DIR", cache.as_str()),
        ("CAPSTAN_UPDATE", "1"),
        ("CAPSTAN_LOCKFILE", elsewhere_text.as_str()),
    ];
    let rolled_back = example.cargo(&run_args, &update).await.ok();
    assert_embeds(&rolled_back, "1", &v1);
    let moved = std::fs::read_to_string(&elsewhere).unwrap();
    assert!(moved.contains(&format!("digest = \"{v1}\"")), "{moved}");
    let untouched = std::fs::read_to_string(example.lockfile()).unwrap();
    assert!(
        untouched.contains(&format!("digest = \"{v2}\"")),
        "{untouched}"
    );
}

/// The first reference row as the app's argument: values in signature order, a missing
/// value as nothing.
fn zoo_arguments(model: &serde_json::Value) -> String {
    model["inputs"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| match value {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(text) => text.clone(),
            number => number.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Registers every zoo model as `zoo-<n>` (version 1, in production); returns the refs.
async fn register_zoo(app: &TestApp, models: &[serde_json::Value]) -> Vec<String> {
    let mut refs = Vec::new();
    for (index, model) in models.iter().enumerate() {
        let name = format!("zoo-{index}");
        app.create_model(&name).await;
        let (status, body) = app
            .upload_with(
                &name,
                &capstan_tests::zoo::upload_metadata(model),
                capstan_tests::zoo::bytes(model),
            )
            .await;
        assert_eq!(status, 201, "{}: {body}", model["file"]);
        let (status, body) = app
            .promote(&name, "production", &serde_json::json!({"version": 1}))
            .await;
        assert_eq!(status, 200, "{body}");
        refs.push(format!("{name}@production"));
    }
    refs
}

/// Every zoo model compiled into one binary (`client/examples/embedded-zoo`, fetched at
/// build time through `capstan.lock`) answers scikit-learn's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_zoo_model_compiled_in_answers_like_scikit_learn() {
    let app = capstan_tests::spawn_app().await;
    let models = capstan_tests::zoo::models();
    let refs = register_zoo(&app, &models).await;
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_dir.path().display().to_string();
    let example = ExampleApp::copy_of("embedded-zoo");
    let all = refs.join(",");
    let env = [
        ("CAPSTAN_URL", app.base.as_str()),
        ("CAPSTAN_CACHE_DIR", cache.as_str()),
        ("EMBEDDED_MODELS", all.as_str()),
    ];
    example.cargo(&["build", "--quiet"], &env).await.ok();
    let lock = std::fs::read_to_string(example.lockfile()).unwrap();
    let binary = example.binary("embedded-zoo");
    for (model, reference) in models.iter().zip(&refs) {
        assert!(
            lock.contains(reference.as_str()),
            "{reference} is pinned: {lock}"
        );
        let rows = model["inputs"].to_string();
        let reference = reference.clone();
        let binary = binary.clone();
        let output = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = std::process::Command::new(binary)
                .arg(&reference)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(rows.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            model["file"],
            String::from_utf8_lossy(&output.stderr)
        );
        let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        capstan_tests::zoo::check_predict_answer(model, &answer);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_app_answers_a_regressor_of_typed_features() {
    // The showcase app with a pipeline of numbers, whole numbers, strings and a missing
    // value, and a string-labelled classifier: its comma-separated argument typed by the
    // signature.
    let app = capstan_tests::spawn_app().await;
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_dir.path().display().to_string();
    let example = ExampleApp::copy();
    for name in ["pipeline_ridge", "pipeline_gradient_boosting"] {
        let model = capstan_tests::zoo::model(name);
        let registered = name.replace('_', "-");
        app.create_model(&registered).await;
        let (status, body) = app
            .upload_with(
                &registered,
                &capstan_tests::zoo::upload_metadata(&model),
                capstan_tests::zoo::bytes(&model),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        app.promote(
            &registered,
            "production",
            &serde_json::json!({"version": 1}),
        )
        .await;
        let reference = format!("{registered}@production");
        let env = [
            ("CAPSTAN_URL", app.base.as_str()),
            ("CAPSTAN_CACHE_DIR", cache.as_str()),
            ("EMBEDDED_MODEL", reference.as_str()),
        ];
        let arguments = zoo_arguments(&model);
        let run = example
            .cargo(&["run", "--quiet", "--", arguments.as_str()], &env)
            .await
            .ok();
        assert_eq!(run.field("model"), reference, "{run:#?}");
        if capstan_tests::zoo::is_regressor(&model) {
            let ours: f64 = run.field("value").parse().unwrap();
            let theirs = model["values"][0].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() <= 1e-4 * theirs.abs().max(1.0),
                "{name}: {ours} vs {theirs}"
            );
        } else {
            let label = &model["labels"][0];
            assert_eq!(
                run.field("class"),
                label.as_str().unwrap(),
                "{name}: {run:#?}"
            );
            let classes = model["classes"].as_array().unwrap();
            let index = classes.iter().position(|c| c == label).unwrap();
            let theirs = model["probabilities"][0][index].as_f64().unwrap();
            let ours: f64 = run.field("probability").parse().unwrap();
            assert!((ours - theirs).abs() < 1e-3, "{name}: {ours} vs {theirs}");
        }
    }
}
