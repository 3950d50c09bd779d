//! Tests of `parquet`: a file with several row groups read through its footer and row
//! group byte ranges, scored, written as parts and merged into one file that reads back
//! equal to the predictor's answers.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float32Array, Float64Array, Int64Array, LargeStringArray, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use capstan_client::runtime::Predictor;
use capstan_client::signature::ClassLabel;
use capstan_client::types::batch::DataFormat;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

use super::*;
use crate::batch::columns::plan_columns;
use crate::batch::keys::KeySink;
use crate::batch::score::{ChunkInput, Scorer};
use crate::batch::testing::{direct, Logistic, Mixed};

const GROUPS: usize = 3;
const GROUP_ROWS: usize = 50;

/// An input file: `id` (text), `b` (Float32), `a` (Float64, one null and one NaN),
/// `n` (Int64, unused); `GROUPS` row groups of `GROUP_ROWS` rows.
fn input_file() -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("b", DataType::Float32, false),
        Field::new("a", DataType::Float64, true),
        Field::new("n", DataType::Int64, false),
    ]));
    let mut file = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut file, schema.clone(), None).unwrap();
    for group in 0..GROUPS {
        let rows = (group * GROUP_ROWS)..((group + 1) * GROUP_ROWS);
        let ids: Vec<String> = rows.clone().map(|r| format!("id{}", r + 1)).collect();
        let b: Vec<f32> = rows.clone().map(|r| r as f32 * 0.5).collect();
        let a: Vec<Option<f64>> = rows
            .clone()
            .map(|r| match r + 1 {
                7 => None,
                60 => Some(f64::NAN),
                row => Some(row as f64 / 3.0),
            })
            .collect();
        let n: Vec<i64> = rows.map(|r| r as i64).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(Float32Array::from(b)),
                Arc::new(Float64Array::from(a)),
                Arc::new(Int64Array::from(n)),
            ],
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.flush().unwrap();
    }
    writer.close().unwrap();
    file
}

fn layout_of(file: &[u8]) -> ParquetLayout {
    let tail = &file[file.len() - FOOTER_TAIL_LEN as usize..];
    let len = footer_len(tail).unwrap() as usize;
    parse_footer(&file[file.len() - len..]).unwrap()
}

#[test]
fn the_footer_gives_columns_row_groups_and_their_byte_ranges() {
    let file = input_file();
    let layout = layout_of(&file);
    assert_eq!(layout.columns, ["id", "b", "a", "n"]);
    assert_eq!(layout.rows, (GROUPS * GROUP_ROWS) as u64);
    assert_eq!(layout.row_groups.len(), GROUPS);
    for (i, group) in layout.row_groups.iter().enumerate() {
        assert_eq!(group.rows, GROUP_ROWS as u64);
        assert_eq!(group.first_row, (i * GROUP_ROWS + 1) as u64);
        assert!(group.bytes.start >= 4 && group.bytes.end <= file.len() as u64);
    }
    assert!(footer_len(b"not parquet").is_err());
}

