//! `capstan-bench`: measures a running registry from the outside, over real HTTP.
//!
//! - `resolve`: sequential `GET /api/v1/models/{model}/versions/{ref}` on one keep-alive
//!   connection; latency percentiles.
//! - `upload-promote`: sequential one-step upload of a small artifact (multipart) followed
//!   by a promotion; latency percentiles of each step and of the pair.
//! - `transfer`: upload and download of a large artifact (1 GiB by default), streamed from
//!   and to disk; MB/s of each, and with `--pid` the server's peak RSS during each.
//!
//! With `--pid <server pid>` every subcommand also reports the CPU time the server spent
//! (from `/proc/<pid>/task/*/schedstat`), per thread group with `--threads`: a poor man's
//! profiler for when `perf` is not available.
//!
//! This is a measuring tool, not a test: it prints numbers and asserts nothing about them.
//! See docs/performance.md for the recorded results and how to reproduce them.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use bytes::{Bytes, BytesMut};
use clap::{Args, Parser, Subcommand, ValueEnum};
use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use sha2::Digest as _;
use tokio::io::AsyncReadExt;

/// Measures a running Capstan registry: ref resolution and upload+promote latency, and
/// large-artifact transfer throughput and server memory.
#[derive(Debug, Parser)]
#[command(
    name = "capstan-bench",
    version,
    after_help = "Examples:\n  \
        capstan-bench --url http://127.0.0.1:8080 resolve --requests 5000\n  \
        capstan-bench upload-promote --iterations 300 --pid $(pgrep -n capstan-registry)\n  \
        capstan-bench transfer --size-mib 1024 --file /tmp/capstan-bench-1g.bin --pid $SERVER_PID\n\n\
        Run the server in release mode with a throwaway --data-dir: the benchmark creates\n\
        the model (default `bc`) and leaves its versions and blobs behind."
)]
struct Cli {
    /// Base URL of the registry.
    #[arg(
        long,
        env = "CAPSTAN_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// Model to benchmark against; created if missing.
    #[arg(long, default_value = "bc", global = true)]
    model: String,
    /// PID of the server process: report its CPU time (and, for `transfer`, its memory).
    #[arg(long, global = true)]
    pid: Option<u32>,
    /// With --pid: break the server's CPU time down by thread name.
    #[arg(long, global = true)]
    threads: bool,
    /// Also print the results as one JSON object on the last line.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sequential ref resolution: GET /api/v1/models/{model}/versions/{ref}.
    Resolve(ResolveArgs),
    /// Sequential small upload (multipart) + promotion to a stage.
    UploadPromote(UploadPromoteArgs),
    /// Upload then download one large artifact, streaming from/to disk.
    Transfer(TransferArgs),
}

#[derive(Debug, Args)]
struct ResolveArgs {
    /// Measured requests.
    #[arg(long, default_value_t = 5000)]
    requests: usize,
    /// Unmeasured requests first.
    #[arg(long, default_value_t = 500)]
    warmup: usize,
    /// The ref to resolve: a stage, an alias, `latest` or a number. When it is
    /// `production`/`staging` and the stage is empty, a small version is uploaded and
    /// promoted first.
    #[arg(long = "ref", default_value = "production")]
    reference: String,
    /// GET this path instead (e.g. `/healthz`), to measure a baseline without the database.
    #[arg(long, value_name = "PATH")]
    path: Option<String>,
}

