//! What the client tests share: the real `capstan` binary (built once, into the target
//! directory these tests were built in), a copy of `client/examples/embedded-app` built
//! with cargo against the same target directory and lockfile, and helpers to run both
//! with a clean environment.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use capstan_tests::example::{
    cargo_command, is_release, target_dir, workspace_bin, workspace_root, ExampleCrate,
};
use capstan_tests::TestApp;

/// Variables of the client that must not leak in from the environment running the tests.
const CLIENT_VARS: [&str; 12] = [
    "CAPSTAN_URL",
    "CAPSTAN_TOKEN",
    "CAPSTAN_CLIENT_CONFIG",
    "CAPSTAN_TIMEOUT",
    "CAPSTAN_RETRIES",
    "CAPSTAN_CACHE_DIR",
    "CAPSTAN_OFFLINE",
    "CAPSTAN_UPDATE",
    "CAPSTAN_LOCKFILE",
    "CAPSTAN_DEPLOYMENT",
    "CAPSTAN_INSTANCE_ID",
    "CI",
];

/// What a process printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the output unless the process exited 0.
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "failed: {self:#?}");
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }

    /// The value of a `name: value` line of stdout.
    pub fn field(&self, name: &str) -> String {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")))
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|| panic!("no `{name}:` line: {self:#?}"))
    }
}

/// The `capstan` binary. `cargo test --workspace` builds it beside the tests; when it is
/// missing or older than the client's sources (e.g. after `cargo test -p capstan-tests`),
/// it is built here, with the features this test crate compiled `capstan-client` with, so
/// cargo reuses what it built.
pub fn capstan_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        workspace_bin(
            "capstan",
            &["capstan-tests", "capstan-client"],
            &["client", "Cargo.lock"],
        )
    })
}

/// A command with the client's variables cleared, then `env` set.
pub fn clean_command(program: impl AsRef<std::ffi::OsStr>, env: &[(&str, &str)]) -> Command {
    clean(Command::new(program), env)
}

/// [`clean_command`] on a command made elsewhere.
pub fn clean(mut command: Command, env: &[(&str, &str)]) -> Command {
    for name in CLIENT_VARS {
        command.env_remove(name);
    }
    // No client config file of the machine's user: only what a test writes.
    command.env("XDG_CONFIG_HOME", "/nonexistent/capstan-tests");
    for (name, value) in env {
        command.env(name, value);
    }
    command.stdin(Stdio::null());
    command
}

/// Runs `command` on the blocking pool (the registry keeps serving meanwhile).
pub async fn output(mut command: Command) -> Run {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `capstan <args>` against `app` with the cache in `cache`.
pub async fn capstan(app: &TestApp, cache: &Path, args: &[&str]) -> Run {
    capstan_with(app, cache, args, &[], None).await
}

pub async fn capstan_with(
    app: &TestApp,
    cache: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    cwd: Option<&Path>,
) -> Run {
    let cache = cache.display().to_string();
    let mut all_env = vec![
        ("CAPSTAN_URL", app.base.as_str()),
        ("CAPSTAN_CACHE_DIR", &cache),
    ];
    all_env.extend_from_slice(env);
    let mut command = clean_command(capstan_bin(), &all_env);
    command.args(args);
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    output(command).await
}

/// The features of the first row of the breast-cancer table, comma-separated.
pub fn first_row_features() -> String {
    let csv = fs::read_to_string(breast_cancer_csv()).unwrap();
    let row = csv.lines().nth(1).unwrap();
    let values: Vec<&str> = row.split(',').collect();
    values[..values.len() - 1].join(",")
}

pub fn breast_cancer_csv() -> PathBuf {
    workspace_root().join("tests/data/breast_cancer.csv")
}

/// `capstan train logistic` on the breast-cancer table, registered as a version of `bc`,
/// with `extra` flags (`--l2 …`, `--output json`).
pub async fn train_bc(app: &TestApp, cache: &Path, extra: &[&str]) -> Run {
    let csv = breast_cancer_csv().display().to_string();
    let mut args = vec![
        "train",
        "logistic",
        "--csv",
        &csv,
        "--target",
        "target",
        "--register",
        "bc",
    ];
    args.extend_from_slice(extra);
    capstan(app, cache, &args).await
}

/// A copy of `client/examples/embedded-app` in a temporary directory, depending on this
/// checkout's `capstan-client` by absolute path, with the workspace's `Cargo.lock`, built
/// into the shared target directory: nothing is compiled twice.
pub struct ExampleApp {
    example: ExampleCrate,
}

impl ExampleApp {
    pub fn copy() -> Self {
        Self::copy_of("embedded-app")
    }

    /// A copy of `client/examples/<name>`.
    pub fn copy_of(name: &str) -> Self {
        ExampleApp {
            example: ExampleCrate::copy(name),
        }
    }

    /// The binary `name` the copy built.
    pub fn binary(&self, name: &str) -> PathBuf {
        self.example.binary(name)
    }

    pub fn path(&self) -> &Path {
        self.example.path()
    }

    pub fn lockfile(&self) -> PathBuf {
        self.path().join("capstan.lock")
    }

    /// `cargo <args>` in the copy, with the client's variables from `env` only.
    pub async fn cargo(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let target = target_dir().display().to_string();
        let mut all_env = vec![("CARGO_TARGET_DIR", target.as_str())];
        all_env.extend_from_slice(env);
        let mut command = clean(cargo_command(), &all_env);
        let (subcommand, rest) = args.split_first().unwrap();
        command.current_dir(self.path()).arg(subcommand);
        if is_release() {
            command.arg("--release");
        }
        command.args(rest);
        output(command).await
    }
}
