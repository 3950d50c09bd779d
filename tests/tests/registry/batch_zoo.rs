//! Batch jobs over the model zoo's typed models: `pipeline_ridge` (a regressor over
//! nullable float32, int64 and string features) scores `tests/data/properties.csv` as
//! CSV, the same rows as JSONL and as Parquet, and each output row equals what the JSON
//! predict endpoint answers for that row; `pipeline_gradient_boosting` (a classifier of
//! string labels over the same features) writes one `p_<class>` column per label.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Value};

use capstan_tests::{spawn_app, zoo, TestApp};

use crate::batch::{output_text, submit, upload_dataset, wait_for_job};

/// The data row (1-based) whose `area` is a word in the CSV and JSONL inputs.
const BROKEN_ROW: usize = 7;

/// One row of `properties.csv`: the model's features (a missing number is `None`).
struct Property {
    area: Option<f64>,
    rooms: i64,
    age: Option<f64>,
    city: String,
    kind: String,
}

impl Property {
    /// The row as the JSON predict endpoint takes it (a missing value is `null`).
    fn record(&self) -> Value {
        json!({
            "area": self.area, "age": self.age, "rooms": self.rooms,
            "city": self.city, "kind": self.kind,
        })
    }
}

fn properties_csv() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/properties.csv");
    std::fs::read_to_string(path).unwrap()
}

/// The rows of `properties.csv`, parsed.
fn properties() -> Vec<Property> {
    let number = |text: &str| (!text.is_empty()).then(|| text.parse::<f64>().unwrap());
    properties_csv()
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            Property {
                area: number(fields[0]),
                rooms: fields[1].parse().unwrap(),
                age: number(fields[2]),
                city: fields[3].to_owned(),
                kind: fields[4].to_owned(),
            }
        })
        .collect()
}

/// `properties.csv` as it is (columns `area,rooms,age,city,kind,price`), with the area of
/// [`BROKEN_ROW`] a word.
fn broken_csv() -> String {
    properties_csv()
        .lines()
        .enumerate()
        .map(|(line, text)| match line {
            BROKEN_ROW => format!("big{}\n", &text[text.find(',').unwrap()..]),
            _ => format!("{text}\n"),
        })
        .collect()
}

/// The same rows as JSONL objects in another member order; a missing number is left out
/// (or `null`, every other time), and [`BROKEN_ROW`]'s area is a string.
fn broken_jsonl(rows: &[Property]) -> String {
    let mut out = String::new();
    for (index, row) in rows.iter().enumerate() {
        let mut object = serde_json::Map::new();
        object.insert("kind".into(), json!(row.kind));
        object.insert("city".into(), json!(row.city));
        object.insert("rooms".into(), json!(row.rooms));
        for (name, value) in [("age", row.age), ("area", row.area)] {
            match value {
                Some(value) => object.insert(name.into(), json!(value)),
                None if index % 2 == 0 => object.insert(name.into(), Value::Null),
                None => None,
            };
        }
        if index + 1 == BROKEN_ROW {
            object.insert("area".into(), json!("big"));
        }
        out.push_str(&format!("{}\n", Value::Object(object)));
    }
    out
}

/// The rows as Parquet: `area`/`age` Float64 with nulls, `rooms` Int64, `city`/`kind`
/// Utf8, in row groups of 128 rows.
fn properties_parquet(rows: &[Property]) -> Vec<u8> {
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "city",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.city))),
        ),
        (
            "area",
            Arc::new(rows.iter().map(|r| r.area).collect::<Float64Array>()),
        ),
        (
            "age",
            Arc::new(
                rows.iter()
                    .map(|r| r.age.map(|age| age as f32))
                    .collect::<Float32Array>(),
            ),
        ),
        (
            "rooms",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.rooms))),
        ),
        (
            "kind",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.kind))),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(128))
        .build();
    let mut out = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

async fn upload_zoo_model(app: &TestApp, name: &str, file: &str) -> Value {
    let model = zoo::model(file);
    app.create_model(name).await;
    let (status, version) = app
        .upload_with(name, &zoo::upload_metadata(&model), zoo::bytes(&model))
        .await;
    assert_eq!(status, 201, "{version}");
    model
}

