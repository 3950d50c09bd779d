//! Versions side by side: every metric and param any of them has, each value against the
//! first (oldest) version's — a difference marked and, for metrics, its delta — and their
//! signatures. Which direction is better depends on the metric (accuracy up, loss down),
//! so differences are marked as changes, not as wins.

use std::collections::BTreeSet;

use capstan_client::types::Version;
use capstan_client::ModelName;
use maud::{html, Markup};

use super::models::metric_value;

pub fn comparison(name: &ModelName, versions: &[Version]) -> Markup {
    let n = name.as_str();
    let metrics: BTreeSet<&String> = versions.iter().flat_map(|v| v.metrics.keys()).collect();
    let params: BTreeSet<&String> = versions.iter().flat_map(|v| v.params.keys()).collect();
    let baseline = &versions[0];
    let header = html! {
        thead { tr {
            th scope="col" { "" }
            @for v in versions {
                th scope="col" .num { a href={ "/ui/models/" (n) "/versions/" (v.version) } { "v" (v.version) } }
            }
        } }
    };
    html! {
        p.crumbs { a href="/ui/" { "Models" } " / " a href={ "/ui/models/" (n) } { (n) } " / compare" }
        h1 { (n) ": versions compared" }
        p.muted { "Values that differ from v" (baseline.version) " (the first column) are marked, with the difference." }
        h2 { "Metrics" }
        div.table-wrap { table {
            (header)
            tbody {
                @for metric in &metrics {
                    tr {
                        th scope="row" { (metric) }
                        @for v in versions {
                            @let value = v.metrics.get(*metric);
                            @let base = baseline.metrics.get(*metric);
                            @match (value, base) {
                                (Some(x), Some(b)) if x != b => {
                                    td.num.diff-changed {
                                        (metric_value(*x)) " "
                                        span.muted { "(" (if x > b { "+" } else { "" }) (format!("{:.4}", x - b)) ")" }
                                        span.skip { " differs from v" (baseline.version) }
                                    }
                                }
                                (Some(x), None) => { td.num.diff-changed { (metric_value(*x)) } }
                                (Some(x), _) => { td.num { (metric_value(*x)) } }
                                (None, _) => { td.num { span.muted { "—" } } }
                            }
                        }
                    }
                }
            }
        } }
        h2 { "Parameters" }
        div.table-wrap { table {
            (header)
            tbody {
                @for param in &params {
                    tr {
                        th scope="row" { (param) }
                        @for v in versions {
                            @let value = v.params.get(*param).map(|p| p.to_string());
                            @let base = baseline.params.get(*param).map(|p| p.to_string());
                            @if value != base {
                                td.diff-changed { code { (value.unwrap_or_else(|| "—".into())) } }
                            } @else {
                                td { code { (value.unwrap_or_else(|| "—".into())) } }
                            }
                        }
                    }
                }
            }
        } }
        h2 { "Signatures" }
        div.table-wrap { table {
            (header)
            tbody {
                tr {
                    th scope="row" { "Inputs" }
                    @for v in versions {
                        @let features = v.signature.as_ref().map(|s| s.inputs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", "));
                        @let base = baseline.signature.as_ref().map(|s| s.inputs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", "));
                        @if features != base {
                            td.diff-changed { (features.unwrap_or_else(|| "none".into())) }
                        } @else {
                            td { (features.unwrap_or_else(|| "none".into())) }
                        }
                    }
                }
                tr {
                    th scope="row" { "Format" }
                    @for v in versions {
                        @if v.format != baseline.format { td.diff-changed { code { (v.format) } } }
                        @else { td { code { (v.format) } } }
                    }
                }
            }
        } }
    }
}
