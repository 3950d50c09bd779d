//! Pattern 4, offline predictions: datasets, batch jobs scored by the registry's
//! in-process worker, review, and predictions served by key.

use std::time::Duration;

use serde_json::{json, Value};

use capstan_tests::{
    assert_problem, breast_cancer_csv, direct_probabilities, spawn_app, spawn_with,
    train_breast_cancer, TestApp, TestOptions,
};

/// The breast-cancer table with an `id` column in front (`p<row>`) and no target.
pub(crate) fn table_with_ids() -> (String, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(breast_cancer_csv()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let features = &header[..header.len() - 1];
    let mut csv = format!("id,{}\n", features.join(","));
    let mut rows = Vec::new();
    for (index, line) in lines.enumerate() {
        let values: Vec<&str> = line.split(',').collect();
        let values = &values[..values.len() - 1];
        csv.push_str(&format!("p{},{}\n", index + 1, values.join(",")));
        rows.push(values.iter().map(|v| v.parse().unwrap()).collect());
    }
    (csv, rows)
}

pub(crate) async fn upload_dataset(
    app: &TestApp,
    name: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(&format!("/api/v1/datasets?name={name}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A registry with `bc` trained, version 1 in production; returns the artifact.
pub(crate) async fn registry_with_bc(app: &TestApp) -> Vec<u8> {
    app.create_model("bc").await;
    let trained = train_breast_cancer(1.0);
    let version = app.upload_trained("bc", &trained).await;
    app.promote("bc", "production", &json!({"version": version}))
        .await;
    trained.artifact
}

/// Polls the job until it leaves `queued` and `running`.
pub(crate) async fn wait_for_job(app: &TestApp, id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, job) = app.get_json(&format!("/api/v1/batch-jobs/{id}")).await;
        assert_eq!(status, 200, "{job}");
        if job["status"] != "queued" && job["status"] != "running" {
            return job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job never finished: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn submit(app: &TestApp, body: &Value) -> Value {
    let (status, job) = app.post_json("/api/v1/batch-jobs", body).await;
    assert_eq!(status, 201, "{job}");
    job
}

pub(crate) async fn output_text(app: &TestApp, id: &str) -> String {
    let response = app.get(&format!("/api/v1/batch-jobs/{id}/output")).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The output's rows as (id, prediction, probabilities, version), checked against the
/// runtime's own predictions of `rows` (ids `p1…`).
pub(crate) fn check_csv_output(
    output: &str,
    artifact: &[u8],
    rows: &[Vec<f64>],
    skipped: &[usize],
) {
    let mut lines = output.lines();
    assert_eq!(lines.next().unwrap(), "id,prediction,p_0,p_1,version");
    let expected = direct_probabilities(artifact, rows);
    let mut seen = 0;
    let mut once = std::collections::HashSet::new();
    for (index, line) in lines.enumerate() {
        let _ = index;
        let fields: Vec<&str> = line.split(',').collect();
        let row: usize = fields[0].trim_start_matches('p').parse().unwrap();
        assert!(once.insert(row), "row {row} is in the output twice");
        assert!(!skipped.contains(&row), "bad row {row} is in the output");
        let probabilities = &expected[row - 1];
        let p0: f64 = fields[2].parse().unwrap();
        let p1: f64 = fields[3].parse().unwrap();
        assert_eq!(
            p0.to_bits(),
            probabilities[0].to_bits(),
            "row {row}: {line}"
        );
        assert_eq!(
            p1.to_bits(),
            probabilities[1].to_bits(),
            "row {row}: {line}"
        );
        // The label as JSON predict writes it: `1`, not `1.0`.
        let label = if probabilities[1] > probabilities[0] {
            "1"
        } else {
            "0"
        };
        assert_eq!(fields[1], label, "row {row}");
        assert_eq!(fields[4], "1");
        assert_eq!(fields[2], serde_json::to_string(&probabilities[0]).unwrap());
        seen += 1;
    }
    assert_eq!(seen, rows.len() - skipped.len());
}

#[tokio::test]
async fn a_job_scores_every_row_as_the_runtime_does_and_records_what_it_ran() {
    let app = spawn_app().await;
    let artifact = registry_with_bc(&app).await;
    let (csv, rows) = table_with_ids();
    let (_, dataset) = upload_dataset(&app, "bc", "text/csv", csv.into_bytes()).await;
    let job = submit(
        &app,
        &json!({"model": "bc@production", "input": {"dataset": dataset["id"]}, "id_column": "id"}),
    )
    .await;
    assert_eq!(job["status"], "queued");
    assert_eq!(job["model"]["ref"], "bc@production");
    // The dataset's upload counted its rows: the job has a total before it starts.
    assert_eq!(job["progress"]["rows_total"], rows.len());
    let id = job["id"].as_str().unwrap().to_owned();
    let job = wait_for_job(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["model"]["version"], 1);
    assert!(job["model"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(job["matching"], "by_name");
    assert_eq!(job["progress"]["rows_done"], rows.len());
    assert_eq!(job["bad_rows"], 0);
    assert_eq!(job["output"]["rows"], rows.len());
    let output = output_text(&app, &id).await;
    assert_eq!(job["output"]["size"], output.len());
    assert_eq!(
        job["output"]["digest"],
        capstan_tests::digest_of(output.as_bytes())
    );
    check_csv_output(&output, &artifact, &rows, &[]);

    // Every transition is in the event log, naming the job.
    let (_, events) = app.get_json("/api/v1/events?model=bc").await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["job"] == id.as_str())
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "batch_job_created",
            "batch_job_started",
            "batch_job_succeeded"
        ]
    );
}

#[tokio::test]
async fn columns_are_matched_by_name_in_any_order_and_extra_columns_are_ignored() {
    let app = spawn_app().await;
    let artifact = registry_with_bc(&app).await;
    let (csv, rows) = table_with_ids();
    // Reverse the columns and add one the model does not know.
    let shuffled: String = csv
        .lines()
        .enumerate()
        .map(|(index, line)| {
            let mut fields: Vec<&str> = line.split(',').collect();
            fields.reverse();
            let extra = if index == 0 { "note" } else { "x" };
            format!("{extra},{}\n", fields.join(","))
        })
        .collect();
    let (_, dataset) = upload_dataset(&app, "bc", "text/csv", shuffled.into_bytes()).await;
    let job = submit(
        &app,
        &json!({"model": "bc", "input": {"dataset": dataset["id"]}, "id_column": "id"}),
    )
    .await;
    let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    check_csv_output(
        &output_text(&app, job["id"].as_str().unwrap()).await,
        &artifact,
        &rows,
        &[],
    );
}

#[tokio::test]
async fn a_missing_feature_column_fails_the_job_at_once_naming_it() {
    let app = spawn_app().await;
    registry_with_bc(&app).await;
    let (csv, _) = table_with_ids();
    let without: String = csv
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            format!("{},{}\n", fields[0], fields[2..].join(","))
        })
        .collect();
    let (_, dataset) = upload_dataset(&app, "bc", "text/csv", without.into_bytes()).await;
    let job = submit(
        &app,
        &json!({"model": "bc", "input": {"dataset": dataset["id"]}}),
    )
    .await;
    let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["failure"]["code"], "missing_columns", "{job}");
    // It records the version it was started with, like a job that ran.
    assert_eq!(job["model"]["version"], 1, "{job}");
    assert!(job["model"]["digest"].is_string(), "{job}");
    assert!(job["started_at"].is_string(), "{job}");
    let first_feature = breast_cancer_header()[0].clone();
    assert!(
        job["failure"]["detail"]
            .as_str()
            .unwrap()
            .contains(&first_feature),
        "{job}"
    );
    assert_eq!(job["progress"]["rows_done"], 0);
}

fn breast_cancer_header() -> Vec<String> {
    let text = std::fs::read_to_string(breast_cancer_csv()).unwrap();
    text.lines()
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// The table with rows 3 and 7 broken (a word, an empty value).
fn table_with_bad_rows() -> (String, Vec<Vec<f64>>) {
    let (csv, rows) = table_with_ids();
    let broken: String = csv
        .lines()
        .enumerate()
        .map(|(line, text)| {
            let mut fields: Vec<String> = text.split(',').map(str::to_owned).collect();
            match line {
                3 => fields[2] = "abc".into(),
                7 => fields[5] = String::new(),
                _ => {}
            }
            format!("{}\n", fields.join(","))
        })
        .collect();
    (broken, rows)
}

#[tokio::test]
async fn bad_rows_are_reported_with_row_id_and_field_and_left_out() {
    let app = spawn_app().await;
    let artifact = registry_with_bc(&app).await;
    let (csv, rows) = table_with_bad_rows();
    let header = breast_cancer_header();
    let (_, dataset) = upload_dataset(&app, "bc", "text/csv", csv.into_bytes()).await;

    // Over the tolerance (0 by default): the job fails, naming the first bad rows.
    let strict = submit(
        &app,
        &json!({"model": "bc", "input": {"dataset": dataset["id"]}, "id_column": "id"}),
    )
    .await;
    let strict = wait_for_job(&app, strict["id"].as_str().unwrap()).await;
    assert_eq!(strict["status"], "failed", "{strict}");
    assert_eq!(strict["failure"]["code"], "too_many_bad_rows");
    assert!(
        strict["failure"]["detail"]
            .as_str()
            .unwrap()
            .contains("row 3"),
        "{strict}"
    );

    let tolerant = submit(
        &app,
        &json!({"model": "bc", "input": {"dataset": dataset["id"]}, "id_column": "id", "max_bad_rows": 2}),
    )
    .await;
    let tolerant = wait_for_job(&app, tolerant["id"].as_str().unwrap()).await;
    assert_eq!(tolerant["status"], "succeeded", "{tolerant}");
    assert_eq!(tolerant["bad_rows"], 2);
    assert_eq!(tolerant["errors"][0]["row"], 3);
    assert_eq!(tolerant["errors"][0]["id"], "p3");
    assert_eq!(tolerant["errors"][0]["field"], header[1].as_str());
    assert_eq!(tolerant["errors"][1]["row"], 7);
    assert_eq!(tolerant["errors"][1]["field"], header[4].as_str());
    assert_eq!(tolerant["output"]["rows"], rows.len() - 2);
    let output = output_text(&app, tolerant["id"].as_str().unwrap()).await;
    check_csv_output(&output, &artifact, &rows, &[3, 7]);
}

#[tokio::test]
async fn jsonl_in_and_out() {
    let app = spawn_app().await;
    let artifact = registry_with_bc(&app).await;
    let header = breast_cancer_header();
    let (_, rows) = table_with_ids();
    let jsonl: String = rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let mut object = serde_json::Map::new();
            object.insert("key".into(), json!(index + 1));
            for (name, value) in header.iter().zip(row) {
                object.insert(name.clone(), json!(value));
            }
            format!("{}\n", Value::Object(object))
        })
        .collect();
    let (status, dataset) =
        upload_dataset(&app, "bc", "application/x-ndjson", jsonl.into_bytes()).await;
    assert_eq!(status, 201, "{dataset}");
    assert_eq!(dataset["format"], "jsonl");
    let job = submit(
        &app,
        &json!({"model": "bc", "input": {"dataset": dataset["id"]}, "id_column": "key", "output_format": "jsonl"}),
    )
    .await;
    let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let output = output_text(&app, job["id"].as_str().unwrap()).await;
    let expected = direct_probabilities(&artifact, &rows);
    let mut count = 0;
    for line in output.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let key = record["key"].as_u64().unwrap() as usize;
        assert_eq!(
            record["p_0"].as_f64().unwrap().to_bits(),
            expected[key - 1][0].to_bits()
        );
        assert_eq!(
            record["p_1"].as_f64().unwrap().to_bits(),
            expected[key - 1][1].to_bits()
        );
        assert_eq!(record["version"], 1);
        assert!(record["prediction"].is_i64(), "{record}");
        count += 1;
    }
    assert_eq!(count, rows.len());
}

