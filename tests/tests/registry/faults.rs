//! Dependency faults: a full disk under the local object store and SQLite (a small tmpfs
//! mounted for the test) is a clean `507` that writes nothing and corrupts nothing, and
//! the registry carries on once space is free again.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use capstan_tests::brokers::skip_or_fail;
use capstan_tests::{free_address, start_process, upload_form, KillOnDrop};

const TEST: &str = "a_full_disk_is_a_clean_507_and_corrupts_nothing";

/// A tmpfs of `mib` MiB at a new directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

async fn upload(
    http: &reqwest::Client,
    base: &str,
    model: &str,
    bytes: Vec<u8>,
) -> (u16, Value, Option<String>) {
    let form = upload_form(
        &json!({"format": "opaque"}),
        reqwest::multipart::Part::bytes(bytes).file_name("m.bin"),
    );
    let response = http
        .post(format!("{base}/api/v1/models/{model}/versions"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        content_type,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_clean_507_and_corrupts_nothing() {
    let Some(disk) = SmallDisk::mount(12) else {
        skip_or_fail(TEST, "cannot mount a tmpfs (needs root)");
        return;
    };
    let listen = free_address();
    let base = format!("http://{listen}");
    let mut server = start_process(
        Command::new(capstan_tests::example::registry_bin())
            .args(["serve", "--listen", &listen.to_string()])
            .arg("--data-dir")
            .arg(disk.path())
            .args(["--batch-workers", "0"])
            .env("RUST_LOG", "error"),
        listen,
    )
    .await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{base}/api/v1/models"))
        .json(&json!({"name": "full"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // The object store fills up: uploads succeed until one is a 507.
    let mut stored = Vec::new();
    let refusal = loop {
        let bytes: Vec<u8> = (0..1024 * 1024)
            .map(|i| (i * 7 + stored.len() * 13) as u8)
            .collect();
        let (status, body, content_type) = upload(&http, &base, "full", bytes.clone()).await;
        if status != 201 {
            break (status, body, content_type);
        }
        stored.push((body["version"].as_i64().unwrap(), bytes));
        assert!(stored.len() < 64, "a 12 MiB disk took {} MiB", stored.len());
    };
    assert_eq!(refusal.0, 507, "{}", refusal.1);
    assert_eq!(refusal.2.as_deref(), Some("application/problem+json"));
    assert_eq!(refusal.1["code"], "insufficient_storage", "{}", refusal.1);
    assert!(!stored.is_empty());

    // Nothing of the refused upload was kept: no version, nothing staged.
    let versions: Value = http
        .get(format!("{base}/api/v1/models/full/versions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        stored.len(),
        "{versions}"
    );
    let staging = disk.path().join("objects/staging");
    let staged = std::fs::read_dir(&staging).map_or(0, |entries| entries.count());
    assert_eq!(staged, 0, "the refused upload left staged bytes");

    // Fill what is left, then metadata writes fail cleanly too (SQLite's disk is full).
    let filler = disk.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    let mut metadata_refusal = None;
    for attempt in 0..200 {
        let response = http
            .post(format!("{base}/api/v1/models"))
            .json(&json!({"name": format!("m{attempt}"), "description": "x".repeat(4000)}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status != 201 {
            metadata_refusal = Some((
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            ));
            break;
        }
    }
    let (status, body) = metadata_refusal.expect("SQLite never ran out of disk");
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["code"], "insufficient_storage", "{body}");

    // Space again: the registry carries on, and nothing is corrupt.
    std::fs::remove_file(&filler).unwrap();
    let (status, body, _) =
        upload(&http, &base, "full", b"after the disk was freed".to_vec()).await;
    assert_eq!(status, 201, "{body}");
    for (version, bytes) in &stored {
        let got = http
            .get(format!(
                "{base}/api/v1/models/full/versions/{version}/artifact"
            ))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(
            got.as_ref() == bytes.as_slice(),
            "version {version} changed"
        );
    }
    server.kill();
    let integrity = Command::new("python3")
        .args(["-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])"])
        .arg(disk.path().join("capstan.db"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&integrity.stdout).trim(), "ok");
}

/// A PostgreSQL server of the test's own (initdb in a temporary directory, run as the
/// `postgres` user), so it can be restarted without disturbing other tests.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
}

impl PrivatePostgres {
    fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())?;
        let dir = tempfile::tempdir().ok()?;
        Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .status()
            .ok()
            .filter(|s| s.success())?;
        let port = free_address().port();
        let initdb = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args(["-U", "postgres", "--auth=trust", "-D"])
            .arg(dir.path().join("data"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        if !initdb.success() {
            return None;
        }
        let server = PrivatePostgres { dir, port, bin };
        server.pg_ctl("start").then_some(server)
    }

    fn pg_ctl(&self, action: &str) -> bool {
        let data = self.dir.path().join("data");
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-w", "-m", "fast", "-l"])
            .arg(self.dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {}",
                self.port,
                self.dir.path().display()
            ))
            .arg(action)
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.pg_ctl("stop");
    }
}

/// PostgreSQL restarted under load: requests in flight fail with a `503`
/// `application/problem+json` and `Retry-After`, none hangs, and the pool recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_is_a_503_with_retry_after_and_the_pool_recovers() {
    const TEST: &str =
        "postgres_restarted_under_load_is_a_503_with_retry_after_and_the_pool_recovers";
    if std::env::var("CAPSTAN_TEST_DATABASE_URL").is_err() {
        eprintln!("{TEST}: runs in the PostgreSQL pass (CAPSTAN_TEST_DATABASE_URL)");
        return;
    }
    let Some(postgres) = PrivatePostgres::start() else {
        skip_or_fail(
            TEST,
            "cannot start a private PostgreSQL (needs root and initdb)",
        );
        return;
    };
    capstan_tests::create_pg_database(&postgres.url("postgres"), "capstan");
    let data = tempfile::tempdir().unwrap();
    let listen = free_address();
    let base = format!("http://{listen}");
    let _server = start_process(
        Command::new(capstan_tests::example::registry_bin())
            .args(["serve", "--listen", &listen.to_string()])
            .arg("--data-dir")
            .arg(data.path())
            .args([
                "--database-url",
                &postgres.url("capstan"),
                "--batch-workers",
                "0",
            ])
            .env("RUST_LOG", "error"),
        listen,
    )
    .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let created = http
        .post(format!("{base}/api/v1/models"))
        .json(&json!({"name": "pg"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let (status, body, _) = upload(&http, &base, "pg", b"weights".to_vec()).await;
    assert_eq!(status, 201, "{body}");

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|worker| {
            let (http, base, stop) = (http.clone(), base.clone(), stop.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sent = Instant::now();
                    let request = if worker % 2 == 0 {
                        http.get(format!("{base}/api/v1/models/pg/versions/1"))
                    } else {
                        http.put(format!("{base}/api/v1/models/pg/aliases/champion"))
                            .json(&json!({"version": 1}))
                    };
                    let response = request
                        .send()
                        .await
                        .expect("a request hung or its connection broke");
                    let status = response.status().as_u16();
                    let retry_after = response.headers().get("retry-after").is_some();
                    let problem = response
                        .headers()
                        .get("content-type")
                        .is_some_and(|v| v == "application/problem+json");
                    outcomes.push((status, retry_after, problem, sent.elapsed()));
                }
                outcomes
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(postgres.pg_ctl("restart"), "PostgreSQL did not restart");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for task in load {
        outcomes.extend(task.await.unwrap());
    }
    let unavailable = outcomes.iter().filter(|o| o.0 == 503).count();
    for (status, retry_after, problem, took) in &outcomes {
        assert!(
            (200..300).contains(status) || (*status == 503 && *retry_after && *problem),
            "a request during the restart was answered {status} (Retry-After: {retry_after}, problem: {problem})"
        );
        assert!(*took < Duration::from_secs(12), "a request took {took:?}");
    }
    // The pool recovered: requests succeed again.
    let after = http
        .get(format!("{base}/api/v1/models/pg/versions/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    eprintln!(
        "{TEST}: {} requests across the restart, {unavailable} answered 503 with Retry-After, the slowest {:?}",
        outcomes.len(),
        outcomes.iter().map(|o| o.3).max().unwrap_or_default()
    );
}

/// The S3 server stopped in the middle of an upload: the upload fails with a problem
/// within the retry bound (no hang), no version and no blob come of it, and once the
/// server is back the next upload works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_server_stopped_mid_upload_fails_it_cleanly() {
    const TEST: &str = "the_s3_server_stopped_mid_upload_fails_it_cleanly";
    let s3s_fs = std::env::var("CAPSTAN_TEST_S3S_FS").unwrap_or_else(|_| "s3s-fs".to_owned());
    if Command::new(&s3s_fs).arg("--help").output().is_err() {
        skip_or_fail(
            TEST,
            &format!("no s3s-fs binary ({s3s_fs}); .ci/run installs one"),
        );
        return;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("models")).unwrap();
    let port = free_address().port();
    let (key, secret) = ("faults-test", "faults-test-secret");
    let s3 = || {
        let child = KillOnDrop(
            Command::new(&s3s_fs)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", key, "--secret-key", secret])
                .arg(root.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "s3s-fs did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    };
    let mut storage = s3();
    let data = tempfile::tempdir().unwrap();
    let listen = free_address();
    let base = format!("http://{listen}");
    let _server = start_process(
        Command::new(capstan_tests::example::registry_bin())
            .args(["serve", "--listen", &listen.to_string()])
            .arg("--data-dir")
            .arg(data.path())
            .args(["--object-store-url", "s3://models/capstan"])
            .args([
                "--s3-endpoint",
                &format!("http://127.0.0.1:{port}"),
                "--s3-allow-http",
                "true",
            ])
            .args(["--batch-workers", "0"])
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "error"),
        listen,
    )
    .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let created = http
        .post(format!("{base}/api/v1/models"))
        .json(&json!({"name": "s3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let (status, body, _) = upload(&http, &base, "s3", b"first".to_vec()).await;
    assert_eq!(status, 201, "{body}");

    // A 64 MiB upload sent slowly; the S3 server dies a quarter of the way in.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body_stream = futures::stream::unfold(receiver, |mut r| async move {
        r.recv().await.map(|item| (item, r))
    });
    let form = upload_form(
        &json!({"format": "opaque"}),
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(body_stream))
            .file_name("big.bin"),
    );
    let request = tokio::spawn({
        let (http, base) = (http.clone(), base.clone());
        async move {
            let sent = Instant::now();
            let response = http
                .post(format!("{base}/api/v1/models/s3/versions"))
                .multipart(form)
                .send()
                .await
                .expect("the upload got an answer");
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (
                status,
                content_type,
                response.json::<Value>().await.unwrap_or(Value::Null),
                sent.elapsed(),
            )
        }
    });
    for chunk in 0..64 {
        if chunk == 16 {
            storage.kill();
        }
        if sender
            .send(Ok(vec![chunk as u8; 1024 * 1024]))
            .await
            .is_err()
        {
            break; // the server stopped reading: it answered already
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(sender);
    let (status, content_type, problem, took) = request.await.unwrap();
    assert!((500..600).contains(&status), "{status}: {problem}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{problem}"
    );
    assert_eq!(problem["code"], "object_store_error", "{problem}");
    assert!(
        took < Duration::from_secs(40),
        "the failed upload took {took:?}"
    );

    // Back up: the failed upload left no version and no blob; the next upload works.
    storage = s3();
    let versions: Value = http
        .get(format!("{base}/api/v1/models/s3/versions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        1,
        "{versions}"
    );
    let blobs = walk(&root.path().join("models/capstan/blobs"));
    assert_eq!(blobs, 1, "only the first upload's blob is in the bucket");
    let (status, body, _) = upload(&http, &base, "s3", b"after the outage".to_vec()).await;
    assert_eq!(status, 201, "{body}");
    drop(storage);
}

/// Files under `dir`, recursively.
fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}
