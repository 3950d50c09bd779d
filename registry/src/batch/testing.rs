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

/// A regressor of `targets` values over numeric features: target t of a row is
/// `t + Σ (k + 1) · x_k`, with a missing (NaN) value counted as `-1`.
pub(crate) struct Linear {
    signature: Signature,
}

impl Linear {
    /// `features` are `(name, dtype, nullable)`, all numeric.
    pub(crate) fn new(features: &[(&str, DataType, bool)], targets: usize) -> Self {
        let inputs = features
            .iter()
            .map(|(name, dtype, nullable)| Feature {
                nullable: *nullable,
                ..Feature::new(*name, *dtype)
            })
            .collect();
        Linear {
            signature: Signature {
                inputs,
                input_tensor: None,
                classes: None,
                targets: Some(targets),
            },
        }
    }
}

impl Predictor for Linear {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict(&self, rows: &Rows<'_>) -> Result<Prediction, RuntimeError> {
        rows.check(&self.signature)?;
        let targets = self.signature.targets.unwrap_or(1);
        let numbers = rows.numbers();
        let mut values = Array2::zeros((rows.len(), targets));
        for (i, row) in numbers.rows().into_iter().enumerate() {
            let sum: f64 = row
                .iter()
                .enumerate()
                .map(|(k, x)| (k as f64 + 1.0) * if x.is_nan() { -1.0 } else { *x })
                .sum();
            for t in 0..targets {
                values[[i, t]] = t as f64 + sum;
            }
        }
        Prediction::from_values(values, targets)
    }
}

/// A regressor over mixed features, shaped like the zoo's `pipeline_ridge`: `area`
/// (float32, nullable), `rooms` (int64) and `city` (string). A row's value is
/// `area (0 when missing) + 1000 · rooms + the length of city`, so each input's part is
/// visible in the answer.
pub(crate) struct Mixed {
    signature: Signature,
}

impl Mixed {
    pub(crate) fn new() -> Self {
        Mixed {
            signature: Signature {
                inputs: vec![
                    Feature {
                        nullable: true,
                        ..Feature::new("area", DataType::Float32)
                    },
                    Feature::new("rooms", DataType::Int64),
                    Feature::new("city", DataType::String),
                ],
                input_tensor: None,
                classes: None,
                targets: Some(1),
            },
        }
    }

    /// The value the model predicts for one row.
    pub(crate) fn value(area: Option<f64>, rooms: i64, city: &str) -> f64 {
        area.unwrap_or(0.0) + 1000.0 * rooms as f64 + city.chars().count() as f64
    }
}

impl Predictor for Mixed {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict(&self, rows: &Rows<'_>) -> Result<Prediction, RuntimeError> {
        rows.check(&self.signature)?;
        let numbers = rows.numbers();
        let cities = rows.text(2).expect("city is a string column");
        let mut values = Array2::zeros((rows.len(), 1));
        for (i, row) in numbers.rows().into_iter().enumerate() {
            let area = Some(row[0]).filter(|area| !area.is_nan());
            values[[i, 0]] = Mixed::value(area, row[1] as i64, &cities[i]);
        }
        Prediction::from_values(values, 1)
    }
}
