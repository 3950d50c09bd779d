//! `grpc`, `amqp`, `nats`: pattern 2's transports beside HTTP under load — single-row
//! predictions from `--concurrency` callers for `--seconds`, after a warm-up: throughput
//! and latency percentiles. The HTTP figures come from wrk (`scripts/bench-serving.sh`);
//! `scripts/bench-transports.sh` runs these three against one model server.
//!
//! - `grpc`: `ModelInfer` with one FP64 `[1, 30]` tensor (raw contents, as Triton's clients
//!   send), calls multiplexed over one HTTP/2 connection.
//! - `amqp`: the RPC pattern over RabbitMQ, each caller with its own channel and reply
//!   queue, one request in flight per caller (the server's prefetch bounds its side).
//! - `nats`: request/reply on one connection.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use serde_json::{json, Value};

use capstan_registry::api::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use capstan_registry::api::grpc::proto::model_infer_request::InferInputTensor;
use capstan_registry::api::grpc::proto::ModelInferRequest;

use crate::latency::Latencies;

/// How hard and how long.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Callers sending at once, each waiting for its answer before the next request.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured seconds first.
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,
    /// The row sent (30 comma-separated numbers) [default: the breast-cancer table's first].
    #[arg(long, value_delimiter = ',', num_args = 30)]
    row: Option<Vec<f64>>,
}

impl LoadArgs {
    fn row(&self) -> Vec<f64> {
        self.row.clone().unwrap_or_else(|| FIRST_ROW.to_vec())
    }
}

/// The first row of tests/data/breast_cancer.csv.
const FIRST_ROW: [f64; 30] = [
    17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095, 0.9053,
    8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38, 17.33, 184.6,
    2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189,
];

#[derive(Debug, Args)]
pub struct GrpcArgs {
    /// The model server's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:8001")]
    target: String,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Debug, Args)]
pub struct AmqpArgs {
    /// The broker.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// The model's queue [default: capstan.predict.<model>].
    #[arg(long)]
    queue: Option<String>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Debug, Args)]
pub struct NatsArgs {
    /// The NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// The model's subject [default: capstan.predict.<model>].
    #[arg(long)]
    subject: Option<String>,
    #[command(flatten)]
    load: LoadArgs,
}

pub async fn grpc(model: &str, args: &GrpcArgs) -> anyhow::Result<Value> {
    let channel = tonic::transport::Channel::from_shared(args.target.clone())?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", args.target))?;
    let client =
        GrpcInferenceServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024);
    let row = args.load.row();
    let request = ModelInferRequest {
        model_name: model.to_owned(),
        inputs: vec![InferInputTensor {
            name: "input".to_owned(),
            datatype: "FP64".to_owned(),
            shape: vec![1, 30],
            ..Default::default()
        }],
        raw_input_contents: vec![row.iter().flat_map(|v| v.to_le_bytes()).collect()],
        ..Default::default()
    };
    drive("grpc", &args.load, |_| {
        let mut client = client.clone();
        let request = request.clone();
        async move {
            let answer = client.model_infer(request).await?.into_inner();
            anyhow::ensure!(!answer.raw_output_contents.is_empty(), "no outputs");
            Ok(())
        }
    })
    .await
}

pub async fn amqp(model: &str, args: &AmqpArgs) -> anyhow::Result<Value> {
    use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    let queue = args
        .queue
        .clone()
        .unwrap_or_else(|| format!("capstan.predict.{model}"));
    let body = serde_json::to_vec(&json!({ "instances": [args.load.row()] }))?;
    let connection = Connection::connect(&args.amqp_url, ConnectionProperties::default()).await?;
    // One channel, reply queue and consumer per caller.
    let mut callers = Vec::with_capacity(args.load.concurrency);
    for _ in 0..args.load.concurrency {
        let channel = connection.create_channel().await?;
        let reply = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let consumer = channel
            .basic_consume(
                reply.name().clone(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        callers.push(std::rc::Rc::new(tokio::sync::Mutex::new((
            channel,
            reply.name().clone(),
            consumer,
            0u64,
        ))));
    }
    drive("amqp", &args.load, |index| {
        let caller = callers[index].clone();
        let body = body.clone();
        let queue = queue.clone();
        async move {
            let mut caller = caller.lock().await;
            let (channel, reply_to, consumer, sent) = &mut *caller;
            *sent += 1;
            let id = sent.to_string();
            channel
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    BasicProperties::default()
                        .with_reply_to(reply_to.clone())
                        .with_correlation_id(id.as_str().into())
                        .with_content_type("application/json".into()),
                )
                .await?;
            loop {
                let delivery = consumer
                    .next()
                    .await
                    .context("the reply consumer ended")??;
                if delivery
                    .properties
                    .correlation_id()
                    .as_ref()
                    .map(|c| c.as_str())
                    == Some(id.as_str())
                {
                    anyhow::ensure!(
                        delivery
                            .properties
                            .content_type()
                            .as_ref()
                            .map(|c| c.as_str())
                            == Some("application/json"),
                        "a problem: {}",
                        String::from_utf8_lossy(&delivery.data)
                    );
                    return Ok(());
                }
            }
        }
    })
    .await
}

pub async fn nats(model: &str, args: &NatsArgs) -> anyhow::Result<Value> {
    let subject = args
        .subject
        .clone()
        .unwrap_or_else(|| format!("capstan.predict.{model}"));
    let body = bytes::Bytes::from(serde_json::to_vec(
        &json!({ "instances": [args.load.row()] }),
    )?);
    let client = async_nats::connect(&args.nats_url).await?;
    drive("nats", &args.load, |_| {
        let client = client.clone();
        let subject = subject.clone();
        let body = body.clone();
        async move {
            let reply = client.request(subject, body).await?;
            let problem = reply
                .headers
                .as_ref()
                .and_then(|h| h.get("Content-Type"))
                .is_some_and(|v| v.as_str() != "application/json");
            anyhow::ensure!(
                !problem,
                "a problem: {}",
                String::from_utf8_lossy(&reply.payload)
            );
            Ok(())
        }
    })
    .await
}

/// Runs `call(caller)` from `concurrency` callers (one at a time each) for the warm-up, then for
/// the measured seconds; prints and returns throughput and latencies.
async fn drive<F, Fut>(name: &'static str, load: &LoadArgs, call: F) -> anyhow::Result<Value>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let run = |seconds: u64| {
        let call = &call;
        async move {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let callers = (0..load.concurrency.max(1)).map(|index| async move {
                let mut samples = Vec::new();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    call(index).await?;
                    samples.push(started.elapsed());
                }
                anyhow::Ok(samples)
            });
            let mut all = Vec::new();
            for samples in futures::future::join_all(callers).await {
                all.extend(samples?);
            }
            anyhow::Ok(all)
        }
    };
    run(load.warmup_seconds).await?;
    println!(
        "{name}: {} callers, 1-row predictions for {} s (after {} s warm-up)",
        load.concurrency, load.seconds, load.warmup_seconds
    );
    let started = Instant::now();
    let samples = run(load.seconds).await?;
    let wall = started.elapsed();
    let mut latencies = Latencies::new(name, samples.len());
    for sample in &samples {
        latencies.push(*sample);
    }
    let summary = latencies.print();
    let throughput = samples.len() as f64 / wall.as_secs_f64();
    println!("{name}: {throughput:.0} predictions/s");
    Ok(
        json!({ "bench": name, "concurrency": load.concurrency, "throughput_per_s": throughput, "latency": summary }),
    )
}
