//! Crash safety: `kill -9` of a real `capstan-registry serve` process at random points of
//! uploads, promotions and alias moves, batch jobs and webhook deliveries — restarted after
//! each kill on the same database and object store — with the invariants checked after
//! every kill:
//!
//! - no `ready` version without its blob, and the blob's sha256 is the version's digest;
//! - version numbers and event `seq` without gaps or duplicates;
//! - what a crash left staged is found and swept (and nothing else is);
//!
//! and at the end, once the last process has caught up: every event delivered to SSE,
//! NATS, Kafka (where the machine has them) and a webhook, in order; every batch job
//! finished with each of its rows in the output exactly once.
//!
//! `CAPSTAN_CHAOS_KILLS` sets the number of kills (default 50; 500 in the nightly mode),
//! `CAPSTAN_CHAOS_SEED` replays a run (the seed is printed). The figures are written to
//! `chaos-<backend>.json` in the test's temporary directory (`target/tmp`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::Digest as _;

use capstan_registry::events::EventsConfig;
use capstan_registry::webhooks::WebhooksConfig;
use capstan_tests::brokers::{
    distinct_seqs, kafka_brokers, machine_nats, own_stream, own_topic, stream_contents,
    topic_contents, wait_for_seq,
};
use capstan_tests::sse::SseReader;
use capstan_tests::{free_address, spawn_configured, upload_form, TestApp, TestOptions};

use crate::batch::{check_csv_output, registry_with_bc, table_with_ids, upload_dataset};
use crate::webhooks::{create_webhook, delivered, Receiver};

const TEST: &str = "the_registry_keeps_its_invariants_across_kill_9_at_random_points";
const DEFAULT_KILLS: usize = 50;
/// A batch job is submitted every this many rounds.
const JOB_EVERY: usize = 10;