/// What the JSON predict endpoint answers for `rows`.
async fn predict(app: &TestApp, name: &str, rows: &[Property]) -> Value {
    let records: Vec<Value> = rows.iter().map(Property::record).collect();
    let (status, answer) = app
        .post_json(
            &format!("/api/v1/models/{name}/versions/1/predict"),
            &json!({ "inputs": records }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// Runs a job over `input` with one bad row allowed; returns the finished job.
async fn run_job(app: &TestApp, model: &str, input: Value, output_format: &str) -> Value {
    let job = submit(
        app,
        &json!({"model": model, "input": input, "output_format": output_format, "max_bad_rows": 1}),
    )
    .await;
    let job = wait_for_job(app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    job
}

/// Checks a job's output rows, `(row, prediction)`, against the endpoint's answers: every
/// row but `skipped` exactly once, each value within 1e-9.
fn check_values(found: &[(usize, f64)], expected: &[f64], skipped: Option<usize>) {
    let mut seen = vec![0; expected.len()];
    for &(row, value) in found {
        seen[row - 1] += 1;
        let want = expected[row - 1];
        assert!(
            (value - want).abs() <= 1e-9 * want.abs().max(1.0),
            "row {row}: batch {value}, predict {want}"
        );
    }
    for (index, count) in seen.iter().enumerate() {
        let want = usize::from(Some(index + 1) != skipped);
        assert_eq!(
            *count,
            want,
            "row {} is in the output {count} times",
            index + 1
        );
    }
}

fn check_broken_row(job: &Value) {
    assert_eq!(job["bad_rows"], 1, "{job}");
    let error = &job["errors"][0];
    assert_eq!(error["row"], BROKEN_ROW, "{job}");
    assert_eq!(error["field"], "area", "{job}");
    assert!(
        error["reason"].as_str().unwrap().contains("number"),
        "{job}"
    );
}

#[tokio::test]
async fn a_regressor_of_typed_features_scores_csv_jsonl_and_parquet_like_json_predict() {
    let app = spawn_app().await;
    upload_zoo_model(&app, "price", "pipeline_ridge").await;
    let rows = properties();
    assert!(rows.iter().any(|r| r.area.is_none()) && rows.iter().any(|r| r.age.is_none()));
    let answer = predict(&app, "price", &rows).await;
    let expected: Vec<f64> = answer["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();

    // CSV in, CSV out: `row,prediction,version`, the area of one row a word.
    let (status, dataset) =
        upload_dataset(&app, "properties", "text/csv", broken_csv().into_bytes()).await;
    assert_eq!(status, 201, "{dataset}");
    let job = run_job(&app, "price", json!({"dataset": dataset["id"]}), "csv").await;
    check_broken_row(&job);
    let csv_job = job["id"].as_str().unwrap().to_owned();
    let output = output_text(&app, &csv_job).await;
    let mut lines = output.lines();
    assert_eq!(lines.next(), Some("row,prediction,version"));
    let found: Vec<(usize, f64)> = lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 3, "{line}");
            assert_eq!(fields[2], "1");
            (fields[0].parse().unwrap(), fields[1].parse().unwrap())
        })
        .collect();
    check_values(&found, &expected, Some(BROKEN_ROW));

    // JSONL in, JSONL out: `{"row":…,"prediction":…,"version":1}`, no probabilities.
    let (_, dataset) = upload_dataset(
        &app,
        "properties-jsonl",
        "application/x-ndjson",
        broken_jsonl(&rows).into_bytes(),
    )
    .await;
    let job = run_job(&app, "price", json!({"dataset": dataset["id"]}), "jsonl").await;
    check_broken_row(&job);
    let found: Vec<(usize, f64)> = output_text(&app, job["id"].as_str().unwrap())
        .await
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            let keys: Vec<&String> = record.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 3, "{record}");
            (
                record["row"].as_u64().unwrap() as usize,
                record["prediction"].as_f64().unwrap(),
            )
        })
        .collect();
    check_values(&found, &expected, Some(BROKEN_ROW));

    // Parquet in, Parquet out: `prediction` is a Float64 column.
    let (status, dataset) = upload_dataset(
        &app,
        "properties-parquet",
        "application/vnd.apache.parquet",
        properties_parquet(&rows),
    )
    .await;
    assert_eq!(status, 201, "{dataset}");
    let job = run_job(&app, "price", json!({"dataset": dataset["id"]}), "parquet").await;
    assert_eq!(job["bad_rows"], 0, "{job}");
    let response = app
        .get(&format!(
            "/api/v1/batch-jobs/{}/output",
            job["id"].as_str().unwrap()
        ))
        .await;
    let reader = ParquetRecordBatchReaderBuilder::try_new(response.bytes().await.unwrap()).unwrap();
    let names: Vec<String> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["row", "prediction", "version"]);
    let mut found = Vec::new();
    for batch in reader.build().unwrap() {
        let batch = batch.unwrap();
        let row = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let value = batch
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        for i in 0..batch.num_rows() {
            found.push((row.value(i) as usize, value.value(i)));
        }
    }
    // The Parquet input's `age` is float32: the model reads float32 anyway.
    check_values(&found, &expected, None);

    // By key (the row number): the job's value, before and after approval.
    let (status, keyed) = app
        .get_json(&format!("/api/v1/batch-jobs/{csv_job}/predictions/5"))
        .await;
    assert_eq!(status, 200, "{keyed}");
    assert_eq!(keyed["key"], "5");
    assert!((keyed["prediction"].as_f64().unwrap() - expected[4]).abs() <= 1e-9);
    assert!(keyed.get("probabilities").is_none(), "{keyed}");
    let (status, missing) = app
        .get_json(&format!(
            "/api/v1/batch-jobs/{csv_job}/predictions/{BROKEN_ROW}"
        ))
        .await;
    assert_eq!(status, 404, "{missing}");
    let (status, _) = app
        .post_json(&format!("/api/v1/batch-jobs/{csv_job}/approve"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, served) = app.get_json("/api/v1/models/price/predictions/600").await;
    assert_eq!(status, 200, "{served}");
    assert!((served["prediction"].as_f64().unwrap() - expected[599]).abs() <= 1e-9);
    let typed: capstan_client::types::KeyedPrediction = serde_json::from_value(served).unwrap();
    assert!(matches!(
        typed.prediction,
        capstan_client::types::PredictedValue::Value(_)
    ));
}