#[derive(Debug, Args)]
struct UploadPromoteArgs {
    /// Measured iterations (one upload + one promotion each).
    #[arg(long, default_value_t = 300)]
    iterations: usize,
    /// Unmeasured iterations first.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Artifact size in bytes (unique content every iteration).
    #[arg(long, default_value_t = 1024)]
    artifact_bytes: usize,
    /// Stage to promote to.
    #[arg(long, default_value = "production")]
    stage: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum UploadMode {
    /// One step: POST multipart/form-data (metadata + artifact).
    Multipart,
    /// Two steps: POST JSON metadata, then PUT the bytes to the upload URL.
    Put,
}

#[derive(Debug, Args)]
struct TransferArgs {
    /// Artifact size in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// File holding the artifact; created (pseudo-random bytes) if missing or of another
    /// size. Each run overwrites its first 16 bytes on the fly, so every upload is a new
    /// blob.
    #[arg(long, default_value = "/tmp/capstan-bench-artifact.bin")]
    file: PathBuf,
    /// How to upload.
    #[arg(long, value_enum, default_value_t = UploadMode::Multipart)]
    upload: UploadMode,
    /// Where the download is written.
    #[arg(long, default_value = "/dev/null")]
    out: PathBuf,
    /// Read size when streaming the file, in KiB.
    #[arg(long, default_value_t = 256)]
    chunk_kib: usize,
    /// RSS sampling interval, in milliseconds.
    #[arg(long, default_value_t = 10)]
    sample_ms: u64,
    /// Hash the download and compare it with the version's digest (costs client CPU).
    #[arg(long)]
    verify: bool,
    /// Skip the download.
    #[arg(long)]
    no_download: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .build()?;
    let bench = Bench {
        http,
        base: cli.url.trim_end_matches('/').to_owned(),
        model: cli.model.clone(),
    };
    let server = cli.pid.map(|pid| Server { pid });
    let report = match &cli.command {
        Command::Resolve(args) => resolve(&bench, server, cli.threads, args).await?,
        Command::UploadPromote(args) => upload_promote(&bench, server, cli.threads, args).await?,
        Command::Transfer(args) => transfer(&bench, server, cli.threads, args).await?,
    };
    if cli.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

/// The registry under test.
struct Bench {
    http: reqwest::Client,
    base: String,
    model: String,
}

impl Bench {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    async fn ensure_model(&self) -> anyhow::Result<()> {
        let response = self
            .http
            .post(self.url("/models"))
            .json(&json!({ "name": self.model, "description": "capstan-bench" }))
            .send()
            .await
            .with_context(|| format!("cannot reach the registry at {}", self.base))?;
        match response.status().as_u16() {
            201 | 409 => Ok(()),
            status => bail!(
                "creating model {:?}: HTTP {status}: {}",
                self.model,
                response.text().await.unwrap_or_default()
            ),
        }
    }

    /// One-step upload of `artifact`; returns the version number.
    async fn upload_small(&self, artifact: Vec<u8>) -> anyhow::Result<i64> {
        let form = Form::new()
            .part(
                "metadata",
                Part::text(json!({ "format": "opaque", "source": "capstan-bench" }).to_string())
                    .mime_str("application/json")?,
            )
            .part(
                "artifact",
                Part::bytes(artifact)
                    .file_name("model.bin")
                    .mime_str("application/octet-stream")?,
            );
        let response = self
            .http
            .post(self.url(&format!("/models/{}/versions", self.model)))
            .multipart(form)
            .send()
            .await?;
        version_number(expect(response, 201, "upload").await?)
    }

    async fn promote(&self, stage: &str, version: i64) -> anyhow::Result<()> {
        let response = self
            .http
            .post(self.url(&format!("/models/{}/stages/{stage}", self.model)))
            .json(&json!({ "version": version }))
            .send()
            .await?;
        expect(response, 200, "promote").await?;
        Ok(())
    }

    async fn get_version(&self, reference: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .get(self.url(&format!("/models/{}/versions/{reference}", self.model)))
            .send()
            .await?)
    }

    /// A cheap request to open the keep-alive connection and warm the server's paths.
    async fn healthz(&self) -> anyhow::Result<()> {
        let response = self
            .http
            .get(format!("{}/healthz", self.base))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "GET /healthz: {}",
            response.status()
        );
        response.bytes().await?;
        Ok(())
    }
}

async fn expect(response: reqwest::Response, status: u16, what: &str) -> anyhow::Result<Value> {
    let actual = response.status().as_u16();
    let body = response.bytes().await?;
    if actual != status {
        bail!(
            "{what}: HTTP {actual} (expected {status}): {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(serde_json::from_slice(&body)?)
}

fn version_number(version: Value) -> anyhow::Result<i64> {
    version["version"]
        .as_i64()
        .with_context(|| format!("no version number in {version}"))
}

/// Bytes that differ on every call (so content addressing never deduplicates them).
fn unique_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed ^ nanos_since_epoch());
    let mut out = vec![0u8; len];
    rng.fill(&mut out);
    let stamp = seed.to_le_bytes();
    let n = stamp.len().min(len);
    out[..n].copy_from_slice(&stamp[..n]);
    out
}

fn nanos_since_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// xorshift64*: fast, incompressible enough filler.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Latency statistics

struct Latencies {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Latencies {
    fn new(name: &'static str, capacity: usize) -> Self {
        Self {
            name,
            samples: Vec::with_capacity(capacity),
        }
    }

