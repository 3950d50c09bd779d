//! Reads a training table from CSV: a header row, numeric feature columns and one target
//! column. For classification (`LabelledTable`), target values that all parse as integers
//! become integer labels, otherwise every label is kept as text; for regression
//! (`NumericTable`), every target must be a finite number. This module parses; it does
//! not train.

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
        let raw = RawTable::from_csv(reader, target)?;
        let labels = raw.targets.into_iter().map(|(_, label)| label).collect();
        Ok(LabelledTable {
            feature_names: raw.feature_names,
            features: raw.features,
            targets: labels_of(labels, target)?,
        })
    }
}

/// Feature rows and their numeric targets, as read from a CSV file (for regression).
#[derive(Clone, Debug, PartialEq)]
pub struct NumericTable {
    /// Feature column names, in file order (the target column removed).
    pub feature_names: Vec<String>,
    /// `rows × features`, all finite.
    pub features: Array2<f64>,
    /// One finite target value per row.
    pub targets: Vec<f64>,
}

impl NumericTable {
    /// Reads CSV with a header row; `target` names the column to predict; it and every
    /// other column must hold finite numbers.
    pub fn from_csv(reader: impl Read, target: &str) -> Result<Self, TrainError> {
        let raw = RawTable::from_csv(reader, target)?;
        let targets = raw
            .targets
            .iter()
            .map(|(line, value)| finite_value(value, *line, target))
            .collect::<Result<_, _>>()?;
        Ok(NumericTable {
            feature_names: raw.feature_names,
            features: raw.features,
            targets,
        })
    }
}

/// Numeric features and the target column as text, with the line of each row.
struct RawTable {
    feature_names: Vec<String>,
    features: Array2<f64>,
    targets: Vec<(u64, String)>,
}

impl RawTable {
    fn from_csv(reader: impl Read, target: &str) -> Result<Self, TrainError> {
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
        let mut targets = Vec::new();
        for record in csv.records() {
            let record = record?;
            let line = record.position().map_or(0, csv::Position::line);
            for (column, field) in record.iter().enumerate() {
                if column == target_column {
                    targets.push((line, field.to_string()));
                } else {
                    values.push(finite_value(field, line, &header[column])?);
                }
            }
        }
        let features = Array2::from_shape_vec((targets.len(), feature_names.len()), values)
            .map_err(|e| TrainError::Csv(e.to_string()))?;
        Ok(RawTable {
            feature_names,
            features,
            targets,
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
