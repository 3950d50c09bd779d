//! This replica's webhook delivery attempts by result, for `/metrics`. Counted in memory
//! (per process, since start), like the relays' published counts.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// How an attempt ended, as `/metrics` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// 2xx.
    Delivered,
    /// Another status, a timeout, a refused connection or address.
    Failed,
    /// 410 Gone (the webhook was disabled).
    Gone,
}

impl AttemptResult {
    const ALL: [AttemptResult; 3] = [
        AttemptResult::Delivered,
        AttemptResult::Failed,
        AttemptResult::Gone,
    ];

    fn label(self) -> &'static str {
        match self {
            AttemptResult::Delivered => "delivered",
            AttemptResult::Failed => "failed",
            AttemptResult::Gone => "gone",
        }
    }
}

#[derive(Debug, Default)]
pub struct WebhookMetrics {
    attempts: [AtomicU64; 3],
}

impl WebhookMetrics {
    pub fn record(&self, result: AttemptResult) {
        self.attempts[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn attempts(&self, result: AttemptResult) -> u64 {
        self.attempts[result as usize].load(Ordering::Relaxed)
    }

    /// `capstan_webhook_attempts_total{result="…"}`.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        let name = "capstan_webhook_attempts_total";
        let _ = writeln!(
            out,
            "# HELP {name} Webhook delivery attempts this replica made, by result."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for result in AttemptResult::ALL {
            let _ = writeln!(
                out,
                "{name}{{result=\"{}\"}} {}",
                result.label(),
                self.attempts(result)
            );
        }
        out
    }
}
