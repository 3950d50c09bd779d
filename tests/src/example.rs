//! Copies of the example applications in `client/examples/<name>`: each is a crate of its
//! own outside the workspace, so a test copies it to a temporary directory, points its
//! `capstan-client` path dependency at this checkout, copies the workspace's `Cargo.lock`
//! in, and builds it offline into the target directory the tests were built in, so
//! nothing is compiled twice.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The profile folder (`target/debug`) the running test binary was built in.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    // Test binaries live in target/<profile>/deps, other binaries in target/<profile>.
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().unwrap().to_owned()
    } else {
        dir.to_owned()
    }
}

/// The target directory the tests were built in.
pub fn target_dir() -> PathBuf {
    profile_dir().parent().unwrap().to_owned()
}

pub fn is_release() -> bool {
    profile_dir().file_name().is_some_and(|n| n == "release")
}

/// The cargo running the tests (`$CARGO`), or `cargo`.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `cargo` without the variables cargo sets for the test binary that runs it
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, `OUT_DIR`, …). Build scripts such as ring's
/// rerun when one of those changes, so a build started from a test with them set (a
/// stale `capstan-registry` rebuilt by [`workspace_bin`]) rebuilt ring and everything
/// above it, and the next `cargo test` rebuilt it all back: three minutes of each CI run.
pub fn cargo_command() -> Command {
    const KEPT: [&str; 6] = [
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_INCREMENTAL",
        "CARGO_TERM_COLOR",
        "CARGO_NET_OFFLINE",
        "CARGO_BUILD_JOBS",
    ];
    let mut command = Command::new(cargo());
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if (name.starts_with("CARGO_") && !KEPT.contains(&name)) || name == "OUT_DIR" {
            command.env_remove(name);
        }
    }
    command
}

/// A buildable copy of one example application.
pub struct ExampleCrate {
    dir: tempfile::TempDir,
}

impl ExampleCrate {
    /// Copies `client/examples/<name>` (without `target`, `Cargo.lock`, `capstan.lock`).
    pub fn copy(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(
            &workspace_root().join("client/examples").join(name),
            dir.path(),
        );
        let manifest = dir.path().join("Cargo.toml");
        let text = fs::read_to_string(&manifest).unwrap();
        assert!(text.contains("path = \"../..\""), "{text}");
        let client = workspace_root().join("client").display().to_string();
        fs::write(
            &manifest,
            text.replace("path = \"../..\"", &format!("path = {client:?}")),
        )
        .unwrap();
        fs::copy(
            workspace_root().join("Cargo.lock"),
            dir.path().join("Cargo.lock"),
        )
        .unwrap();
        ExampleCrate { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `cargo build --offline` of the copy (release when the tests are), into the shared
    /// target directory; panics with cargo's output when it fails.
    pub fn build(&self, extra_args: &[&str]) {
        let mut command = cargo_command();
        command
            .current_dir(self.path())
            .env("CARGO_TARGET_DIR", target_dir())
            .args(["build", "--offline", "--quiet"])
            .args(extra_args);
        if is_release() {
            command.arg("--release");
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "building {} failed:\n{}",
            self.path().display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The built binary `name`.
    pub fn binary(&self, name: &str) -> PathBuf {
        profile_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
    }
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if ["target", "Cargo.lock", "capstan.lock"]
            .iter()
            .any(|skip| name == *skip)
        {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// The `capstan-registry` binary, as `cargo test --workspace` builds it beside the tests
/// (built here when missing or stale, see [`workspace_bin`]).
pub fn registry_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        workspace_bin(
            "capstan-registry",
            &["capstan-registry"],
            &["registry", "client", "migrations", "Cargo.lock"],
        )
    })
}

/// The workspace binary `bin` from the profile directory the tests were built in. When it
/// is missing or older than `sources` (after `cargo test -p capstan-tests`), it is built
/// here with `-p` for each of `packages`, into the same target directory, so cargo reuses
/// what it built for the tests.
pub fn workspace_bin(bin: &str, packages: &[&str], sources: &[&str]) -> PathBuf {
    let path = profile_dir().join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    let built = fs::metadata(&path).and_then(|m| m.modified()).ok();
    let current = built.is_some_and(|built| {
        sources
            .iter()
            .all(|s| newest_change(&workspace_root().join(s)) <= built)
    });
    if current {
        return path;
    }
    let mut command = cargo_command();
    command
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", target_dir())
        .args(["build", "--quiet"]);
    for package in packages {
        command.args(["-p", package]);
    }
    command.args(["--bin", bin]);
    if is_release() {
        command.arg("--release");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "building {bin} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    path
}

/// The latest modification time of `path` or anything below it (skipping `examples/`
/// and `target/`).
pub fn newest_change(path: &Path) -> std::time::SystemTime {
    let own = fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    if !path.is_dir() {
        return own;
    }
    fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name() != "examples" && entry.file_name() != "target")
        .map(|entry| newest_change(&entry.path()))
        .fold(own, std::time::SystemTime::max)
}
