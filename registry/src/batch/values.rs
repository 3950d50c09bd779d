//! What each feature's values are, as the readers (`csv`, `jsonl`, `parquet`) check them:
//! a number (whole within ±2^53 for `int64`; missing, NaN, where the feature is
//! nullable), or text kept beside the numbers for a `string` feature. Also what the model
//! predicts, as the output and the key index write it: a classifier's classes or a
//! regressor's number of targets. Rules only: no parsing, no formats.

use capstan_client::runtime::{Predictor, MAX_EXACT_INT};
use capstan_client::signature::{ClassLabel, DataType, Signature};

/// How one feature's values are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FeatureKind {
    /// A number; `whole` for `int64`, `nullable` when it may be missing (NaN).
    Number { whole: bool, nullable: bool },
    /// A string, kept in text slot `slot` of the row (string features in signature
    /// order); its column of the numbers holds 0.
    Text { slot: usize },
}

impl FeatureKind {
    /// Every feature's kind, in signature order.
    pub(super) fn of(signature: &Signature) -> Vec<FeatureKind> {
        let mut slots = 0;
        signature
            .inputs
            .iter()
            .map(|feature| match feature.dtype {
                DataType::String => {
                    slots += 1;
                    FeatureKind::Text { slot: slots - 1 }
                }
                dtype => FeatureKind::Number {
                    whole: dtype == DataType::Int64,
                    nullable: feature.nullable,
                },
            })
            .collect()
    }

    pub(super) fn is_nullable(self) -> bool {
        matches!(self, FeatureKind::Number { nullable: true, .. })
    }
}

/// Why a number does not fit an `int64` feature.
pub(super) const NOT_WHOLE: &str = "expected a whole number within ±2^53";

/// Checks a finite (or, for a nullable feature, NaN) number against an `int64` feature.
#[inline]
pub(super) fn check_whole(value: f64) -> Result<(), &'static str> {
    if value.is_nan() || (value.fract() == 0.0 && value.abs() <= MAX_EXACT_INT) {
        Ok(())
    } else {
        Err(NOT_WHOLE)
    }
}

/// What a model predicts per row, which decides the output's columns and the key index's
/// entries.
#[derive(Clone, Debug, PartialEq)]
pub enum Predicts {
    /// A classifier: its label and one probability per class, in this order.
    Classes(Vec<ClassLabel>),
    /// A regressor: this many numbers (targets) per row.
    Values(usize),
}

impl Predicts {
    /// What `predictor` predicts; `None` when its signature says neither.
    pub fn of(predictor: &dyn Predictor) -> Option<Self> {
        match predictor.targets() {
            Some(targets) if targets > 0 => Some(Predicts::Values(targets)),
            Some(_) => None,
            None if predictor.classes().is_empty() => None,
            None => Some(Predicts::Classes(predictor.classes().to_vec())),
        }
    }

    /// The classes of a classifier; empty for a regressor.
    pub fn classes(&self) -> &[ClassLabel] {
        match self {
            Predicts::Classes(classes) => classes,
            Predicts::Values(_) => &[],
        }
    }
}
