//! Helpers shared by the runtime's integration tests.
#![allow(dead_code, clippy::unwrap_used)] // each test crate uses a subset

use capstan_client::runtime::ndarray::Array2;
use capstan_client::runtime::train;
use capstan_client::ClassLabel;

pub const BREAST_CANCER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/breast_cancer.csv"
);

pub fn breast_cancer() -> std::fs::File {
    std::fs::File::open(BREAST_CANCER).unwrap()
}

pub fn ints(labels: &[i64]) -> Vec<ClassLabel> {
    labels.iter().copied().map(ClassLabel::Int).collect()
}

pub fn texts(labels: &[&str]) -> Vec<ClassLabel> {
    labels
        .iter()
        .map(|s| ClassLabel::Text(s.to_string()))
        .collect()
}

/// Three well-separated blobs in two dimensions, labelled with strings, as CSV.
pub fn three_blobs_csv() -> String {
    let mut rng = train::SplitMix64::new(7);
    let mut noise = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
    let mut csv = String::from("x,y,species\n");
    for (label, (cx, cy)) in [
        ("cherry", (0.0, 0.0)),
        ("apple", (4.0, 0.0)),
        ("banana", (0.0, 4.0)),
    ] {
        for _ in 0..60 {
            csv += &format!("{},{},{label}\n", cx + 2.0 * noise(), cy + 2.0 * noise());
        }
    }
    csv
}

pub fn metric(metrics: &[(String, f64)], name: &str) -> f64 {
    metrics.iter().find(|(n, _)| n == name).unwrap().1
}

pub fn rows_of_csv(path: &str) -> Array2<f64> {
    let table =
        train::LabelledTable::from_csv(std::fs::File::open(path).unwrap(), "target").unwrap();
    table.features
}

/// A classifier's answer for numeric rows (panics on a regressor's).
pub fn classify(
    predictor: &dyn capstan_client::runtime::Predictor,
    rows: capstan_client::runtime::ndarray::ArrayView2<f64>,
) -> capstan_client::runtime::ClassPrediction {
    match predictor
        .predict(&capstan_client::runtime::Rows::numeric(rows))
        .unwrap()
    {
        capstan_client::runtime::Prediction::Classes(classes) => classes,
        other => panic!("expected a classifier's answer, got {other:?}"),
    }
}
