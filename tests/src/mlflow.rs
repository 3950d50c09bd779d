//! A real MLflow tracking server for the `capstan import mlflow` tests: the unmodified
//! `mlflow server` (SQLite backend store, `--artifacts-destination` served through its
//! `mlflow-artifacts` proxy) on a free port in a temporary directory, ready once `/health`
//! answers, stopped with its whole process group when dropped; and
//! `tests/python/mlflow_populate.py`, which fills it with the unmodified `mlflow` client.
//!
//! Needs `python3` with `mlflow`, `scikit-learn`, `onnxruntime` and `skl2onnx`
//! ([`python_ready`]); CI installs them (`.ci/run`), elsewhere a test without them skips.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::example::workspace_root;

/// How long `mlflow server` may take to answer `/health` (it imports a lot of Python).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether `python3` has what the MLflow tests run; under `CI` it must (a missing
/// package fails instead of skipping).
pub fn python_ready(test: &str) -> bool {
    let ready = Command::new("python3")
        .args(["-c", "import mlflow, sklearn, onnxruntime, skl2onnx"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install mlflow==3.17.2, scikit-learn, onnxruntime and skl2onnx (see .ci/run)"
        );
        eprintln!(
            "{test}: python3 lacks mlflow, scikit-learn, onnxruntime or skl2onnx: skipping \
             (pip install mlflow==3.17.2 scikit-learn onnxruntime skl2onnx)"
        );
    }
    ready
}

/// A running `mlflow server`.
pub struct MlflowServer {
    /// Its tracking URI, `http://127.0.0.1:<port>`.
    pub uri: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl MlflowServer {
    /// Starts a server on a fresh store and waits until `/health` answers.
    pub async fn start() -> MlflowServer {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::free_address().port();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new("python3")
            .args(["-m", "mlflow", "server", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--workers", "1"])
            .arg("--backend-store-uri")
            .arg(format!(
                "sqlite:///{}",
                dir.path().join("mlflow.db").display()
            ))
            .arg("--artifacts-destination")
            .arg(dir.path().join("artifacts"))
            // No job runner: it starts seven more Python processes the tests do not use.
            .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group, so dropping stops the uvicorn worker it starts too.
            .process_group(0)
            .spawn()
            .unwrap();
        let mut server = MlflowServer {
            uri: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        };
        server.wait_until_healthy().await;
        server
    }

    async fn wait_until_healthy(&mut self) {
        let http = reqwest::Client::new();
        let health = format!("{}/health", self.uri);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("mlflow server exited ({status}):\n{}", self.log());
            }
            let answered = http.get(&health).send().await;
            if answered.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mlflow server did not answer /health within {START_TIMEOUT:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs `tests/python/mlflow_populate.py` against the server; returns what it wrote
    /// (the versions it created, their runs' metrics, rows and pyfunc's predictions).
    pub async fn populate(&self) -> Value {
        let out = self.dir.path().join("populated.json");
        let script = workspace_root().join("tests/python/mlflow_populate.py");
        let csv = crate::breast_cancer_csv();
        let mut command = Command::new("python3");
        command
            .arg(script)
            .arg(&self.uri)
            .arg(csv)
            .arg(&out)
            .env("MLFLOW_TRACKING_URI", &self.uri)
            .stdin(Stdio::null());
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            output.status.success(),
            "mlflow_populate.py failed ({}):\n{}\n{}\nserver log:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
    }

    /// The directory MLflow stores artifacts in.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.dir.path().join("artifacts")
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let kill = |signal: &str| {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        kill("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        kill("-KILL");
        let _ = self.child.wait();
    }
}
