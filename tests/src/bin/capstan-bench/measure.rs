//! One measured phase of `transfer`: its duration, the server's peak RSS and CPU while it
//! ran, and how it is printed.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::{CpuMeter, Sampler, Server};

pub struct Phase {
    seconds: f64,
    peak_rss_kib: Option<u64>,
    hwm_kib: Option<u64>,
    samples: u64,
    cpu: Value,
}

/// Runs `work` while sampling the server's RSS.
pub async fn measured<F, T>(
    server: Option<Server>,
    sample: Duration,
    per_thread: bool,
    work: F,
) -> anyhow::Result<(T, Phase)>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let reset = server.map(|s| s.reset_peak()).unwrap_or(false);
    let sampler = server.map(|s| s.sample(sample));
    let cpu = CpuMeter::start(server);
    let started = Instant::now();
    let result = work.await;
    let seconds = started.elapsed().as_secs_f64();
    let (peak, samples) = sampler.map(Sampler::finish).unwrap_or((0, 0));
    let hwm = if reset {
        server.and_then(|s| s.status_kib("VmHWM"))
    } else {
        None
    };
    let value = result?;
    let cpu = cpu.finish(1, per_thread);
    Ok((
        value,
        Phase {
            seconds,
            peak_rss_kib: server.map(|_| peak),
            hwm_kib: hwm,
            samples,
            cpu,
        },
    ))
}

impl Phase {
    /// Its peak RSS (the larger of the samples and VmHWM) and CPU.
    pub fn to_json(&self) -> Value {
        let peak = self.peak_rss_kib.map(|p| p.max(self.hwm_kib.unwrap_or(0)));
        json!({
            "seconds": self.seconds,
            "peak_rss_kib": peak,
            "rss_samples": self.samples,
            "cpu": self.cpu,
        })
    }
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn print_phase(name: &str, bytes: u64, phase: &Phase, idle_kib: Option<u64>) -> Value {
    let mb_s = bytes as f64 / phase.seconds / 1e6;
    let mib_s = bytes as f64 / phase.seconds / (1 << 20) as f64;
    print!(
        "{name:<9} {} B in {:.2} s: {mb_s:.0} MB/s ({mib_s:.0} MiB/s)",
        bytes, phase.seconds
    );
    let peak = phase
        .peak_rss_kib
        .map(|p| p.max(phase.hwm_kib.unwrap_or(0)));
    if let (Some(peak), Some(idle)) = (peak, idle_kib) {
        print!(
            "; server peak RSS {:.1} MiB = idle + {:.1} MiB ({} samples{})",
            mib(peak),
            mib(peak.saturating_sub(idle)),
            phase.samples,
            if phase.hwm_kib.is_some() {
                ", VmHWM"
            } else {
                ""
            }
        );
    }
    println!();
    json!({
        "bytes": bytes,
        "seconds": phase.seconds,
        "mb_per_s": mb_s,
        "mib_per_s": mib_s,
        "peak_rss_kib": peak,
        "peak_above_idle_kib": peak.zip(idle_kib).map(|(p, i)| p.saturating_sub(i)),
        "rss_samples": phase.samples,
        "server_cpu": phase.cpu,
    })
}