    fn push(&mut self, d: Duration) {
        self.samples.push(d);
    }

    /// Nearest-rank percentile, in milliseconds.
    fn percentile(sorted: &[Duration], p: f64) -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        ms(sorted[rank.clamp(1, sorted.len()) - 1])
    }

    fn summary(&self) -> Value {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        let n = sorted.len().max(1) as f64;
        json!({
            "name": self.name,
            "count": sorted.len(),
            "mean_ms": ms(total) / n,
            "min_ms": sorted.first().map(|d| ms(*d)).unwrap_or(f64::NAN),
            "p50_ms": Self::percentile(&sorted, 50.0),
            "p90_ms": Self::percentile(&sorted, 90.0),
            "p99_ms": Self::percentile(&sorted, 99.0),
            "max_ms": sorted.last().map(|d| ms(*d)).unwrap_or(f64::NAN),
            "per_second": sorted.len() as f64 / total.as_secs_f64(),
        })
    }

    fn print(&self) -> Value {
        let s = self.summary();
        println!(
            "{:<14} n={:<6} mean {:>8.3} ms  p50 {:>8.3} ms  p90 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  ({:.0}/s)",
            self.name,
            s["count"],
            s["mean_ms"].as_f64().unwrap_or(f64::NAN),
            s["p50_ms"].as_f64().unwrap_or(f64::NAN),
            s["p90_ms"].as_f64().unwrap_or(f64::NAN),
            s["p99_ms"].as_f64().unwrap_or(f64::NAN),
            s["max_ms"].as_f64().unwrap_or(f64::NAN),
            s["per_second"].as_f64().unwrap_or(f64::NAN),
        );
        s
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------
// The server process: CPU time and memory from /proc

#[derive(Clone, Copy)]
struct Server {
    pid: u32,
}

/// CPU nanoseconds per thread name (digits stripped, so `worker-3` groups with `worker-1`).
type CpuByThread = BTreeMap<String, u64>;

impl Server {
    fn cpu(&self) -> CpuByThread {
        let mut by_name = CpuByThread::new();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return by_name;
        };
        for task in tasks.flatten() {
            let dir = task.path();
            let ns = std::fs::read_to_string(dir.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
            let name = std::fs::read_to_string(dir.join("comm"))
                .map(|s| {
                    s.trim()
                        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '#')
                        .to_owned()
                })
                .unwrap_or_default();
            *by_name.entry(name).or_default() += ns;
        }
        by_name
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status_field(&status, field)
    }

    /// Resets VmHWM to the current RSS (needs to own the process, or root).
    fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    /// Samples VmRSS every `interval` on a thread until the returned sampler is stopped.
    fn sample(&self, interval: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let server = *self;
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            let mut samples = 0u64;
            while !flag.load(Ordering::Relaxed) {
                if let Some(rss) = server.status_kib("VmRSS") {
                    peak = peak.max(rss);
                    samples += 1;
                }
                std::thread::sleep(interval);
            }
            (peak, samples)
        });
        Sampler { stop, thread }
    }
}

fn status_field(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64)>,
}

impl Sampler {
    /// (peak VmRSS in KiB, number of samples).
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or((0, 0))
    }
}

/// Measures the server's CPU over a phase.
struct CpuMeter {
    server: Option<Server>,
    before: CpuByThread,
}

impl CpuMeter {
    fn start(server: Option<Server>) -> Self {
        let before = server.map(|s| s.cpu()).unwrap_or_default();
        Self { server, before }
    }

