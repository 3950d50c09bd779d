//! A soak: a real `capstan-registry serve` process under mixed traffic — uploads,
//! promotions, predictions, SSE subscribers coming and going, batch jobs — for
//! `CAPSTAN_SOAK_SECS` (180 s in CI; 1800 in the nightly mode), with its resident memory,
//! open file descriptors and database connections sampled every 10 s. They must level
//! off: the last third of the run may not grow past the middle third (memory by more than
//! 10 % + 8 MiB, descriptors by more than 16, database connections at all). The samples and
//! a plot (`soak.svg`) are written to the test's temporary directory (`target/tmp`).
//! PostgreSQL pass only (the deployment the soak stands for); the SQLite pass skips it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;

use capstan_tests::{free_address, spawn_with, train_breast_cancer, DbBackend, TestOptions};

use crate::batch::{table_with_ids, upload_dataset};

const TEST: &str = "a_soak_under_mixed_traffic_levels_off";
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// `serve`'s default pool; the stopped test app keeps a pool of its own beside it.
const POOL: i64 = 16;

#[derive(Clone, Copy, Debug)]
struct Sample {
    at_s: f64,
    rss_mib: f64,
    fds: usize,
    connections: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_under_mixed_traffic_levels_off() {
    let seconds: u64 = std::env::var("CAPSTAN_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(180);
    let mut app = spawn_with(TestOptions {
        batch_workers: Some(1),
        batch_chunk_bytes: Some(32 * 1024),
        ..TestOptions::default()
    })
    .await;
    if app.db_backend != DbBackend::Postgres {
        eprintln!(
            "{TEST}: runs in the PostgreSQL pass; skipped on {:?}",
            app.db_backend
        );
        return;
    }
    app.create_model("bc").await;
    let versions = [
        app.upload_trained("bc", &train_breast_cancer(1.0)).await,
        app.upload_trained("bc", &train_breast_cancer(100.0)).await,
    ];
    app.promote("bc", "production", &json!({"version": versions[0]}))
        .await;
    app.create_model("soak").await;
    let (csv, _) = table_with_ids();
    let (_, dataset) = upload_dataset(&app, "soak-input", "text/csv", csv.into_bytes()).await;
    app.stop_gracefully().await;

    let listen = free_address();
    app.base = format!("http://{listen}");
    let mut server = app.start_serve(listen).await;
    let pid = server.0.id();

    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicUsize::new(0));
    let mut traffic = Vec::new();
    let base = app.base.clone();
    let row = capstan_tests::breast_cancer_rows(1);
    // Predictions, as fast as two clients go.
    for _ in 0..2 {
        let (base, stop, requests, row) =
            (base.clone(), stop.clone(), requests.clone(), row.clone());
        traffic.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let response = http
                    .post(format!(
                        "{base}/api/v1/models/bc/versions/production/predict"
                    ))
                    .json(&json!({"instances": row}))
                    .send()
                    .await
                    .unwrap();
                assert!(
                    response.status().is_success(),
                    "{}",
                    response.text().await.unwrap()
                );
                requests.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // An upload and a promotion every 500 ms.
    {
        let (base, stop, requests) = (base.clone(), stop.clone(), requests.clone());
        traffic.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut round = 0usize;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let form = reqwest::multipart::Form::new()
                    .part(
                        "metadata",
                        reqwest::multipart::Part::text(r#"{"format": "opaque"}"#)
                            .mime_str("application/json")
                            .unwrap(),
                    )
                    .part(
                        "artifact",
                        reqwest::multipart::Part::bytes(vec![(round % 251) as u8; 64 * 1024])
                            .file_name("m.bin"),
                    );
                let uploaded = http
                    .post(format!("{base}/api/v1/models/soak/versions"))
                    .multipart(form)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(uploaded.status(), 201);
                let promoted = http
                    .post(format!("{base}/api/v1/models/bc/stages/production"))
                    .json(&json!({"version": versions[round % 2]}))
                    .send()
                    .await
                    .unwrap();
                assert!(promoted.status().is_success());
                requests.fetch_add(2, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }));
    }
    // Three SSE subscribers, each reconnecting every 15 s.
    for subscriber in 0..3u64 {
        let (base, stop) = (base.clone(), stop.clone());
        traffic.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let response = http
                    .get(format!("{base}/api/v1/events/stream"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let mut body = response.bytes_stream();
                let until = Instant::now() + Duration::from_secs(15 + subscriber);
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    if tokio::time::timeout(Duration::from_secs(1), body.next())
                        .await
                        .is_ok_and(|c| c.is_none())
                    {
                        break;
                    }
                }
            }
        }));
    }
    // A batch job every 20 s.
    {
        let (base, stop) = (base.clone(), stop.clone());
        let dataset = dataset["id"].clone();
        traffic.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let job = http
                    .post(format!("{base}/api/v1/batch-jobs"))
                    .json(&json!({"model": "bc@production", "input": {"dataset": dataset}, "id_column": "id"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(job.status(), 201);
                for _ in 0..20 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }));
    }

    let mut samples = Vec::new();
    let began = Instant::now();
    loop {
        samples.push(sample(&app, pid, began));
        if began.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
        tokio::time::sleep(
            SAMPLE_EVERY.min(
                Duration::from_secs(seconds) - began.elapsed().min(Duration::from_secs(seconds)),
            ),
        )
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in traffic {
        task.await.unwrap();
    }
    server.kill();

    let third = samples.len() / 3;
    let (middle, last) = (&samples[third..2 * third], &samples[2 * third..]);
    let max = |part: &[Sample], f: fn(&Sample) -> f64| part.iter().map(f).fold(0.0, f64::max);
    let report = json!({
        "seconds": seconds,
        "requests": requests.load(Ordering::Relaxed),
        "samples": samples.iter().map(|s| json!({"at_s": s.at_s, "rss_mib": s.rss_mib, "fds": s.fds, "db_connections": s.connections})).collect::<Vec<_>>(),
    });
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(tmp.join("soak.json"), report.to_string()).unwrap();
    std::fs::write(tmp.join("soak.svg"), plot(&samples)).unwrap();
    eprintln!(
        "{TEST}: {} requests in {seconds} s; samples in {}",
        report["requests"],
        tmp.join("soak.json").display()
    );
    assert!(samples.len() >= 3, "too short a soak to judge: {samples:?}");
    let (rss_middle, rss_last) = (max(middle, |s| s.rss_mib), max(last, |s| s.rss_mib));
    assert!(
        rss_last <= rss_middle * 1.10 + 8.0,
        "memory grew: {rss_middle:.1} MiB, then {rss_last:.1} MiB: {samples:?}"
    );
    let (fds_middle, fds_last) = (max(middle, |s| s.fds as f64), max(last, |s| s.fds as f64));
    assert!(
        fds_last <= fds_middle + 16.0,
        "descriptors grew: {fds_middle}, then {fds_last}: {samples:?}"
    );
    let connections_middle = max(middle, |s| s.connections as f64);
    let connections_last = max(last, |s| s.connections as f64);
    assert!(
        connections_last <= connections_middle,
        "database connections grew: {connections_middle}, then {connections_last}: {samples:?}"
    );
    assert!(
        samples.iter().all(|s| s.connections <= 2 * POOL),
        "connections past the two pools: {samples:?}"
    );
}

