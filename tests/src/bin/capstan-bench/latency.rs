//! Latency statistics: nearest-rank percentiles of a run's samples, printed and as JSON.

use std::time::Duration;

use serde_json::{json, Value};

pub struct Latencies {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Latencies {
    pub fn new(name: &'static str, capacity: usize) -> Self {
        Self {
            name,
            samples: Vec::with_capacity(capacity),
        }
    }

    pub fn push(&mut self, d: Duration) {
        self.samples.push(d);
    }

    pub fn samples(&self) -> &[Duration] {
        &self.samples
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

    pub fn print(&self) -> Value {
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
