//! `capstan-bench`: measures a running registry from the outside, over real HTTP.
//!
//! - `resolve`: sequential `GET /api/v1/models/{model}/versions/{ref}` on one keep-alive
//!   connection; latency percentiles.
//! - `upload-promote`: sequential one-step upload of a small artifact (multipart) followed
//!   by a promotion; latency percentiles of each step and of the pair.
//! - `transfer`: upload and download of a large artifact (1 GiB by default), streamed from
//!   and to disk; MB/s of each, and with `--pid` the server's peak RSS during each.
//!
//! - `grpc`, `amqp`, `nats`: single-row predictions to a model server over gRPC,
//!   RabbitMQ and NATS from concurrent callers; throughput and latency percentiles.
//!
//! - `deployments`: N deployments × M instances reporting every interval while deployments
//!   are read; latency of both and the server's CPU (the control plane's cost).
//!
//! With `--pid <server pid>` every subcommand also reports the CPU time the server spent
//! (from `/proc/<pid>/task/*/schedstat`), per thread group with `--threads`: a poor man's
//! profiler for when `perf` is not available.
//!
//! This is a measuring tool, not a test: it prints numbers and asserts nothing about them.
//! See docs/performance.md for the recorded results and how to reproduce them.

mod batch;
mod filler;
mod fleet;
mod latency;
mod measure;
mod registry;
mod resolve;
mod server;
mod transfer;
mod transports;
mod upload_promote;

use clap::{Parser, Subcommand};

use batch::{batch, BatchArgs};
use fleet::{fleet, FleetArgs};
use registry::Bench;
use resolve::{resolve, ResolveArgs};
use server::Server;
use transfer::{transfer, TransferArgs};
use transports::{AmqpArgs, GrpcArgs, NatsArgs};
use upload_promote::{upload_promote, UploadPromoteArgs};

/// Measures a running Capstan registry: ref resolution and upload+promote latency, and
/// large-artifact transfer throughput and server memory.
#[derive(Debug, Parser)]
#[command(
    name = "capstan-bench",
    version,
    after_help = "Examples:\n  \
        capstan-bench --url http://127.0.0.1:8080 resolve --requests 5000\n  \
        capstan-bench upload-promote --iterations 300 --pid $(pgrep -n capstan-registry)\n  \
        capstan-bench transfer --size-mib 1024 --file /tmp/capstan-bench-1g.bin --pid $SERVER_PID\n  \
        capstan-bench batch --rows 1000000 --kind onnx --pid $SERVER_PID\n  \
        capstan-bench deployments --deployments 1000 --instances 10 --pid $SERVER_PID\n  \
        capstan-bench grpc --target http://127.0.0.1:8001 --concurrency 32 --seconds 10\n  \
        capstan-bench amqp --concurrency 16 --seconds 10\n\n\
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
    /// API token sent with every request (a registry started with --auth).
    #[arg(long, env = "CAPSTAN_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
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
    /// Pattern 4 end to end: upload a CSV, score it with a batch job, download the output,
    /// approve, look predictions up by key.
    Batch(BatchArgs),
    /// The control plane under a fleet's heartbeats: N deployments × M instances
    /// reporting, while deployments are read; latency of both and the server's CPU.
    Deployments(FleetArgs),
    /// Pattern 2 over gRPC: Open Inference Protocol `ModelInfer` calls to a model server's
    /// `--grpc-listen`, single-row, from concurrent callers.
    Grpc(GrpcArgs),
    /// Pattern 2 over RabbitMQ: RPC predictions to a model server's queue from several
    /// callers.
    Amqp(AmqpArgs),
    /// Pattern 2 over NATS request/reply.
    Nats(NatsArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &cli.token {
        let mut value: reqwest::header::HeaderValue = format!("Bearer {token}").parse()?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let http = reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .default_headers(headers)
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
        Command::Batch(args) => batch(&bench, server, cli.threads, args).await?,
        Command::Deployments(args) => fleet(&bench, server, cli.threads, args).await?,
        Command::Grpc(args) => transports::grpc(&cli.model, args).await?,
        Command::Amqp(args) => transports::amqp(&cli.model, args).await?,
        Command::Nats(args) => transports::nats(&cli.model, args).await?,
    };
    if cli.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
