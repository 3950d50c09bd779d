//! `batch`: pattern 4 end to end, as a user sees it. Uploads a CSV of `--rows` rows × 30
//! features (the breast-cancer table over and over, ids `p1…`), scores it with a batch job,
//! downloads the output, approves the job and reads predictions by key. Reports the job's
//! own time from start to output written (`started_at` → `finished_at`), the round trip
//! (upload + job + download), the server's peak RSS above idle while the job ran, and the
//! latency of key lookups.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::filler::XorShift;
use crate::latency::Latencies;
use crate::measure::{measured, mib};
use crate::registry::{expect, Bench};
use crate::server::Server;
use crate::transfer::file_stream;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ModelKind {
    /// `capstan train`'s logistic regression (`linfa-logistic`), features by name.
    Linfa,
    /// scikit-learn's logistic regression exported to ONNX (`lr_nozipmap.onnx`), features
    /// by position.
    Onnx,
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Rows in the input CSV.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// The input CSV; written if missing [default: /tmp/capstan-bench-batch-<rows>.csv].
    #[arg(long)]
    file: Option<PathBuf>,
    /// Which model scores it (uploaded to `--model` as a new version, put in production).
    #[arg(long, value_enum, default_value_t = ModelKind::Linfa)]
    kind: ModelKind,
    /// Output format.
    #[arg(long, default_value = "csv")]
    output_format: String,
    /// Where the output is downloaded to.
    #[arg(long, default_value = "/dev/null")]
    out: PathBuf,
    /// Key lookups after approval (random keys).
    #[arg(long, default_value_t = 10_000)]
    lookups: usize,
    /// RSS sampling interval, in milliseconds.
    #[arg(long, default_value_t = 10)]
    sample_ms: u64,
}

/// Writes the input CSV unless `path` already holds one of `rows` rows.
fn prepare_csv(path: &Path, rows: u64) -> anyhow::Result<()> {
    let table = std::fs::read_to_string(capstan_tests::breast_cancer_csv())?;
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().context("empty table")?.split(',').collect();
    let features = &header[..header.len() - 1];
    let records: Vec<&str> = lines
        .map(|line| line.rsplit_once(',').map_or(line, |(values, _)| values))
        .collect();
    let expected_size = csv_size(features, &records, rows);
    if std::fs::metadata(path).is_ok_and(|m| m.len() == expected_size) {
        return Ok(());
    }
    println!("writing {rows} rows to {}", path.display());
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    writeln!(out, "id,{}", features.join(","))?;
    for row in 0..rows {
        writeln!(
            out,
            "p{},{}",
            row + 1,
            records[(row as usize) % records.len()]
        )?;
    }
    out.flush()?;
    Ok(())
}

fn csv_size(features: &[&str], records: &[&str], rows: u64) -> u64 {
    let header = 3 + features.join(",").len() as u64 + 1;
    let body: u64 = (0..rows)
        .map(|row| {
            let id = 1 + (row + 1).to_string().len() as u64;
            id + 1 + records[(row as usize) % records.len()].len() as u64 + 1
        })
        .sum();
    header + body
}

/// Uploads the model as a new version of `bench.model` and puts it in production.
async fn register_model(bench: &Bench, kind: ModelKind) -> anyhow::Result<i64> {
    bench.ensure_model().await?;
    let (format, artifact) = match kind {
        ModelKind::Linfa => {
            let trained = capstan_tests::train_breast_cancer(1.0);
            (trained.format.to_owned(), trained.artifact)
        }
        ModelKind::Onnx => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../client/testdata/onnx/lr_nozipmap.onnx");
            ("onnx".to_owned(), std::fs::read(path)?)
        }
    };
    let version = bench.upload_as(&format, artifact).await?;
    bench.promote("production", version).await?;
    Ok(version)
}

async fn upload_dataset(bench: &Bench, path: &Path) -> anyhow::Result<Value> {
    let file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    let response = bench
        .http
        .post(bench.url("/datasets?name=capstan-bench"))
        .header(reqwest::header::CONTENT_TYPE, "text/csv")
        .header(reqwest::header::CONTENT_LENGTH, size)
        .body(reqwest::Body::wrap_stream(file_stream(
            file,
            256 << 10,
            None,
        )))
        .send()
        .await?;
    expect(response, 201, "upload the dataset").await
}

/// Polls the job until it has finished; returns its document.
async fn wait_for(bench: &Bench, id: &str) -> anyhow::Result<Value> {
    loop {
        let response = bench
            .http
            .get(bench.url(&format!("/batch-jobs/{id}")))
            .send()
            .await?;
        let job = expect(response, 200, "read the job").await?;
        match job["status"].as_str() {
            Some("queued" | "running") => tokio::time::sleep(Duration::from_millis(5)).await,
            Some("succeeded") => return Ok(job),
            _ => bail!("the job did not succeed: {job}"),
        }
    }
}

async fn download(bench: &Bench, id: &str, out: &Path) -> anyhow::Result<u64> {
    let response = bench
        .http
        .get(bench.url(&format!("/batch-jobs/{id}/output")))
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "output: HTTP {}",
        response.status()
    );
    let mut file = std::fs::File::create(out)?;
    let mut stream = response.bytes_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        received += chunk.len() as u64;
        file.write_all(&chunk)?;
    }
    Ok(received)
}

