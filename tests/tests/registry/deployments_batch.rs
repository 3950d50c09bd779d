//! Pattern 4 deployments: batch jobs and schedules submitted for a batch deployment. The
//! deployment observes its latest approved job — in sync once one of the desired version
//! is approved, rolling out then drifted (naming the job) after a promotion, in sync
//! again with a new approved job — and submissions naming a deployment that is missing,
//! not a batch one or of another model are refused before anything is created.

use std::time::Duration;

use serde_json::{json, Value};

use capstan_tests::{assert_problem, spawn_with, train_breast_cancer, TestApp};

use crate::batch::{registry_with_bc, submit, table_with_ids, upload_dataset, wait_for_job};
use crate::deployments::{deployment, quick_deployments, wait_for_deployment};

/// The breast-cancer table as a dataset; returns its id.
async fn patients(app: &TestApp) -> String {
    let (csv, _) = table_with_ids();
    let (status, dataset) = upload_dataset(app, "patients", "text/csv", csv.into_bytes()).await;
    assert_eq!(status, 201, "{dataset}");
    dataset["id"].as_str().unwrap().to_owned()
}

async fn put_deployment(app: &TestApp, name: &str, model: &str, pattern: &str) {
    let (status, body) = app
        .put_json(
            &format!("/api/v1/deployments/{name}"),
            &json!({"model": model, "pattern": pattern}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Submits a job of `bc@production` for deployment `nightly`, waits for it and approves it.
async fn approved_job(app: &TestApp, dataset: &str) -> Value {
    let job = submit(
        app,
        &json!({
            "model": "bc@production",
            "input": {"dataset": dataset},
            "id_column": "id",
            "deployment": "nightly",
        }),
    )
    .await;
    assert_eq!(job["deployment"], "nightly", "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let finished = wait_for_job(app, &id).await;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert_eq!(finished["deployment"], "nightly");
    let (status, approved) = app
        .post_json(&format!("/api/v1/batch-jobs/{id}/approve"), &json!({}))
        .await;
    assert_eq!(status, 200, "{approved}");
    approved
}

/// The `deployment_state_changed` events of `name`, as (from, to).
async fn transitions(app: &TestApp, name: &str) -> Vec<(String, String)> {
    let (_, page) = app
        .get_json("/api/v1/events?kind=deployment_state_changed&limit=1000")
        .await;
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["deployment"] == name)
        .map(|e| {
            (
                e["from_state"].as_str().unwrap().to_owned(),
                e["to_state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_batch_deployment_observes_its_latest_approved_job() {
    // A recorder that would take a minute to notice: what an approval changes must be
    // recorded by the approval itself.
    let mut options = quick_deployments(Duration::from_millis(1500), Duration::from_secs(30));
    if let Some(deployments) = options.deployments.as_mut() {
        deployments.recorder.interval = Duration::from_secs(60);
    }
    let app = spawn_with(options).await;
    registry_with_bc(&app).await;
    let dataset = patients(&app).await;
    put_deployment(&app, "nightly", "bc@production", "batch").await;
    assert_eq!(deployment(&app, "nightly").await["state"], "no_instances");

    let first = approved_job(&app, &dataset).await;
    let first_id = first["id"].as_str().unwrap();
    let synced = deployment(&app, "nightly").await;
    assert_eq!(synced["state"], "in_sync", "{synced}");
    let instances = synced["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{synced}");
    assert_eq!(instances[0]["id"], first_id);
    assert_eq!(instances[0]["version"], 1);
    assert_eq!(instances[0]["digest"], first["model"]["digest"]);
    assert_eq!(
        transitions(&app, "nightly").await,
        [("no_instances".to_owned(), "in_sync".to_owned())]
    );

    // A new version in production: rolling out, then drifted naming the job.
    let trained = train_breast_cancer(0.5);
    let version = app.upload_trained("bc", &trained).await;
    let (status, body) = app
        .promote("bc", "production", &json!({"version": version}))
        .await;
    assert_eq!(status, 200, "{body}");
    let rolling = deployment(&app, "nightly").await;
    assert_eq!(rolling["state"], "rolling_out", "{rolling}");
    assert_eq!(rolling["desired"]["version"], version);
    let drifted = wait_for_deployment(&app, "nightly", |d| d["state"] == "drifted").await;
    let reason = drifted["reason"].as_str().unwrap();
    assert!(reason.contains(first_id), "{reason}");
    // What the recorder would find in a minute, recorded now.
    assert_eq!(app.registry.record_deployment_states().await.unwrap(), 1);
    assert_eq!(
        transitions(&app, "nightly").await.last().unwrap(),
        &("in_sync".to_owned(), "drifted".to_owned())
    );

    // A job of the new version, approved: in sync at once, observing it.
    let second = approved_job(&app, &dataset).await;
    assert_eq!(second["model"]["version"], version);
    let synced = deployment(&app, "nightly").await;
    assert_eq!(synced["state"], "in_sync", "{synced}");
    assert_eq!(synced["instances"][0]["id"], second["id"]);
    assert_eq!(synced["instances"][0]["version"], version);
    assert_eq!(
        transitions(&app, "nightly").await.last().unwrap(),
        &("drifted".to_owned(), "in_sync".to_owned())
    );

    // Jobs say which deployment they ran for when listed too.
    let (_, page) = app.get_json("/api/v1/batch-jobs?model=bc").await;
    let jobs = page["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j["deployment"] == "nightly"), "{page}");
}

#[tokio::test]
async fn a_schedule_for_a_batch_deployment_links_each_job_it_fires() {
    let app = spawn_with(quick_deployments(
        Duration::from_secs(60),
        Duration::from_secs(30),
    ))
    .await;
    registry_with_bc(&app).await;
    let dataset = patients(&app).await;
    put_deployment(&app, "nightly", "bc@production", "batch").await;
    let (status, schedule) = app
        .post_json(
            "/api/v1/batch-schedules",
            &json!({
                "name": "every-second",
                "cron": "* * * * * *",
                "model": "bc@production",
                "input": {"dataset": dataset},
                "id_column": "id",
                "auto_approve": true,
                "deployment": "nightly",
            }),
        )
        .await;
    assert_eq!(status, 201, "{schedule}");
    assert_eq!(schedule["deployment"], "nightly");

    let synced = wait_for_deployment(&app, "nightly", |d| d["state"] == "in_sync").await;
    let job_id = synced["instances"][0]["id"].as_str().unwrap().to_owned();
    let (status, job) = app.get_json(&format!("/api/v1/batch-jobs/{job_id}")).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["schedule"], "every-second");
    assert_eq!(job["deployment"], "nightly");
    assert_eq!(job["status"], "approved");
    let (status, _) = app.delete("/api/v1/batch-schedules/every-second").await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn jobs_and_schedules_for_a_missing_or_unfit_deployment_are_refused() {
    let app = spawn_with(quick_deployments(
        Duration::from_secs(60),
        Duration::from_secs(30),
    ))
    .await;
    registry_with_bc(&app).await;
    let dataset = patients(&app).await;
    app.create_model("iris").await;
    app.upload("iris", b"an iris model").await;
    put_deployment(&app, "scorer", "bc@production", "api").await;
    put_deployment(&app, "iris-nightly", "iris@latest", "batch").await;

    let cases = [
        ("nope", 404, "deployment_not_found"),
        ("scorer", 422, "deployment_not_batch"),
        ("iris-nightly", 422, "deployment_model_mismatch"),
    ];
    for (name, status_expected, code) in cases {
        let (status, body) = app
            .post_json(
                "/api/v1/batch-jobs",
                &json!({
                    "model": "bc@production",
                    "input": {"dataset": dataset},
                    "deployment": name,
                }),
            )
            .await;
        assert_problem(status, &body, status_expected, code);
        let (status, body) = app
            .post_json(
                "/api/v1/batch-schedules",
                &json!({
                    "name": "nightly",
                    "cron": "0 3 * * *",
                    "model": "bc@production",
                    "input": {"dataset": dataset},
                    "deployment": name,
                }),
            )
            .await;
        assert_problem(status, &body, status_expected, code);
    }
    let (status, body) = app
        .post_json(
            "/api/v1/batch-jobs",
            &json!({"model": "bc", "input": {"dataset": dataset}, "deployment": "Not A Name"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    let (_, jobs) = app.get_json("/api/v1/batch-jobs").await;
    assert_eq!(jobs["jobs"], json!([]), "{jobs}");
    let (_, schedules) = app.get_json("/api/v1/batch-schedules").await;
    assert_eq!(schedules["schedules"], json!([]), "{schedules}");
    let (_, events) = app.get_json("/api/v1/events?kind=batch_job_created").await;
    assert_eq!(events["events"], json!([]), "{events}");
}
