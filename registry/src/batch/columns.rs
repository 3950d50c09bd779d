//! Column planning: which input column feeds which model feature, decided once per job
//! from the input's column names (a CSV header, a Parquet schema, the keys of a JSONL
//! file's first object) and the model's `Signature`.
//!
//! Features are matched **by name** (order irrelevant, extra columns ignored), unless the
//! signature's names are the placeholders `f0, f1, …, fN-1` an ONNX file without a
//! declared signature gets: then they are matched **by position**, and the input must hold
//! exactly N columns besides the id column. The plan is data (it goes in the job
//! document); it reads no input and knows nothing of formats.

use std::collections::HashMap;

use capstan_client::Signature;
use serde::{Deserialize, Serialize};

/// How the input's columns were matched (the wire type: it is shown in the job document).
pub use capstan_client::types::Matching;

/// The id column: its position among the input's columns and its name (the output
/// writes the id under this name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdColumn {
    pub index: usize,
    pub name: String,
}

/// Which input column feeds each feature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnPlan {
    pub matching: Matching,
    /// The signature's feature names, in signature order.
    pub features: Vec<String>,
    /// For each feature (signature order), the index of its input column.
    pub feature_columns: Vec<usize>,
    /// The input's column names, in input order (every CSV line has this many fields).
    pub columns: Vec<String>,
    pub id: Option<IdColumn>,
}

/// Why an input's columns cannot feed a model. Each one fails a job at once.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the input has no column for the model's feature(s) {}", quoted(.missing))]
    MissingFeatures { missing: Vec<String> },
    #[error("{}", column_count_message(.expected, .found, .id_column))]
    ColumnCount {
        expected: usize,
        found: usize,
        id_column: Option<String>,
    },
    #[error("the input has no id column {name:?}")]
    MissingIdColumn { name: String },
    #[error("the id column {name:?} is also one of the model's features")]
    IdIsFeature { name: String },
    #[error("the input has more than one column named {name:?}")]
    DuplicateColumn { name: String },
    #[error("column {column:?} holds {found}; it must hold {expected}")]
    ColumnType {
        column: String,
        expected: &'static str,
        found: String,
    },
}

