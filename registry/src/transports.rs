//! The transports beside HTTP — the gRPC server and the broker consumers — on a
//! multi-threaded tokio runtime of their own: the HTTP workers are actix's, and the
//! process's main runtime is a single thread. Both processes start theirs here (`serve`:
//! gRPC; `model-server`: gRPC, RabbitMQ, NATS), each transport a [`Jobs`] entry that runs
//! until the shared shutdown token is cancelled.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};

use anyhow::Context;
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::api::grpc;
use crate::api::prediction_gate::PredictionGate;
use crate::serving::Serving;

type Job = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, anyhow::Result<()>> + Send>;

/// What the transports' runtime will run.
#[derive(Default)]
pub struct Jobs(Vec<Job>);

impl Jobs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a job; it stops when the token it is given is cancelled.
    pub fn push<F, Fut>(&mut self, job: F)
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.0.push(Box::new(move |shutdown| job(shutdown).boxed()));
    }

    /// Adds the gRPC server, listening on `addr` now (so a bad address fails the start);
    /// returns the address it listens on.
    pub fn grpc(
        &mut self,
        addr: SocketAddr,
        serving: &Serving,
        gate: &PredictionGate,
    ) -> anyhow::Result<SocketAddr> {
        let listener =
            TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr} (gRPC)"))?;
        let bound = listener.local_addr()?;
        let (serving, gate) = (serving.clone(), gate.clone());
        self.push(move |shutdown| grpc::serve(listener, serving, gate, shutdown));
        Ok(bound)
    }
}

/// The running transports. Dropping them stops them without waiting;
/// [`Transports::stop`] waits for requests in flight.
pub struct Transports {
    /// Where gRPC listens, when it does.
    pub grpc_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Transports {
    /// No transport beside HTTP.
    pub fn none() -> Self {
        Self {
            grpc_addr: None,
            shutdown: CancellationToken::new(),
            thread: None,
        }
    }

    /// Runs `jobs` on `threads` threads [default: one per core].
    pub fn start(
        jobs: Jobs,
        threads: Option<usize>,
        grpc_addr: Option<SocketAddr>,
    ) -> anyhow::Result<Self> {
        if jobs.0.is_empty() {
            return Ok(Self::none());
        }
        let shutdown = CancellationToken::new();
        let threads =
            threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("capstan-transports")
            .enable_all()
            .build()?;
        let token = shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("capstan-transports".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut running = tokio::task::JoinSet::new();
                    for job in jobs.0 {
                        running.spawn(job(token.clone()));
                    }
                    while let Some(finished) = running.join_next().await {
                        match finished {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => tracing::error!("{error:#}"),
                            Err(error) => tracing::error!(%error, "a transport failed"),
                        }
                    }
                });
            })?;
        Ok(Self {
            grpc_addr,
            shutdown,
            thread: Some(thread),
        })
    }

    /// Stops taking requests and returns once those in flight are answered.
    pub fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Transports {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
