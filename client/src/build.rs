//! Fetching models from an application's `build.rs` (pattern 1, embedded; feature
//! `build`): one call resolves a ref through `capstan.lock`, downloads the artifact into
//! the shared cache, verifies its sha256, copies it into `OUT_DIR`, and tells cargo when
//! to run the build script again.
//!
//! ```no_run
//! // build.rs
//! fn main() {
//!     match capstan_client::build::fetch("bc@production") {
//!         Ok(model) => model.emit_env("BC_MODEL"),
//!         Err(error) => {
//!             eprintln!("error: {error}");
//!             std::process::exit(1);
//!         }
//!     }
//! }
//! // src/main.rs: static MODEL: &[u8] = include_bytes!(env!("BC_MODEL_PATH"));
//! ```
//!
//! No async runtime and no model runtime are compiled for this: a blocking HTTP client,
//! sha2, serde and toml.

use std::path::{Path, PathBuf};

use crate::blocking::Client;
use crate::cache::{BlobCache, Silent};
use crate::config::{env, flag_var, Config};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::lock::pin::{pin, PinOptions};
use crate::lock::{lockfile_path, Lockfile};
use crate::reference::ModelRef;
use crate::types::ArtifactLayout;

pub use crate::report::{
    report_embedded, report_embedded_from_env, EmbeddedReporter, DEPLOYMENT_VAR, INSTANCE_VAR,
};

/// A model fetched into `OUT_DIR`, ready for `include_bytes!`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedModel {
    /// The ref the build asked for.
    pub reference: ModelRef,
    /// The version it is pinned to in `capstan.lock`.
    pub version: i64,
    pub digest: Digest,
    pub size: u64,
    pub format: String,
    /// The verified copy in `OUT_DIR`: a file, or for a version holding a tree of files
    /// (an MLflow model), the directory holding exactly that tree.
    pub path: PathBuf,
}

impl EmbeddedModel {
    /// Passes the model to the crate's code as compile-time environment variables
    /// `<PREFIX>_PATH`, `_REF`, `_VERSION`, `_DIGEST`, `_SIZE` and `_FORMAT`, for
    /// `include_bytes!(env!("<PREFIX>_PATH"))` and `env!("<PREFIX>_DIGEST")`.
    pub fn emit_env(&self, prefix: &str) {
        let values = [
            ("PATH", self.path.display().to_string()),
            ("REF", self.reference.to_string()),
            ("VERSION", self.version.to_string()),
            ("DIGEST", self.digest.to_string()),
            ("SIZE", self.size.to_string()),
            ("FORMAT", self.format.clone()),
        ];
        for (name, value) in values {
            println!("cargo:rustc-env={prefix}_{name}={value}");
        }
    }
}

/// Fetches `reference` (e.g. `bc@production`) with the settings of the environment: see
/// [`Fetcher::from_env`].
pub fn fetch(reference: &str) -> Result<EmbeddedModel> {
    Fetcher::from_env()?.fetch(reference)
}

/// Fetches models for one crate's build.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: Client,
    cache: BlobCache,
    lockfile: PathBuf,
    out_dir: PathBuf,
    options: PinOptions,
}

impl Fetcher {
    /// Settings from the build script's environment: `OUT_DIR` and `CARGO_MANIFEST_DIR`
    /// (set by cargo), the registry from `CAPSTAN_URL`, the cache from
    /// `CAPSTAN_CACHE_DIR`, the lockfile from `CAPSTAN_LOCKFILE` (default `capstan.lock`
    /// beside `Cargo.toml`), `CAPSTAN_OFFLINE` and `CAPSTAN_UPDATE`. Tells cargo to run
    /// the build script again when any of those variables changes.
    pub fn from_env() -> Result<Self> {
        for name in env::ALL {
            println!("cargo:rerun-if-env-changed={name}");
        }
        let cargo_dir = |name: &str| {
            std::env::var_os(name).map(PathBuf::from).ok_or_else(|| {
                Error::Invalid(format!(
                    "{name} is not set: capstan_client::build::fetch runs inside a build script"
                ))
            })
        };
        let manifest_dir = cargo_dir("CARGO_MANIFEST_DIR")?;
        Ok(Fetcher {
            client: Client::new(Config::from_env()?),
            cache: BlobCache::from_env()?,
            lockfile: lockfile_path(&manifest_dir),
            out_dir: cargo_dir("OUT_DIR")?,
            options: PinOptions {
                offline: flag_var(env::OFFLINE),
                update: flag_var(env::UPDATE),
            },
        })
    }

    /// Explicit settings, for tests and tools that are not build scripts.
    pub fn new(
        config: Config,
        cache: BlobCache,
        lockfile: PathBuf,
        out_dir: PathBuf,
        options: PinOptions,
    ) -> Self {
        Fetcher {
            client: Client::new(config),
            cache,
            lockfile,
            out_dir,
            options,
        }
    }

    pub fn lockfile(&self) -> &Path {
        &self.lockfile
    }

    /// Pins `reference` in the lockfile (writing the entry when there is none, or when
    /// updating), makes sure the pinned bytes are in the cache, and copies them, verified,
    /// to `OUT_DIR`. Tells cargo to run the build script again when the lockfile or the
    /// cached blob changes.
    pub fn fetch(&self, reference: &str) -> Result<EmbeddedModel> {
        let reference = ModelRef::parse(reference)
            .map_err(|e| Error::Invalid(format!("invalid model ref {reference:?}: {e}")))?;
        println!("cargo:rerun-if-changed={}", self.lockfile.display());
        let mut lock = Lockfile::load(&self.lockfile)?;
        let mut client = self.client.clone();
        let pinned = pin(
            &mut client,
            &self.cache,
            &mut lock,
            &reference,
            self.options,
            &mut Silent,
        )?;
        let entry = pinned.entry;
        if pinned.lock_changed {
            lock.save()?;
            println!(
                "cargo:warning=capstan: pinned {reference} to version {} ({}) in {}",
                entry.version,
                entry.digest,
                self.lockfile.display()
            );
        }
        println!(
            "cargo:rerun-if-changed={}",
            self.cache.blob_path(&entry.digest).display()
        );
        std::fs::create_dir_all(&self.out_dir).map_err(|e| Error::io(&self.out_dir, e))?;
        let name = format!("{}@{}", reference.model, reference.version);
        let path = match entry.layout {
            ArtifactLayout::Blob => {
                let path = self.out_dir.join(format!("{name}.model"));
                self.cache.copy_to(&entry.digest, &path)?;
                path
            }
            ArtifactLayout::Tree => {
                let dir = self.out_dir.join(&name);
                self.write_tree(&pinned.blob.path, &dir)?;
                dir
            }
        };
        Ok(EmbeddedModel {
            reference,
            version: entry.version,
            digest: entry.digest,
            size: entry.size,
            format: entry.format,
            path,
        })
    }

    /// Writes the tree whose manifest is cached at `manifest` into `dir`: every file
    /// copied from the cache and verified on the way; files the manifest does not list
    /// are removed, so `dir` holds exactly the tree.
    fn write_tree(&self, manifest: &Path, dir: &Path) -> Result<()> {
        let manifest = crate::lock::pin::read_manifest(manifest)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        for file in manifest.files() {
            let dest = dir.join(file.path.as_str());
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            self.cache.copy_to(&file.digest, &dest)?;
        }
        Ok(())
    }
}
