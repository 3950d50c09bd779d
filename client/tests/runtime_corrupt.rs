//! Damaged artifacts: every servable format (the linfa envelopes as trained here, and
//! ONNX graphs of the zoo — a linear model, a tree ensemble, a pipeline with strings)
//! cut short at any point or with any bits flipped is loaded or refused with an error,
//! never a panic; a damaged artifact that still loads answers a prediction or refuses
//! it, never panics either. The registry turns the refusal into a `422` at upload.
// Helpers outside #[test] fns unwrap too; clippy.toml only covers the test fns.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "onnx")]

mod runtime_support;

use std::sync::OnceLock;

use capstan_client::runtime::ndarray::Array2;
use capstan_client::runtime::train::{self, LinearOptions, TrainOptions, TreeOptions};
use capstan_client::runtime::{self, Rows, LINFA_LINEAR, LINFA_LOGISTIC, LINFA_TREE, ONNX};
use proptest::prelude::*;

use runtime_support::breast_cancer;

const ZOO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/zoo");
const DIABETES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/diabetes.csv");

/// `(format, bytes)` of one artifact of every servable kind, made once.
fn corpus() -> &'static [(&'static str, Vec<u8>)] {
    static CORPUS: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let logistic =
            train::train_logistic_csv(breast_cancer(), &TrainOptions::default()).unwrap();
        let tree = train::train_tree_csv(breast_cancer(), &TreeOptions::default()).unwrap();
        let diabetes = std::fs::File::open(DIABETES).unwrap();
        let linear = train::train_linear_csv(diabetes, &LinearOptions::default()).unwrap();
        let zoo = |file: &str| std::fs::read(format!("{ZOO}/{file}")).unwrap();
        vec![
            (LINFA_LOGISTIC, logistic.artifact),
            (LINFA_TREE, tree.artifact),
            (LINFA_LINEAR, linear.artifact),
            (ONNX, zoo("logistic.onnx")),
            (ONNX, zoo("decision_tree_classifier.onnx")),
            (ONNX, zoo("pipeline_ridge.onnx")),
        ]
    })
}

/// Loads `bytes` as `format`; when that works, predicts two rows of zeros. Either may
/// fail; neither may panic (a panic fails the property).
fn load_and_predict(format: &str, bytes: &[u8]) {
    if let Ok(predictor) = runtime::load(format, bytes, None) {
        let width = predictor.signature().inputs.len();
        let rows = Rows::from_matrix(Array2::zeros((2, width)));
        let _ = predictor.predict(&rows);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_cut_short_artifact_is_refused_not_a_panic(which in 0usize..6, cut in 0.0f64..1.0) {
        let (format, bytes) = &corpus()[which];
        let end = ((bytes.len() as f64) * cut) as usize;
        let cut = &bytes[..end.min(bytes.len() - 1)];
        // Linfa envelopes are JSON: cut short, they never parse.
        if *format != ONNX {
            prop_assert!(runtime::load(format, cut, None).is_err());
        }
        load_and_predict(format, cut);
    }

    #[test]
    fn a_bit_flipped_artifact_is_loaded_or_refused_not_a_panic(
        which in 0usize..6,
        flips in prop::collection::vec((0.0f64..1.0, 0u8..8), 1..8),
    ) {
        let (format, bytes) = &corpus()[which];
        let mut damaged = bytes.clone();
        let last = damaged.len() - 1;
        for (at, bit) in flips {
            let index = ((damaged.len() as f64) * at) as usize;
            damaged[index.min(last)] ^= 1 << bit;
        }
        load_and_predict(format, &damaged);
    }

    #[test]
    fn random_bytes_under_any_format_are_refused(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        format in prop::sample::select(vec![LINFA_LOGISTIC, LINFA_TREE, LINFA_LINEAR, ONNX, "pickle"]),
    ) {
        prop_assert!(runtime::load(format, &bytes, None).is_err());
    }
}
