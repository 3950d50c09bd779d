//! `deployments`: the control plane under a fleet's heartbeats. Creates `--deployments`
//! deployments of the benchmark model's production ref, then has `--instances` instances
//! of each report every `--interval` (spread evenly, over `--connections` keep-alive
//! connections) for `--duration`, while one more connection reads deployments one after
//! another. Prints the reports' and the reads' latency and the server's CPU over the run
//! (as a share of one core).

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use clap::Args;
use serde_json::{json, Value};

use crate::filler::unique_bytes;
use crate::latency::Latencies;
use crate::registry::{expect, Bench};
use crate::server::{CpuMeter, Server};

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Deployments to create (named `fleet-00000`, …; kept when they exist).
    #[arg(long, default_value_t = 1000)]
    deployments: usize,
    /// Instances reporting to each deployment.
    #[arg(long, default_value_t = 10)]
    instances: usize,
    /// How often each instance reports, in seconds.
    #[arg(long, default_value_t = 10.0)]
    interval: f64,
    /// How long the measured load runs, in seconds (after one unmeasured interval).
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Keep-alive connections the reports are sent over.
    #[arg(long, default_value_t = 32)]
    connections: usize,
}

fn deployment_name(i: usize) -> String {
    format!("fleet-{i:05}")
}

pub async fn fleet(
    bench: &Bench,
    server: Option<Server>,
    per_thread: bool,
    args: &FleetArgs,
) -> anyhow::Result<Value> {
    let (version, digest) = production(bench).await?;
    for i in 0..args.deployments {
        let response = bench
            .http
            .put(bench.url(&format!("/deployments/{}", deployment_name(i))))
            .json(&json!({"model": format!("{}@production", bench.model), "pattern": "api"}))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "create deployment: {}",
            response.status()
        );
        response.bytes().await?;
    }
    let reports_per_second = (args.deployments * args.instances) as f64 / args.interval;
    println!(
        "deployments: {} deployments × {} instances reporting every {} s = {:.0} reports/s over {} connections, {} s measured",
        args.deployments, args.instances, args.interval, reports_per_second, args.connections, args.duration
    );
    let body = json!({"version": version, "digest": digest, "status": "serving"}).to_string();
    let sent = Rc::new(AtomicUsize::new(0));
    let total = args.deployments * args.instances;
    // Warm-up: one full interval, so every instance exists before measuring.
    let warmup = Duration::from_secs_f64(args.interval);
    let measured = Duration::from_secs_f64(args.duration);
    let start = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / reports_per_second);
    let local = tokio::task::LocalSet::new();
    let (reports, reads, cpu) = local
        .run_until(async {
            let mut senders = Vec::new();
            for lane in 0..args.connections {
                let http = reqwest::Client::builder()
                    .http1_only()
                    .tcp_nodelay(true)
                    .pool_max_idle_per_host(1)
                    .build()?;
                let (base, body, sent) = (bench.base.clone(), body.clone(), sent.clone());
                let (connections, instances) = (args.connections, args.instances);
                senders.push(tokio::task::spawn_local(async move {
                    let mut latencies = Latencies::new("report", 1 << 16);
                    let mut n = lane;
                    loop {
                        // Report n is due at start + n·gap: the fleet's schedule, whatever
                        // the latency.
                        let due = start + gap * u32::try_from(n).unwrap_or(u32::MAX);
                        if due > start + warmup + measured {
                            return anyhow::Ok(latencies);
                        }
                        tokio::time::sleep_until(due.into()).await;
                        let slot = n % total;
                        let url = format!(
                            "{base}/api/v1/deployments/{}/instances/i-{}",
                            deployment_name(slot / instances),
                            slot % instances
                        );
                        let t = Instant::now();
                        let response = http
                            .put(&url)
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send()
                            .await?;
                        ensure!(
                            response.status().is_success(),
                            "report: {}",
                            response.status()
                        );
                        response.bytes().await?;
                        if t >= start + warmup {
                            latencies.push(t.elapsed());
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        n += connections;
                    }
                }));
            }
            tokio::time::sleep_until((start + warmup).into()).await;
            let cpu = CpuMeter::start(server);
            let mut reads = Latencies::new("get deployment", 1 << 14);
            let mut i = 0;
            while start.elapsed() < warmup + measured {
                let url = bench.url(&format!(
                    "/deployments/{}",
                    deployment_name(i % args.deployments)
                ));
                let t = Instant::now();
                let response = bench.http.get(&url).send().await?;
                let document = expect(response, 200, "get deployment").await?;
                reads.push(t.elapsed());
                ensure!(
                    document["instances"]
                        .as_array()
                        .is_some_and(|a| a.len() == args.instances),
                    "{document}"
                );
                i += 7919;
            }
            let mut reports = Latencies::new("report", 1 << 16);
            for sender in senders {
                for d in sender.await??.samples() {
                    reports.push(*d);
                }
            }
            let cpu = cpu.finish(sent.load(Ordering::Relaxed), per_thread);
            anyhow::Ok((reports, reads, cpu))
        })
        .await?;
    let report_summary = reports.print();
    let read_summary = reads.print();
    let cpu_share = cpu["total_s"].as_f64().map(|s| s / args.duration * 100.0);
    if let Some(share) = cpu_share {
        println!(
            "server CPU     {share:.1} % of one core over the measured {} s",
            args.duration
        );
    }
    Ok(json!({
        "bench": "deployments",
        "deployments": args.deployments,
        "instances": args.instances,
        "interval_s": args.interval,
        "reports_per_second": reports_per_second,
        "report": report_summary,
        "get_deployment": read_summary,
        "server_cpu": cpu,
        "server_cpu_percent_of_core": cpu_share,
    }))
}

/// The model's production version and digest, uploading and promoting one if needed.
async fn production(bench: &Bench) -> anyhow::Result<(i64, String)> {
    bench.ensure_model().await?;
    let mut response = bench.get_version("production").await?;
    if response.status().as_u16() == 404 {
        let version = bench.upload_small(unique_bytes(1024, 0)).await?;
        bench.promote("production", version).await?;
        response = bench.get_version("production").await?;
    }
    let version = expect(response, 200, "production").await?;
    Ok((
        version["version"].as_i64().unwrap_or(1),
        version["digest"].as_str().unwrap_or_default().to_owned(),
    ))
}
