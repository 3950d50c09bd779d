//! `resolve`: sequential ref resolution over one keep-alive connection.

use std::time::Instant;

use anyhow::ensure;
use clap::Args;
use serde_json::{json, Value};

use crate::filler::unique_bytes;
use crate::latency::Latencies;
use crate::registry::{expect, Bench};
use crate::server::{CpuMeter, Server};

#[derive(Debug, Args)]
pub struct ResolveArgs {
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

pub async fn resolve(
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