    /// Prints the server CPU used since `start`, per operation; returns it as JSON.
    fn finish(self, operations: usize, per_thread: bool) -> Value {
        let Some(server) = self.server else {
            return Value::Null;
        };
        let after = server.cpu();
        let mut deltas = BTreeMap::new();
        for (name, ns) in &after {
            let delta = ns.saturating_sub(self.before.get(name).copied().unwrap_or(0));
            if delta > 0 {
                deltas.insert(name.clone(), delta);
            }
        }
        let total: u64 = deltas.values().sum();
        let per_op_us = total as f64 / 1000.0 / operations.max(1) as f64;
        println!(
            "server CPU     {:.3} s total, {:.1} µs per operation",
            total as f64 / 1e9,
            per_op_us
        );
        if per_thread {
            for (name, ns) in &deltas {
                println!(
                    "  {:<24} {:>10.3} ms  {:>8.1} µs/op",
                    if name.is_empty() { "?" } else { name },
                    *ns as f64 / 1e6,
                    *ns as f64 / 1000.0 / operations.max(1) as f64
                );
            }
        }
        json!({
            "total_s": total as f64 / 1e9,
            "per_op_us": per_op_us,
            "by_thread_ms": deltas.iter().map(|(k, v)| (k.clone(), json!(*v as f64 / 1e6))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

// ---------------------------------------------------------------------------------------
// resolve

async fn resolve(
    bench: &Bench,
    server: Option<Server>,
    per_thread: bool,
    args: &ResolveArgs,
) -> anyhow::Result<Value> {
    let path = match &args.path {
        Some(path) => format!("{}{path}", bench.base),
        None => {
            ensure_ref(bench, &args.reference).await?;
            bench.url(&format!(
                "/models/{}/versions/{}",
                bench.model, args.reference
            ))
        }
    };
    for _ in 0..args.warmup {
        let response = bench.http.get(&path).send().await?;
        ensure!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.bytes().await?;
    }
    println!(
        "resolve: {} sequential GET {path} (after {} warm-up)",
        args.requests, args.warmup
    );
    let mut latencies = Latencies::new("resolve", args.requests);
    let cpu = CpuMeter::start(server);
    let started = Instant::now();
    for _ in 0..args.requests {
        let t = Instant::now();
        let response = bench.http.get(&path).send().await?;
        let ok = response.status().is_success();
        let body = response.bytes().await?;
        latencies.push(t.elapsed());
        ensure!(ok, "GET {path}: {}", String::from_utf8_lossy(&body));
    }
    let wall = started.elapsed();
    let summary = latencies.print();
    let cpu = cpu.finish(args.requests, per_thread);
    Ok(
        json!({ "bench": "resolve", "url": path, "wall_s": wall.as_secs_f64(), "latency": summary, "server_cpu": cpu }),
    )
}

/// Makes sure `reference` resolves: an empty stage gets a small version promoted to it.
async fn ensure_ref(bench: &Bench, reference: &str) -> anyhow::Result<()> {
    bench.ensure_model().await?;
    let first = bench.get_version(reference).await?;
    if first.status().as_u16() == 404 && matches!(reference, "production" | "staging") {
        let version = bench.upload_small(unique_bytes(1024, 0)).await?;
        bench.promote(reference, version).await?;
        println!("set up: uploaded version {version} and promoted it to {reference}");
    } else {
        expect(first, 200, "resolve").await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// upload-promote

async fn upload_promote(
    bench: &Bench,
    server: Option<Server>,
    per_thread: bool,
    args: &UploadPromoteArgs,
) -> anyhow::Result<Value> {
    bench.ensure_model().await?;
    bench.healthz().await?;
    let mut seed = 1u64;
    for _ in 0..args.warmup {
        let version = bench
            .upload_small(unique_bytes(args.artifact_bytes, seed))
            .await?;
        bench.promote(&args.stage, version).await?;
        seed += 1;
    }
    println!(
        "upload-promote: {} × (multipart upload of {} B + promote to {}) (after {} warm-up)",
        args.iterations, args.artifact_bytes, args.stage, args.warmup
    );
    let mut uploads = Latencies::new("upload", args.iterations);
    let mut promotes = Latencies::new("promote", args.iterations);
    let mut pairs = Latencies::new("upload+promote", args.iterations);
    let cpu = CpuMeter::start(server);
    for _ in 0..args.iterations {
        let artifact = unique_bytes(args.artifact_bytes, seed);
        seed += 1;
        let t0 = Instant::now();
        let version = bench.upload_small(artifact).await?;
        let t1 = Instant::now();
        bench.promote(&args.stage, version).await?;
        let t2 = Instant::now();
        uploads.push(t1 - t0);
        promotes.push(t2 - t1);
        pairs.push(t2 - t0);
    }
    let upload = uploads.print();
    let promote = promotes.print();
    let pair = pairs.print();
    let cpu = cpu.finish(args.iterations, per_thread);
    Ok(json!({
        "bench": "upload-promote",
        "artifact_bytes": args.artifact_bytes,
        "upload": upload, "promote": promote, "upload_promote": pair,
        "server_cpu": cpu,
    }))
}

// ---------------------------------------------------------------------------------------
// transfer

/// Makes sure `path` holds exactly `size` bytes (pseudo-random if it has to be written).
fn prepare_file(path: &Path, size: u64) -> anyhow::Result<()> {
    if std::fs::metadata(path)
        .map(|m| m.len() == size)
        .unwrap_or(false)
    {
        return Ok(());
    }
    println!(
        "writing {} MiB of pseudo-random bytes to {}",
        size >> 20,
        path.display()
    );
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut rng = XorShift::new(0x5eed);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

/// Streams `path` in `chunk`-sized reads; the first 16 bytes are replaced by `nonce`.
fn file_stream(
    file: tokio::fs::File,
    chunk: usize,
    nonce: [u8; 16],
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures::stream::try_unfold((file, true), move |(mut file, first)| async move {
        let mut buf = BytesMut::zeroed(chunk);
        let mut filled = 0;
        while filled < chunk {
            let n = file.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            return Ok(None);
        }
        buf.truncate(filled);
        if first {
            let n = nonce.len().min(filled);
            buf[..n].copy_from_slice(&nonce[..n]);
        }
        Ok(Some((buf.freeze(), (file, false))))
    })
}

struct Phase {
    seconds: f64,
    peak_rss_kib: Option<u64>,
    hwm_kib: Option<u64>,
    samples: u64,
    cpu: Value,
}

/// Runs `work` while sampling the server's RSS.
async fn measured<F, T>(
    server: Option<Server>,
    sample: Duration,
    per_thread: bool,
    work: F,
) -> anyhow::Result<(T, Phase)>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let reset = server.map(|s| s.reset_peak()).unwrap_or(false);
    let sampler = server.map(|s| s.sample(sample));
    let cpu = CpuMeter::start(server);
    let started = Instant::now();
    let result = work.await;
    let seconds = started.elapsed().as_secs_f64();
    let (peak, samples) = sampler.map(Sampler::finish).unwrap_or((0, 0));
    let hwm = if reset {
        server.and_then(|s| s.status_kib("VmHWM"))
    } else {
        None
    };
    let value = result?;
    let cpu = cpu.finish(1, per_thread);
    Ok((
        value,
        Phase {
            seconds,
            peak_rss_kib: server.map(|_| peak),
            hwm_kib: hwm,
            samples,
            cpu,
        },
    ))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_phase(name: &str, bytes: u64, phase: &Phase, idle_kib: Option<u64>) -> Value {
    let mb_s = bytes as f64 / phase.seconds / 1e6;
    let mib_s = bytes as f64 / phase.seconds / (1 << 20) as f64;
    print!(
        "{name:<9} {} B in {:.2} s: {mb_s:.0} MB/s ({mib_s:.0} MiB/s)",
        bytes, phase.seconds
    );
    let peak = phase
        .peak_rss_kib
        .map(|p| p.max(phase.hwm_kib.unwrap_or(0)));
    if let (Some(peak), Some(idle)) = (peak, idle_kib) {
        print!(
            "; server peak RSS {:.1} MiB = idle + {:.1} MiB ({} samples{})",
            mib(peak),
            mib(peak.saturating_sub(idle)),
            phase.samples,
            if phase.hwm_kib.is_some() {
                ", VmHWM"
            } else {
                ""
            }
        );
    }
    println!();
    json!({
        "bytes": bytes,
        "seconds": phase.seconds,
        "mb_per_s": mb_s,
        "mib_per_s": mib_s,
        "peak_rss_kib": peak,
        "peak_above_idle_kib": peak.zip(idle_kib).map(|(p, i)| p.saturating_sub(i)),
        "rss_samples": phase.samples,
        "server_cpu": phase.cpu,
    })
}

async fn transfer(
    bench: &Bench,
    server: Option<Server>,
    per_thread: bool,
    args: &TransferArgs,
) -> anyhow::Result<Value> {
    let size = args.size_mib << 20;
    prepare_file(&args.file, size)?;
    bench.ensure_model().await?;
    // Warm up: open the connection and touch the database and upload paths once.
    bench.healthz().await?;
    let small = bench.upload_small(unique_bytes(1024, 7)).await?;
    let warm = bench
        .http
        .get(bench.url(&format!(
            "/models/{}/versions/{small}/artifact",
            bench.model
        )))
        .send()
        .await?;
    warm.bytes().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = server.and_then(|s| s.status_kib("VmRSS"));
    if let Some(idle) = idle {
        println!("server idle RSS {:.1} MiB (after warm-up)", mib(idle));
    }
    let sample = Duration::from_millis(args.sample_ms.max(1));
    let chunk = args.chunk_kib.max(1) << 10;
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&nanos_since_epoch().to_le_bytes());
    nonce[8..].copy_from_slice(b"capstan!");

    // Upload.
    let file = tokio::fs::File::open(&args.file).await?;
    let body = reqwest::Body::wrap_stream(file_stream(file, chunk, nonce));
    let versions_url = bench.url(&format!("/models/{}/versions", bench.model));
    let metadata = json!({ "format": "opaque", "source": "capstan-bench transfer" });
    let (version, up) = measured(server, sample, per_thread, async {
        let response = match args.upload {
            UploadMode::Multipart => {
                let form = Form::new()
                    .part(
                        "metadata",
                        Part::text(metadata.to_string()).mime_str("application/json")?,
                    )
                    .part(
                        "artifact",
                        Part::stream_with_length(body, size)
                            .file_name("model.bin")
                            .mime_str("application/octet-stream")?,
                    );
                bench
                    .http
                    .post(&versions_url)
                    .multipart(form)
                    .send()
                    .await?
            }
            UploadMode::Put => {
                let response = bench
                    .http
                    .post(&versions_url)
                    .json(&metadata)
                    .send()
                    .await?;
                let pending = expect(response, 201, "create pending version").await?;
                let upload_url = pending["upload_url"].as_str().context("no upload_url")?;
                let upload_url = if upload_url.starts_with("http") {
                    upload_url.to_owned()
                } else {
                    format!("{}{}", bench.base, upload_url)
                };
                bench
                    .http
                    .put(upload_url)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(reqwest::header::CONTENT_LENGTH, size)
                    .body(body)
                    .send()
                    .await?
            }
        };
        let status = if args.upload == UploadMode::Put {
            200
        } else {
            201
        };
        expect(response, status, "upload").await
    })
    .await?;
    let number = version_number(version.clone())?;
    ensure!(
        version["size"].as_u64() == Some(size),
        "the server stored {} bytes, expected {size}",
        version["size"]
    );
    println!(
        "uploaded version {number} ({})",
        version["digest"].as_str().unwrap_or("?")
    );
    let upload = print_phase("upload", size, &up, idle);

    // Download.
    let download = if args.no_download {
        Value::Null
    } else {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let idle_before = server.and_then(|s| s.status_kib("VmRSS"));
        if let Some(rss) = idle_before {
            println!("server RSS before download {:.1} MiB", mib(rss));
        }
        let url = bench.url(&format!(
            "/models/{}/versions/{number}/artifact",
            bench.model
        ));
        let mut out = std::fs::File::create(&args.out)
            .with_context(|| format!("cannot open {}", args.out.display()))?;
        let verify = args.verify;
        let ((received, digest), down) = measured(server, sample, per_thread, async {
            let response = bench.http.get(&url).send().await?;
            ensure!(
                response.status().as_u16() == 200,
                "download: HTTP {}",
                response.status()
            );
            let mut stream = response.bytes_stream();
            let mut received = 0u64;
            let mut hasher = verify.then(sha2::Sha256::new);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                received += chunk.len() as u64;
                if let Some(h) = hasher.as_mut() {
                    h.update(&chunk);
                }
                out.write_all(&chunk)?;
            }
            Ok((
                received,
                hasher.map(|h| format!("sha256:{}", hex::encode(h.finalize()))),
            ))
        })
        .await?;
        ensure!(
            received == size,
            "downloaded {received} bytes, expected {size}"
        );
        if let Some(digest) = digest {
            ensure!(
                Some(digest.as_str()) == version["digest"].as_str(),
                "downloaded digest {digest} differs from {}",
                version["digest"]
            );
            println!("download verified: {digest}");
        }
        print_phase("download", size, &down, idle)
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = server.and_then(|s| s.status_kib("VmRSS"));
    if let Some(after) = after {
        println!("server RSS after the transfers {:.1} MiB", mib(after));
    }
    Ok(json!({
        "bench": "transfer",
        "size_bytes": size,
        "upload_mode": format!("{:?}", args.upload).to_lowercase(),
        "idle_rss_kib": idle,
        "after_rss_kib": after,
        "upload": upload,
        "download": download,
    }))
}
