//! `capstan dataset` and `capstan batch` against a live registry whose in-process worker
//! scores the jobs: upload, submit with `--wait`, download, review, predictions by key,
//! and the exit codes of jobs that fail and of input the registry refuses.

use std::path::{Path, PathBuf};

use capstan_client::types::{BatchJob, BatchJobStatus, Dataset, KeyedPrediction};
use capstan_tests::{spawn_app, TestApp};

use crate::support::{breast_cancer_csv, capstan, train_bc, Run};

/// The breast-cancer table without its target, with a `patient` column (`p1`, `p2`, …)
/// in front; `drop` leaves out the columns of that name.
pub(crate) fn patients_csv(drop: &[&str]) -> String {
    let text = std::fs::read_to_string(breast_cancer_csv()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len() - 1)
        .filter(|&i| !drop.contains(&header[i]))
        .collect();
    let pick = |fields: &[&str]| -> String {
        keep.iter()
            .map(|&i| fields[i])
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut csv = format!("patient,{}\n", pick(&header));
    for (index, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        csv.push_str(&format!("p{},{}\n", index + 1, pick(&fields)));
    }
    csv
}

/// `csv` with the first feature of the data rows `rows` (1-based) not a number.
fn with_bad_first_value(csv: &str, rows: &[usize]) -> String {
    let mut out = String::new();
    for (index, line) in csv.lines().enumerate() {
        if rows.contains(&index) {
            let (id, rest) = line.split_once(',').unwrap();
            let (_, rest) = rest.split_once(',').unwrap();
            out.push_str(&format!("{id},oops,{rest}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

pub(crate) fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A registry with `bc@1` (trained by `capstan train`) in production.
pub(crate) async fn registry_with_bc(cache: &Path) -> TestApp {
    let app = spawn_app().await;
    train_bc(&app, cache, &[]).await.ok();
    capstan(&app, cache, &["promote", "bc@1", "--to", "production"])
        .await
        .ok();
    app
}

fn job_of(run: &Run) -> BatchJob {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not a BatchJob ({e}): {run:#?}"))
}

async fn api_bytes(app: &TestApp, path: &str) -> Vec<u8> {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_submit_wait_download_approve_and_read_predictions_by_key() {
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let app = registry_with_bc(cache).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = patients_csv(&[]);
    let file = write_file(dir.path(), "patients.csv", &csv);
    let file = file.display().to_string();

    let uploaded = capstan(
        &app,
        cache,
        &["dataset", "upload", &file, "--output", "json"],
    )
    .await
    .ok();
    let dataset: Dataset = serde_json::from_str(&uploaded.stdout).unwrap();
    assert_eq!(dataset.name, "patients.csv");
    assert_eq!(dataset.rows, Some(569));
    assert_eq!(dataset.size as usize, csv.len());
    let listed = capstan(&app, cache, &["dataset", "list"]).await.ok();
    assert!(listed.stdout.contains(&dataset.id), "{listed:#?}");
    let copy = dir.path().join("copy.csv");
    let copy_arg = copy.display().to_string();
    capstan(
        &app,
        cache,
        &["dataset", "download", &dataset.id, "-o", &copy_arg],
    )
    .await
    .ok();
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), csv);

    let submitted = capstan(
        &app,
        cache,
        &[
            "batch",
            "submit",
            "bc@production",
            "--input",
            &dataset.id,
            "--id-column",
            "patient",
            "--wait",
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    let job = job_of(&submitted);
    assert_eq!(job.status, BatchJobStatus::Succeeded, "{submitted:#?}");
    assert_eq!(job.model.version, Some(1));
    assert_eq!(job.progress.rows_done, 569);
    let output = job.output.clone().unwrap();
    assert_eq!(output.rows, 569);

    // The output, to a file and to stdout, is what the API serves.
    let served = api_bytes(&app, &format!("/api/v1/batch-jobs/{}/output", job.id)).await;
    let scores = dir.path().join("scores.csv");
    let scores_arg = scores.display().to_string();
    let saved = capstan(
        &app,
        cache,
        &[
            "batch",
            "download",
            &job.id,
            "-o",
            &scores_arg,
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    assert_eq!(std::fs::read(&scores).unwrap(), served);
    assert_eq!(saved.json()["digest"], output.digest.to_string());
    let printed = capstan(&app, cache, &["batch", "download", &job.id])
        .await
        .ok();
    assert_eq!(printed.stdout.as_bytes(), served.as_slice());
    assert!(printed
        .stdout
        .starts_with("patient,prediction,p_0,p_1,version\n"));

    // Before approval: the job's prediction is readable, the model serves none.
    let unapproved = capstan(
        &app,
        cache,
        &["batch", "predictions", &job.id, "p5", "--output", "json"],
    )
    .await
    .ok();
    let unapproved: KeyedPrediction = serde_json::from_str(&unapproved.stdout).unwrap();
    assert_eq!(unapproved.key, "p5");
    assert_eq!(unapproved.approved_at, None);
    let none = capstan(
        &app,
        cache,
        &["batch", "predictions", "--model", "bc", "p5"],
    )
    .await;
    assert_eq!(none.code, 3, "{none:#?}");
    assert!(none.stderr.contains("no_prediction"), "{none:#?}");

    let approved = capstan(
        &app,
        cache,
        &[
            "batch",
            "approve",
            &job.id,
            "--reason",
            "spot-checked",
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    assert_eq!(job_of(&approved).status, BatchJobStatus::Approved);
    let served_prediction = capstan(
        &app,
        cache,
        &[
            "batch",
            "predictions",
            "--model",
            "bc",
            "p5",
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    let from_api = api_bytes(&app, "/api/v1/models/bc/predictions/p5").await;
    assert_eq!(
        served_prediction.json(),
        serde_json::from_slice::<serde_json::Value>(&from_api).unwrap()
    );
    let served_prediction: KeyedPrediction =
        serde_json::from_str(&served_prediction.stdout).unwrap();
    assert_eq!(served_prediction.job, job.id);
    assert_eq!(served_prediction.probabilities, unapproved.probabilities);
    assert!(served_prediction.approved_at.is_some());
    let human = capstan(
        &app,
        cache,
        &["batch", "predictions", "--model", "bc", "p5"],
    )
    .await
    .ok();
    assert_eq!(human.field("job"), job.id);

    let status = capstan(&app, cache, &["batch", "status", &job.id])
        .await
        .ok();
    assert_eq!(status.field("status"), "approved");
    assert!(
        status.field("review").contains("spot-checked"),
        "{status:#?}"
    );
    let listed = capstan(
        &app,
        cache,
        &[
            "batch", "list", "--status", "approved", "--model", "bc", "--output", "json",
        ],
    )
    .await
    .ok();
    let listed = listed.json();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [job.id.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_file_is_uploaded_first_and_status_wait_follows_the_job() {
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let app = registry_with_bc(cache).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "patients.csv", &patients_csv(&[]));
    let file = file.display().to_string();

    let submitted = capstan(
        &app,
        cache,
        &[
            "batch", "submit", "bc", "--input", &file, "--format", "jsonl", "--output", "json",
        ],
    )
    .await
    .ok();
    assert!(submitted.stderr.contains("uploaded"), "{submitted:#?}");
    let job = job_of(&submitted);
    assert_eq!(job.output_format.as_str(), "jsonl");
    let capstan_client::types::BatchInput::Dataset { dataset } = &job.input else {
        panic!("not a dataset input: {job:?}");
    };
    let (status, uploaded) = app.get_json(&format!("/api/v1/datasets/{dataset}")).await;
    assert_eq!(status, 200, "{uploaded}");
    assert_eq!(uploaded["rows"], 569);

    let waited = capstan(&app, cache, &["batch", "status", &job.id, "--wait"])
        .await
        .ok();
    assert_eq!(waited.field("status"), "succeeded");
    assert!(
        waited.field("progress").starts_with("569 / 569 rows ("),
        "{waited:#?}"
    );
    // Rows without an id column are keyed by their 1-based number.
    let first = capstan(&app, cache, &["batch", "predictions", &job.id, "1"])
        .await
        .ok();
    assert_eq!(first.field("key"), "1");
    let printed = capstan(&app, cache, &["batch", "download", &job.id])
        .await
        .ok();
    assert_eq!(printed.stdout.lines().count(), 569);
    // A finished job cannot be cancelled: a conflict.
    let cancel = capstan(&app, cache, &["batch", "cancel", &job.id]).await;
    assert_eq!(cancel.code, 4, "{cancel:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_exit_1_with_their_failure_and_refused_input_has_its_exit_code() {
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let app = registry_with_bc(cache).await;
    let dir = tempfile::tempdir().unwrap();

    // A feature column missing: the job fails as a whole.
    let missing = write_file(dir.path(), "missing.csv", &patients_csv(&["mean_radius"]));
    let failed = capstan(
        &app,
        cache,
        &[
            "batch",
            "submit",
            "bc@production",
            "--input",
            &missing.display().to_string(),
            "--id-column",
            "patient",
            "--wait",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(failed.code, 1, "{failed:#?}");
    let job = job_of(&failed);
    assert_eq!(job.status, BatchJobStatus::Failed);
    assert!(
        failed.stderr.contains("failed: missing_columns"),
        "{failed:#?}"
    );
    assert!(failed.stderr.contains("mean_radius"), "{failed:#?}");

    // Bad rows past --max-bad-rows: the first ones are named on stderr.
    let bad_rows = with_bad_first_value(&patients_csv(&[]), &[3, 7]);
    let bad = write_file(dir.path(), "bad.csv", &bad_rows);
    let too_many = capstan(
        &app,
        cache,
        &[
            "batch",
            "submit",
            "bc",
            "--input",
            &bad.display().to_string(),
            "--id-column",
            "patient",
            "--wait",
        ],
    )
    .await;
    assert_eq!(too_many.code, 1, "{too_many:#?}");
    assert_eq!(too_many.field("status"), "failed");
    assert!(
        too_many.stderr.contains("too_many_bad_rows"),
        "{too_many:#?}"
    );
    assert!(
        too_many.stderr.contains("row 3 (id p3), field mean_radius"),
        "{too_many:#?}"
    );

    // Tolerated, the same rows leave the job succeeded, and exit 0.
    let tolerated = capstan(
        &app,
        cache,
        &[
            "batch",
            "submit",
            "bc",
            "--input",
            &bad.display().to_string(),
            "--id-column",
            "patient",
            "--max-bad-rows",
            "5",
            "--wait",
        ],
    )
    .await
    .ok();
    assert_eq!(tolerated.field("status"), "succeeded");

    // Refused input, each with its exit code.
    let unknown = capstan(
        &app,
        cache,
        &[
            "batch",
            "submit",
            "bc",
            "--input",
            "00000000-0000-0000-0000-000000000000",
        ],
    )
    .await;
    assert_eq!(unknown.code, 3, "{unknown:#?}");
    let no_file = capstan(
        &app,
        cache,
        &["batch", "submit", "bc", "--input", "nope.csv"],
    )
    .await;
    assert_eq!(no_file.code, 2, "{no_file:#?}");
    let no_model = capstan(
        &app,
        cache,
        &[
            "batch",
            "submit",
            "nope",
            "--input",
            &bad.display().to_string(),
        ],
    )
    .await;
    assert_eq!(no_model.code, 3, "{no_model:#?}");
    let text = write_file(dir.path(), "table.txt", "a,b\n1,2\n");
    let unknown_format = capstan(
        &app,
        cache,
        &["dataset", "upload", &text.display().to_string()],
    )
    .await;
    assert_eq!(unknown_format.code, 2, "{unknown_format:#?}");
    let no_reason = capstan(&app, cache, &["batch", "reject", &job.id]).await;
    assert_eq!(no_reason.code, 2, "{no_reason:#?}");
    let not_succeeded = capstan(&app, cache, &["batch", "approve", &job.id]).await;
    assert_eq!(not_succeeded.code, 4, "{not_succeeded:#?}");
    let usage = capstan(
        &app,
        cache,
        &["batch", "predictions", "--model", "bc", &job.id, "p1"],
    )
    .await;
    assert_eq!(usage.code, 2, "{usage:#?}");
}
