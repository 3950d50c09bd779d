//! Python's real clients (tritonclient, pika, grpcio…) driven from the tests: whether they
//! are installed (under `CI=true` they must be) and running a script of `tests/python/`
//! that prints one JSON object.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Whether `python3` can import `modules` (`"pika, numpy"`); outside CI a missing one
/// skips `test` with the `pip` command that installs it, under CI it fails.
pub fn python_has(test: &str, modules: &str, pip: &str) -> bool {
    let ready = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        assert!(
            std::env::var("CI").is_err(),
            "{test}: CI must install {pip} (see .ci/run)"
        );
        eprintln!("{test}: python3 cannot import {modules}: skipping ({pip})");
    }
    ready
}

/// The path of a script in `tests/python/`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// Runs `tests/python/<name>` with `args` off the async runtime and parses the JSON
/// object it prints; a failed script fails the test with its stderr.
pub async fn run_script(name: &str, args: Vec<String>) -> Value {
    let path = script(name);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(path)
            .args(args)
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("the script's thread");
    assert!(
        output.status.success(),
        "{name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{name} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
