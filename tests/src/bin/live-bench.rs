//! Benchmark of pattern 3: how long after a promotion do N live subscribers all serve the
//! new version? Starts a registry in this process (SQLite, local disk, relaying to NATS),
//! N `LiveModel`s following `bc@production` over server-sent events and N over NATS
//! JetStream (each with its own HTTP client and cache, as separate applications would
//! have), then promotes back and forth and records, per round, the time from sending the
//! promotion until each subscriber swapped. The promotion commits before its response,
//! so the numbers are an upper bound of commit → swapped.
//!
//! `cargo run --release -p capstan-tests --bin live-bench -- --subscribers 100 --rounds 30`

#![allow(clippy::unwrap_used)] // a benchmark tool: a failed unwrap is a failed run

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use tokio::sync::Barrier;

use capstan_client::cache::BlobCache;
use capstan_client::http::Client;
use capstan_client::live::{Backoff, EventSource, LiveModel, LiveUpdate, NatsSource, SseSource};
use capstan_client::Config;
use capstan_registry::events::{EventsConfig, NatsConfig};
use capstan_tests::brokers::delete_stream;
use capstan_tests::{spawn_with_events, train_breast_cancer, TestApp};

#[derive(Parser)]
struct Args {
    /// Subscribers per transport.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Promotions to time.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
    /// NATS server with JetStream; `none` to time server-sent events only.
    #[arg(
        long,
        env = "CAPSTAN_TEST_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats_url: String,
}

/// One transport's subscribers.
struct Group {
    name: &'static str,
    models: Vec<LiveModel>,
    /// Per round: every subscriber's delay, sorted.
    rounds: Vec<Vec<Duration>>,
    /// Reconnections and failed versions reported during the run.
    troubles: Arc<Troubles>,
}

#[derive(Default)]
struct Troubles {
    disconnects: AtomicUsize,
    failures: AtomicUsize,
}