/// xorshift64*: reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Default, Debug)]
struct Figures {
    kills: usize,
    uploads_answered: usize,
    moves_answered: usize,
    versions: usize,
    ready_versions_verified: usize,
    events: usize,
    staged_uploads_swept: usize,
    batch_jobs: usize,
    restart_ms: Vec<u128>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_keeps_its_invariants_across_kill_9_at_random_points() {
    let kills: usize = std::env::var("CAPSTAN_CHAOS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_KILLS);
    let seed: u64 = std::env::var("CAPSTAN_CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("{TEST}: {kills} kills, CAPSTAN_CHAOS_SEED={seed}");
    let mut rng = Rng(seed);

    let nats = machine_nats(TEST).await.map(|url| own_stream(&url));
    let kafka = kafka_brokers(TEST).map(|brokers| own_topic(&brokers));
    let events = EventsConfig {
        nats: nats.clone(),
        kafka: kafka.clone(),
        poll_interval: Duration::from_millis(50),
        relay_lease: Duration::from_millis(1500),
        ..EventsConfig::default()
    };
    let mut app = spawn_configured(
        TestOptions {
            batch_workers: Some(1),
            batch_lease: Some(Duration::from_millis(1500)),
            // Many chunks per job, so kills land inside jobs.
            batch_chunk_bytes: Some(8 * 1024),
            webhooks: Some(WebhooksConfig {
                allow_private: true,
                retry_first: Duration::from_millis(100),
                retry_max: Duration::from_millis(300),
                timeout: Duration::from_secs(5),
                ..WebhooksConfig::default()
            }),
            ..TestOptions::default()
        },
        events,
    )
    .await;

    let receiver = Receiver::start();
    let webhook = create_webhook(
        &app,
        json!({"url": receiver.url("/chaos"), "events": ["*"]}),
    )
    .await;
    receiver
        .configure("/chaos", json!({"secrets": {"current": webhook["secret"]}}))
        .await;
    let artifact = registry_with_bc(&app).await;
    app.create_model("chaos").await;
    let (csv, rows) = table_with_ids();
    let (status, dataset) = upload_dataset(&app, "chaos-input", "text/csv", csv.into_bytes()).await;
    assert_eq!(status, 201, "{dataset}");
    let first_hooked_seq = 1;
    app.stop_gracefully().await;

    let listen = free_address();
    app.base = format!("http://{listen}");
    let store = app.object_store();
    let mut figures = Figures::default();
    let mut verified = BTreeSet::new();
    let mut jobs = Vec::new();
    let answered = std::sync::Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    for round in 0..kills {
        let starting = Instant::now();
        let mut child = app.start_serve(listen).await;
        let restart = starting.elapsed();
        figures.restart_ms.push(restart.as_millis());
        let latest = latest_version(&app);
        let load: Vec<_> = (0..3)
            .map(|worker| {
                let base = app.base.clone();
                let seed = rng.next();
                let answered = answered.clone();
                tokio::spawn(async move {
                    if worker < 2 {
                        upload_forever(base, seed, &answered.0).await;
                    } else {
                        move_forever(base, seed, latest, &answered.1).await;
                    }
                })
            })
            .collect();
        if round % JOB_EVERY == 0 {
            let (status, job) = app
                .post_json(
                    "/api/v1/batch-jobs",
                    &json!({"model": "bc@production", "input": {"dataset": dataset["id"]}, "id_column": "id"}),
                )
                .await;
            assert_eq!(status, 201, "{job}");
            jobs.push(job["id"].as_str().unwrap().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20 + rng.below(380))).await;
        child.kill();
        for task in load {
            task.abort();
            if let Err(error) = task.await {
                if error.is_panic() {
                    std::panic::resume_unwind(error.into_panic());
                }
            }
        }
        figures.kills += 1;
        check_invariants(&app, &store, &mut verified, &mut figures).await;
    }

    // The last start: everything the kills interrupted finishes.
    let mut child = app.start_serve(listen).await;
    let max_seq = check_invariants(&app, &store, &mut verified, &mut figures).await;
    for id in &jobs {
        let job = wait_for_job(&app, id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let output = app.get(&format!("/api/v1/batch-jobs/{id}/output")).await;
        check_csv_output(&output.text().await.unwrap(), &artifact, &rows, &[]);
    }
    figures.batch_jobs = jobs.len();
    // Jobs finishing wrote events: the log as it now stands is what must be delivered.
    let max_seq = check_invariants(&app, &store, &mut verified, &mut figures)
        .await
        .max(max_seq);
    let every: Vec<i64> = (1..=max_seq).collect();
    assert_eq!(
        SseReader::open(&app, "?after=0", None)
            .await
            .seqs_through(max_seq)
            .await,
        every,
        "SSE replays every event in order"
    );
    let hooked: Vec<i64> = (first_hooked_seq..=max_seq).collect();
    // The webhook delivers one event at a time, signed and verified by the Python
    // receiver: a backlog of a thousand events takes a while.
    let deadline = Instant::now() + Duration::from_secs(300);
    let records = loop {
        let records = receiver.records("/chaos");
        if delivered(&records).contains(&max_seq) {
            break records;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook got {} of {max_seq} events",
            delivered(&records).len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut seen = BTreeSet::new();
    let in_order: Vec<i64> = delivered(&records)
        .into_iter()
        .filter(|seq| seen.insert(*seq))
        .collect();
    assert_eq!(in_order, hooked, "the webhook got every event, in order");
    if let Some(nats) = &nats {
        let received =
            wait_for_seq(max_seq, Duration::from_secs(60), || stream_contents(nats)).await;
        assert_eq!(
            distinct_seqs(&received),
            every,
            "NATS has every event, in order"
        );
    }
    if let Some(kafka) = &kafka {
        let received =
            wait_for_seq(max_seq, Duration::from_secs(60), || topic_contents(kafka)).await;
        assert_eq!(
            distinct_seqs(&received),
            every,
            "Kafka has every event, in order"
        );
    }
    child.kill();

    figures.uploads_answered = answered.0.load(Ordering::Relaxed);
    figures.moves_answered = answered.1.load(Ordering::Relaxed);
    let restarts = &mut figures.restart_ms;
    restarts.sort_unstable();
    let report = json!({
        "seed": seed,
        "backend": format!("{:?}", app.db_backend),
        "s3": app.s3,
        "kills": figures.kills,
        "uploads_answered": figures.uploads_answered,
        "moves_answered": figures.moves_answered,
        "versions": figures.versions,
        "ready_versions_verified": figures.ready_versions_verified,
        "events": max_seq,
        "staged_uploads_swept": figures.staged_uploads_swept,
        "batch_jobs": figures.batch_jobs,
        "nats": nats.is_some(),
        "kafka": kafka.is_some(),
        "restart_ms_median": restarts.get(restarts.len() / 2),
        "restart_ms_max": restarts.last(),
    });
    eprintln!("{TEST}: {report}");
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "chaos-{:?}{}.json",
            app.db_backend,
            if app.s3 { "-s3" } else { "" }
        )),
        report.to_string(),
    )
    .unwrap();
}

fn latest_version(app: &TestApp) -> i64 {
    app.select_rows("SELECT COALESCE(MAX(v.version), 0) AS a, NULL AS b, NULL AS c FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = 'chaos'")[0].0
}

/// Uploads small artifacts one after another until the server dies; counts answers.
async fn upload_forever(base: String, seed: u64, answered: &AtomicUsize) {
    let http = reqwest::Client::new();
    let mut rng = Rng(seed | 1);
    loop {
        let size = 1 + rng.below(256 * 1024) as usize;
        let bytes: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
        let form = upload_form(
            &json!({"format": "opaque"}),
            reqwest::multipart::Part::bytes(bytes).file_name("model.bin"),
        );
        match http
            .post(format!("{base}/api/v1/models/chaos/versions"))
            .multipart(form)
            .send()
            .await
        {
            Ok(response) => {
                assert!(
                    response.status().as_u16() == 201,
                    "an upload failed while the server was up: {}",
                    response.text().await.unwrap_or_default()
                );
                answered.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => return,
        }
    }
}

/// Promotes versions and moves an alias until the server dies; counts answers.
async fn move_forever(base: String, seed: u64, latest: i64, answered: &AtomicUsize) {
    let http = reqwest::Client::new();
    let mut rng = Rng(seed | 1);
    if latest == 0 {
        return;
    }
    loop {
        let version = 1 + rng.below(latest as u64) as i64;
        let request = match rng.below(3) {
            0 => http
                .post(format!("{base}/api/v1/models/chaos/stages/production"))
                .json(&json!({"version": version, "reason": "chaos"})),
            1 => http
                .post(format!("{base}/api/v1/models/chaos/stages/staging"))
                .json(&json!({"version": version})),
            _ => http
                .put(format!("{base}/api/v1/models/chaos/aliases/champion"))
                .json(&json!({"version": version})),
        };
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                assert!(
                    status < 500,
                    "a move failed: {}",
                    response.text().await.unwrap_or_default()
                );
                answered.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => return,
        }
    }
}

/// The invariants that hold after any crash; returns the last event `seq`.
async fn check_invariants(
    app: &TestApp,
    store: &capstan_registry::artifacts::ArtifactStore,
    verified: &mut BTreeSet<i64>,
    figures: &mut Figures,
) -> i64 {
    let versions = app.select_rows(
        "SELECT v.version AS a, v.status AS b, v.digest AS c FROM versions v \
         JOIN models m ON m.id = v.model_id WHERE m.name = 'chaos' ORDER BY v.version",
    );
    let numbers: Vec<i64> = versions.iter().map(|v| v.0).collect();
    let expected: Vec<i64> = (1..=numbers.len() as i64).collect();
    assert_eq!(
        numbers, expected,
        "version numbers without gaps or duplicates"
    );
    for (version, status, digest) in &versions {
        if status.as_deref() != Some("ready") || verified.contains(version) {
            continue;
        }
        let digest: capstan_client::Digest = digest
            .as_deref()
            .unwrap_or_else(|| panic!("ready version {version} has no digest"))
            .parse()
            .unwrap();
        let size = store
            .blob_size(&digest)
            .await
            .unwrap_or_else(|e| panic!("ready version {version} has no blob {digest}: {e}"));
        let bytes = store.read_blob_range(&digest, 0..size).await.unwrap();
        let actual = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
        assert_eq!(
            actual,
            digest.to_string(),
            "version {version}'s blob has another digest"
        );
        verified.insert(*version);
    }
    figures.versions = versions.len();
    figures.ready_versions_verified = verified.len();

    let seqs: Vec<i64> = app
        .select_rows("SELECT seq AS a, kind AS b, model AS c FROM events ORDER BY seq")
        .into_iter()
        .map(|e| e.0)
        .collect();
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected, "event seq without gaps or duplicates");
    figures.events = seqs.len();

    // What a crash left staged: found and swept by the registry's own sweep.
    figures.staged_uploads_swept += app.staged_uploads().await;
    assert_eq!(
        app.staged_uploads().await,
        0,
        "the sweep left staged uploads"
    );
    seqs.last().copied().unwrap_or(0)
}

async fn wait_for_job(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, job) = app.get_json(&format!("/api/v1/batch-jobs/{id}")).await;
        assert_eq!(status, 200, "{job}");
        if job["status"] != "queued" && job["status"] != "running" {
            return job;
        }
        assert!(Instant::now() < deadline, "job never finished: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
