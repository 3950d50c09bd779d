//! Reads a labelled training table from CSV: a header row, numeric feature columns and one
//! target column. Target values that all parse as integers become integer labels;
//! otherwise every label is kept as text. This module parses; it does not train.

use std::io::Read;

use ndarray::Array2;

use super::TrainError;
use crate::signature::ClassLabel;

/// Feature rows and their labels, as read from a CSV file.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledTable {
    /// Feature column names, in file order (the target column removed).
    pub feature_names: Vec<String>,
    /// `rows × features`, all finite.
    pub features: Array2<f64>,
    /// One label per row.
    pub targets: Vec<ClassLabel>,
}

impl LabelledTable {
    /// Reads CSV with a header row; `target` names the label column, every other column
    /// must hold finite numbers.
    pub fn from_csv(reader: impl Read, target: &str) -> Result<Self, TrainError> {
        let mut csv = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(reader);
        let header: Vec<String> = csv.headers()?.iter().map(str::to_string).collect();
        let target_column = header
            .iter()
            .position(|name| name == target)
            .ok_or_else(|| TrainError::NoTargetColumn(target.to_string()))?;
        let feature_names: Vec<String> = header
            .iter()
            .enumerate()
            .filter(|(column, _)| *column != target_column)
            .map(|(_, name)| name.clone())
            .collect();
        if feature_names.is_empty() {
            return Err(TrainError::NoFeatures);
        }

        let mut values = Vec::new();
        let mut raw_targets = Vec::new();
        for record in csv.records() {
            let record = record?;
            let line = record.position().map_or(0, csv::Position::line);
            for (column, field) in record.iter().enumerate() {
                if column == target_column {
                    raw_targets.push(field.to_string());
                } else {
                    values.push(finite_value(field, line, &header[column])?);
                }
            }
        }
        let rows = raw_targets.len();
        let features = Array2::from_shape_vec((rows, feature_names.len()), values)
            .map_err(|e| TrainError::Csv(e.to_string()))?;
        Ok(LabelledTable {
            feature_names,
            features,
            targets: labels_of(raw_targets, target)?,
        })
    }
}

fn finite_value(field: &str, line: u64, column: &str) -> Result<f64, TrainError> {
    field
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| TrainError::NotANumber {
            line,
            column: column.to_string(),
            value: field.chars().take(40).collect(),
        })
}

fn labels_of(raw: Vec<String>, target: &str) -> Result<Vec<ClassLabel>, TrainError> {
    if raw.iter().any(String::is_empty) {
        return Err(TrainError::EmptyLabel(target.to_string()));
    }
    let integers: Option<Vec<i64>> = raw.iter().map(|label| label.parse().ok()).collect();
    Ok(match integers {
        Some(integers) => integers.into_iter().map(ClassLabel::Int).collect(),
        None => raw.into_iter().map(ClassLabel::Text).collect(),
    })
}
