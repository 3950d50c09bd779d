//! Prometheus metrics of the prediction endpoints: requests, errors and latency
//! histograms per model, version and protocol, rendered for `GET /metrics`
//! (`api/metrics.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use super::LoadedModel;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Series {
    requests: u64,
    errors: u64,
    buckets: [u64; BUCKETS.len()],
    sum_seconds: f64,
}

type Key = (String, i64, &'static str);

#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<Key, Series>>,
}

impl Metrics {
    pub fn observe(
        &self,
        model: &LoadedModel,
        protocol: &'static str,
        ok: bool,
        elapsed: Duration,
    ) {
        let seconds = elapsed.as_secs_f64();
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let entry = series
            .entry((model.name.to_string(), model.version, protocol))
            .or_default();
        entry.requests += 1;
        if !ok {
            entry.errors += 1;
        }
        entry.sum_seconds += seconds;
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            entry.buckets[bucket] += 1;
        }
    }

    /// The Prometheus text exposition format.
    pub fn render(&self, served: &[(String, std::sync::Arc<LoadedModel>)]) -> String {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP capstan_predict_requests_total Prediction requests.\n");
        out.push_str("# TYPE capstan_predict_requests_total counter\n");
        for ((model, version, protocol), s) in series.iter() {
            let _ = writeln!(out, "capstan_predict_requests_total{{model=\"{model}\",version=\"{version}\",protocol=\"{protocol}\"}} {}", s.requests);
        }
        out.push_str("# HELP capstan_predict_errors_total Prediction requests that failed.\n");
        out.push_str("# TYPE capstan_predict_errors_total counter\n");
        for ((model, version, protocol), s) in series.iter() {
            let _ = writeln!(out, "capstan_predict_errors_total{{model=\"{model}\",version=\"{version}\",protocol=\"{protocol}\"}} {}", s.errors);
        }
        out.push_str("# HELP capstan_predict_duration_seconds Prediction latency.\n");
        out.push_str("# TYPE capstan_predict_duration_seconds histogram\n");
        for ((model, version, protocol), s) in series.iter() {
            let labels = format!("model=\"{model}\",version=\"{version}\",protocol=\"{protocol}\"");
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(s.buckets.iter()) {
                cumulative += count;
                let _ = writeln!(out, "capstan_predict_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(
                out,
                "capstan_predict_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.requests
            );
            let _ = writeln!(
                out,
                "capstan_predict_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "capstan_predict_duration_seconds_count{{{labels}}} {}",
                s.requests
            );
        }
        out.push_str(
            "# HELP capstan_served_model_version The version each served ref answers with.\n",
        );
        out.push_str("# TYPE capstan_served_model_version gauge\n");
        for (reference, model) in served {
            let _ = writeln!(
                out,
                "capstan_served_model_version{{ref=\"{reference}\",model=\"{}\"}} {}",
                model.name, model.version
            );
        }
        out
    }
}
