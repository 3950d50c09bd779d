//! The `capstan` binary against a live registry: every command group, tables and
//! `--output json`, exit codes, `pull` (verified, cached, resumable) and `events --follow`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use capstan_client::types::PromoteRequest;
use capstan_client::Digest;
use capstan_tests::spawn_app;
use serde_json::json;

use crate::support::{capstan, capstan_bin, capstan_with, clean_command, output};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_versions_stages_and_aliases() {
    let app = spawn_app().await;
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();

    let created = capstan(
        &app,
        cache,
        &["models", "create", "bc", "--description", "breast cancer"],
    )
    .await
    .ok();
    assert!(created.stdout.contains("breast cancer"), "{created:#?}");
    capstan(&app, cache, &["models", "create", "other"])
        .await
        .ok();
    let listed = capstan(&app, cache, &["models", "list", "--output", "json"])
        .await
        .ok();
    let names: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["bc", "other"]);
    let table = capstan(&app, cache, &["models", "list"]).await.ok();
    assert!(table.stdout.starts_with("NAME"), "{table:#?}");
    assert_eq!(table.stdout.lines().count(), 3, "{table:#?}");

    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("model.bin");
    std::fs::write(&artifact, b"artifact bytes v1").unwrap();
    let artifact = artifact.display().to_string();
    let upload = capstan(
        &app,
        cache,
        &[
            "versions",
            "upload",
            &artifact,
            "--model",
            "bc",
            "--format",
            "opaque",
            "--metrics",
            "accuracy=0.91,recall=0.8",
            "--source",
            "run-1",
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    let v1 = upload.json();
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["status"], "ready");
    assert_eq!(v1["digest"], Digest::of(b"artifact bytes v1").to_string());
    assert_eq!(v1["metrics"]["accuracy"], 0.91);
    std::fs::write(dir.path().join("model.bin"), b"artifact bytes v2").unwrap();
    let human = capstan(
        &app,
        cache,
        &[
            "versions", "upload", &artifact, "--model", "bc", "--format", "opaque",
        ],
    )
    .await
    .ok();
    assert!(
        human.stdout.starts_with("uploaded bc@2 (sha256:"),
        "{human:#?}"
    );

    let versions = capstan(&app, cache, &["versions", "list", "bc"]).await.ok();
    assert!(
        versions.stdout.lines().nth(1).unwrap().starts_with("2 "),
        "{versions:#?}"
    );
    let shown = capstan(&app, cache, &["versions", "show", "bc@1"])
        .await
        .ok();
    assert_eq!(shown.field("source"), "run-1");
    assert_eq!(shown.field("accuracy"), "0.9100");

    let promoted = capstan(
        &app,
        cache,
        &["promote", "bc@1", "--to", "production", "--reason", "first"],
    )
    .await
    .ok();
    assert_eq!(promoted.stdout.trim(), "promoted bc@1 to production");
    capstan(
        &app,
        cache,
        &["promote", "bc@2", "--to", "production", "--expect", "1"],
    )
    .await
    .ok();
    let stale = capstan(
        &app,
        cache,
        &["promote", "bc@1", "--to", "production", "--expect", "1"],
    )
    .await;
    assert_eq!(stale.code, 4, "conflict: {stale:#?}");
    let production = capstan(
        &app,
        cache,
        &["versions", "show", "bc@production", "--output", "json"],
    )
    .await
    .ok();
    assert_eq!(production.json()["version"], 2);
    let rolled = capstan(&app, cache, &["rollback", "bc", "--stage", "production"])
        .await
        .ok();
    assert_eq!(
        rolled.stdout.trim(),
        "rolled back bc production to version 1"
    );

    capstan(&app, cache, &["alias", "set", "bc@2", "champion"])
        .await
        .ok();
    let champion = capstan(
        &app,
        cache,
        &["versions", "show", "bc@champion", "--output", "json"],
    )
    .await
    .ok();
    assert_eq!(champion.json()["version"], 2);
    capstan(&app, cache, &["alias", "delete", "bc", "champion"])
        .await
        .ok();
    let gone = capstan(&app, cache, &["versions", "show", "bc@champion"]).await;
    assert_eq!(gone.code, 3, "not found: {gone:#?}");

    let events = capstan(
        &app,
        cache,
        &[
            "events",
            "--model",
            "bc",
            "--kind",
            "stage_changed",
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    assert_eq!(events.json().as_array().unwrap().len(), 3, "{events:#?}");
    let in_use = capstan(&app, cache, &["models", "delete", "bc"]).await;
    assert_eq!(
        in_use.code, 4,
        "a model in production cannot be deleted: {in_use:#?}"
    );
    let deleted = capstan(&app, cache, &["models", "delete", "other"])
        .await
        .ok();
    assert_eq!(deleted.stdout.trim(), "deleted model other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_tell_what_went_wrong() {
    let app = spawn_app().await;
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let missing = capstan(&app, cache, &["models", "show", "nope"]).await;
    assert_eq!(missing.code, 3, "{missing:#?}");
    assert!(missing.stderr.contains("model_not_found"), "{missing:#?}");
    capstan(&app, cache, &["models", "create", "bc"]).await.ok();
    let exists = capstan(&app, cache, &["models", "create", "bc"]).await;
    assert_eq!(exists.code, 4, "{exists:#?}");
    let bad_name = capstan(&app, cache, &["models", "create", "Not/A/Name"]).await;
    assert_eq!(bad_name.code, 2, "{bad_name:#?}");
    let bad_stage = capstan(&app, cache, &["promote", "bc@1", "--to", "prod"]).await;
    assert_eq!(bad_stage.code, 2, "{bad_stage:#?}");
    let no_file = capstan(
        &app,
        cache,
        &[
            "versions",
            "upload",
            "/no/such/file",
            "--model",
            "bc",
            "--format",
            "onnx",
        ],
    )
    .await;
    assert_eq!(no_file.code, 2, "{no_file:#?}");
    let unreachable = capstan_with(
        &app,
        cache,
        &["models", "list", "--url", "http://127.0.0.1:1"],
        &[("CAPSTAN_RETRIES", "0")],
        None,
    )
    .await;
    assert_eq!(unreachable.code, 5, "{unreachable:#?}");
    assert!(
        unreachable.stderr.contains("cannot reach the registry"),
        "{unreachable:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_is_verified_cached_and_resumable() {
    let app = spawn_app().await;
    app.create_model("big").await;
    let data: Vec<u8> = (0..500_000u32).map(|i| (i % 253) as u8).collect();
    app.upload("big", &data).await;
    let digest = Digest::of(&data);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_dir.path();
    std::fs::create_dir_all(cache.join("tmp")).unwrap();
    std::fs::write(
        cache.join("tmp").join(format!("{}.partial", digest.hex())),
        &data[..123_456],
    )
    .unwrap();

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("big.bin");
    let file_arg = file.display().to_string();
    let pulled = capstan(
        &app,
        cache,
        &["pull", "big@latest", "-o", &file_arg, "--output", "json"],
    )
    .await
    .ok();
    let json = pulled.json();
    assert_eq!(json["digest"], digest.to_string());
    assert_eq!(json["resumed_from"], 123_456);
    assert_eq!(json["downloaded_bytes"], 500_000 - 123_456);
    assert_eq!(std::fs::read(&file).unwrap(), data);
    let blob = cache.join("blobs/sha256").join(digest.hex());
    assert_eq!(std::fs::read(&blob).unwrap(), data);

    let again = capstan(&app, cache, &["pull", "big@1"]).await.ok();
    assert!(
        again.field("cache").ends_with("(already cached)"),
        "{again:#?}"
    );

    std::fs::write(&blob, b"tampered").unwrap();
    let tampered = capstan(&app, cache, &["pull", "big@1"]).await;
    assert_eq!(tampered.code, 6, "{tampered:#?}");
    assert!(tampered.stderr.contains("digest mismatch"), "{tampered:#?}");
}

/// `events --follow` prints the log, then new events, and bridges a registry restart
/// (with a promotion made meanwhile by another replica) without a gap or a repeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_prints_new_events_and_bridges_a_restart() {
    let mut app = spawn_app().await;
    app.create_model("bc").await; // 1, before the command starts: replayed
    let mut command = clean_command(capstan_bin(), &[("CAPSTAN_URL", app.base.as_str())]);
    command
        .args(["events", "--follow", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let next = |what: &str| -> serde_json::Value {
        let line = received
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no line for {what} within 60 s"));
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next("the replay")["kind"], "model_created");
    app.upload("bc", b"bytes").await; // 2 version_created, 3 version_ready
    assert_eq!(next("the upload")["kind"], "version_created");
    assert_eq!(next("the upload")["seq"], 3);

    app.stop_gracefully().await;
    app.registry
        .promote(
            "bc".parse().unwrap(),
            capstan_client::Stage::Production,
            PromoteRequest {
                version: 1,
                ..PromoteRequest::default()
            },
            "test",
        )
        .await
        .unwrap(); // 4, while no server runs
    app.start_again_in_place().await;
    let promotion = next("the promotion made during the restart");
    assert_eq!(
        (&promotion["seq"], &promotion["kind"], &promotion["refs"]),
        (
            &4.into(),
            &"stage_changed".into(),
            &json!(["production", "1"])
        )
    );
    app.put_json("/api/v1/models/bc/aliases/champion", &json!({"version": 1}))
        .await; // 5
    assert_eq!(next("the alias")["seq"], 5, "no repeat after reconnecting");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("reconnecting"), "{stderr}");
}

#[tokio::test]
async fn every_subcommand_has_help_with_examples() {
    let subcommands: [&[&str]; 49] = [
        &["models", "list"],
        &["models", "create"],
        &["models", "show"],
        &["models", "delete"],
        &["versions", "list"],
        &["versions", "show"],
        &["versions", "upload"],
        &["promote"],
        &["rollback"],
        &["alias", "set"],
        &["alias", "delete"],
        &["pull"],
        &["lock", "update"],
        &["events"],
        &["train", "logistic"],
        &["dataset", "upload"],
        &["dataset", "list"],
        &["dataset", "show"],
        &["dataset", "delete"],
        &["dataset", "download"],
        &["batch", "submit"],
        &["batch", "list"],
        &["batch", "status"],
        &["batch", "cancel"],
        &["batch", "approve"],
        &["batch", "reject"],
        &["batch", "download"],
        &["batch", "predictions"],
        &["batch", "schedule", "create"],
        &["batch", "schedule", "list"],
        &["batch", "schedule", "show"],
        &["batch", "schedule", "pause"],
        &["batch", "schedule", "resume"],
        &["batch", "schedule", "delete"],
        &["webhooks", "create"],
        &["webhooks", "list"],
        &["webhooks", "show"],
        &["webhooks", "pause"],
        &["webhooks", "resume"],
        &["webhooks", "rotate-secret"],
        &["webhooks", "delete"],
        &["webhooks", "deliveries"],
        &["policy", "show"],
        &["policy", "set"],
        &["policy", "delete"],
        &["requests", "list"],
        &["requests", "show"],
        &["requests", "approve"],
        &["requests", "reject"],
    ];
    for subcommand in subcommands {
        let mut command = clean_command(capstan_bin(), &[]);
        command.args(subcommand).arg("--help");
        let help = output(command).await.ok();
        assert!(
            help.stdout.contains("Examples:"),
            "{subcommand:?}: {help:#?}"
        );
    }
    let mut command = clean_command(capstan_bin(), &[]);
    command.arg("--help");
    let top = output(command).await.ok();
    assert!(top.stdout.contains("Exit codes"), "{top:#?}");
}
