//! Test fixtures shared by the batch modules' tests: a small deterministic predictor and
//! signatures.

use capstan_client::runtime::ndarray::Array2;
use capstan_client::runtime::{ClassPrediction, Prediction, Predictor, Rows, RuntimeError};
use capstan_client::signature::{ClassLabel, DataType, Feature, Signature};

pub(crate) fn signature(names: &[&str]) -> Signature {
    Signature {
        inputs: names
            .iter()
            .map(|name| Feature::new(*name, DataType::Float64))
            .collect(),
        input_tensor: None,
        classes: None,
        targets: None,
    }
}

/// A logistic model with fixed weights (feature k weighs `k + 1`, alternating in sign).
pub(crate) struct Logistic {
    signature: Signature,
    classes: Vec<ClassLabel>,
}

impl Logistic {
    pub(crate) fn new(names: &[&str], classes: Vec<ClassLabel>) -> Self {
        assert_eq!(classes.len(), 2);
        Logistic {
            signature: signature(names),
            classes,
        }
    }
}

impl Predictor for Logistic {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn classes(&self) -> &[ClassLabel] {
        &self.classes
    }

    fn predict(&self, rows: &Rows<'_>) -> Result<Prediction, RuntimeError> {
        let rows = rows.numbers();
        assert!(rows.nrows() > 0 && rows.nrows() <= capstan_client::runtime::MAX_ROWS);
        let mut probabilities = Array2::zeros((rows.nrows(), 2));
        for (i, row) in rows.rows().into_iter().enumerate() {
            let z: f64 = row
                .iter()
                .enumerate()
                .map(|(k, x)| x * (k as f64 + 1.0) * if k % 2 == 0 { 0.1 } else { -0.07 })
                .sum();
            let p = 1.0 / (1.0 + (-z).exp());
            probabilities[[i, 0]] = 1.0 - p;
            probabilities[[i, 1]] = p;
        }
        Prediction::from_probabilities(probabilities.view(), &self.classes)
    }
}

/// The predictor's answer for `rows`, for comparison with the engine's output.
pub(crate) fn direct(predictor: &dyn Predictor, rows: &[Vec<f64>]) -> ClassPrediction {
    let flat: Vec<f64> = rows.concat();
    let matrix = Array2::from_shape_vec((rows.len(), rows[0].len()), flat).unwrap();
    match predictor.predict(&Rows::numeric(matrix.view())).unwrap() {
        Prediction::Classes(classes) => classes,
        other => panic!("the test predictor is a classifier, it answered {other:?}"),
    }
}
