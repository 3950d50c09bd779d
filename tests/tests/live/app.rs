//! Pattern 3's example application end to end: a copy of `client/examples/live-app`,
//! built with cargo and run against a live registry, announces the version it serves,
//! swaps on promotion without restarting, answers feature rows from stdin with the
//! version that answered, keeps following after stdin closes, and with `--deployment`
//! reports what it serves to the control plane.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};

use capstan_tests::example::ExampleCrate;
use capstan_tests::{breast_cancer_rows, spawn_app};

use crate::support::{bc_with_versions, promote, Trained, WAIT};

/// Variables of the client that must not leak in from the environment running the tests.
const CLIENT_VARS: [&str; 8] = [
    "CAPSTAN_URL",
    "CAPSTAN_TOKEN",
    "CAPSTAN_TIMEOUT",
    "CAPSTAN_RETRIES",
    "CAPSTAN_CACHE_DIR",
    "CAPSTAN_LIVE_SOURCE",
    "CAPSTAN_NATS_URL",
    "CAPSTAN_KAFKA_BROKERS",
];

/// The running app: its stdin, and its stdout line by line.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Running {
    fn next_line(&self) -> String {
        tokio::task::block_in_place(|| self.lines.recv_timeout(WAIT))
            .unwrap_or_else(|_| panic!("no output line within {WAIT:?}"))
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serving_line(trained: &Trained) -> String {
    format!(
        "serving bc version {} ({})",
        trained.version, trained.digest
    )
}

/// The answer line for the first test row, as `trained` gives it.
fn answer_line(trained: &Trained) -> String {
    let probabilities = &trained.expected[0];
    let best = (0..probabilities.len())
        .max_by(|a, b| probabilities[*a].total_cmp(&probabilities[*b]))
        .unwrap();
    format!(
        "class {best} probability {:.6} version {}",
        probabilities[best], trained.version
    )
}

/// Waits until the report of the app (process `pid`) makes deployment `live-app` in sync
/// on `trained`.
async fn reported(app: &capstan_tests::TestApp, trained: &Trained, pid: u32) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, deployment) = app.get_json("/api/v1/deployments/live-app").await;
        let instance = &deployment["instances"][0];
        if deployment["state"] == "in_sync" && instance["version"] == trained.version {
            assert_eq!(instance["digest"], trained.digest.as_str());
            let id = instance["id"].as_str().unwrap();
            assert!(
                id.ends_with(&format!("-{pid}")),
                "not <hostname>-<pid>: {id}"
            );
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the app never reported version {}: {deployment}",
            trained.version
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_app_follows_production_and_answers_rows() {
    let app = spawn_app().await;
    let versions = bc_with_versions(&app, &[1.0, 100.0]).await;
    let (v1, v2) = (&versions[0], &versions[1]);
    let example = tokio::task::spawn_blocking(|| {
        let example = ExampleCrate::copy("live-app");
        example.build(&[]);
        example
    })
    .await
    .unwrap();
    let cache = tempfile::tempdir().unwrap();

    let mut command = Command::new(example.binary("live-app"));
    for name in CLIENT_VARS {
        command.env_remove(name);
    }
    let (status, body) = app
        .put_json(
            "/api/v1/deployments/live-app",
            &serde_json::json!({"model": "bc@production", "pattern": "stream"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    command
        .args(["bc@production", "--deployment", "live-app"])
        .env("CAPSTAN_URL", &app.base)
        .env("CAPSTAN_CACHE_DIR", cache.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    let stdin = child.stdin.take();
    let mut running = Running {
        child,
        stdin,
        lines,
    };
    let row: Vec<String> = breast_cancer_rows(1)[0]
        .iter()
        .map(ToString::to_string)
        .collect();
    let row = row.join(",");

    assert_eq!(running.next_line(), serving_line(v1));
    running.send(&row);
    assert_eq!(running.next_line(), answer_line(v1));
    reported(&app, v1, running.child.id()).await;

    promote(&app, v2.version).await;
    assert_eq!(running.next_line(), serving_line(v2));
    running.send(&row);
    assert_eq!(running.next_line(), answer_line(v2));
    reported(&app, v2, running.child.id()).await;

    // Without stdin it keeps following.
    drop(running.stdin.take());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        running.child.try_wait().unwrap().is_none(),
        "the app must keep running when stdin closes"
    );
    promote(&app, v1.version).await;
    assert_eq!(running.next_line(), serving_line(v1));
}
