//! Two replicas as one: two `capstan-registry serve` processes on one PostgreSQL database
//! and one object store, behind no load balancer — clients alternate between them —
//! keep one consistent history under concurrent uploads, promotions and alias moves;
//! exactly one of them relays events at a time; the SSE stream of either shows every
//! event; and when the one relaying is killed, the other takes over within the lease, for
//! the broker and for webhooks. (SQLite is one process's database: PostgreSQL only.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use capstan_registry::events::EventsConfig;
use capstan_registry::webhooks::WebhooksConfig;
use capstan_tests::brokers::{distinct_seqs, machine_nats, own_stream, stream_contents};
use capstan_tests::{spawn_configured, DbBackend, KillOnDrop, TestApp, TestOptions};

use crate::webhooks::{create_webhook, delivered, Receiver};

const TEST: &str = "two_replicas_keep_one_history_and_one_relay";
const LEASE: Duration = Duration::from_millis(1500);
const OPERATIONS: usize = 160;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_keep_one_history_and_one_relay() {
    let Some(nats_url) = machine_nats(TEST).await else {
        return;
    };
    let nats = own_stream(&nats_url);
    let app = spawn_configured(
        TestOptions {
            webhooks: Some(WebhooksConfig {
                allow_private: true,
                retry_first: Duration::from_millis(100),
                retry_max: Duration::from_millis(300),
                timeout: Duration::from_secs(5),
                lease: LEASE,
                ..WebhooksConfig::default()
            }),
            ..TestOptions::default()
        },
        EventsConfig {
            nats: Some(nats.clone()),
            poll_interval: Duration::from_millis(50),
            relay_lease: LEASE,
            ..EventsConfig::default()
        },
    )
    .await;
    if app.db_backend != DbBackend::Postgres {
        eprintln!(
            "{TEST}: runs on PostgreSQL only (replicas share a database server); skipped on {:?}",
            app.db_backend
        );
        return;
    }
    let receiver = Receiver::start();
    let webhook = create_webhook(
        &app,
        json!({"url": receiver.url("/replicas"), "events": ["*"]}),
    )
    .await;
    receiver
        .configure(
            "/replicas",
            json!({"secrets": {"current": webhook["secret"]}}),
        )
        .await;
    app.create_model("shared").await;
    app.stop_gracefully().await;

    let addresses = [free_address(), free_address()];
    let bases: Vec<String> = addresses.iter().map(|a| format!("http://{a}")).collect();
    let mut a = start(&app, addresses[0]).await;
    let mut b = start(&app, addresses[1]).await;
    let mut streams = [Sse::open(&bases[0]).await, Sse::open(&bases[1]).await];

    // Concurrent writers, each request to the other replica than the last.
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let bases = bases.clone();
            tokio::spawn(async move { write(&bases, writer, OPERATIONS / 4).await })
        })
        .collect();
    // Meanwhile: exactly one replica relays.
    let mut samples = 0;
    let mut relaying = [0usize; 2];
    // Sampled while the writers run, and for at least 3 s (two relay lease renewals).
    let sampling = Instant::now();
    while !writers.iter().all(|w| w.is_finished()) || sampling.elapsed() < Duration::from_secs(3) {
        let publishing = [
            publishing(&bases[0], &nats).await,
            publishing(&bases[1], &nats).await,
        ];
        samples += 1;
        for (replica, on) in publishing.iter().enumerate() {
            relaying[replica] += usize::from(*on);
        }
        assert!(
            !(publishing[0] && publishing[1]),
            "both replicas relay at once"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let holder = usize::from(relaying[1] > relaying[0]);
    assert!(
        relaying[holder] > 0 && relaying[1 - holder] == 0,
        "one replica relays throughout: {relaying:?} of {samples} samples"
    );

    // One history: numbers and seqs without gaps; the stage pointers are where the last
    // recorded moves put them.
    let max_seq = one_history(&app);
    let every: Vec<i64> = (1..=max_seq).collect();
    for stream in &mut streams {
        assert_eq!(
            stream.until(max_seq).await,
            every,
            "SSE of {} shows every event",
            stream.base
        );
    }
    let received = wait_for(max_seq, || stream_contents(&nats)).await;
    assert_eq!(
        distinct_seqs(&received),
        every,
        "NATS has every event once, in order"
    );

    // The webhook delivers one event at a time: let it catch up before the kill, so that
    // what is measured after it is the takeover.
    let before = receiver
        .wait_for("/replicas", "every event before the kill", |records| {
            delivered(records).contains(&max_seq)
        })
        .await;
    // One sender at a time: while both replicas lived, no event was delivered twice.
    let mut once = std::collections::BTreeSet::new();
    assert!(
        delivered(&before).iter().all(|seq| once.insert(*seq)),
        "an event was delivered twice while both replicas ran: {:?}",
        delivered(&before)
    );

    // The relaying replica dies; the other takes over within the lease.
    let (dead, alive) = if holder == 0 {
        (&mut a, 1)
    } else {
        (&mut b, 0)
    };
    dead.kill();
    let killed = Instant::now();
    let answer = alive_write(&bases[alive]).await;
    let after_kill = one_history(&app);
    assert!(after_kill > max_seq, "{answer}");
    let received = wait_for(after_kill, || stream_contents(&nats)).await;
    let nats_takeover = killed.elapsed();
    assert_eq!(
        distinct_seqs(&received),
        (1..=after_kill).collect::<Vec<_>>()
    );
    let records = receiver
        .wait_for("/replicas", "the events after the kill", |records| {
            delivered(records).contains(&after_kill)
        })
        .await;
    let webhook_takeover = killed.elapsed();
    let mut seen = std::collections::BTreeSet::new();
    let in_order: Vec<i64> = delivered(&records)
        .into_iter()
        .filter(|seq| seen.insert(*seq))
        .collect();
    assert_eq!(
        in_order,
        (1..=after_kill).collect::<Vec<_>>(),
        "the webhook got every event, in order"
    );
    let bound = LEASE * 2 + Duration::from_secs(3);
    assert!(
        nats_takeover < bound && webhook_takeover < bound,
        "takeover took {nats_takeover:?} (NATS), {webhook_takeover:?} (webhook)"
    );
    eprintln!(
        "{TEST}: {} operations, {max_seq} events, relay held by replica {holder} in {}/{samples} samples; after the kill: NATS in {nats_takeover:?}, webhook in {webhook_takeover:?} (lease {LEASE:?})",
        OPERATIONS, relaying[holder]
    );
    a.kill();
    b.kill();
    let report = json!({
        "operations": OPERATIONS,
        "events": after_kill,
        "relay_samples": samples,
        "lease_ms": LEASE.as_millis() as u64,
        "nats_takeover_ms": nats_takeover.as_millis() as u64,
        "webhook_takeover_ms": webhook_takeover.as_millis() as u64,
    });
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("replicas.json"),
        report.to_string(),
    )
    .unwrap();
}

fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn start(app: &TestApp, listen: SocketAddr) -> KillOnDrop {
    let mut child = KillOnDrop(app.serve_command(listen).spawn().unwrap());
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("http://{listen}/healthz")).await {
            if r.status().is_success() {
                return child;
            }
        }
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("a replica exited at start: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "a replica never answered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `operations` writes, alternating replicas: an upload, then a promotion to staging or
/// production or an alias move to a random existing version.
async fn write(bases: &[String], writer: usize, operations: usize) {
    let http = reqwest::Client::new();
    for step in 0..operations {
        let base = &bases[(writer + step) % 2];
        let response = if step % 2 == 0 {
            let form = reqwest::multipart::Form::new()
                .part(
                    "metadata",
                    reqwest::multipart::Part::text(r#"{"format": "opaque"}"#)
                        .mime_str("application/json")
                        .unwrap(),
                )
                .part(
                    "artifact",
                    reqwest::multipart::Part::bytes(format!("{writer}-{step}").into_bytes())
                        .file_name("m.bin"),
                );
            http.post(format!("{base}/api/v1/models/shared/versions"))
                .multipart(form)
                .send()
                .await
                .unwrap()
        } else {
            let version = 1 + (writer * 7 + step) % (step / 2 + 1);
            match step % 3 {
                0 => http
                    .post(format!("{base}/api/v1/models/shared/stages/production"))
                    .json(&json!({"version": version})),
                1 => http
                    .post(format!("{base}/api/v1/models/shared/stages/staging"))
                    .json(&json!({"version": version})),
                _ => http
                    .put(format!("{base}/api/v1/models/shared/aliases/champion"))
                    .json(&json!({"version": version})),
            }
            .send()
            .await
            .unwrap()
        };
        let status = response.status().as_u16();
        assert!(
            status < 300 || status == 409,
            "{status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
}

/// An upload through the replica left: always a new event.
async fn alive_write(base: &str) -> Value {
    let form = reqwest::multipart::Form::new()
        .part(
            "metadata",
            reqwest::multipart::Part::text(r#"{"format": "opaque"}"#)
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "artifact",
            reqwest::multipart::Part::bytes(b"after the kill".to_vec()).file_name("m.bin"),
        );
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/models/shared/versions"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    response.json().await.unwrap()
}

/// Whether the replica at `base` says it publishes to the stream now.
async fn publishing(base: &str, nats: &capstan_registry::events::NatsConfig) -> bool {
    let body: Value = reqwest::get(format!("{base}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["relays"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["publisher"] == format!("nats/{}", nats.stream) && r["publishing"] == true)
}

/// The history is one: gap-free numbers and seqs, and the stage pointers where the last
/// recorded moves put them. Returns the last seq.
fn one_history(app: &TestApp) -> i64 {
    let numbers: Vec<i64> = app
        .select_rows("SELECT v.version AS a, NULL AS b, NULL AS c FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = 'shared' ORDER BY v.version")
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(
        numbers,
        (1..=numbers.len() as i64).collect::<Vec<_>>(),
        "version numbers"
    );
    let events = app.select_rows(
        "SELECT seq AS a, kind AS b, COALESCE(stage, '') || ':' || COALESCE(CAST(to_version AS TEXT), '') AS c FROM events ORDER BY seq",
    );
    let seqs: Vec<i64> = events.iter().map(|e| e.0).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "event seqs"
    );
    let pointers = app.select_rows(
        "SELECT COALESCE(production_version, 0) AS a, CAST(staging_version AS TEXT) AS b, NULL AS c FROM models WHERE name = 'shared'",
    );
    let last_move = |stage: &str| {
        events
            .iter()
            .rev()
            .find(|e| {
                e.1.as_deref() == Some("stage_changed")
                    && e.2
                        .as_deref()
                        .is_some_and(|c| c.starts_with(&format!("{stage}:")))
            })
            .and_then(|e| e.2.as_deref()?.split(':').nth(1)?.parse::<i64>().ok())
    };
    assert_eq!(
        Some(pointers[0].0).filter(|v| *v > 0),
        last_move("production"),
        "production is where its last event put it"
    );
    assert_eq!(
        pointers[0].1.as_deref().and_then(|v| v.parse().ok()),
        last_move("staging"),
        "staging is where its last event put it"
    );
    seqs.last().copied().unwrap_or(0)
}

/// An SSE subscriber replaying from the start.
struct Sse {
    base: String,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    seqs: Vec<i64>,
}

impl Sse {
    async fn open(base: &str) -> Sse {
        let response = reqwest::get(format!("{base}/api/v1/events/stream?after=0"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        Sse {
            base: base.to_owned(),
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
            seqs: Vec::new(),
        }
    }

    /// Every seq read so far once `last` has arrived.
    async fn until(&mut self, last: i64) -> Vec<i64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.seqs.last().copied().unwrap_or(0) < last {
            let chunk = tokio::time::timeout_at(deadline.into(), self.body.next())
                .await
                .expect("the SSE stream stalled")
                .expect("the SSE stream ended")
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = self.buffer.find('\n') {
                let line: String = self.buffer.drain(..=end).collect();
                if let Some(id) = line.trim_end().strip_prefix("id:") {
                    self.seqs.push(id.trim().parse().unwrap());
                }
            }
        }
        self.seqs.clone()
    }
}

async fn wait_for<F, Fut>(last: i64, read: F) -> Vec<capstan_tests::brokers::Received>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<capstan_tests::brokers::Received>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let received = read().await;
        if distinct_seqs(&received).contains(&last) {
            return received;
        }
        assert!(Instant::now() < deadline, "the broker never got seq {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
