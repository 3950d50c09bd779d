//! The precedence of a setting's sources (flag, environment, file, default) and the
//! start-up checks of the event settings.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use clap::{Args as _, Command};

use super::*;

/// A config file holding `text`, removed when dropped.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(name: &str, text: &str) -> Self {
        let file = format!("capstan-config-{}-{name}.toml", std::process::id());
        let path = std::env::temp_dir().join(file);
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `serve`'s arguments, reading the environment variables of `keep_env` only (so the
/// CAPSTAN_* variables of the machine running the tests do not leak in).
fn command(keep_env: &[&str]) -> Command {
    ServeArgs::augment_args(Command::new("serve")).mut_args(|arg| {
        if keep_env.contains(&arg.get_id().as_str()) {
            arg
        } else {
            arg.env(None)
        }
    })
}

fn settings_of(command: Command, argv: &[&str]) -> anyhow::Result<ServeArgs> {
    let argv = std::iter::once("serve").chain(argv.iter().copied());
    ServeArgs::from_matches(&command.try_get_matches_from(argv)?)
}

fn settings(argv: &[&str]) -> anyhow::Result<ServeArgs> {
    settings_of(command(&[]), argv)
}

#[test]
fn the_file_fills_in_what_the_flags_leave_unset() {
    let file = ConfigFile::new(
        "fills",
        "listen = \"0.0.0.0:9000\"\ndb_pool_size = 4\nnats_stream = \"EVENTS\"\n\
         max_artifact_bytes = 53687091200\ns3_allow_http = true\n",
    );
    let settings = settings(&[
        "--config",
        file.path(),
        "--listen",
        "127.0.0.1:9001",
        "--nats-url",
        "nats://127.0.0.1:4222",
    ])
    .unwrap();
    assert_eq!(
        settings.listen,
        Some(SocketAddr::from(([127, 0, 0, 1], 9001))),
        "a flag beats the file"
    );
    assert_eq!(settings.nats_url.as_deref(), Some("nats://127.0.0.1:4222"));
    assert_eq!(settings.db_pool_size, Some(4));
    assert_eq!(settings.nats_stream.as_deref(), Some("EVENTS"));
    assert_eq!(settings.max_artifact_bytes, Some(53_687_091_200));
    assert_eq!(settings.s3_allow_http, Some(true));
    assert_eq!(settings.workers, None, "in neither: left to the default");
    assert_eq!(settings.config.as_deref(), Some(file.0.as_path()));
}

#[test]
fn the_environment_beats_the_file_and_a_flag_beats_the_environment() {
    // The only test that reads an environment variable: the others drop the bindings.
    std::env::set_var("CAPSTAN_RELAY_LEASE_MS", "7000");
    let file = ConfigFile::new("env", "relay_lease_ms = 5000\nevents_poll_ms = 500\n");
    let from_env = settings_of(command(&["relay_lease_ms"]), &["--config", file.path()]);
    let from_flag = settings_of(
        command(&["relay_lease_ms"]),
        &["--config", file.path(), "--relay-lease-ms", "9000"],
    );
    std::env::remove_var("CAPSTAN_RELAY_LEASE_MS");
    let from_env = from_env.unwrap();
    assert_eq!(from_env.relay_lease_ms, Some(7000));
    assert_eq!(from_env.events_poll_ms, Some(500));
    assert_eq!(from_flag.unwrap().relay_lease_ms, Some(9000));
}

#[test]
fn without_a_file_the_flags_are_the_settings() {
    let settings = settings(&["--workers", "3"]).unwrap();
    assert_eq!(settings.workers, Some(3));
    assert_eq!(settings.config, None);
    assert_eq!(settings.listen, None);
}

#[test]
fn a_file_with_an_unknown_key_or_a_bad_value_is_refused() {
    for (name, text) in [
        ("typo", "lisen = \"127.0.0.1:8080\"\n"),
        ("config", "config = \"other.toml\"\n"),
        ("value", "listen = \"not an address\"\n"),
        ("type", "db_pool_size = \"many\"\n"),
    ] {
        let file = ConfigFile::new(name, text);
        let error = settings(&["--config", file.path()]).unwrap_err();
        assert!(
            format!("{error:#}").contains("invalid config file"),
            "{name}: {error:#}"
        );
    }
    let error = settings(&["--config", "/nonexistent/capstan.toml"]).unwrap_err();
    assert!(format!("{error:#}").contains("cannot read the config file"));
}

