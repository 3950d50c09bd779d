//! `Config`: where the registry is, the token to present and how patiently to talk to
//! it, read from the environment (`CAPSTAN_URL`, `CAPSTAN_TOKEN`, …) with the client
//! config file (`config/file.rs`) as fallback, or built in code. Also the names of every
//! environment variable the client reads, in one place, so `build.rs` can tell cargo to
//! watch them. Shared by the async client, the blocking client and the CLI. The token is
//! never printed: `Config`'s `Debug` redacts it.

use std::fmt;
use std::time::Duration;

use crate::error::Error;

#[cfg(feature = "fetch")]
mod file;
#[cfg(feature = "fetch")]
pub use file::default_config_path;

/// The names of the environment variables the client reads.
pub mod env {
    /// Base URL of the registry, e.g. `https://capstan.example.com` (default
    /// [`super::DEFAULT_URL`]).
    pub const URL: &str = "CAPSTAN_URL";
    /// Bearer token sent with every request, when set (an API token, `capstan_…`).
    pub const TOKEN: &str = "CAPSTAN_TOKEN";
    /// Path of the client config file with `url` and `token` keys (default
    /// `$XDG_CONFIG_HOME/capstan/config.toml`, or `~/.config/capstan/config.toml`): read
    /// for whichever of the two the environment does not set.
    pub const CONFIG: &str = "CAPSTAN_CLIENT_CONFIG";
    /// Seconds a request may take (default 30); downloads may take longer as long as
    /// bytes keep arriving.
    pub const TIMEOUT: &str = "CAPSTAN_TIMEOUT";
    /// How many times an idempotent request is retried on a connection error or 5xx
    /// (default 3).
    pub const RETRIES: &str = "CAPSTAN_RETRIES";
    /// Root of the content-addressed blob cache (default: the user's cache directory +
    /// `capstan`).
    pub const CACHE_DIR: &str = "CAPSTAN_CACHE_DIR";
    /// `1`: never touch the network; use only `capstan.lock` and the cache.
    pub const OFFLINE: &str = "CAPSTAN_OFFLINE";
    /// `1`: re-resolve refs at build time and rewrite their `capstan.lock` entries.
    pub const UPDATE: &str = "CAPSTAN_UPDATE";
    /// Path of the lockfile (default `capstan.lock` beside `Cargo.toml`); relative paths
    /// are taken from the crate's directory (the current directory for the CLI).
    pub const LOCKFILE: &str = "CAPSTAN_LOCKFILE";

    /// Every variable above: what a build script asks cargo to watch.
    pub const ALL: [&str; 9] = [
        URL, TOKEN, CONFIG, TIMEOUT, RETRIES, CACHE_DIR, OFFLINE, UPDATE, LOCKFILE,
    ];
}

/// The registry a client talks to when `CAPSTAN_URL` is not set.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// How to reach the registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Base URL, `http://` or `https://`, without a trailing slash.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
    /// Longest time one request may take (downloads: the longest wait for the next bytes).
    pub timeout: Duration,
    /// Longest time to establish a connection.
    pub connect_timeout: Duration,
    /// Retries of an idempotent request after a connection error or a 5xx answer.
    pub retries: u32,
    /// Delay before the first retry; each further retry waits twice as long (at most 5 s).
    pub backoff: Duration,
}

impl Config {
    /// A configuration for `url` with the default timeouts and retries.
    pub fn new(url: &str) -> Result<Self, Error> {
        Ok(Config {
            url: normalize_url(url)?,
            token: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(200),
        })
    }

    /// Reads `CAPSTAN_URL`, `CAPSTAN_TOKEN`, `CAPSTAN_TIMEOUT` and `CAPSTAN_RETRIES`; the
    /// URL and the token the environment does not set come from the client config file
    /// (`CAPSTAN_CLIENT_CONFIG`, default `~/.config/capstan/config.toml`) when there is one.
    pub fn from_env() -> Result<Self, Error> {
        let file = file_settings()?;
        let url = non_empty_var(env::URL)
            .or(file.url)
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let mut config = Config::new(&url)?;
        config.token = non_empty_var(env::TOKEN).or(file.token);
        if let Some(seconds) = non_empty_var(env::TIMEOUT) {
            let seconds: f64 = seconds
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s > 0.0)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "{} must be a positive number of seconds, got {seconds:?}",
                        env::TIMEOUT
                    ))
                })?;
            config.timeout = Duration::from_secs_f64(seconds);
        }
        if let Some(retries) = non_empty_var(env::RETRIES) {
            config.retries = retries.parse().map_err(|_| {
                Error::Invalid(format!(
                    "{} must be a whole number, got {retries:?}",
                    env::RETRIES
                ))
            })?;
        }
        Ok(config)
    }

    /// Replaces the token (e.g. from a `--token` flag).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.trim().to_owned());
        self
    }

    /// Replaces the URL (e.g. from a `--url` flag).
    pub fn with_url(mut self, url: &str) -> Result<Self, Error> {
        self.url = normalize_url(url)?;
        Ok(self)
    }

    /// The absolute URL of an API path such as `/api/v1/models`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// How long to wait before retry number `attempt` (0-based): exponential backoff,
    /// capped at 5 s, with up to 25% jitter so clients that failed together do not retry
    /// together.
    pub fn backoff_delay(&self, attempt: u32) -> Duration {
        let base = self
            .backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(Duration::from_secs(5));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = base.mul_f64(f64::from(nanos % 1000) / 4000.0);
        base + jitter
    }
}

/// What the client config file sets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FileSettings {
    pub url: Option<String>,
    pub token: Option<String>,
}

/// The client config file's settings (none without feature `fetch`, which reads TOML).
fn file_settings() -> Result<FileSettings, Error> {
    #[cfg(feature = "fetch")]
    {
        file::read_from_env()
    }
    #[cfg(not(feature = "fetch"))]
    {
        Ok(FileSettings::default())
    }
}

impl fmt::Debug for Config {
    /// Everything but the token, which shows as `<redacted>` when set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .finish()
    }
}

/// A variable's value, or `None` when unset or empty.
pub(crate) fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Whether a flag variable is on (`1`, `true`, `yes`, `on`).
#[cfg(feature = "build")]
pub(crate) fn flag_var(name: &str) -> bool {
    non_empty_var(name).is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

fn normalize_url(url: &str) -> Result<String, Error> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(trimmed.to_owned())
        }
        _ => Err(Error::Invalid(format!(
            "registry URL {url:?} must start with http:// or https:// and name a host"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized_and_checked() {
        assert_eq!(
            Config::new("http://localhost:8080/").unwrap().url,
            "http://localhost:8080"
        );
        assert_eq!(
            Config::new("https://r.example.com")
                .unwrap()
                .endpoint("/api/v1/models"),
            "https://r.example.com/api/v1/models"
        );
        for bad in ["", "localhost:8080", "ftp://x", "http://", "http://a b"] {
            assert!(Config::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config = Config::new(DEFAULT_URL)
            .unwrap()
            .with_token(Some("capstan_secret-value".into()));
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("secret-value"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let config = Config::new(DEFAULT_URL).unwrap();
        let first = config.backoff_delay(0);
        assert!(first >= Duration::from_millis(200) && first <= Duration::from_millis(250));
        assert!(config.backoff_delay(2) >= Duration::from_millis(800));
        assert!(config.backoff_delay(30) <= Duration::from_millis(6250));
    }
}