#[tokio::test]
async fn a_classifier_of_string_labels_over_typed_features_writes_a_column_per_label() {
    let app = spawn_app().await;
    upload_zoo_model(&app, "band", "pipeline_gradient_boosting").await;
    let rows = properties();
    let answer = predict(&app, "band", &rows).await;
    assert_eq!(answer["classes"], json!(["affordable", "expensive"]));
    let (_, dataset) =
        upload_dataset(&app, "properties", "text/csv", broken_csv().into_bytes()).await;
    let job = run_job(&app, "band", json!({"dataset": dataset["id"]}), "csv").await;
    check_broken_row(&job);
    let id = job["id"].as_str().unwrap().to_owned();
    let output = output_text(&app, &id).await;
    let mut lines = output.lines();
    assert_eq!(
        lines.next(),
        Some("row,prediction,p_affordable,p_expensive,version")
    );
    let mut count = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let row: usize = fields[0].parse().unwrap();
        assert_eq!(fields[1], answer["predictions"][row - 1], "row {row}");
        for class in 0..2 {
            let written: f64 = fields[2 + class].parse().unwrap();
            let want = answer["probabilities"][row - 1][class].as_f64().unwrap();
            assert!((written - want).abs() <= 1e-9, "row {row}: {line}");
        }
        count += 1;
    }
    assert_eq!(count, rows.len() - 1);
    let (status, keyed) = app
        .get_json(&format!("/api/v1/batch-jobs/{id}/predictions/1"))
        .await;
    assert_eq!(status, 200, "{keyed}");
    assert_eq!(keyed["prediction"], answer["predictions"][0]);
    assert!(keyed["probabilities"]["expensive"].is_f64(), "{keyed}");
}