#[test]
fn unset_settings_take_their_defaults() {
    let dir = std::env::temp_dir().join(format!("capstan-config-{}-data", std::process::id()));
    let settings = ServeArgs {
        data_dir: Some(dir.clone()),
        ..ServeArgs::default()
    };
    let config = Config::resolve(settings);
    let canonical = dir.canonicalize();
    let _ = std::fs::remove_dir_all(&dir);
    let (config, dir) = (config.unwrap(), canonical.unwrap());
    assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
    assert_eq!(
        config.database_url,
        format!("sqlite://{}", dir.join("capstan.db").display())
    );
    assert_eq!(
        config.object_store.url,
        format!("file://{}", dir.join("objects").display())
    );
    assert!(!config.object_store.s3_allow_http);
    assert_eq!(config.db_pool_size, 16);
    assert_eq!(config.workers, None);
    assert_eq!(
        config.limits.max_artifact_bytes,
        Limits::default().max_artifact_bytes
    );
    let defaults = EventsConfig::default();
    assert_eq!(config.events.heartbeat, defaults.heartbeat);
    assert_eq!(config.events.relay_lease, defaults.relay_lease);
    assert!(config.events.nats.is_none() && config.events.kafka.is_none());
}

#[test]
fn broker_settings_are_checked_at_start() {
    let nats = |stream: &str, prefix: &str| {
        resolve_nats(&ServeArgs {
            nats_url: Some("nats://127.0.0.1:4222".into()),
            nats_stream: Some(stream.into()),
            nats_subject_prefix: Some(prefix.into()),
            ..ServeArgs::default()
        })
    };
    assert!(nats("CAPSTAN", "capstan.models").unwrap().is_some());
    assert!(nats("CAP.STAN", "capstan.models").is_err());
    assert!(nats("CAPSTAN", "capstan..models").is_err());
    assert!(nats("CAPSTAN", "capstan.*").is_err());
    let defaults = resolve_nats(&ServeArgs {
        nats_url: Some("nats://127.0.0.1:4222".into()),
        ..ServeArgs::default()
    })
    .unwrap()
    .unwrap();
    assert_eq!(defaults.stream, NatsConfig::DEFAULT_STREAM);
    assert_eq!(defaults.subject_prefix, NatsConfig::DEFAULT_SUBJECT_PREFIX);

    let kafka = |brokers: &str, topic: Option<&str>| {
        resolve_kafka(&ServeArgs {
            kafka_brokers: Some(brokers.into()),
            kafka_topic: topic.map(Into::into),
            ..ServeArgs::default()
        })
    };
    let config = kafka(" a:9092, ,b:9092 ", None).unwrap().unwrap();
    assert_eq!(config.brokers, ["a:9092", "b:9092"]);
    assert_eq!(config.topic, KafkaConfig::DEFAULT_TOPIC);
    assert!(kafka(" , ", None).is_err());
    assert!(kafka("a:9092", Some("no spaces")).is_err());

    let public_url = |url: &str| {
        resolve_events(&ServeArgs {
            public_url: Some(url.into()),
            ..ServeArgs::default()
        })
    };
    assert!(public_url("https://models.example.com").is_ok());
    assert!(public_url("models.example.com").is_err());
    assert!(resolve_nats(&ServeArgs::default()).unwrap().is_none());
    assert!(resolve_kafka(&ServeArgs::default()).unwrap().is_none());
}

#[test]
fn webhook_settings_come_from_flags_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let defaults = Config::resolve(settings(&["--data-dir", data_dir]).unwrap()).unwrap();
    assert_eq!(defaults.webhooks, WebhooksConfig::default());
    assert!(!defaults.webhooks.allow_private);

    // A bare flag turns private addresses on; an explicit value works too.
    let bare = settings(&["--webhooks-allow-private", "--data-dir", data_dir]).unwrap();
    assert_eq!(bare.webhooks_allow_private, Some(true));
    let off = settings(&["--webhooks-allow-private=false"]).unwrap();
    assert_eq!(off.webhooks_allow_private, Some(false));

    let file = ConfigFile::new(
        "webhooks",
        "webhooks_allow_private = true\nwebhooks_retry_first_ms = 250\n\
         webhooks_give_up_ms = 60000\n",
    );
    let config = Config::resolve(
        settings(&[
            "--config",
            file.path(),
            "--data-dir",
            data_dir,
            "--webhooks-timeout-ms",
            "2500",
        ])
        .unwrap(),
    )
    .unwrap();
    assert!(config.webhooks.allow_private);
    assert_eq!(config.webhooks.retry_first, Duration::from_millis(250));
    assert_eq!(config.webhooks.give_up, Duration::from_secs(60));
    assert_eq!(config.webhooks.timeout, Duration::from_millis(2500));

    let bad = settings(&[
        "--data-dir",
        data_dir,
        "--webhooks-retry-first-ms",
        "7200000",
    ])
    .unwrap();
    assert!(
        Config::resolve(bad).is_err(),
        "first delay above the maximum"
    );
}

