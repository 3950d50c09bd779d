//! `capstan-registry token …` on the database directly, and `serve` refusing a public
//! address without authentication.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use capstan_tests::example::registry_bin;
use capstan_tests::TestApp;

use super::{auth_app, get_as};

/// `capstan-registry token <args>` against `app`'s database.
fn token_command(app: &TestApp, scratch: &std::path::Path, args: &[&str]) -> Output {
    Command::new(registry_bin())
        .arg("token")
        .args(args)
        .arg("--database-url")
        .arg(&app.database_url)
        .arg("--data-dir")
        .arg(scratch)
        .arg("--object-store-url")
        .arg(format!("file://{}", scratch.join("objects").display()))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_token_command_creates_lists_and_revokes_in_the_database() {
    registry_bin(); // built before the server starts, not while it serves
    let app = auth_app(Duration::ZERO).await;
    let scratch = tempfile::tempdir().unwrap();

    let created = token_command(&app, scratch.path(), &["create", "ops", "--role", "admin"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let secret = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(
        secret.starts_with("capstan_"),
        "stdout is the bare secret: {secret:?}"
    );
    let (status, _, whoami) = get_as(&app, Some(&secret), "/api/v1/whoami").await;
    assert_eq!((status, whoami["name"].as_str()), (200, Some("ops")));

    let scoped = token_command(
        &app,
        scratch.path(),
        &[
            "create", "fraud-ci", "--role", "editor", "--models", "fraud-*", "--output", "json",
        ],
    );
    assert!(scoped.status.success());
    let scoped: Value = serde_json::from_slice(&scoped.stdout).unwrap();
    assert_eq!(scoped["models"], serde_json::json!(["fraud-*"]));

    let listed = token_command(&app, scratch.path(), &["list", "--output", "json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let rows: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["created_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("admin", "bootstrap"), ("fraud-ci", "cli"), ("ops", "cli")]
    );
    assert!(
        !listed.to_string().contains(&secret),
        "a listing never shows a secret"
    );

    let revoked = token_command(&app, scratch.path(), &["revoke", "ops"]);
    assert!(revoked.status.success());
    let (status, _, _) = get_as(&app, Some(&secret), "/api/v1/whoami").await;
    assert_eq!(
        status, 401,
        "revoked from outside the server, refused on its next request"
    );
    let missing = token_command(&app, scratch.path(), &["revoke", "ops"]);
    assert_eq!(missing.status.code(), Some(3), "not found");
    let invalid = token_command(&app, scratch.path(), &["create", "x", "--role", "root"]);
    assert_eq!(
        invalid.status.code(),
        Some(2),
        "a bad flag is a usage error"
    );
}

#[test]
fn serve_refuses_a_public_address_without_auth() {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(registry_bin())
        .args(["serve", "--listen", "0.0.0.0:0", "--batch-workers", "0"])
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .env_remove("CAPSTAN_AUTH")
        .env_remove("CAPSTAN_INSECURE_NO_AUTH")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--auth") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
}