#[test]
fn row_groups_scored_apart_and_merged_read_back_as_the_predictions() {
    let file = input_file();
    let layout = layout_of(&file);
    let predictor = Logistic::new(&["a", "b"], vec![ClassLabel::Int(0), ClassLabel::Int(1)]);
    let plan = plan_columns(&layout.columns, predictor.signature(), Some("id")).unwrap();
    check_types(&layout, &plan, predictor.signature()).unwrap();
    let scorer = Scorer::new(&plan, &predictor, 4, DataFormat::Parquet).unwrap();
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    for (index, group) in layout.row_groups.iter().enumerate() {
        let bytes =
            Bytes::copy_from_slice(&file[group.bytes.start as usize..group.bytes.end as usize]);
        let input = ChunkInput::Parquet(RowGroupInput {
            layout: &layout,
            index,
            bytes,
        });
        let mut part = Vec::new();
        let outcome = scorer
            .score_chunk(input, group.first_row, &mut part, &mut KeySink::new(2))
            .unwrap();
        assert_eq!(outcome.rows, GROUP_ROWS as u64);
        errors.extend(outcome.errors);
        parts.push(Bytes::from(part));
    }
    let found: Vec<(u64, Option<String>, Option<String>, String)> = errors
        .into_iter()
        .map(|e| (e.row, e.id, e.field, e.reason))
        .collect();
    assert_eq!(
        found,
        vec![
            (7, Some("id7".into()), Some("a".into()), "null".into()),
            (
                60,
                Some("id60".into()),
                Some("a".into()),
                "not a finite number".into()
            ),
        ]
    );

    let mut merged = Vec::new();
    let rows = merge_parquet_parts(parts, &mut merged).unwrap();
    assert_eq!(rows, (GROUPS * GROUP_ROWS - 2) as u64);
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(merged)).unwrap();
    assert_eq!(reader.metadata().num_row_groups(), GROUPS);
    let names: Vec<String> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "prediction", "p_0", "p_1", "version"]);
    let batches: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
    let expected_rows: Vec<usize> = (1..=GROUPS * GROUP_ROWS)
        .filter(|r| *r != 7 && *r != 60)
        .collect();
    let inputs: Vec<Vec<f64>> = expected_rows
        .iter()
        .map(|&r| vec![r as f64 / 3.0, f64::from((r - 1) as f32 * 0.5)])
        .collect();
    let expected = direct(&predictor, &inputs);
    let mut i = 0;
    for batch in &batches {
        let column = |c: usize| batch.column(c).as_any();
        let ids = column(0).downcast_ref::<StringArray>().unwrap();
        let labels = column(1).downcast_ref::<Int64Array>().unwrap();
        let p1 = column(3).downcast_ref::<Float64Array>().unwrap();
        let versions = column(4).downcast_ref::<Int64Array>().unwrap();
        for j in 0..batch.num_rows() {
            assert_eq!(ids.value(j), format!("id{}", expected_rows[i]));
            assert_eq!(ClassLabel::Int(labels.value(j)), expected.predictions[i]);
            assert_eq!(
                p1.value(j).to_bits(),
                expected.probabilities[i][1].to_bits()
            );
            assert_eq!(versions.value(j), 4);
            i += 1;
        }
    }
    assert_eq!(i, expected_rows.len());
}

#[test]
fn integer_ids_become_json_numbers_and_text_features_are_refused() {
    let file = input_file();
    let layout = layout_of(&file);
    let predictor = Logistic::new(&["a", "b"], vec![ClassLabel::Int(0), ClassLabel::Int(1)]);
    let plan = plan_columns(&layout.columns, predictor.signature(), Some("n")).unwrap();
    let scorer = Scorer::new(&plan, &predictor, 1, DataFormat::Jsonl).unwrap();
    let group = &layout.row_groups[0];
    let bytes = Bytes::copy_from_slice(&file[group.bytes.start as usize..group.bytes.end as usize]);
    let mut out = Vec::new();
    let input = ChunkInput::Parquet(RowGroupInput {
        layout: &layout,
        index: 0,
        bytes,
    });
    scorer
        .score_chunk(input, 1, &mut out, &mut KeySink::new(2))
        .unwrap();
    let first: serde_json::Value =
        serde_json::from_slice(out.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["n"], 0);

    let text_feature = Logistic::new(&["id", "a"], vec![ClassLabel::Int(0), ClassLabel::Int(1)]);
    let plan = plan_columns(&layout.columns, text_feature.signature(), None).unwrap();
    assert!(matches!(
        check_types(&layout, &plan, text_feature.signature()),
        Err(PlanError::ColumnType { .. })
    ));
}

/// One row group of `columns` (name, array) as a Parquet file.
fn file_of(columns: Vec<(&str, ArrayRef)>) -> Vec<u8> {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut file = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    file
}