impl Troubles {
    /// Counts the troubles `model` reports from now on.
    fn watch(self: &Arc<Self>, name: &'static str, index: usize, model: &LiveModel) {
        let mut updates = model.updates();
        let troubles = self.clone();
        tokio::spawn(async move {
            while let Ok(update) = updates.recv().await {
                match update {
                    LiveUpdate::Disconnected { error, .. } => {
                        eprintln!("{name} #{index}: disconnected: {error}");
                        troubles.disconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    LiveUpdate::Failed { error, .. } => {
                        eprintln!("{name} #{index}: failed: {error}");
                        troubles.failures.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        });
    }
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let nats = (args.nats_url != "none").then(|| {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..12];
        NatsConfig {
            url: args.nats_url.clone(),
            stream: format!("CAPSTAN_BENCH_{id}"),
            subject_prefix: format!("capstan.bench{id}.models"),
        }
    });
    let app = spawn_with_events(EventsConfig {
        nats: nats.clone(),
        ..EventsConfig::default()
    })
    .await;
    app.create_model("bc").await;
    let v1 = app.upload_trained("bc", &train_breast_cancer(1.0)).await;
    let v2 = app.upload_trained("bc", &train_breast_cancer(100.0)).await;
    promote(&app, v1).await;
    wait_relayed(&app).await;

    let caches = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut groups = vec![
        start_group(&app, "SSE", args.subscribers, caches.path(), |app| {
            Arc::new(SseSource::new(client(app)))
        })
        .await,
    ];
    if let Some(nats) = &nats {
        let nats = nats.clone();
        groups.push(
            start_group(&app, "NATS", args.subscribers, caches.path(), move |_| {
                Arc::new(
                    NatsSource::new(nats.url.clone())
                        .with_stream(nats.stream.clone())
                        .with_subject_prefix(nats.subject_prefix.clone()),
                )
            })
            .await,
        );
    }
    for group in &groups {
        wait_connected(group).await;
    }
    eprintln!(
        "{} subscribers following bc@production after {:?}",
        groups.iter().map(|g| g.models.len()).sum::<usize>(),
        started.elapsed()
    );

    for round in 0..args.rounds {
        let target = if round % 2 == 0 { v2 } else { v1 };
        let all: Vec<LiveModel> = groups.iter().flat_map(|g| g.models.clone()).collect();
        let barrier = Arc::new(Barrier::new(all.len() + 1));
        let waiters: Vec<_> = all
            .into_iter()
            .map(|model| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let mut watch = model.watch();
                    watch.borrow_and_update();
                    barrier.wait().await;
                    while watch.borrow_and_update().version != target {
                        watch.changed().await.unwrap();
                    }
                    Instant::now()
                })
            })
            .collect();
        barrier.wait().await;
        let sent = Instant::now();
        promote(&app, target).await;
        let mut done = Vec::with_capacity(waiters.len());
        for waiter in waiters {
            let at = tokio::time::timeout(Duration::from_secs(30), waiter)
                .await
                .unwrap_or_else(|_| panic!("round {round}: not every subscriber swapped in 30 s"))
                .unwrap();
            done.push(at.duration_since(sent));
        }
        let mut offset = 0;
        for group in &mut groups {
            let mut delays = done[offset..offset + group.models.len()].to_vec();
            offset += group.models.len();
            delays.sort();
            let slowest = delays[delays.len() - 1];
            if slowest > Duration::from_secs(1) {
                let late = delays
                    .iter()
                    .filter(|d| **d > Duration::from_secs(1))
                    .count();
                eprintln!(
                    "round {round}: {late} {} subscribers took over 1 s (slowest {slowest:?})",
                    group.name
                );
            }
            group.rounds.push(delays);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    report(&groups, args.rounds);
    drop(groups);
    drop(app);
    if let Some(nats) = nats {
        delete_stream(&nats).await;
    }
}

fn client(app: &TestApp) -> Client {
    Client::new(Config::new(&app.base).unwrap()).unwrap()
}

async fn promote(app: &TestApp, version: i64) {
    let (status, body) = app
        .promote("bc", "production", &json!({ "version": version }))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Waits until the relays have published everything so far.
async fn wait_relayed(app: &TestApp) {
    let latest = app.registry.last_event_seq().await.unwrap();
    let caught_up = app
        .eventually(Duration::from_secs(30), || async {
            let (_, body) = app.get_json("/readyz").await;
            body["relays"]
                .as_array()
                .is_none_or(|relays| relays.iter().all(|r| r["cursor"].as_i64() >= Some(latest)))
        })
        .await;
    assert!(caught_up, "the relay did not catch up");
}

async fn start_group(
    app: &TestApp,
    name: &'static str,
    count: usize,
    caches: &std::path::Path,
    source: impl Fn(&TestApp) -> Arc<dyn EventSource>,
) -> Group {
    let mut models = Vec::with_capacity(count);
    let troubles = Arc::new(Troubles::default());
    for index in 0..count {
        let model = LiveModel::builder("bc@production".parse().unwrap())
            .client(client(app))
            .cache(BlobCache::new(caches.join(format!("{name}-{index}"))))
            .backoff(Backoff::new(
                Duration::from_millis(100),
                Duration::from_secs(2),
            ));
        let model = model.shared_source(source(app)).start().await.unwrap();
        troubles.watch(name, index, &model);
        models.push(model);
    }
    Group {
        name,
        models,
        rounds: Vec::new(),
        troubles,
    }
}

async fn wait_connected(group: &Group) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !group.models.iter().all(|m| m.status().connected) {
        assert!(
            Instant::now() < deadline,
            "{} subscribers did not connect",
            group.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn millis(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn report(groups: &[Group], rounds: usize) {
    println!("| transport | subscribers | promotions | all swapped p50 | all swapped p99 | all swapped max | one subscriber p50 | one subscriber p99 | reconnections | failed loads |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for group in groups {
        let mut last: Vec<Duration> = group.rounds.iter().map(|r| r[r.len() - 1]).collect();
        last.sort();
        let mut each: Vec<Duration> = group.rounds.iter().flatten().copied().collect();
        each.sort();
        println!(
            "| {} | {} | {rounds} | {} | {} | {} | {} | {} | {} | {} |",
            group.name,
            group.models.len(),
            millis(percentile(&last, 0.5)),
            millis(percentile(&last, 0.99)),
            millis(last[last.len() - 1]),
            millis(percentile(&each, 0.5)),
            millis(percentile(&each, 0.99)),
            group.troubles.disconnects.load(Ordering::Relaxed),
            group.troubles.failures.load(Ordering::Relaxed),
        );
    }
}
