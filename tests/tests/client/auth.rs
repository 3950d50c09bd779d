//! Clients against a registry that requires tokens (`--auth`): the `capstan` binary
//! (`--token`, `CAPSTAN_TOKEN`, the client config file; exit codes 7 and 8; `token` and
//! `whoami`), the async and blocking clients, `LiveModel`, the embedded example app's
//! build script (`build::fetch`), and the model server, both presenting a token to the
//! registry and requiring one itself. The token never shows in stderr, `capstan.lock` or
//! the cache.

use std::path::Path;

use capstan_client::cache::BlobCache;
use capstan_client::http::{Client, ModelQuery};
use capstan_client::live::LiveModel;
use capstan_client::types::{CreateModel, Role};
use capstan_client::{Config, ErrorKind, ModelName};
use capstan_tests::TestApp;
use serde_json::json;

use crate::support::{capstan_with, first_row_features, ExampleApp, Run};

const UNAUTHENTICATED: i32 = 7;
const FORBIDDEN: i32 = 8;

async fn spawn_auth() -> TestApp {
    capstan_tests::spawn_with_auth(std::time::Duration::from_secs(1)).await
}

fn admin(app: &TestApp) -> &str {
    app.admin_token.as_deref().unwrap()
}

/// A well-formed secret the registry never issued.
const UNKNOWN: &str = "capstan_00000000000000000000000000000000000000000000000000000000deadbeef";

