//! Batch workers on several machines: registries sharing one job's chunks on PostgreSQL,
//! and a `capstan-registry worker` process killed mid-job whose chunks another worker takes
//! over once their leases expire. Every row is in the output exactly once.

use std::time::Duration;

use serde_json::json;

use capstan_tests::{spawn_with, DbBackend, TestApp, TestOptions};

use crate::batch::{
    check_csv_output, output_text, registry_with_bc, submit, table_with_ids, upload_dataset,
    wait_for_job,
};

/// The breast-cancer table `copies` times over, ids `p1…`: its CSV and its rows in order.
async fn big_dataset(app: &TestApp, copies: usize) -> (String, Vec<Vec<f64>>) {
    let (csv, rows) = table_with_ids();
    let mut big = String::from(csv.lines().next().unwrap());
    big.push('\n');
    let mut all_rows = Vec::new();
    for copy in 0..copies {
        for (index, line) in csv.lines().skip(1).enumerate() {
            let (_, values) = line.split_once(',').unwrap();
            big.push_str(&format!("p{},{values}\n", copy * rows.len() + index + 1));
            all_rows.push(rows[index].clone());
        }
    }
    let (status, dataset) = upload_dataset(app, "big", "text/csv", big.into_bytes()).await;
    assert_eq!(status, 201, "{dataset}");
    (dataset["id"].as_str().unwrap().to_owned(), all_rows)
}

/// Which workers committed the chunks of the job (PostgreSQL).
fn chunk_workers(app: &TestApp) -> std::collections::BTreeSet<String> {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Holder {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        holder: Option<String>,
    }
    let mut conn = diesel::PgConnection::establish(&app.database_url).unwrap();
    let rows: Vec<Holder> =
        diesel::sql_query("SELECT holder FROM batch_chunks WHERE status = 'done'")
            .load(&mut conn)
            .unwrap();
    rows.into_iter()
        .map(|row| row.holder.unwrap().split('/').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn two_workers_share_one_jobs_chunks_and_every_row_is_scored_once() {
    let options = TestOptions {
        batch_workers: Some(1),
        batch_chunk_bytes: Some(4096),
        ..TestOptions::default()
    };
    let app = spawn_with(options).await;
    if app.db_backend != DbBackend::Postgres {
        eprintln!(
            "workers on several registries share a PostgreSQL database; SQLite has one worker"
        );
        return;
    }
    let replica = app.spawn_replica().await;
    let artifact = registry_with_bc(&app).await;
    // About 250 chunks of 4 KiB.
    let (dataset, all_rows) = big_dataset(&app, 8).await;
    let job = submit(
        &app,
        &json!({"model": "bc", "input": {"dataset": dataset}, "id_column": "id"}),
    )
    .await;
    let job = wait_for_job(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    check_csv_output(
        &output_text(&app, job["id"].as_str().unwrap()).await,
        &artifact,
        &all_rows,
        &[],
    );
    let workers = chunk_workers(&app);
    assert!(
        workers.len() >= 2,
        "one worker scored every chunk: {workers:?}"
    );
    drop(replica);
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves no worker behind.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_worker_process_killed_mid_job_loses_only_its_leases_and_another_finishes() {
    let options = TestOptions {
        // No in-process worker: the job is scored by worker processes only.
        batch_workers: Some(0),
        batch_lease: Some(Duration::from_secs(2)),
        batch_chunk_bytes: Some(4096),
        ..TestOptions::default()
    };
    let app = spawn_with(options).await;
    if app.db_backend != DbBackend::Postgres {
        eprintln!("worker processes share a PostgreSQL database; SQLite has one worker");
        return;
    }
    let artifact = registry_with_bc(&app).await;
    // About 375 chunks of 4 KiB: seconds of work for one worker.
    let (dataset, all_rows) = big_dataset(&app, 12).await;
    let job = submit(
        &app,
        &json!({"model": "bc", "input": {"dataset": dataset}, "id_column": "id"}),
    )
    .await;
    let id = job["id"].as_str().unwrap().to_owned();

    let mut first = Killed(app.worker_command().spawn().unwrap());
    let first_pid = first.0.id();
    let started = app
        .eventually(Duration::from_secs(60), || {
            let (app, id) = (&app, &id);
            async move {
                let (_, job) = app.get_json(&format!("/api/v1/batch-jobs/{id}")).await;
                job["progress"]["rows_done"].as_i64().unwrap_or(0) > 0
            }
        })
        .await;
    assert!(started, "the first worker never scored a chunk");
    // Killed, not stopped: no lease is given back, nothing is flushed.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let (_, killed) = app.get_json(&format!("/api/v1/batch-jobs/{id}")).await;
    assert_eq!(killed["status"], "running", "killed too late: {killed}");
    let done = killed["progress"]["rows_done"].as_i64().unwrap();
    assert!(done < all_rows.len() as i64, "killed too late: {killed}");

    let _second = Killed(app.worker_command().spawn().unwrap());
    // Longer than `wait_for_job`: one worker process scores every chunk left, and on S3
    // under a loaded CI machine a chunk takes tens of milliseconds.
    let finished = app
        .eventually(Duration::from_secs(240), || {
            let (app, id) = (&app, &id);
            async move {
                let (_, job) = app.get_json(&format!("/api/v1/batch-jobs/{id}")).await;
                !matches!(job["status"].as_str(), Some("queued" | "running"))
            }
        })
        .await;
    assert!(finished, "the second worker never finished the job");
    let job = wait_for_job(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"]["rows_done"], all_rows.len());
    // Every row exactly once, in order, as the runtime predicts it.
    check_csv_output(&output_text(&app, &id).await, &artifact, &all_rows, &[]);
    let workers = chunk_workers(&app);
    let killed_worker = format!("worker-{first_pid}-");
    assert!(
        workers.iter().any(|w| w.starts_with(&killed_worker)),
        "the killed worker committed nothing: {workers:?}"
    );
    assert!(
        workers.iter().any(|w| !w.starts_with(&killed_worker)),
        "no other worker finished the job: {workers:?}"
    );
}
