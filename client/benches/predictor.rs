//! Prediction latency of the runtime's predictors: one row and a 1 000-row batch, for a
//! `linfa-logistic` model trained on the breast cancer data and for skl2onnx's
//! `Pipeline(StandardScaler, LogisticRegression)` export (`scaler_lr.onnx`). Input
//! parsing is not included; see `docs/performance-runtime.md` for numbers.

use std::hint::black_box;
use std::sync::Arc;

use capstan_client::runtime::ndarray::{Array2, Axis};
use capstan_client::runtime::train::{self, LabelledTable, TrainOptions};
use capstan_client::runtime::{self, Predictor, Rows, LINFA_LOGISTIC, ONNX};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const BREAST_CANCER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/breast_cancer.csv"
);
const SCALER_LR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/onnx/scaler_lr.onnx");

fn breast_cancer_rows(count: usize) -> Array2<f64> {
    let file = std::fs::File::open(BREAST_CANCER).expect("breast cancer CSV");
    let table = LabelledTable::from_csv(file, "target").expect("readable CSV");
    let indices: Vec<usize> = (0..count).map(|i| i % table.features.nrows()).collect();
    table.features.select(Axis(0), &indices)
}

fn predictors() -> Vec<(&'static str, Arc<dyn Predictor>)> {
    let file = std::fs::File::open(BREAST_CANCER).expect("breast cancer CSV");
    let trained = train::train_logistic_csv(file, &TrainOptions::default()).expect("training");
    let linfa = runtime::load(LINFA_LOGISTIC, &trained.artifact, None).expect("linfa model");
    let onnx_bytes = std::fs::read(SCALER_LR).expect("scaler_lr.onnx");
    let onnx = runtime::load(ONNX, &onnx_bytes, None).expect("onnx model");
    vec![("linfa-logistic", linfa), ("onnx-scaler-lr", onnx)]
}

fn predict(c: &mut Criterion) {
    let predictors = predictors();
    let mut group = c.benchmark_group("predict");
    for rows in [1usize, 1_000] {
        let batch = breast_cancer_rows(rows);
        group.throughput(Throughput::Elements(rows as u64));
        for (name, predictor) in &predictors {
            group.bench_with_input(BenchmarkId::new(*name, rows), &batch, |b, batch| {
                b.iter(|| {
                    predictor
                        .predict(black_box(&Rows::numeric(batch.view())))
                        .expect("prediction")
                })
            });
        }
    }
    group.finish();
}

fn load(c: &mut Criterion) {
    let onnx_bytes = std::fs::read(SCALER_LR).expect("scaler_lr.onnx");
    c.bench_function("load/onnx-scaler-lr", |b| {
        b.iter(|| runtime::load(ONNX, black_box(&onnx_bytes), None).expect("onnx model"))
    });
}

criterion_group!(benches, predict, load);
criterion_main!(benches);