/// Asserts no file under `dir` (or `dir` itself, a file) holds `secret`.
fn assert_nowhere(dir: &Path, secret: &str) {
    let paths: Vec<_> = if dir.is_file() {
        vec![dir.to_owned()]
    } else {
        walk(dir)
    };
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the token is in {}",
            path.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn assert_refused(run: &Run, code: i32, secret: &str) {
    assert_eq!(run.code, code, "{run:#?}");
    assert!(
        !run.stderr.contains(secret),
        "the token is in stderr: {run:#?}"
    );
    assert!(
        !run.stdout.contains(secret),
        "the token is in stdout: {run:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_takes_its_token_from_the_flag_the_environment_or_the_config_file() {
    let app = spawn_auth().await;
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let admin = admin(&app);
    app.create_model("bc").await;

    // No token: 401, exit code 7, a message saying what to set.
    let anonymous = capstan_with(&app, cache, &["models", "list"], &[], None).await;
    assert_eq!(anonymous.code, UNAUTHENTICATED, "{anonymous:#?}");
    assert!(anonymous.stderr.contains("CAPSTAN_TOKEN"), "{anonymous:#?}");
    // An unknown token: the same, and it is not echoed.
    let unknown = capstan_with(
        &app,
        cache,
        &["models", "list"],
        &[("CAPSTAN_TOKEN", UNKNOWN)],
        None,
    )
    .await;
    assert_refused(&unknown, UNAUTHENTICATED, UNKNOWN);

    // CAPSTAN_TOKEN.
    let listed = capstan_with(
        &app,
        cache,
        &["models", "list", "--output", "json"],
        &[("CAPSTAN_TOKEN", admin)],
        None,
    )
    .await
    .ok();
    assert_eq!(listed.json()[0]["name"], "bc");
    // --token wins over the environment.
    let flagged = capstan_with(
        &app,
        cache,
        &["whoami", "--token", admin],
        &[("CAPSTAN_TOKEN", UNKNOWN)],
        None,
    )
    .await
    .ok();
    assert_eq!(flagged.field("name"), "admin");
    assert_eq!(flagged.field("role"), "admin");

    // The client config file, below the environment.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, format!("token = \"{admin}\"\n")).unwrap();
    let file = file.display().to_string();
    let from_file = capstan_with(
        &app,
        cache,
        &["whoami", "--output", "json"],
        &[("CAPSTAN_CLIENT_CONFIG", &file)],
        None,
    )
    .await
    .ok();
    assert_eq!(from_file.json()["name"], "admin");
    let env_first = capstan_with(
        &app,
        cache,
        &["whoami"],
        &[("CAPSTAN_CLIENT_CONFIG", &file), ("CAPSTAN_TOKEN", UNKNOWN)],
        None,
    )
    .await;
    assert_refused(&env_first, UNAUTHENTICATED, UNKNOWN);
    // The URL can come from the file too (with no CAPSTAN_URL).
    let both = dir.path().join("both.toml");
    std::fs::write(
        &both,
        format!("url = \"{}\"\ntoken = \"{admin}\"\n", app.base),
    )
    .unwrap();
    let mut command = crate::support::clean_command(
        crate::support::capstan_bin(),
        &[("CAPSTAN_CLIENT_CONFIG", &both.display().to_string())],
    );
    command.arg("whoami");
    assert_eq!(
        crate::support::output(command).await.ok().field("name"),
        "admin"
    );

    // A reader may read but not create: 403, exit code 8.
    let reader = app.create_token("viewer", "reader", None).await;
    let read = capstan_with(
        &app,
        cache,
        &["models", "show", "bc"],
        &[("CAPSTAN_TOKEN", &reader)],
        None,
    )
    .await;
    assert_eq!(read.code, 0, "{read:#?}");
    let create = capstan_with(
        &app,
        cache,
        &["models", "create", "other"],
        &[("CAPSTAN_TOKEN", &reader)],
        None,
    )
    .await;
    assert_refused(&create, FORBIDDEN, &reader);
    assert!(create.stderr.contains("403"), "{create:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_lists_and_revokes_tokens() {
    let app = spawn_auth().await;
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let as_admin = [("CAPSTAN_TOKEN", admin(&app))];

    let created = capstan_with(
        &app,
        cache,
        &[
            "token",
            "create",
            "fraud-team",
            "--role",
            "editor",
            "--models",
            "fraud-*",
            "--output",
            "json",
        ],
        &as_admin,
        None,
    )
    .await
    .ok();
    let created = created.json();
    assert_eq!(created["name"], "fraud-team");
    assert_eq!(created["role"], "editor");
    assert_eq!(created["models"], json!(["fraud-*"]));
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("capstan_"), "{created}");

    let human = capstan_with(
        &app,
        cache,
        &["token", "create", "ci", "--role", "promoter"],
        &as_admin,
        None,
    )
    .await
    .ok();
    assert!(human.field("token (shown once)").starts_with("capstan_"));

    let who = capstan_with(
        &app,
        cache,
        &["whoami"],
        &[("CAPSTAN_TOKEN", &secret)],
        None,
    )
    .await
    .ok();
    assert_eq!(who.field("name"), "fraud-team");
    assert_eq!(who.field("role"), "editor");
    assert_eq!(who.field("models"), "fraud-*");

    let listed = capstan_with(
        &app,
        cache,
        &["token", "list", "--output", "json"],
        &as_admin,
        None,
    )
    .await
    .ok();
    let names: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["admin", "ci", "fraud-team"]);
    assert!(!listed.stdout.contains("capstan_"), "{listed:#?}");
    let table = capstan_with(&app, cache, &["token", "list"], &as_admin, None)
        .await
        .ok();
    assert!(table.stdout.starts_with("NAME"), "{table:#?}");

    // Tokens are an unscoped admin's business.
    let refused = capstan_with(
        &app,
        cache,
        &["token", "list"],
        &[("CAPSTAN_TOKEN", &secret)],
        None,
    )
    .await;
    assert_refused(&refused, FORBIDDEN, &secret);

    capstan_with(
        &app,
        cache,
        &["token", "revoke", "fraud-team"],
        &as_admin,
        None,
    )
    .await
    .ok();
    let revoked = capstan_with(
        &app,
        cache,
        &["whoami"],
        &[("CAPSTAN_TOKEN", &secret)],
        None,
    )
    .await;
    assert_refused(&revoked, UNAUTHENTICATED, &secret);
    let missing = capstan_with(
        &app,
        cache,
        &["token", "revoke", "fraud-team"],
        &as_admin,
        None,
    )
    .await;
    assert_eq!(missing.code, 3, "{missing:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulling_with_a_token_keeps_it_out_of_the_lockfile_and_the_cache() {
    let app = spawn_auth().await;
    app.create_model("bc").await;
    app.upload("bc", b"the artifact").await;
    let reader = app.create_token("puller", "reader", Some(&["bc"])).await;
    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let env = [("CAPSTAN_TOKEN", reader.as_str())];

    let refused = capstan_with(
        &app,
        cache.path(),
        &["pull", "bc@1"],
        &[],
        Some(work.path()),
    )
    .await;
    assert_eq!(refused.code, UNAUTHENTICATED, "{refused:#?}");
    let out = work.path().join("model.bin").display().to_string();
    capstan_with(
        &app,
        cache.path(),
        &["pull", "bc@1", "-o", &out],
        &env,
        Some(work.path()),
    )
    .await
    .ok();
    assert_eq!(std::fs::read(&out).unwrap(), b"the artifact");
    capstan_with(
        &app,
        cache.path(),
        &["lock", "update", "bc@1"],
        &env,
        Some(work.path()),
    )
    .await
    .ok();
    let lock = work.path().join("capstan.lock");
    assert!(std::fs::read_to_string(&lock).unwrap().contains("bc@1"));
    assert_nowhere(&lock, &reader);
    assert_nowhere(cache.path(), &reader);
    // A model outside the token's scope does not exist for it.
    app.create_model("other").await;
    let hidden = capstan_with(&app, cache.path(), &["models", "show", "other"], &env, None).await;
    assert_eq!(hidden.code, 3, "{hidden:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_and_blocking_clients_present_the_token() {
    let app = spawn_auth().await;
    app.create_model("bc").await;
    let reader = app.create_token("reader", "reader", None).await;
    let config = |token: Option<&str>| {
        Config::new(&app.base)
            .unwrap()
            .with_token(token.map(str::to_owned))
    };

    // Async.
    let query = ModelQuery::default();
    let anonymous = Client::new(config(None)).unwrap();
    let error = anonymous.list_models(&query).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized, "{error}");
    assert!(error.to_string().contains("CAPSTAN_TOKEN"), "{error}");
    let unknown = Client::new(config(Some(UNKNOWN))).unwrap();
    let error = unknown.list_models(&query).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert!(!error.to_string().contains(UNKNOWN), "{error}");
    assert!(!format!("{unknown:?}").contains(UNKNOWN));
    let client = Client::new(config(Some(&reader))).unwrap();
    assert_eq!(client.list_models(&query).await.unwrap().models.len(), 1);
    assert_eq!(client.whoami().await.unwrap().role, Role::Reader);
    let create = CreateModel {
        name: "other".parse().unwrap(),
        description: None,
        tags: None,
    };
    let error = client.create_model(&create).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Forbidden, "{error}");
    assert_eq!(error.code(), Some("insufficient_role"));
    assert!(!error.to_string().contains(&reader), "{error}");

    // Blocking.
    let (anonymous, unknown, reader) = (config(None), config(Some(UNKNOWN)), config(Some(&reader)));
    tokio::task::spawn_blocking(move || {
        use capstan_client::blocking::Client;
        let bc: ModelName = "bc".parse().unwrap();
        let error = Client::new(anonymous).get_model(&bc).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unauthorized, "{error}");
        let error = Client::new(unknown).whoami().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unauthorized, "{error}");
        assert!(!error.to_string().contains(UNKNOWN));
        let client = Client::new(reader);
        assert_eq!(client.get_model(&bc).unwrap().name, bc);
        assert_eq!(client.whoami().unwrap().name, "reader");
        let error = client.create_model(&create).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Forbidden, "{error}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_model_presents_the_token_on_its_stream_and_downloads() {
    let app = spawn_auth().await;
    app.create_model("bc").await;
    let v1 = app
        .upload_trained("bc", &capstan_tests::train_breast_cancer(1.0))
        .await;
    let v2 = app
        .upload_trained("bc", &capstan_tests::train_breast_cancer(100.0))
        .await;
    app.promote("bc", "production", &json!({"version": v1}))
        .await;
    let reader = app.create_token("follower", "reader", Some(&["bc"])).await;
    let cache = tempfile::tempdir().unwrap();

    let anonymous = LiveModel::builder("bc@production".parse().unwrap())
        .client(Client::new(Config::new(&app.base).unwrap()).unwrap())
        .cache(BlobCache::new(cache.path()))
        .start()
        .await;
    let Err(error) = anonymous else {
        panic!("followed without a token")
    };
    assert!(error.to_string().contains("401"), "{error}");

    let config = Config::new(&app.base)
        .unwrap()
        .with_token(Some(reader.clone()));
    let live = LiveModel::builder("bc@production".parse().unwrap())
        .client(Client::new(config).unwrap())
        .cache(BlobCache::new(cache.path()))
        .start()
        .await
        .unwrap();
    assert_eq!(live.current().version, v1);
    // The move arrives over the event stream, and v2 is downloaded: both with the token.
    let (status, body) = app
        .promote("bc", "production", &json!({"version": v2}))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut watch = live.watch();
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while watch.borrow_and_update().version != v2 {
            watch.changed().await.unwrap();
        }
    })
    .await
    .expect("the live model did not swap to v2");
    assert_nowhere(cache.path(), &reader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_app_build_script_fetches_with_capstan_token() {
    let app = spawn_auth().await;
    app.create_model("bc").await;
    let v1 = app
        .upload_trained("bc", &capstan_tests::train_breast_cancer(1.0))
        .await;
    app.promote("bc", "production", &json!({"version": v1}))
        .await;
    let reader = app.create_token("builder", "reader", None).await;
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_dir.path().display().to_string();
    let features = first_row_features();
    let example = ExampleApp::copy();
    let run_args = ["run", "--quiet", "--", features.as_str()];

    let refused = example
        .cargo(
            &run_args,
            &[
                ("CAPSTAN_URL", app.base.as_str()),
                ("CAPSTAN_CACHE_DIR", cache.as_str()),
            ],
        )
        .await;
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(refused.stderr.contains("401"), "{refused:#?}");
    assert!(refused.stderr.contains("CAPSTAN_TOKEN"), "{refused:#?}");

    let built = example
        .cargo(
            &run_args,
            &[
                ("CAPSTAN_URL", app.base.as_str()),
                ("CAPSTAN_CACHE_DIR", cache.as_str()),
                ("CAPSTAN_TOKEN", reader.as_str()),
            ],
        )
        .await
        .ok();
    assert_eq!(built.field("version"), v1.to_string(), "{built:#?}");
    assert_nowhere(&example.lockfile(), &reader);
    assert_nowhere(cache_dir.path(), &reader);
}
