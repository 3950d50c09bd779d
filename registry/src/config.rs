//! Configuration: every setting is a flag, an environment variable and a key in an
//! optional TOML file (`--config`), in that order of precedence, then a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

use crate::artifacts::ObjectStoreConfig;
use crate::service::Limits;

/// Flags of `capstan-registry serve`. Unset flags fall back to the config file, then to
/// the defaults documented on each flag.
#[derive(Debug, Default, Clone, Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (keys as the flags, with `_`).
    #[arg(long, env = "CAPSTAN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CAPSTAN_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Directory for the default SQLite database and object store; created if missing
    /// [default: ./capstan-data].
    #[arg(long, env = "CAPSTAN_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://…` [default: sqlite://DATA_DIR/capstan.db].
    #[arg(long, env = "CAPSTAN_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// `file:///ABS/PATH` or `s3://BUCKET/PREFIX` [default: file://DATA_DIR/objects].
    /// S3 reads the usual AWS_* variables.
    #[arg(long, env = "CAPSTAN_OBJECT_STORE_URL", value_name = "URL")]
    pub object_store_url: Option<String>,
    /// Endpoint of an S3-compatible server, e.g. http://127.0.0.1:9000.
    #[arg(long, env = "CAPSTAN_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Allow plain HTTP to the S3 endpoint.
    #[arg(long, env = "CAPSTAN_S3_ALLOW_HTTP", value_name = "BOOL")]
    pub s3_allow_http: Option<bool>,
    /// Largest artifact accepted, in bytes [default: 17179869184 = 16 GiB].
    #[arg(long, env = "CAPSTAN_MAX_ARTIFACT_BYTES", value_name = "BYTES")]
    pub max_artifact_bytes: Option<u64>,
    /// Largest JSON body, in bytes [default: 1048576 = 1 MiB].
    #[arg(long, env = "CAPSTAN_MAX_JSON_BYTES", value_name = "BYTES")]
    pub max_json_bytes: Option<usize>,
    /// HTTP worker threads [default: one per core].
    #[arg(long, env = "CAPSTAN_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Database connections in the pool [default: 16].
    #[arg(long, env = "CAPSTAN_DB_POOL_SIZE", value_name = "N")]
    pub db_pool_size: Option<u32>,
}

/// The config file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    object_store_url: Option<String>,
    s3_endpoint: Option<String>,
    s3_allow_http: Option<bool>,
    max_artifact_bytes: Option<u64>,
    max_json_bytes: Option<usize>,
    workers: Option<usize>,
    db_pool_size: Option<u32>,
}

/// The settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub object_store: ObjectStoreConfig,
    pub limits: Limits,
    pub workers: Option<usize>,
    pub db_pool_size: u32,
}

impl Config {
    /// Resolves flags/environment, then the config file, then defaults. Creates the
    /// data directory.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("capstan-data"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("cannot resolve the data directory {}", data_dir.display()))?;
        let database_url = args
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("capstan.db").display()));
        let object_store_url = args
            .object_store_url
            .or(file.object_store_url)
            .unwrap_or_else(|| format!("file://{}", data_dir.join("objects").display()));
        let defaults = Limits::default();
        Ok(Self {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir,
            database_url,
            object_store: ObjectStoreConfig {
                url: object_store_url,
                s3_endpoint: args.s3_endpoint.or(file.s3_endpoint),
                s3_allow_http: args.s3_allow_http.or(file.s3_allow_http).unwrap_or(false),
            },
            limits: Limits {
                max_artifact_bytes: args
                    .max_artifact_bytes
                    .or(file.max_artifact_bytes)
                    .unwrap_or(defaults.max_artifact_bytes),
                max_json_bytes: args
                    .max_json_bytes
                    .or(file.max_json_bytes)
                    .unwrap_or(defaults.max_json_bytes),
            },
            workers: args.workers.or(file.workers),
            db_pool_size: args.db_pool_size.or(file.db_pool_size).unwrap_or(16),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}
