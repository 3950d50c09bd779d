//! `upload-promote`: sequential small one-step uploads, each followed by a promotion.

use std::time::Instant;

use clap::Args;
use serde_json::{json, Value};

use crate::filler::unique_bytes;
use crate::latency::Latencies;
use crate::registry::Bench;
use crate::server::{CpuMeter, Server};

#[derive(Debug, Args)]
pub struct UploadPromoteArgs {
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

pub async fn upload_promote(
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
