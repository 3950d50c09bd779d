//! Tests of `score` with CSV and JSONL input: output rows equal the predictor's answer row
//! for row, bad rows are reported by row, id and field, and chunking changes nothing.

use capstan_client::signature::{ClassLabel, DataType};
use capstan_client::types::batch::DataFormat;
use capstan_client::types::PredictedValue;

use super::*;
use crate::batch::columns::plan_columns;
use crate::batch::index::RowIndexer;
use crate::batch::keys::{merge_key_sidecars, KeyIndexFooter};
use crate::batch::testing::{direct, Linear, Logistic, Mixed};

fn ints() -> Vec<ClassLabel> {
    vec![ClassLabel::Int(0), ClassLabel::Int(1)]
}

fn strings(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| c.to_string()).collect()
}

struct Scored {
    out: Vec<u8>,
    outcome: ChunkOutcome,
    sidecar: Vec<u8>,
}

fn score(
    predictor: &dyn Predictor,
    columns: &[&str],
    id: Option<&str>,
    input: DataFormat,
    data: &str,
    output: DataFormat,
) -> Scored {
    let plan = plan_columns(&strings(columns), predictor.signature(), id).unwrap();
    let scorer = Scorer::new(&plan, predictor, 7, output).unwrap();
    let mut out = Vec::new();
    scorer.write_header(&mut out);
    let mut keys = KeySink::with_shape(scorer.key_shape());
    let chunk = match input {
        DataFormat::Csv => ChunkInput::Csv(data.as_bytes()),
        _ => ChunkInput::Jsonl(data.as_bytes()),
    };
    let outcome = scorer.score_chunk(chunk, 1, &mut out, &mut keys).unwrap();
    Scored {
        out,
        outcome,
        sidecar: keys.take_sidecar(),
    }
}

