//! A metric across versions as an inline SVG line chart, drawn on the server: no script,
//! no chart library, readable as a table by assistive technology (the SVG has a title and
//! a description listing the values).

use capstan_client::types::Version;
use maud::{html, Markup};

use super::models::metric_value;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const MARGIN: f64 = 40.0;

/// `metric` of `versions` (any order), oldest version on the left.
pub fn metric_chart(metric: &str, versions: &[Version]) -> Markup {
    let mut points: Vec<(i64, f64)> = versions
        .iter()
        .filter_map(|v| Some((v.version, *v.metrics.get(metric)?)))
        .filter(|(_, value)| value.is_finite())
        .collect();
    points.sort_by_key(|(version, _)| *version);
    if points.is_empty() {
        return html! { p.muted { "No version has " (metric) "." } };
    }
    let (low, high) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    let span = if high > low { high - low } else { 1.0 };
    let x = |i: usize| {
        if points.len() == 1 {
            WIDTH / 2.0
        } else {
            MARGIN + i as f64 * (WIDTH - 2.0 * MARGIN) / (points.len() - 1) as f64
        }
    };
    let y = |value: f64| HEIGHT - MARGIN - (value - low) / span * (HEIGHT - 2.0 * MARGIN);
    let line = points
        .iter()
        .enumerate()
        .map(|(i, (_, value))| format!("{:.1},{:.1}", x(i), y(*value)))
        .collect::<Vec<_>>()
        .join(" ");
    let described = points
        .iter()
        .map(|(version, value)| format!("v{version}: {}", metric_value(*value)))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-labelledby="chart-title chart-desc" {
            title #chart-title { (metric) " by version" }
            desc #chart-desc { (described) }
            line.axis x1=(MARGIN) y1=(HEIGHT - MARGIN) x2=(WIDTH - MARGIN) y2=(HEIGHT - MARGIN) {}
            line.axis x1=(MARGIN) y1=(MARGIN) x2=(MARGIN) y2=(HEIGHT - MARGIN) {}
            text x="4" y=(MARGIN) { (metric_value(high)) }
            text x="4" y=(HEIGHT - MARGIN) { (metric_value(low)) }
            polyline.line points=(line) {}
            @for (i, (version, value)) in points.iter().enumerate() {
                circle.point cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(*value))) r="4" {
                    title { "v" (version) ": " (metric_value(*value)) }
                }
                text x=(format!("{:.1}", x(i) - 8.0)) y=(HEIGHT - MARGIN + 16.0) { "v" (version) }
            }
        }
    }
}
