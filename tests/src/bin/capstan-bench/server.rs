//! The server process: its CPU time per thread and its memory, read from /proc.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

#[derive(Clone, Copy)]
pub struct Server {
    pub pid: u32,
}

/// CPU nanoseconds per thread name (digits stripped, so `worker-3` groups with `worker-1`).
type CpuByThread = BTreeMap<String, u64>;

impl Server {
    fn cpu(&self) -> CpuByThread {
        let mut by_name = CpuByThread::new();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return by_name;
        };
        for task in tasks.flatten() {
            let dir = task.path();
            let ns = std::fs::read_to_string(dir.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
            let name = std::fs::read_to_string(dir.join("comm"))
                .map(|s| {
                    s.trim()
                        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '#')
                        .to_owned()
                })
                .unwrap_or_default();
            *by_name.entry(name).or_default() += ns;
        }
        by_name
    }

    pub fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status_field(&status, field)
    }

    /// Resets VmHWM to the current RSS (needs to own the process, or root).
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    /// Samples VmRSS every `interval` on a thread until the returned sampler is stopped.
    pub fn sample(&self, interval: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let server = *self;
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            let mut samples = 0u64;
            while !flag.load(Ordering::Relaxed) {
                if let Some(rss) = server.status_kib("VmRSS") {
                    peak = peak.max(rss);
                    samples += 1;
                }
                std::thread::sleep(interval);
            }
            (peak, samples)
        });
        Sampler { stop, thread }
    }
}

fn status_field(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64)>,
}

impl Sampler {
    /// (peak VmRSS in KiB, number of samples).
    pub fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or((0, 0))
    }
}

/// Measures the server's CPU over a phase.
pub struct CpuMeter {
    server: Option<Server>,
    before: CpuByThread,
}

impl CpuMeter {
    pub fn start(server: Option<Server>) -> Self {
        let before = server.map(|s| s.cpu()).unwrap_or_default();
        Self { server, before }
    }

    /// Prints the server CPU used since `start`, per operation; returns it as JSON.
    pub fn finish(self, operations: usize, per_thread: bool) -> Value {
        let Some(server) = self.server else {
            return Value::Null;
        };
        let after = server.cpu();
        let mut deltas = BTreeMap::new();
        for (name, ns) in &after {
            let delta = ns.saturating_sub(self.before.get(name).copied().unwrap_or(0));
            if delta > 0 {
                deltas.insert(name.clone(), delta);
            }
        }
        let total: u64 = deltas.values().sum();
        let per_op_us = total as f64 / 1000.0 / operations.max(1) as f64;
        println!(
            "server CPU     {:.3} s total, {:.1} µs per operation",
            total as f64 / 1e9,
            per_op_us
        );
        if per_thread {
            for (name, ns) in &deltas {
                println!(
                    "  {:<24} {:>10.3} ms  {:>8.1} µs/op",
                    if name.is_empty() { "?" } else { name },
                    *ns as f64 / 1e6,
                    *ns as f64 / 1000.0 / operations.max(1) as f64
                );
            }
        }
        json!({
            "total_s": total as f64 / 1e9,
            "per_op_us": per_op_us,
            "by_thread_ms": deltas.iter().map(|(k, v)| (k.clone(), json!(*v as f64 / 1e6))).collect::<serde_json::Map<_, _>>(),
        })
    }
}