fn column_count_message(expected: &usize, found: &usize, id_column: &Option<String>) -> String {
    let besides = match id_column {
        Some(id) => format!(" besides the id column {id:?}"),
        None => String::new(),
    };
    format!(
        "the model's features are unnamed (f0…f{}), so columns are matched by position: \
         the input must hold exactly {expected} feature columns{besides}, it holds {found}",
        expected.saturating_sub(1)
    )
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the signature's feature names are exactly `f0, f1, …, fN-1`.
pub fn has_placeholder_names(signature: &Signature) -> bool {
    signature
        .feature_names()
        .enumerate()
        .all(|(index, name)| name.strip_prefix('f') == Some(index.to_string().as_str()))
}

/// Plans how `columns` (the input's column names, in input order) feed `signature`'s
/// features, with `id_column` naming the column whose value identifies each row.
pub fn plan_columns(
    columns: &[String],
    signature: &Signature,
    id_column: Option<&str>,
) -> Result<ColumnPlan, PlanError> {
    let id = match id_column {
        None => None,
        Some(name) => match find_unique(columns, name)? {
            Some(index) => Some(IdColumn {
                index,
                name: name.to_string(),
            }),
            None => {
                return Err(PlanError::MissingIdColumn {
                    name: name.to_string(),
                })
            }
        },
    };
    let features: Vec<String> = signature.feature_names().map(str::to_string).collect();
    let (matching, feature_columns) = if has_placeholder_names(signature) {
        (
            Matching::ByPosition,
            by_position(columns, features.len(), id.as_ref())?,
        )
    } else {
        (Matching::ByName, by_name(columns, &features)?)
    };
    if let Some(id) = id.as_ref().filter(|id| feature_columns.contains(&id.index)) {
        return Err(PlanError::IdIsFeature {
            name: id.name.clone(),
        });
    }
    Ok(ColumnPlan {
        matching,
        features,
        feature_columns,
        columns: columns.to_vec(),
        id,
    })
}

/// The index of the column called `name`, refusing a name that appears twice.
fn find_unique(columns: &[String], name: &str) -> Result<Option<usize>, PlanError> {
    let mut found = columns.iter().enumerate().filter(|(_, c)| *c == name);
    let first = found.next().map(|(index, _)| index);
    if found.next().is_some() {
        return Err(PlanError::DuplicateColumn {
            name: name.to_string(),
        });
    }
    Ok(first)
}

fn by_name(columns: &[String], features: &[String]) -> Result<Vec<usize>, PlanError> {
    let mut index_of: HashMap<&str, usize> = HashMap::with_capacity(columns.len());
    let mut duplicated = Vec::new();
    for (index, column) in columns.iter().enumerate() {
        if index_of.insert(column, index).is_some() {
            duplicated.push(column.as_str());
        }
    }
    let mut missing = Vec::new();
    let mut feature_columns = Vec::with_capacity(features.len());
    for feature in features {
        if duplicated.contains(&feature.as_str()) {
            return Err(PlanError::DuplicateColumn {
                name: feature.clone(),
            });
        }
        match index_of.get(feature.as_str()) {
            Some(&index) => feature_columns.push(index),
            None => missing.push(feature.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(PlanError::MissingFeatures { missing });
    }
    Ok(feature_columns)
}

fn by_position(
    columns: &[String],
    expected: usize,
    id: Option<&IdColumn>,
) -> Result<Vec<usize>, PlanError> {
    let feature_columns: Vec<usize> = (0..columns.len())
        .filter(|index| id.is_none_or(|id| id.index != *index))
        .collect();
    if feature_columns.len() != expected {
        return Err(PlanError::ColumnCount {
            expected,
            found: feature_columns.len(),
            id_column: id.map(|id| id.name.clone()),
        });
    }
    Ok(feature_columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::testing::signature;

    fn columns(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn features_are_matched_by_name_in_any_order_ignoring_extra_columns() {
        let plan = plan_columns(
            &columns(&["c", "extra", "id", "a", "b"]),
            &signature(&["a", "b", "c"]),
            Some("id"),
        )
        .unwrap();
        assert_eq!(plan.matching, Matching::ByName);
        assert_eq!(plan.feature_columns, vec![3, 4, 0]);
        assert_eq!(plan.columns.len(), 5);
        assert_eq!(
            plan.id,
            Some(IdColumn {
                index: 2,
                name: "id".into()
            })
        );
    }

    #[test]
    fn every_missing_feature_is_named() {
        let error =
            plan_columns(&columns(&["b", "x"]), &signature(&["a", "b", "c"]), None).unwrap_err();
        assert_eq!(
            error,
            PlanError::MissingFeatures {
                missing: vec!["a".into(), "c".into()]
            }
        );
        assert_eq!(
            error.to_string(),
            r#"the input has no column for the model's feature(s) "a", "c""#
        );
    }

    #[test]
    fn placeholder_names_are_matched_by_position_around_the_id_column() {
        let plan = plan_columns(
            &columns(&["x", "key", "y", "z"]),
            &signature(&["f0", "f1", "f2"]),
            Some("key"),
        )
        .unwrap();
        assert_eq!(plan.matching, Matching::ByPosition);
        assert_eq!(plan.feature_columns, vec![0, 2, 3]);
    }

    #[test]
    fn positional_matching_needs_exactly_as_many_columns_as_features() {
        let error = plan_columns(
            &columns(&["id", "x", "y"]),
            &signature(&["f0", "f1", "f2"]),
            Some("id"),
        )
        .unwrap_err();
        assert_eq!(
            error,
            PlanError::ColumnCount {
                expected: 3,
                found: 2,
                id_column: Some("id".into())
            }
        );
        assert!(error.to_string().contains("exactly 3 feature columns"));
        assert!(error
            .to_string()
            .contains(r#"besides the id column "id", it holds 2"#));
        let too_many = plan_columns(
            &columns(&["a", "b", "c", "d"]),
            &signature(&["f0", "f1"]),
            None,
        );
        assert!(matches!(
            too_many,
            Err(PlanError::ColumnCount {
                expected: 2,
                found: 4,
                id_column: None
            })
        ));
    }

    #[test]
    fn names_that_only_look_like_placeholders_are_matched_by_name() {
        for names in [&["f1", "f0"][..], &["f0", "f2"], &["f00"], &["g0"]] {
            assert!(!has_placeholder_names(&signature(names)), "{names:?}");
        }
        assert!(has_placeholder_names(&signature(&["f0"])));
    }

    #[test]
    fn an_absent_or_ambiguous_id_column_is_refused() {
        let sig = signature(&["a"]);
        assert_eq!(
            plan_columns(&columns(&["a"]), &sig, Some("id")),
            Err(PlanError::MissingIdColumn { name: "id".into() })
        );
        assert_eq!(
            plan_columns(&columns(&["id", "a", "id"]), &sig, Some("id")),
            Err(PlanError::DuplicateColumn { name: "id".into() })
        );
        assert_eq!(
            plan_columns(&columns(&["a", "a"]), &sig, None),
            Err(PlanError::DuplicateColumn { name: "a".into() })
        );
        assert_eq!(
            plan_columns(&columns(&["a", "b"]), &sig, Some("a")),
            Err(PlanError::IdIsFeature { name: "a".into() })
        );
    }

    #[test]
    fn matching_is_written_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&Matching::ByPosition).unwrap(),
            r#""by_position""#
        );
        assert_eq!(
            serde_json::to_string(&Matching::ByName).unwrap(),
            r#""by_name""#
        );
    }
}