/// The CSV output's data lines split into fields.
fn csv_rows(out: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(out).unwrap();
    text.lines()
        .skip(1)
        .map(|line| line.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn csv_output_equals_the_predictor_row_for_row_with_columns_shuffled() {
    let predictor = Logistic::new(&["a", "b", "c"], ints());
    let mut data = String::new();
    let mut rows = Vec::new();
    for i in 0..10_000u32 {
        let (a, b, c) = (
            f64::from(i) * 0.013,
            1.0 / (f64::from(i) + 3.0),
            f64::from(i % 7) - 3.25,
        );
        data.push_str(&format!("{c},x{i},{a},ignored,{b}\n"));
        rows.push(vec![a, b, c]);
    }
    let scored = score(
        &predictor,
        &["c", "id", "a", "note", "b"],
        Some("id"),
        DataFormat::Csv,
        &data,
        DataFormat::Csv,
    );
    assert_eq!(
        scored.outcome,
        ChunkOutcome {
            rows: 10_000,
            written: 10_000,
            bad_rows: 0,
            errors: vec![]
        }
    );
    assert!(scored.out.starts_with(b"id,prediction,p_0,p_1,version\n"));
    let expected = direct(&predictor, &rows);
    let output = csv_rows(&scored.out);
    assert_eq!(output.len(), rows.len());
    for (i, fields) in output.iter().enumerate() {
        assert_eq!(fields[0], format!("x{i}"));
        assert_eq!(fields[1], expected.predictions[i].to_string());
        for class in 0..2 {
            let written: f64 = fields[2 + class].parse().unwrap();
            assert_eq!(
                written.to_bits(),
                expected.probabilities[i][class].to_bits(),
                "row {i}"
            );
        }
        assert_eq!(fields[4], "7");
    }
}

#[test]
fn bad_csv_rows_are_reported_by_row_id_and_field_and_left_out() {
    let predictor = Logistic::new(&["a", "b"], ints());
    let data = "r1,1,2\n\
                r2,1,\n\
                \n\
                r3,x,2\n\
                r4,1,2,3\n\
                r5,NaN,1\n\
                  \t \n\
                r6, 3 ,\"4\"\r\n\
                \"r,7\",inf,1\n\
                r8,1\n";
    let scored = score(
        &predictor,
        &["id", "a", "b"],
        Some("id"),
        DataFormat::Csv,
        data,
        DataFormat::Csv,
    );
    let outcome = &scored.outcome;
    assert_eq!((outcome.rows, outcome.written, outcome.bad_rows), (8, 2, 6));
    let error = |row: u64, id: Option<&str>, field: Option<&str>, reason: &str| RowError {
        row,
        id: id.map(str::to_string),
        field: field.map(str::to_string),
        reason: reason.to_string(),
    };
    assert_eq!(
        outcome.errors,
        vec![
            error(2, Some("r2"), Some("b"), "empty value"),
            error(3, Some("r3"), Some("a"), "not a number"),
            error(4, Some("r4"), None, "expected 3 fields, got 4"),
            error(5, Some("r5"), Some("a"), "not a finite number"),
            error(7, Some("r,7"), Some("a"), "not a finite number"),
            error(8, Some("r8"), None, "expected 3 fields, got 2"),
        ]
    );
    let ids: Vec<String> = csv_rows(&scored.out)
        .into_iter()
        .map(|f| f[0].clone())
        .collect();
    assert_eq!(ids, ["r1", "r6"]);
}

#[test]
fn only_the_first_twenty_bad_rows_are_detailed() {
    let predictor = Logistic::new(&["a"], ints());
    let data: String = (1..=50)
        .map(|i| {
            if i % 2 == 0 {
                "1\n".to_string()
            } else {
                "?\n".to_string()
            }
        })
        .collect();
    let scored = score(
        &predictor,
        &["a"],
        None,
        DataFormat::Csv,
        &data,
        DataFormat::Csv,
    );
    assert_eq!(
        (scored.outcome.bad_rows, scored.outcome.errors.len()),
        (25, MAX_ROW_ERRORS)
    );
    let rows: Vec<u64> = scored.outcome.errors.iter().map(|e| e.row).collect();
    assert_eq!(rows, (0..20).map(|i| 2 * i + 1).collect::<Vec<_>>());
    assert!(scored.outcome.errors.iter().all(|e| e.id.is_none()));
    // Without an id column the output's first column is the row number.
    let first: Vec<String> = csv_rows(&scored.out)
        .iter()
        .take(3)
        .map(|f| f[0].clone())
        .collect();
    assert_eq!(first, ["2", "4", "6"]);
}

#[test]
fn placeholder_features_are_read_by_position() {
    let predictor = Logistic::new(&["f0", "f1"], ints());
    let scored = score(
        &predictor,
        &["x", "key", "y"],
        Some("key"),
        DataFormat::Csv,
        "1,k1,2\n3,k2,4\n",
        DataFormat::Csv,
    );
    let expected = direct(&predictor, &[vec![1.0, 2.0], vec![3.0, 4.0]]);
    let output = csv_rows(&scored.out);
    assert_eq!(output[1][0], "k2");
    assert_eq!(
        output[1][3].parse::<f64>().unwrap(),
        expected.probabilities[1][1]
    );
}

#[test]
fn jsonl_members_are_matched_by_name_and_ids_keep_their_type() {
    let predictor = Logistic::new(
        &["a", "b"],
        vec![
            ClassLabel::Text("no".into()),
            ClassLabel::Text("yes".into()),
        ],
    );
    let data = "{\"id\": 1, \"a\": 1.5, \"b\": 2}\n\
                {\"b\": -1, \"extra\": [1, {\"x\": 2}], \"a\": 0.25, \"id\": \"k-2\"}\n\
                \n\
                [1, 2]\n\
                {\"id\": 4, \"a\": \"1\", \"b\": 2}\n\
                {\"id\": 5, \"a\": 1}\n\
                {\"id\": null, \"a\": 1, \"b\": 2}\n\
                {\"a\": 1, \"b\": 2, \"a\": 3, \"id\": 7}\n\
                {\"id\": 8, \"a\": 1, \"b\": 2} trailing\n\
                {\"id\": 9, \"a\": 1e400, \"b\": 2}\n";
    let scored = score(
        &predictor,
        &["id", "a", "b"],
        Some("id"),
        DataFormat::Jsonl,
        data,
        DataFormat::Jsonl,
    );
    let fields: Vec<(u64, Option<String>)> = scored
        .outcome
        .errors
        .iter()
        .map(|e| (e.row, e.field.clone()))
        .collect();
    assert_eq!(
        fields,
        vec![
            (3, None),
            (4, Some("a".into())),
            (5, Some("b".into())),
            (6, Some("id".into())),
            (7, Some("a".into())),
            (8, None),
            (9, None),
        ]
    );
    assert_eq!(
        scored.outcome.errors[1].reason,
        "expected a number, got a string"
    );
    assert_eq!(scored.outcome.errors[1].id.as_deref(), Some("4"));
    assert_eq!(scored.outcome.errors[2].reason, "missing");
    let lines: Vec<serde_json::Value> = std::str::from_utf8(&scored.out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let expected = direct(&predictor, &[vec![1.5, 2.0], vec![0.25, -1.0]]);
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[1]["id"], "k-2");
    for (line, i) in lines.iter().zip(0..) {
        assert_eq!(
            line["prediction"],
            serde_json::to_value(&expected.predictions[i]).unwrap()
        );
        assert_eq!(
            line["p_yes"].as_f64().unwrap().to_bits(),
            expected.probabilities[i][1].to_bits()
        );
        assert_eq!(line["version"], 7);
    }
}

#[test]
fn jsonl_positional_features_follow_document_order() {
    let predictor = Logistic::new(&["f0", "f1"], ints());
    let data = "{\"z\": 1, \"id\": \"a\", \"y\": 2}\n{\"id\": \"b\", \"q\": 3, \"p\": 4}\n{\"id\": \"c\", \"q\": 3}\n";
    let scored = score(
        &predictor,
        &["z", "id", "y"],
        Some("id"),
        DataFormat::Jsonl,
        data,
        DataFormat::Csv,
    );
    let expected = direct(&predictor, &[vec![1.0, 2.0], vec![3.0, 4.0]]);
    let output = csv_rows(&scored.out);
    assert_eq!(output.len(), 2);
    for (fields, i) in output.iter().zip(0..) {
        assert_eq!(
            fields[3].parse::<f64>().unwrap().to_bits(),
            expected.probabilities[i][1].to_bits()
        );
    }
    assert_eq!(scored.outcome.errors[0].row, 3);
    assert_eq!(
        scored.outcome.errors[0].reason,
        "expected 2 values besides the id, got 1"
    );
}

#[test]
fn chunks_scored_apart_give_the_same_rows_and_numbers_as_one_chunk() {
    let predictor = Logistic::new(&["a", "b"], ints());
    let mut file = String::from("a,b\n");
    for i in 1..=3_000 {
        match i % 250 {
            0 => file.push('\n'),
            125 => file.push_str("bad,1\n"),
            _ => file.push_str(&format!("{},{}\n", i % 13, i % 5)),
        }
    }
    let plan = plan_columns(&strings(&["a", "b"]), predictor.signature(), None).unwrap();
    let scorer = Scorer::new(&plan, &predictor, 7, DataFormat::Csv).unwrap();
    let whole = score(
        &predictor,
        &["a", "b"],
        None,
        DataFormat::Csv,
        &file[4..],
        DataFormat::Csv,
    );
    for chunk_bytes in [1, 100, 4_096, 1 << 20] {
        let mut indexer = RowIndexer::new(DataFormat::Csv, chunk_bytes).unwrap();
        indexer.feed(file.as_bytes());
        let index = indexer.finish().unwrap();
        let mut out = Vec::new();
        scorer.write_header(&mut out);
        let mut errors = Vec::new();
        let mut sidecars = Vec::new();
        for chunk in index.chunks() {
            let data = &file.as_bytes()[chunk.bytes.start as usize..chunk.bytes.end as usize];
            let mut keys = KeySink::new(2);
            let outcome = scorer
                .score_chunk(ChunkInput::Csv(data), chunk.first_row, &mut out, &mut keys)
                .unwrap();
            assert_eq!(outcome.rows, chunk.rows);
            errors.extend(outcome.errors);
            sidecars.push(keys.take_sidecar());
        }
        assert_eq!(out, whole.out, "chunk size {chunk_bytes}");
        assert_eq!(errors, whole.outcome.errors);
        // Every key (row number) finds the row's output line.
        let mut key_index = Vec::new();
        merge_key_sidecars(
            sidecars.iter().map(Vec::as_slice),
            &Predicts::Classes(ints()),
            index.rows,
            &mut key_index,
        )
        .unwrap();
        for fields in csv_rows(&out).iter().step_by(97) {
            let found = KeyIndexFooter::lookup(&key_index, &fields[0])
                .unwrap()
                .unwrap();
            let PredictedValue::Label(label) = found.prediction else {
                panic!("a classifier's index holds labels");
            };
            assert_eq!(label.to_string(), fields[1]);
            assert_eq!(Ok(found.probabilities[1].1), fields[3].parse::<f64>());
        }
        assert_eq!(KeyIndexFooter::lookup(&key_index, "125").unwrap(), None);
    }
    assert_eq!(whole.outcome.bad_rows, 12);
}

#[test]
fn a_key_index_from_ids_serves_each_id() {
    let predictor = Logistic::new(&["a"], ints());
    let scored = score(
        &predictor,
        &["id", "a"],
        Some("id"),
        DataFormat::Csv,
        "u1,1\nu2,-1\nu1,5\n",
        DataFormat::Csv,
    );
    let mut index = Vec::new();
    merge_key_sidecars(
        [scored.sidecar.as_slice()],
        &Predicts::Classes(ints()),
        3,
        &mut index,
    )
    .unwrap();
    let expected = direct(&predictor, &[vec![1.0], vec![-1.0]]);
    let u1 = KeyIndexFooter::lookup(&index, "u1").unwrap().unwrap();
    assert_eq!(
        u1.probabilities[1].1, expected.probabilities[0][1],
        "the first row wins"
    );
    let u2 = KeyIndexFooter::lookup(&index, "u2").unwrap().unwrap();
    assert_eq!(
        u2.prediction,
        PredictedValue::Label(expected.predictions[1].clone())
    );
}

#[test]
fn a_plan_for_other_features_is_refused() {
    let predictor = Logistic::new(&["a", "b"], ints());
    let other = Logistic::new(&["a", "c"], ints());
    let plan = plan_columns(&strings(&["a", "c"]), other.signature(), None).unwrap();
    assert!(matches!(
        Scorer::new(&plan, &predictor, 1, DataFormat::Csv),
        Err(ChunkError::Plan(_))
    ));
}

/// Every error of a chunk as (row, field, reason).
fn errors(outcome: &ChunkOutcome) -> Vec<(u64, Option<String>, String)> {
    outcome
        .errors
        .iter()
        .map(|e| (e.row, e.field.clone(), e.reason.clone()))
        .collect()
}

fn error(row: u64, field: &str, reason: &str) -> (u64, Option<String>, String) {
    (row, Some(field.to_string()), reason.to_string())
}

#[test]
fn a_regressors_rows_carry_its_values_in_every_text_format() {
    let features = [
        ("a", DataType::Float64, false),
        ("b", DataType::Float64, false),
    ];
    let one = Linear::new(&features, 1);
    let scored = score(
        &one,
        &["id", "b", "a"],
        Some("id"),
        DataFormat::Csv,
        "x,2,0.5\ny,-1,3\n",
        DataFormat::Csv,
    );
    // 0.5 + 2·2 and 3 + 2·(-1), printed as serde_json prints them.
    assert_eq!(
        std::str::from_utf8(&scored.out).unwrap(),
        "id,prediction,version\nx,4.5,7\ny,1.0,7\n"
    );
    let mut index = Vec::new();
    merge_key_sidecars(
        [scored.sidecar.as_slice()],
        &Predicts::Values(1),
        2,
        &mut index,
    )
    .unwrap();
    let found = KeyIndexFooter::lookup(&index, "x").unwrap().unwrap();
    assert_eq!(found.prediction, PredictedValue::Value(4.5));

    let three = Linear::new(&features, 3);
    let scored = score(
        &three,
        &["a", "b"],
        None,
        DataFormat::Jsonl,
        "{\"a\": 1, \"b\": 1}\n{\"a\": 1e16, \"b\": 0}\n",
        DataFormat::Jsonl,
    );
    assert_eq!(
        std::str::from_utf8(&scored.out).unwrap(),
        "{\"row\":1,\"prediction_0\":3.0,\"prediction_1\":4.0,\"prediction_2\":5.0,\"version\":7}\n\
         {\"row\":2,\"prediction_0\":1e+16,\"prediction_1\":1e+16,\"prediction_2\":1.0000000000000002e+16,\"version\":7}\n"
    );
    let scored = score(
        &three,
        &["a", "b"],
        None,
        DataFormat::Csv,
        "1,1\n",
        DataFormat::Csv,
    );
    assert!(scored
        .out
        .starts_with(b"row,prediction_0,prediction_1,prediction_2,version\n1,3.0,4.0,5.0,7\n"));
    let mut index = Vec::new();
    merge_key_sidecars(
        [scored.sidecar.as_slice()],
        &Predicts::Values(3),
        1,
        &mut index,
    )
    .unwrap();
    let found = KeyIndexFooter::lookup(&index, "1").unwrap().unwrap();
    assert_eq!(
        found.prediction,
        PredictedValue::Targets(vec![3.0, 4.0, 5.0])
    );
}

#[test]
fn csv_fields_of_mixed_features_are_read_as_their_types() {
    let model = Mixed::new();
    // Columns in another order than the signature's, and one the model does not use.
    let data = "k1,Oslo,,3\n\
                k2,\"Lyon, FR\",120.5,2\n\
                k3,Porto,big,2\n\
                k4,Porto,80,2.5\n\
                k5,Porto,80,18014398509481984\n\
                k6,Porto,NA,1\n\
                k7,,1,-4\n\
                k8,Porto,NaN,0\n";
    let scored = score(
        &model,
        &["id", "city", "area", "rooms"],
        Some("id"),
        DataFormat::Csv,
        data,
        DataFormat::Csv,
    );
    assert_eq!(
        errors(&scored.outcome),
        vec![
            error(3, "area", "not a number"),
            error(4, "rooms", "expected a whole number within ±2^53"),
            error(5, "rooms", "expected a whole number within ±2^53"),
        ]
    );
    let rows = csv_rows(&scored.out);
    let expected = [
        ("k1", Mixed::value(None, 3, "Oslo")),
        ("k2", Mixed::value(Some(120.5), 2, "Lyon, FR")),
        ("k6", Mixed::value(None, 1, "Porto")),
        ("k7", Mixed::value(Some(1.0), -4, "")),
        ("k8", Mixed::value(None, 0, "Porto")),
    ];
    assert_eq!(rows.len(), expected.len());
    for (fields, (id, value)) in rows.iter().zip(expected) {
        assert_eq!(fields[0], id);
        assert_eq!(fields[1], serde_json::to_string(&value).unwrap());
        assert_eq!(fields[2], "7");
    }
}

#[test]
fn jsonl_values_of_mixed_features_are_checked_against_their_types() {
    let model = Mixed::new();
    let data = "{\"id\": 1, \"area\": 50, \"rooms\": 2, \"city\": \"Oslo\"}\n\
                {\"id\": 2, \"area\": null, \"rooms\": 2, \"city\": \"Oslo\"}\n\
                {\"id\": 3, \"rooms\": 2, \"city\": \"Zürich\"}\n\
                {\"id\": 4, \"area\": 50, \"rooms\": 2, \"city\": 7}\n\
                {\"id\": 5, \"area\": \"50\", \"rooms\": 2, \"city\": \"Oslo\"}\n\
                {\"id\": 6, \"area\": 50, \"rooms\": \"2\", \"city\": \"Oslo\"}\n\
                {\"id\": 7, \"area\": 50, \"rooms\": 2.5, \"city\": \"Oslo\"}\n\
                {\"id\": 8, \"area\": 50, \"rooms\": 2}\n\
                {\"id\": 9, \"area\": 50, \"rooms\": null, \"city\": \"Oslo\"}\n\
                {\"id\": 10, \"area\": 50, \"rooms\": 9007199254740993, \"city\": \"Oslo\"}\n\
                {\"id\": 11, \"area\": 1.5, \"rooms\": 2.0, \"city\": \"\"}\n";
    let scored = score(
        &model,
        &["id", "area", "rooms", "city"],
        Some("id"),
        DataFormat::Jsonl,
        data,
        DataFormat::Jsonl,
    );
    assert_eq!(
        errors(&scored.outcome),
        vec![
            error(4, "city", "expected a string, got a number"),
            error(5, "area", "expected a number, got a string"),
            error(6, "rooms", "expected a whole number, got a string"),
            error(7, "rooms", "expected a whole number within ±2^53"),
            error(8, "city", "missing"),
            error(9, "rooms", "expected a whole number, got null"),
            error(10, "rooms", "expected a whole number within ±2^53"),
        ]
    );
    let lines: Vec<serde_json::Value> = std::str::from_utf8(&scored.out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expected = [
        (1, Mixed::value(Some(50.0), 2, "Oslo")),
        (2, Mixed::value(None, 2, "Oslo")),
        (3, Mixed::value(None, 2, "Zürich")),
        (11, Mixed::value(Some(1.5), 2, "")),
    ];
    assert_eq!(lines.len(), expected.len());
    for (line, (id, value)) in lines.iter().zip(expected) {
        assert_eq!(line["id"], id);
        assert_eq!(
            line["prediction"].as_f64().unwrap().to_bits(),
            value.to_bits()
        );
        assert!(line.get("p_0").is_none(), "{line}");
    }
    let mut index = Vec::new();
    merge_key_sidecars(
        [scored.sidecar.as_slice()],
        &Predicts::Values(1),
        11,
        &mut index,
    )
    .unwrap();
    let found = KeyIndexFooter::lookup(&index, "3").unwrap().unwrap();
    assert_eq!(
        found.prediction,
        PredictedValue::Value(Mixed::value(None, 2, "Zürich"))
    );
    assert_eq!(KeyIndexFooter::lookup(&index, "4").unwrap(), None);
}

#[test]
fn a_regressor_is_scored_in_batches_as_one() {
    // More rows than one predict call takes: every batch's strings reach the model.
    let model = Mixed::new();
    let mut data = String::new();
    let mut expected = Vec::new();
    for i in 0..(BATCH_ROWS as i64 * 2 + 17) {
        let city = format!("c{}", i % 1000);
        data.push_str(&format!("{city},{i},{}\n", i % 5));
        expected.push(Mixed::value(Some(i as f64), i % 5, &city));
    }
    let scored = score(
        &model,
        &["city", "area", "rooms"],
        None,
        DataFormat::Csv,
        &data,
        DataFormat::Csv,
    );
    let rows = csv_rows(&scored.out);
    assert_eq!(rows.len(), expected.len());
    for (fields, value) in rows.iter().zip(expected) {
        assert_eq!(fields[1].parse::<f64>().unwrap(), value);
    }
}

/// Properties of the CSV and JSONL readers: one table written either way reads the same,
/// however it is quoted and whatever its line ends; any lines are scored or reported by
/// row, never a panic.
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn table() -> impl Strategy<Value = Vec<(f64, f64)>> {
        prop::collection::vec((-1e6f64..1e6, -1e6f64..1e6), 1..40)
    }

    proptest! {
        #[test]
        fn a_table_reads_the_same_as_csv_and_as_jsonl(
            rows in table(),
            crlf in any::<bool>(),
            quoted in any::<bool>(),
        ) {
            let predictor = Logistic::new(&["a", "b"], ints());
            let end = if crlf { "\r\n" } else { "\n" };
            let field = |v: f64| if quoted { format!("\"{v}\"") } else { v.to_string() };
            let csv: String = rows
                .iter()
                .enumerate()
                .map(|(i, (a, b))| format!("r{i},{},{}{end}", field(*a), field(*b)))
                .collect();
            let jsonl: String = rows
                .iter()
                .enumerate()
                .map(|(i, (a, b))| format!("{}{end}", serde_json::json!({"id": format!("r{i}"), "b": b, "a": a})))
                .collect();
            let columns = ["id", "a", "b"];
            let from_csv = score(&predictor, &columns, Some("id"), DataFormat::Csv, &csv, DataFormat::Csv);
            let from_jsonl = score(&predictor, &columns, Some("id"), DataFormat::Jsonl, &jsonl, DataFormat::Csv);
            prop_assert_eq!(from_csv.outcome.bad_rows, 0, "{:?}", from_csv.outcome.errors);
            prop_assert_eq!(from_csv.outcome.rows, rows.len() as u64);
            prop_assert_eq!(&from_csv.out, &from_jsonl.out);
            let expected = direct(&predictor, &rows.iter().map(|(a, b)| vec![*a, *b]).collect::<Vec<_>>());
            let written = csv_rows(&from_csv.out);
            prop_assert_eq!(written.len(), rows.len());
            for (i, fields) in written.iter().enumerate() {
                prop_assert_eq!(&fields[0], &format!("r{i}"));
                prop_assert_eq!(&fields[1], &expected.predictions[i].to_string());
            }
        }

        #[test]
        fn any_lines_are_scored_or_reported_by_row(
            lines in prop::collection::vec(
                prop_oneof![
                    "[0-9., \"eE+-]{0,12}",
                    "\\{\"(a|b|id)\": ?[0-9a-z\".,\\[\\]{}-]{0,10}\\}",
                    any::<String>().prop_map(|s| s.replace(['\n', '\r'], "")),
                ],
                0..20,
            ),
            jsonl in any::<bool>(),
        ) {
            let predictor = Logistic::new(&["a", "b"], ints());
            let plan = plan_columns(&strings(&["a", "b"]), predictor.signature(), None).unwrap();
            let scorer = Scorer::new(&plan, &predictor, 7, DataFormat::Csv).unwrap();
            let data = lines.join("\n");
            let input = if jsonl { ChunkInput::Jsonl(data.as_bytes()) } else { ChunkInput::Csv(data.as_bytes()) };
            let mut out = Vec::new();
            let mut keys = KeySink::new(2);
            match scorer.score_chunk(input, 1, &mut out, &mut keys) {
                Ok(outcome) => {
                    prop_assert_eq!(outcome.rows, outcome.written + outcome.bad_rows);
                    prop_assert!(outcome.rows <= lines.len() as u64);
                    for error in &outcome.errors {
                        prop_assert!((1..=outcome.rows).contains(&error.row), "{:?}", error);
                        prop_assert!(!error.reason.is_empty());
                    }
                }
                Err(error) => prop_assert!(!error.to_string().is_empty()),
            }
        }
    }
}
