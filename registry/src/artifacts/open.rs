//! Opening the configured object store from its URL: `file:///…` or `s3://bucket/prefix`.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use super::{ArtifactError, ArtifactStore, Location};

/// What opening a store needs besides its URL.
#[derive(Clone, Debug, Default)]
pub struct ObjectStoreConfig {
    pub url: String,
    /// Endpoint of an S3-compatible server (`CAPSTAN_S3_ENDPOINT`).
    pub s3_endpoint: Option<String>,
    /// Allow plain HTTP to the endpoint (`CAPSTAN_S3_ALLOW_HTTP`).
    pub s3_allow_http: bool,
}

fn bad_url(url: &str, reason: impl Into<String>) -> ArtifactError {
    ArtifactError::BadUrl {
        url: url.to_owned(),
        reason: reason.into(),
    }
}

/// How long a failing S3 request is retried before the request that needed it fails:
/// long enough to ride out a blip, short enough that an S3 server that is down fails an
/// upload in seconds rather than the three minutes object_store allows by default.
const S3_RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
const S3_MAX_RETRIES: usize = 5;

fn s3_retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: S3_MAX_RETRIES,
        retry_timeout: S3_RETRY_TIMEOUT,
        ..object_store::RetryConfig::default()
    }
}

pub fn open_store(config: &ObjectStoreConfig) -> Result<ArtifactStore, ArtifactError> {
    let url = config.url.as_str();
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(bad_url(
                url,
                "a file:// URL needs an absolute path (file:///…)",
            ));
        }
        std::fs::create_dir_all(path).map_err(|e| bad_url(url, e.to_string()))?;
        let local = LocalFileSystem::new_with_prefix(path)?.with_automatic_cleanup(true);
        let location = Location::Local {
            root: path.trim_end_matches('/').to_owned(),
        };
        return Ok(ArtifactStore::new(
            Arc::new(local),
            None,
            Path::default(),
            location,
        ));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad_url(url, "missing bucket name"));
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_allow_http(config.s3_allow_http)
            .with_retry(s3_retry());
        if let Some(endpoint) = &config.s3_endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            builder = builder.with_region("us-east-1");
        }
        let s3 = Arc::new(builder.build()?);
        let root =
            Path::parse(prefix.trim_matches('/')).map_err(|e| bad_url(url, e.to_string()))?;
        let location = Location::S3 {
            bucket: bucket.to_owned(),
        };
        return Ok(ArtifactStore::new(s3.clone(), Some(s3), root, location));
    }
    Err(bad_url(url, "expected file:///… or s3://bucket/prefix"))
}