/// The server's resident memory and descriptors (from /proc), and the database's
/// connections to this test's database (from pg_stat_activity, less this query's own).
fn sample(app: &capstan_tests::TestApp, pid: u32, began: Instant) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let connections = app.select_rows(
        "SELECT COUNT(*) AS a, NULL AS b, NULL AS c FROM pg_stat_activity WHERE datname = current_database()",
    )[0]
        .0
        - 1;
    Sample {
        at_s: began.elapsed().as_secs_f64(),
        rss_mib: rss_kib / 1024.0,
        fds,
        connections,
    }
}

/// A chart's label, colour and value.
type Series = (&'static str, &'static str, fn(&Sample) -> f64);

/// Three stacked line charts (memory, descriptors, connections) over time, as SVG.
fn plot(samples: &[Sample]) -> String {
    let (width, height, pad) = (720.0, 170.0, 40.0);
    let end = samples.last().map_or(1.0, |s| s.at_s.max(1.0));
    let series: [Series; 3] = [
        ("resident memory (MiB)", "#1f77b4", |s| s.rss_mib),
        ("open file descriptors", "#ff7f0e", |s| s.fds as f64),
        ("database connections", "#2ca02c", |s| s.connections as f64),
    ];
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{}" font-family="sans-serif" font-size="12">"#,
        height * 3.0
    );
    svg.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (index, (label, colour, value)) in series.iter().enumerate() {
        let top = height * index as f64;
        let top_value = samples.iter().map(value).fold(1.0, f64::max) * 1.15;
        let x = |s: &Sample| pad + (width - 2.0 * pad) * s.at_s / end;
        let y = |v: f64| top + height - pad + -(height - 2.0 * pad) * v / top_value;
        let points: Vec<String> = samples
            .iter()
            .map(|s| format!("{:.1},{:.1}", x(s), y(value(s))))
            .collect();
        let _ = write!(
            svg,
            r##"<text x="{pad}" y="{:.0}">{label} (0 to {top_value:.0}; {end:.0} s)</text><line x1="{pad}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999"/><line x1="{pad}" y1="{:.1}" x2="{pad}" y2="{:.1}" stroke="#999"/><polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"##,
            top + 18.0,
            y(0.0),
            width - pad,
            y(0.0),
            y(0.0),
            y(top_value),
            points.join(" ")
        );
    }
    svg.push_str("</svg>\n");
    svg
}
