//! `capstan policy` and `capstan requests` against a registry with authentication on:
//! an admin sets a policy from a file, a promoter's `capstan promote` prints the request
//! (exit 0, "approval needed"), another promoter approves it with `capstan requests
//! approve`, and the stage moves.

use capstan_registry::config::AuthConfig;
use capstan_tests::{spawn_with, TestOptions};
use serde_json::json;

use crate::support::capstan_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_prints_the_request_and_another_promoter_approves_it() {
    let app = spawn_with(TestOptions {
        auth: Some(AuthConfig {
            enabled: true,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    app.create_model("bc").await;
    let (status, body) = app
        .upload_with(
            "bc",
            &json!({"format": "opaque", "metrics": {"accuracy": 0.97}}),
            b"v1".to_vec(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let admin = app.admin_token.clone().unwrap();
    let alice = app.create_token("alice", "promoter", None).await;
    let bob = app.create_token("bob", "promoter", None).await;
    let run = |token: String, args: Vec<String>| {
        let app = &app;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            capstan_with(
                app,
                cache,
                &args,
                &[("CAPSTAN_TOKEN", token.as_str())],
                None,
            )
            .await
        }
    };
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.json");
    std::fs::write(
        &file,
        r#"{"stages": {"production": {"metrics": {"accuracy": {"min": 0.95}}, "approvals": 1}}}"#,
    )
    .unwrap();
    let file = file.display().to_string();
    run(
        admin.clone(),
        args(&["policy", "set", "bc", "--file", &file]),
    )
    .await
    .ok();
    let shown = run(admin.clone(), args(&["policy", "show", "bc"]))
        .await
        .ok();
    assert!(shown.stdout.contains("stage:production"), "{shown:#?}");
    assert!(shown.stdout.contains("accuracy>=0.95"), "{shown:#?}");
    let refused = run(
        alice.clone(),
        args(&["policy", "set", "bc", "--file", &file]),
    )
    .await;
    assert_ne!(
        refused.code, 0,
        "a promoter cannot set policies: {refused:#?}"
    );

    let promoted = run(
        alice.clone(),
        args(&[
            "promote",
            "bc@1",
            "--to",
            "production",
            "--reason",
            "better recall",
        ]),
    )
    .await
    .ok();
    let line = promoted.stdout.trim();
    let id = line
        .strip_prefix("approval needed: request ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{promoted:#?}"))
        .to_owned();
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["stages"]["production"], serde_json::Value::Null);

    let listed = run(
        bob.clone(),
        args(&[
            "requests", "list", "--status", "pending", "--output", "json",
        ]),
    )
    .await
    .ok();
    assert_eq!(listed.json()[0]["id"], id.as_str(), "{listed:#?}");
    let own = run(alice.clone(), args(&["requests", "approve", &id])).await;
    assert_eq!(
        own.code, 8,
        "self approval is refused (403, exit 8): {own:#?}"
    );
    assert!(own.stderr.contains("cannot approve"), "{own:#?}");
    assert!(!own.stderr.contains("ask an admin"), "{own:#?}");

    let approved = run(
        bob.clone(),
        args(&["requests", "approve", &id, "--reason", "holdout checked"]),
    )
    .await
    .ok();
    assert_eq!(approved.field("status"), "approved", "{approved:#?}");
    assert_eq!(approved.field("decided by"), "bob", "{approved:#?}");
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["stages"]["production"], 1);
    let shown = run(bob, args(&["requests", "show", &id, "--output", "json"]))
        .await
        .ok();
    assert_eq!(shown.json()["approvals"][0]["reason"], "holdout checked");
}