fn seconds_between(job: &Value, from: &str, to: &str) -> anyhow::Result<f64> {
    let at = |field: &str| -> anyhow::Result<DateTime<Utc>> {
        serde_json::from_value(job[field].clone()).with_context(|| format!("no {field}"))
    };
    Ok((at(to)? - at(from)?).as_seconds_f64())
}

pub async fn batch(
    bench: &Bench,
    server: Option<Server>,
    per_thread: bool,
    args: &BatchArgs,
) -> anyhow::Result<Value> {
    let path = args
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/capstan-bench-batch-{}.csv", args.rows)));
    prepare_csv(&path, args.rows)?;
    let version = register_model(bench, args.kind).await?;
    println!("scoring with {}@{version} ({:?})", bench.model, args.kind);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = server.and_then(|s| s.status_kib("VmRSS"));
    let sample = Duration::from_millis(args.sample_ms.max(1));

    let round_trip = Instant::now();
    let uploaded = Instant::now();
    let dataset = upload_dataset(bench, &path).await?;
    let upload_s = uploaded.elapsed().as_secs_f64();
    let size = dataset["size"].as_u64().unwrap_or(0);
    println!(
        "upload    {size} B in {upload_s:.3} s ({:.0} MB/s)",
        size as f64 / upload_s / 1e6
    );
    let submitted = Instant::now();
    let (job, phase) = measured(server, sample, per_thread, async {
        let response = bench
            .http
            .post(bench.url("/batch-jobs"))
            .json(&json!({
                "model": format!("{}@production", bench.model),
                "input": {"dataset": dataset["id"]},
                "id_column": "id",
                "output_format": args.output_format,
            }))
            .send()
            .await?;
        let job = expect(response, 201, "submit the job").await?;
        wait_for(bench, job["id"].as_str().context("no job id")?).await
    })
    .await?;
    let job_wall_s = submitted.elapsed().as_secs_f64();
    let id = job["id"].as_str().context("no job id")?.to_owned();
    let start_to_output_s = seconds_between(&job, "started_at", "finished_at")?;
    let queued_s = seconds_between(&job, "created_at", "started_at")?;
    let rows = job["output"]["rows"].as_u64().unwrap_or(0);
    println!(
        "job       {rows} rows: start → output written {start_to_output_s:.3} s ({:.0} rows/s); \
         queued {queued_s:.3} s; submit → succeeded seen {job_wall_s:.3} s",
        rows as f64 / start_to_output_s
    );
    let phase = phase.to_json();
    let peak_above_idle = phase["peak_rss_kib"]
        .as_u64()
        .zip(idle)
        .map(|(peak, idle)| peak.saturating_sub(idle));
    if let (Some(peak), Some(idle)) = (peak_above_idle, idle) {
        println!(
            "server RSS idle {:.1} MiB, peak during the job idle + {:.1} MiB",
            mib(idle),
            mib(peak)
        );
    }
    let downloaded = Instant::now();
    let output_bytes = download(bench, &id, &args.out).await?;
    let download_s = downloaded.elapsed().as_secs_f64();
    let round_trip_s = round_trip.elapsed().as_secs_f64();
    println!("download  {output_bytes} B in {download_s:.3} s");
    println!("round trip (upload + job + download) {round_trip_s:.3} s");

    let lookups = lookups(bench, &id, args.rows, args.lookups).await?;
    Ok(json!({
        "bench": "batch",
        "rows": args.rows,
        "kind": format!("{:?}", args.kind).to_lowercase(),
        "input_bytes": size,
        "upload_s": upload_s,
        "job_start_to_output_s": start_to_output_s,
        "job_queued_s": queued_s,
        "job_submit_to_seen_s": job_wall_s,
        "download_s": download_s,
        "output_bytes": output_bytes,
        "round_trip_s": round_trip_s,
        "idle_rss_kib": idle,
        "peak_rss_above_idle_kib": peak_above_idle,
        "server_cpu": phase["cpu"].clone(),
        "lookups": lookups,
    }))
}

/// Approves the job, then reads `count` random keys' predictions under the model.
async fn lookups(bench: &Bench, id: &str, rows: u64, count: usize) -> anyhow::Result<Value> {
    if count == 0 {
        return Ok(Value::Null);
    }
    let response = bench
        .http
        .post(bench.url(&format!("/batch-jobs/{id}/approve")))
        .json(&json!({"reason": "capstan-bench"}))
        .send()
        .await?;
    expect(response, 200, "approve the job").await?;
    let mut rng = XorShift::new(0x10c4);
    let mut latencies = Latencies::new("lookup", count);
    for _ in 0..count {
        let key = format!("p{}", 1 + rng.next() % rows);
        let url = bench.url(&format!("/models/{}/predictions/{key}", bench.model));
        let started = Instant::now();
        let response = bench.http.get(&url).send().await?;
        let status = response.status();
        response.bytes().await?;
        latencies.push(started.elapsed());
        ensure!(status == 200, "lookup of {key}: HTTP {status}");
    }
    Ok(latencies.print())
}
