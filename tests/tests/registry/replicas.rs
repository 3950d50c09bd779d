//! Two replicas as one: two `capstan-registry serve` processes on one PostgreSQL database
//! and one object store, behind no load balancer — clients alternate between them —
//! keep one consistent history under concurrent uploads, promotions and alias moves;
//! exactly one of them relays events at a time; the SSE stream of either shows every
//! event; and when the one relaying is killed, the other takes over within the lease, for
//! the broker and for webhooks. (SQLite is one process's database: PostgreSQL only.)

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use capstan_registry::events::EventsConfig;
use capstan_registry::webhooks::WebhooksConfig;
use capstan_tests::brokers::{
    distinct_seqs, machine_nats, own_stream, stream_contents, wait_for_seq,
};
use capstan_tests::sse::SseReader;
use capstan_tests::{free_address, spawn_configured, upload_form, DbBackend, TestApp, TestOptions};

use crate::webhooks::{create_webhook, delivered, Receiver};

const TEST: &str = "two_replicas_keep_one_history_and_one_relay";
const LEASE: Duration = Duration::from_millis(1500);
const OPERATIONS: usize = 160;
/// How long a broker may take to hold an event.
const WAIT: Duration = Duration::from_secs(30);

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
    let mut a = app.start_serve(addresses[0]).await;
    let mut b = app.start_serve(addresses[1]).await;
    let mut streams = [
        SseReader::open_at(&bases[0], "?after=0", None).await,
        SseReader::open_at(&bases[1], "?after=0", None).await,
    ];

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
    for (stream, base) in streams.iter_mut().zip(&bases) {
        assert_eq!(
            stream.seqs_through(max_seq).await,
            every,
            "SSE of {base} shows every event"
        );
    }
    let received = wait_for_seq(max_seq, WAIT, || stream_contents(&nats)).await;
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
    let received = wait_for_seq(after_kill, WAIT, || stream_contents(&nats)).await;
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

/// `operations` writes, alternating replicas: an upload, then a promotion to staging or
/// production or an alias move to a random existing version.
async fn write(bases: &[String], writer: usize, operations: usize) {
    let http = reqwest::Client::new();
    for step in 0..operations {
        let base = &bases[(writer + step) % 2];
        let response = if step % 2 == 0 {
            let form = upload_form(
                &json!({"format": "opaque"}),
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
    let form = upload_form(
        &json!({"format": "opaque"}),
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
