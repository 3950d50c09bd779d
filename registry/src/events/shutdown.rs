//! Stopping the registry's long-lived work — event streams, the event tail, relays — and
//! knowing when it has finished. A graceful stop cancels it before (or with) stopping the
//! HTTP server: actix waits for open responses, and an event stream never ends by itself;
//! relays give their lease up on the way out.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancelled once the shutdown has begun.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Tells every stream, the tail and the relays to stop.
    pub fn begin(&self) {
        self.tasks.close();
        self.token.cancel();
    }

    pub fn has_begun(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the shutdown has begun and the background tasks have finished.
    pub async fn finished(&self) {
        self.token.cancelled().await;
        self.tasks.wait().await;
    }

    /// Runs `task` on the current runtime as part of the work [`Shutdown::finished`]
    /// waits for.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }
}
