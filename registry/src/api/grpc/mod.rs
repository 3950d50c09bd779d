//! The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`), beside the
//! standard health (`grpc.health.v1`) and reflection services, on its own port
//! (`--grpc-listen`). The service is generated at build time from
//! `registry/proto/open_inference_grpc.proto` (see `build.rs`); its handlers
//! (`inference.rs`) call the same [`Serving`] as the HTTP routes, so hot swaps, the canary
//! split, metrics and deployment reports are the same; `tensors.rs` maps its tensors to
//! and from V2's.

mod inference;
mod tensors;

use std::net::TcpListener;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use self::inference::InferenceService;
use super::prediction_gate::PredictionGate;
use crate::serving::Serving;

/// The generated messages, server and client of `inference.GRPCInferenceService`.
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    missing_docs,
    unreachable_pub
)]
pub mod proto {
    tonic::include_proto!("inference");

    /// The encoded descriptors of the service, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/inference_descriptor.bin"));
}

use proto::grpc_inference_service_server::GrpcInferenceServiceServer;

/// Largest message the service reads (the HTTP infer route's body limit).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// How often the health service's status is brought in line with the served models.
const HEALTH_EVERY: Duration = Duration::from_millis(500);

/// Serves gRPC on `listener` until `shutdown` is cancelled (calls in flight finish).
pub async fn serve(
    listener: TcpListener,
    serving: Serving,
    gate: PredictionGate,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let incoming =
        TcpIncoming::from(tokio::net::TcpListener::from_std(listener)?).with_nodelay(Some(true));
    let (reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(report_health(reporter, serving.clone(), shutdown.clone()));
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let inference = GrpcInferenceServiceServer::new(InferenceService::new(serving, gate))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(inference)
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// Keeps `grpc.health.v1` in line with V2 readiness: the server (`""`) and the inference
/// service are SERVING once every served model is loaded.
async fn report_health(
    reporter: tonic_health::server::HealthReporter,
    serving: Serving,
    shutdown: CancellationToken,
) {
    const SERVICE: &str =
        <GrpcInferenceServiceServer<InferenceService> as tonic::server::NamedService>::NAME;
    let mut last = None;
    loop {
        let status = if serving.v2_ready() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if last != Some(status) {
            reporter.set_service_status("", status).await;
            reporter.set_service_status(SERVICE, status).await;
            last = Some(status);
        }
        tokio::select! {
            () = shutdown.cancelled() => {
                reporter.set_service_status("", ServingStatus::NotServing).await;
                reporter.set_service_status(SERVICE, ServingStatus::NotServing).await;
                return;
            }
            () = tokio::time::sleep(HEALTH_EVERY) => {}
        }
    }
}