#[test]
fn text_columns_feed_string_features_and_a_regressor_writes_its_values() {
    let file = file_of(vec![
        (
            "city",
            Arc::new(LargeStringArray::from(vec![
                Some("Oslo"),
                Some("Porto"),
                Some("Lyon"),
                None,
                Some("Bern"),
            ])) as ArrayRef,
        ),
        (
            "id",
            Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e"])),
        ),
        (
            "area",
            Arc::new(Float32Array::from(vec![
                Some(50.5),
                None,
                Some(1.0),
                Some(2.0),
                Some(f32::NAN),
            ])),
        ),
        (
            "rooms",
            Arc::new(Float64Array::from(vec![2.0, 3.0, 2.5, 1.0, 4.0])),
        ),
    ]);
    let layout = layout_of(&file);
    let model = Mixed::new();
    let plan = plan_columns(&layout.columns, model.signature(), Some("id")).unwrap();
    check_types(&layout, &plan, model.signature()).unwrap();
    let scorer = Scorer::new(&plan, &model, 2, DataFormat::Parquet).unwrap();
    let group = &layout.row_groups[0];
    let bytes = Bytes::copy_from_slice(&file[group.bytes.start as usize..group.bytes.end as usize]);
    let mut part = Vec::new();
    let outcome = scorer
        .score_chunk(
            ChunkInput::Parquet(RowGroupInput {
                layout: &layout,
                index: 0,
                bytes,
            }),
            1,
            &mut part,
            &mut KeySink::with_shape(scorer.key_shape()),
        )
        .unwrap();
    let found: Vec<(u64, Option<String>, String)> = outcome
        .errors
        .into_iter()
        .map(|e| (e.row, e.field, e.reason))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                3,
                Some("rooms".into()),
                "expected a whole number within ±2^53".into()
            ),
            (4, Some("city".into()), "null: expected a string".into()),
        ]
    );
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(part)).unwrap();
    let fields: Vec<(String, DataType)> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    assert_eq!(
        fields,
        [
            ("id".to_string(), DataType::Utf8),
            ("prediction".to_string(), DataType::Float64),
            ("version".to_string(), DataType::Int64),
        ]
    );
    let batch = reader.build().unwrap().next().unwrap().unwrap();
    let ids = batch
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let values = batch
        .column(1)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let expected = [
        ("a", Mixed::value(Some(50.5), 2, "Oslo")),
        ("b", Mixed::value(None, 3, "Porto")),
        ("e", Mixed::value(None, 4, "Bern")),
    ];
    assert_eq!(batch.num_rows(), expected.len());
    for (i, (id, value)) in expected.into_iter().enumerate() {
        assert_eq!(ids.value(i), id);
        assert_eq!(values.value(i).to_bits(), value.to_bits());
    }

    // A string feature over a numeric column, or the reverse, fails the plan.
    let file = file_of(vec![
        ("area", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef),
        ("rooms", Arc::new(Int64Array::from(vec![1]))),
        ("city", Arc::new(Int64Array::from(vec![1]))),
    ]);
    let layout = layout_of(&file);
    let plan = plan_columns(&layout.columns, model.signature(), None).unwrap();
    let error = check_types(&layout, &plan, model.signature()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "column \"city\" holds Int64; it must hold text (Utf8 or LargeUtf8)"
    );
}

/// A damaged or foreign footer is refused (or, where the damage left it valid, read),
/// never a panic.
mod properties {
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;

    fn file() -> &'static [u8] {
        static FILE: OnceLock<Vec<u8>> = OnceLock::new();
        FILE.get_or_init(input_file)
    }

    proptest! {
        #[test]
        fn a_damaged_footer_is_refused_not_a_panic(
            flips in prop::collection::vec((0.0f64..1.0, 0u8..8), 1..6),
            cut in 0usize..40,
        ) {
            let file = file();
            let len = footer_len(&file[file.len() - FOOTER_TAIL_LEN as usize..]).unwrap() as usize;
            let mut footer = file[file.len() - len..].to_vec();
            // Damage the metadata, not the magic: damage there is refused by footer_len.
            let metadata = footer.len() - 8;
            for (at, bit) in flips {
                let index = ((metadata as f64) * at) as usize;
                footer[index.min(metadata - 1)] ^= 1 << bit;
            }
            let footer = &footer[cut.min(footer.len())..];
            if let Err(error) = parse_footer(footer) {
                prop_assert!(!error.to_string().is_empty());
            }
        }

        #[test]
        fn bytes_that_do_not_end_in_par1_are_not_parquet(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if !bytes.ends_with(b"PAR1") {
                prop_assert!(footer_len(&bytes).is_err());
                prop_assert!(parse_footer(&bytes).is_err());
            } else if let Err(error) = parse_footer(&bytes) {
                prop_assert!(!error.to_string().is_empty());
            }
        }
    }
}