#[tokio::test]
async fn only_approved_predictions_are_served_by_key_and_the_newest_approval_wins() {
    let app = spawn_app().await;
    let artifact = registry_with_bc(&app).await;
    let (csv, rows) = table_with_ids();
    let expected = direct_probabilities(&artifact, &rows);
    let (_, dataset) = upload_dataset(&app, "bc", "text/csv", csv.into_bytes()).await;
    let request =
        json!({"model": "bc@production", "input": {"dataset": dataset["id"]}, "id_column": "id"});
    let first = submit(&app, &request).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    wait_for_job(&app, &first_id).await;

    // Succeeded but not approved: readable by reviewers, not served.
    let (status, body) = app.get_json("/api/v1/models/bc/predictions/p5").await;
    assert_problem(status, &body, 404, "no_prediction");
    let (status, review) = app
        .get_json(&format!("/api/v1/batch-jobs/{first_id}/predictions/p5"))
        .await;
    assert_eq!(status, 200, "{review}");
    assert_eq!(
        review["probabilities"]["1"].as_f64().unwrap().to_bits(),
        expected[4][1].to_bits()
    );

    // A rejection needs a reason; an approval is recorded with who and when.
    let (status, body) = app
        .post_json(&format!("/api/v1/batch-jobs/{first_id}/reject"), &json!({}))
        .await;
    assert_problem(status, &body, 400, "reason_required");
    let (status, approved) = app
        .post_json(
            &format!("/api/v1/batch-jobs/{first_id}/approve"),
            &json!({"reason": "checked"}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["review"]["reason"], "checked");
    let (status, body) = app
        .post_json(
            &format!("/api/v1/batch-jobs/{first_id}/approve"),
            &json!({}),
        )
        .await;
    assert_problem(status, &body, 409, "job_not_reviewable");

    let (status, served) = app.get_json("/api/v1/models/bc/predictions/p5").await;
    assert_eq!(status, 200, "{served}");
    assert_eq!(served["key"], "p5");
    assert_eq!(served["job"], first_id.as_str());
    assert_eq!(served["version"], 1);
    let label = if expected[4][1] > expected[4][0] {
        1
    } else {
        0
    };
    assert_eq!(served["prediction"], label);
    assert_eq!(
        served["probabilities"]["0"].as_f64().unwrap().to_bits(),
        expected[4][0].to_bits()
    );
    assert!(served["approved_at"].is_string());
    let (status, body) = app.get_json("/api/v1/models/bc/predictions/nobody").await;
    assert_problem(status, &body, 404, "no_prediction");

    // A rejected job is never served; a newer approved one replaces the older.
    let second = submit(&app, &request).await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    wait_for_job(&app, &second_id).await;
    let (status, _) = app
        .post_json(
            &format!("/api/v1/batch-jobs/{second_id}/reject"),
            &json!({"reason": "stale input"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, served) = app.get_json("/api/v1/models/bc/predictions/p5").await;
    assert_eq!(served["job"], first_id.as_str());
    let third = submit(&app, &request).await;
    let third_id = third["id"].as_str().unwrap().to_owned();
    wait_for_job(&app, &third_id).await;
    app.post_json(
        &format!("/api/v1/batch-jobs/{third_id}/approve"),
        &json!({}),
    )
    .await;
    let (_, served) = app.get_json("/api/v1/models/bc/predictions/p5").await;
    assert_eq!(served["job"], third_id.as_str());

    let (_, events) = app.get_json("/api/v1/events?model=bc").await;
    let reviews: Vec<(&str, &str)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "batch_job_approved" || e["kind"] == "batch_job_rejected")
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reviews,
        [
            ("batch_job_approved", "anonymous"),
            ("batch_job_rejected", "anonymous"),
            ("batch_job_approved", "anonymous")
        ]
    );
}

#[tokio::test]
async fn submissions_are_checked_before_anything_is_queued() {
    let app = spawn_app().await;
    registry_with_bc(&app).await;
    app.create_model("opaque").await;
    app.upload("opaque", b"not a model").await;
    let (_, dataset) = upload_dataset(&app, "d", "text/csv", b"a\n1\n".to_vec()).await;
    let input = json!({"dataset": dataset["id"]});
    for (body, status, code) in [
        (
            json!({"model": "nope", "input": input}),
            404,
            "model_not_found",
        ),
        (
            json!({"model": "bc@staging", "input": input}),
            404,
            "version_not_found",
        ),
        (
            json!({"model": "opaque", "input": input}),
            422,
            "unservable_format",
        ),
        (
            json!({"model": "bc", "input": {"dataset": "no-such-id"}}),
            404,
            "dataset_not_found",
        ),
        (
            json!({"model": "bc", "input": {"url": "s3://elsewhere/x.csv"}}),
            422,
            "invalid_input_url",
        ),
        (
            json!({"model": "bc", "input": {"url": "s3://elsewhere/x.txt"}}),
            422,
            "unknown_input_format",
        ),
        (
            json!({"model": "bc", "input": input, "id_column": ""}),
            400,
            "invalid_id_column",
        ),
        (
            json!({"model": "bc", "input": input, "output_format": "xml"}),
            400,
            "invalid_body",
        ),
        (
            json!({"model": "bc", "input": input, "max_bad_rows": -1}),
            400,
            "invalid_body",
        ),
    ] {
        let (got, problem) = app.post_json("/api/v1/batch-jobs", &body).await;
        assert_problem(got, &problem, status, code);
    }
    let (_, jobs) = app.get_json("/api/v1/batch-jobs").await;
    assert_eq!(jobs["jobs"], json!([]));
}

#[tokio::test]
async fn a_queued_job_can_be_cancelled_and_holds_its_dataset_until_then() {
    // No worker: the job stays queued.
    let app = spawn_with(TestOptions {
        batch_workers: Some(0),
        ..TestOptions::default()
    })
    .await;
    registry_with_bc(&app).await;
    let (csv, _) = table_with_ids();
    let (_, dataset) = upload_dataset(&app, "bc", "text/csv", csv.into_bytes()).await;
    let dataset_id = dataset["id"].as_str().unwrap();
    let job = submit(
        &app,
        &json!({"model": "bc", "input": {"dataset": dataset_id}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let (status, body) = app.delete(&format!("/api/v1/datasets/{dataset_id}")).await;
    assert_problem(status, &body, 409, "dataset_in_use");
    let (status, body) = app
        .get_json(&format!("/api/v1/batch-jobs/{id}/output"))
        .await;
    assert_problem(status, &body, 409, "output_not_ready");

    let (status, cancelled) = app
        .post_json(&format!("/api/v1/batch-jobs/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["finished_at"].is_string());
    let (status, body) = app
        .post_json(&format!("/api/v1/batch-jobs/{id}/cancel"), &json!({}))
        .await;
    assert_problem(status, &body, 409, "job_not_cancellable");
    let (status, body) = app
        .post_json(&format!("/api/v1/batch-jobs/{id}/approve"), &json!({}))
        .await;
    assert_problem(status, &body, 409, "job_not_reviewable");
    let (status, _) = app.delete(&format!("/api/v1/datasets/{dataset_id}")).await;
    assert_eq!(status, 204);

    let (_, listed) = app
        .get_json("/api/v1/batch-jobs?status=cancelled&model=bc")
        .await;
    assert_eq!(listed["jobs"][0]["id"], id);
    let (_, none) = app.get_json("/api/v1/batch-jobs?status=running").await;
    assert_eq!(none["jobs"], json!([]));
    let (status, body) = app.get_json("/api/v1/batch-jobs/not-a-job").await;
    assert_problem(status, &body, 404, "job_not_found");
}

#[tokio::test]
async fn an_onnx_model_without_feature_names_is_matched_by_position() {
    let app = spawn_app().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../client/testdata/onnx");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let model = reference["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file"] == "lr_nozipmap.onnx")
        .unwrap();
    app.create_model("lr").await;
    let bytes = std::fs::read(dir.join("lr_nozipmap.onnx")).unwrap();
    let (status, version) = app
        .upload_with("lr", &json!({"format": "onnx"}), bytes)
        .await;
    assert_eq!(status, 201, "{version}");
    let inputs: Vec<Vec<f64>> = serde_json::from_value(model["inputs"].clone()).unwrap();
    let width = inputs[0].len();
    let mut csv = format!(
        "row_id,{}\n",
        (0..width)
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (index, row) in inputs.iter().enumerate() {
        let values: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        csv.push_str(&format!("{},{}\n", index + 1, values.join(",")));
    }
    let (_, dataset) = upload_dataset(&app, "lr", "text/csv", csv.into_bytes()).await;
    let job = submit(
        &app,
        &json!({"model": "lr@1", "input": {"dataset": dataset["id"]}, "id_column": "row_id", "output_format": "jsonl"}),
    )
    .await;
    let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["matching"], "by_position");
    let (_, answer) = app
        .post_json(
            "/api/v1/models/lr/versions/1/predict",
            &json!({"instances": inputs}),
        )
        .await;
    let output = output_text(&app, job["id"].as_str().unwrap()).await;
    let records: Vec<Value> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), inputs.len());
    for record in &records {
        let row = record["row_id"].as_str().map_or_else(
            || record["row_id"].as_u64().unwrap() as usize,
            |s| s.parse().unwrap(),
        ) - 1;
        assert_eq!(record["prediction"], answer["predictions"][row], "{record}");
        let classes = answer["classes"].as_array().cloned().unwrap_or_default();
        for (index, class) in classes.iter().enumerate() {
            let column = format!(
                "p_{}",
                class
                    .as_str()
                    .map_or_else(|| class.to_string(), str::to_owned)
            );
            assert_eq!(
                record[&column].as_f64().unwrap().to_bits(),
                answer["probabilities"][row][index]
                    .as_f64()
                    .unwrap()
                    .to_bits(),
                "{record}"
            );
        }
    }

    // Positional matching needs exactly as many columns as the model has features.
    let (_, narrow) =
        upload_dataset(&app, "narrow", "text/csv", b"row_id,a\n1,0.5\n".to_vec()).await;
    let job = submit(
        &app,
        &json!({"model": "lr@1", "input": {"dataset": narrow["id"]}, "id_column": "row_id"}),
    )
    .await;
    let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["failure"]["code"], "column_count", "{job}");
}

#[tokio::test]
async fn a_job_reads_an_object_store_url_and_writes_parquet() {
    let app = spawn_app().await;
    let artifact = registry_with_bc(&app).await;
    let (csv, rows) = table_with_ids();
    let url = app.put_object("inputs/bc.csv", csv.into_bytes()).await;
    let job = submit(
        &app,
        &json!({"model": "bc", "input": {"url": url}, "id_column": "id", "output_format": "parquet"}),
    )
    .await;
    let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"]["rows_total"], rows.len());
    let response = app
        .get(&format!(
            "/api/v1/batch-jobs/{}/output",
            job["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.apache.parquet"
    );
    let bytes = response.bytes().await.unwrap();
    assert_eq!(job["output"]["digest"], capstan_tests::digest_of(&bytes));
    assert_eq!(&bytes[..4], b"PAR1");

    // The Parquet output scored again as input gives the same rows: upload it as a
    // dataset and check its row count from the footer.
    let (status, dataset) = upload_dataset(
        &app,
        "out",
        "application/vnd.apache.parquet",
        bytes.to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{dataset}");
    assert_eq!(dataset["rows"], rows.len());
    let _ = artifact;

    // A URL outside the store, or with `..`, is refused.
    for url in [
        format!("{url}/../../x.csv"),
        "file:///etc/passwd.csv".to_owned(),
    ] {
        let (status, body) = app
            .post_json(
                "/api/v1/batch-jobs",
                &json!({"model": "bc", "input": {"url": url}}),
            )
            .await;
        assert_problem(status, &body, 422, "invalid_input_url");
    }
}

#[tokio::test]
async fn an_input_without_rows_gives_an_empty_output_in_every_format() {
    let app = spawn_app().await;
    registry_with_bc(&app).await;
    let header = breast_cancer_header();
    let features = &header[..header.len() - 1];
    let csv = format!("id,{}\n", features.join(","));
    let (_, dataset) = upload_dataset(&app, "empty", "text/csv", csv.into_bytes()).await;
    assert_eq!(dataset["rows"], 0);
    for format in ["csv", "jsonl", "parquet"] {
        let job = submit(
            &app,
            &json!({"model": "bc", "input": {"dataset": dataset["id"]}, "id_column": "id", "output_format": format}),
        )
        .await;
        let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "succeeded", "{format}: {job}");
        assert_eq!(job["output"]["rows"], 0, "{format}");
        let bytes = app
            .get(&format!(
                "/api/v1/batch-jobs/{}/output",
                job["id"].as_str().unwrap()
            ))
            .await
            .bytes()
            .await
            .unwrap();
        match format {
            "csv" => assert_eq!(&bytes[..], b"id,prediction,p_0,p_1,version\n"),
            "jsonl" => assert!(bytes.is_empty()),
            _ => assert_eq!(&bytes[..4], b"PAR1"),
        }
    }
}

#[tokio::test]
async fn a_url_ending_in_a_slash_reads_every_file_under_it_in_order() {
    let app = spawn_app().await;
    let artifact = registry_with_bc(&app).await;
    let (csv, rows) = table_with_ids();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let mut data: Vec<String> = lines.map(str::to_owned).collect();
    // One bad row in the second file: the job reports it by its row in the whole input.
    let per_file = data.len().div_ceil(3);
    let bad = per_file + 5;
    let (id, values) = data[bad - 1].split_once(',').unwrap();
    let (_, rest) = values.split_once(',').unwrap();
    data[bad - 1] = format!("{id},oops,{rest}");
    let mut url = String::new();
    for (index, part) in data.chunks(per_file).enumerate() {
        let body = format!("{header}\n{}\n", part.join("\n"));
        url = app
            .put_object(
                &format!("inputs/daily/part-{index:05}.csv"),
                body.into_bytes(),
            )
            .await;
    }
    // Markers and hidden files beside the parts are not input.
    app.put_object("inputs/daily/_SUCCESS", Vec::new()).await;
    app.put_object("inputs/daily/.part-00000.csv.crc", b"x".to_vec())
        .await;
    let directory = format!("{}/", url.rsplit_once('/').unwrap().0);
    let job = submit(
        &app,
        &json!({"model": "bc", "input": {"url": directory}, "id_column": "id", "max_bad_rows": 1}),
    )
    .await;
    let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"]["rows_total"], rows.len());
    assert_eq!(job["bad_rows"], 1);
    assert_eq!(job["errors"][0]["row"], bad, "{job}");
    assert_eq!(job["errors"][0]["id"], format!("p{bad}"), "{job}");
    let output = output_text(&app, job["id"].as_str().unwrap()).await;
    check_csv_output(&output, &artifact, &rows, &[bad]);
    let ids: Vec<usize> = output
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap()[1..].parse().unwrap())
        .collect();
    let expected: Vec<usize> = (1..=rows.len()).filter(|&row| row != bad).collect();
    assert_eq!(ids, expected, "the files' rows in key order");

    // Files of different columns fail the job, naming both; mixed formats, or nothing
    // under the URL, are refused at once.
    app.put_object("inputs/uneven/a.csv", format!("{header}\n").into_bytes())
        .await;
    let other = app
        .put_object("inputs/uneven/b.csv", b"id,x\np1,0.5\n".to_vec())
        .await;
    let uneven = format!("{}/", other.rsplit_once('/').unwrap().0);
    let job = submit(
        &app,
        &json!({"model": "bc", "input": {"url": uneven}, "id_column": "id"}),
    )
    .await;
    let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["failure"]["code"], "input_files_differ", "{job}");
    let mixed = app.put_object("inputs/mixed/a.csv", b"id\n".to_vec()).await;
    app.put_object("inputs/mixed/b.parquet", b"PAR1".to_vec())
        .await;
    let mixed = format!("{}/", mixed.rsplit_once('/').unwrap().0);
    let (status, body) = app
        .post_json(
            "/api/v1/batch-jobs",
            &json!({"model": "bc", "input": {"url": mixed}}),
        )
        .await;
    assert_problem(status, &body, 422, "mixed_input_formats");
    let nothing = format!(
        "{}/",
        directory.trim_end_matches("/daily/").to_owned() + "/none"
    );
    let (status, body) = app
        .post_json(
            "/api/v1/batch-jobs",
            &json!({"model": "bc", "input": {"url": nothing}}),
        )
        .await;
    assert_problem(status, &body, 404, "input_not_found");
}

/// Rows `rows[from..to]` of the breast-cancer table as Parquet: `id` (text, `p<row>`) and
/// the features as Float64, in row groups of `group_rows`.
fn parquet_table(rows: &[Vec<f64>], from: usize, to: usize, group_rows: usize) -> Vec<u8> {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    let header = breast_cancer_header();
    let features = &header[..header.len() - 1];
    let mut fields = vec![Field::new("id", DataType::Utf8, false)];
    fields.extend(
        features
            .iter()
            .map(|name| Field::new(name, DataType::Float64, false)),
    );
    let schema = Arc::new(Schema::new(fields));
    let ids: Vec<String> = (from..to).map(|row| format!("p{}", row + 1)).collect();
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(ids))];
    for feature in 0..features.len() {
        let values: Vec<f64> = rows[from..to].iter().map(|row| row[feature]).collect();
        columns.push(Arc::new(Float64Array::from(values)));
    }
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .build();
    let mut out = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut out, schema, Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

#[tokio::test]
async fn parquet_inputs_are_scored_row_group_by_row_group_in_one_file_or_several() {
    let app = spawn_app().await;
    let artifact = registry_with_bc(&app).await;
    let (_, rows) = table_with_ids();

    // One file of several row groups, uploaded as a dataset.
    let file = parquet_table(&rows, 0, rows.len(), 100);
    let (status, dataset) =
        upload_dataset(&app, "bc-parquet", "application/vnd.apache.parquet", file).await;
    assert_eq!(status, 201, "{dataset}");
    assert_eq!(dataset["format"], "parquet");
    assert_eq!(dataset["rows"], rows.len());
    let job = submit(
        &app,
        &json!({"model": "bc", "input": {"dataset": dataset["id"]}, "id_column": "id"}),
    )
    .await;
    let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["output"]["rows"], rows.len());
    check_csv_output(
        &output_text(&app, job["id"].as_str().unwrap()).await,
        &artifact,
        &rows,
        &[],
    );

    // The same rows as three part files under one URL: every row once, in order.
    let cuts = [0, 150, 400, rows.len()];
    let mut url = String::new();
    for (index, window) in cuts.windows(2).enumerate() {
        let part = parquet_table(&rows, window[0], window[1], 64);
        url = app
            .put_object(&format!("inputs/pq/part-{index:05}.parquet"), part)
            .await;
    }
    let directory = format!("{}/", url.rsplit_once('/').unwrap().0);
    let job = submit(
        &app,
        &json!({"model": "bc", "input": {"url": directory}, "id_column": "id"}),
    )
    .await;
    let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"]["rows_total"], rows.len());
    let output = output_text(&app, job["id"].as_str().unwrap()).await;
    check_csv_output(&output, &artifact, &rows, &[]);
    let ids: Vec<String> = output
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (1..=rows.len()).map(|row| format!("p{row}")).collect();
    assert_eq!(ids, expected);
}