#[test]
fn mlflow_source_hosts_are_origins_from_flags_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let defaults = Config::resolve(settings(&["--data-dir", data_dir]).unwrap()).unwrap();
    assert!(defaults.mlflow_sources.origins.is_empty());

    // Comma-separated or repeated; normalized as URLs' origins compare.
    let flags = settings(&[
        "--data-dir",
        data_dir,
        "--mlflow-source-hosts",
        "HTTP://MLflow.internal:80,https://m2.example:8443/",
        "--mlflow-source-hosts",
        "http://127.0.0.1:5000",
    ])
    .unwrap();
    let config = Config::resolve(flags).unwrap();
    assert_eq!(
        config.mlflow_sources.origins,
        [
            "http://mlflow.internal",
            "https://m2.example:8443",
            "http://127.0.0.1:5000"
        ]
    );
    assert_eq!(config.mlflow_sources.token, None);

    let file = ConfigFile::new(
        "mlflow",
        "mlflow_source_hosts = [\"http://mlflow:5000\"]\nmlflow_source_token = \"secret\"\n",
    );
    let config =
        Config::resolve(settings(&["--config", file.path(), "--data-dir", data_dir]).unwrap())
            .unwrap();
    assert_eq!(config.mlflow_sources.origins, ["http://mlflow:5000"]);
    assert_eq!(config.mlflow_sources.token.as_deref(), Some("secret"));
    assert!(
        !format!("{config:?}").contains("secret"),
        "the token is redacted"
    );

    for bad in [
        "mlflow.internal",
        "ftp://mlflow.internal",
        "http://mlflow.internal/prefix",
        "http://mlflow.internal:80/prefix",
        "http://mlflow.internal?x",
        "http://user:pw@mlflow.internal",
    ] {
        let given = settings(&["--data-dir", data_dir, "--mlflow-source-hosts", bad]).unwrap();
        let error = Config::resolve(given).unwrap_err().to_string();
        assert!(error.contains("--mlflow-source-hosts"), "{bad}: {error}");
    }
}

#[test]
fn a_non_loopback_address_needs_auth_or_the_insecure_flag() {
    let data = std::env::temp_dir().join(format!("capstan-auth-config-{}", std::process::id()));
    let data = data.to_str().unwrap();
    let resolve = |extra: &[&str]| {
        let mut argv = vec!["--data-dir", data, "--listen", "0.0.0.0:8080"];
        argv.extend_from_slice(extra);
        Config::resolve(settings(&argv).unwrap())
    };
    let error = resolve(&[]).unwrap_err().to_string();
    assert!(
        error.contains("--auth") && error.contains("--insecure-no-auth"),
        "{error}"
    );
    let config = resolve(&["--auth"]).unwrap();
    assert!(config.auth.enabled);
    let config = resolve(&["--insecure-no-auth"]).unwrap();
    assert!(!config.auth.enabled);
    let config = Config::resolve(settings(&["--data-dir", data]).unwrap()).unwrap();
    assert!(!config.auth.enabled, "loopback stays zero-configuration");
    assert_eq!(config.auth.cache, Duration::from_secs(1));
    let config = resolve(&[
        "--auth",
        "--auth-cache-ms",
        "0",
        "--auth-open-metrics",
        "false",
    ])
    .unwrap();
    assert_eq!(
        (
            config.auth.cache,
            config.auth.open_metrics,
            config.auth.open_docs
        ),
        (Duration::ZERO, false, true)
    );
    let _ = std::fs::remove_dir_all(data);
}

mod properties {
    use proptest::prelude::*;

    use super::{settings, ConfigFile};

    /// A line of a config file: a known key with a value of any type, or anything.
    fn line() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "listen",
            "workers",
            "db_pool_size",
            "data_dir",
            "auth",
            "database_url",
            "webhooks_allow_private",
            "mlflow_source_hosts",
            "lisen",
        ]);
        let value = prop_oneof![
            "\"[ -~]{0,24}\"",
            "-?[0-9]{1,22}",
            "(true|false|nan|inf|1e400)",
            "\\[(\"[a-z:/.0-9]{0,20}\", ?){0,3}\\]",
            "\\{ ?[a-z]{1,5} = [0-9]{1,3} ?\\}",
        ];
        prop_oneof![
            (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
            any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn any_config_file_is_read_or_refused_by_name(
            lines in prop::collection::vec(line(), 0..6),
            workers in 1usize..512,
            port in 1u16..,
        ) {
            let file = ConfigFile::new("prop", &lines.join("\n"));
            if let Err(error) = settings(&["--config", file.path()]) {
                let message = format!("{error:#}");
                prop_assert!(message.contains("invalid config file"), "{}", message);
            }
            // Values written read back as themselves.
            let text = format!("listen = \"127.0.0.1:{port}\"\nworkers = {workers}\n");
            let file = ConfigFile::new("prop-valid", &text);
            let read = settings(&["--config", file.path()]).unwrap();
            prop_assert_eq!(read.workers, Some(workers));
            prop_assert_eq!(read.listen.map(|l| l.port()), Some(port));
        }
    }
}
