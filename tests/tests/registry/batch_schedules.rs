//! Batch schedules: firing on a cron (every second here), pausing and resuming, approving
//! their jobs automatically, catching up the latest fire time missed while the registry
//! was down, and firing once with two replicas.

use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{json, Value};

use capstan_tests::{assert_problem, spawn_app, DbBackend, TestApp};

use crate::batch::{registry_with_bc, table_with_ids, upload_dataset, wait_for_job};

/// `bc` in production and the breast-cancer table as a dataset; returns the dataset id.
async fn registry_with_dataset(app: &TestApp) -> String {
    registry_with_bc(app).await;
    let (csv, _) = table_with_ids();
    let (status, dataset) = upload_dataset(app, "table", "text/csv", csv.into_bytes()).await;
    assert_eq!(status, 201, "{dataset}");
    dataset["id"].as_str().unwrap().to_owned()
}

fn schedule_body(name: &str, cron: &str, dataset: &str) -> Value {
    json!({
        "name": name,
        "cron": cron,
        "model": "bc@production",
        "input": {"dataset": dataset},
        "id_column": "id",
    })
}

async fn create(app: &TestApp, body: &Value) -> Value {
    let (status, schedule) = app.post_json("/api/v1/batch-schedules", body).await;
    assert_eq!(status, 201, "{schedule}");
    schedule
}

async fn jobs_of(app: &TestApp, schedule: &str) -> Vec<Value> {
    let (status, page) = app
        .get_json(&format!(
            "/api/v1/batch-jobs?schedule={schedule}&limit=1000"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    page["jobs"].as_array().unwrap().clone()
}

async fn patch(app: &TestApp, name: &str, body: &Value) -> (u16, Value) {
    app.patch_json(&format!("/api/v1/batch-schedules/{name}"), body)
        .await
}

/// Waits until the schedule has made at least `count` jobs.
async fn wait_for_jobs(app: &TestApp, schedule: &str, count: usize) -> Vec<Value> {
    let mut jobs = Vec::new();
    let made = app
        .eventually(Duration::from_secs(20), || {
            let app = &*app;
            async move { jobs_of(app, schedule).await.len() >= count }
        })
        .await;
    if made {
        jobs = jobs_of(app, schedule).await;
    }
    assert!(jobs.len() >= count, "the schedule made {} jobs", jobs.len());
    jobs
}

#[actix_web::test]
async fn a_schedule_fires_on_its_cron_pauses_and_resumes() {
    let app = spawn_app().await;
    let dataset = registry_with_dataset(&app).await;
    let created = create(&app, &schedule_body("nightly", "* * * * * *", &dataset)).await;
    assert_eq!(created["timezone"], "UTC");
    assert_eq!(created["paused"], false);
    assert_eq!(created["auto_approve"], false);
    assert!(created["last_fire_at"].is_null(), "{created}");
    let next: DateTime<Utc> = serde_json::from_value(created["next_fire_at"].clone()).unwrap();
    assert!(
        next > Utc::now() - chrono::Duration::seconds(1),
        "{created}"
    );

    // Every second a job, scored like any other and waiting for review.
    let jobs = wait_for_jobs(&app, "nightly", 2).await;
    let job = wait_for_job(&app, jobs[0]["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["schedule"], "nightly");
    assert_eq!(job["model"]["ref"], "bc@production");
    assert_eq!(job["progress"]["rows_done"], 569);
    let (_, shown) = app.get_json("/api/v1/batch-schedules/nightly").await;
    assert!(shown["last_fire_at"].is_string(), "{shown}");
    let (_, events) = app.get_json("/api/v1/events?kind=batch_job_created").await;
    let by_schedule = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "schedule:nightly")
        .count();
    assert!(by_schedule >= 2, "{events}");

    // Paused, it makes no jobs.
    let (status, paused) = patch(&app, "nightly", &json!({"paused": true})).await;
    assert_eq!(status, 200, "{paused}");
    assert!(paused["next_fire_at"].is_null(), "{paused}");
    let before = jobs_of(&app, "nightly").await.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(jobs_of(&app, "nightly").await.len(), before);

    // Resumed, it fires again, from now on: the seconds it was paused are not caught up.
    let (status, resumed) = patch(&app, "nightly", &json!({"paused": false})).await;
    assert_eq!(status, 200, "{resumed}");
    wait_for_jobs(&app, "nightly", before + 1).await;
    let (status, _) = patch(&app, "nightly", &json!({"paused": true})).await;
    assert_eq!(status, 200);
    let after = jobs_of(&app, "nightly").await.len();
    assert!(after <= before + 4, "{before} jobs before, {after} after");

    // The list shows it; deleting it keeps its jobs.
    let (_, list) = app.get_json("/api/v1/batch-schedules").await;
    assert_eq!(list["schedules"][0]["name"], "nightly", "{list}");
    let (status, _) = app.delete("/api/v1/batch-schedules/nightly").await;
    assert_eq!(status, 204);
    let (status, body) = app.get_json("/api/v1/batch-schedules/nightly").await;
    assert_problem(status, &body, 404, "schedule_not_found");
    assert_eq!(jobs_of(&app, "nightly").await.len(), after);
}

#[actix_web::test]
async fn an_auto_approving_schedule_releases_its_predictions() {
    let app = spawn_app().await;
    let dataset = registry_with_dataset(&app).await;
    let mut body = schedule_body("hourly", "* * * * * *", &dataset);
    body["auto_approve"] = json!(true);
    create(&app, &body).await;
    let jobs = wait_for_jobs(&app, "hourly", 1).await;
    let (status, _) = patch(&app, "hourly", &json!({"paused": true})).await;
    assert_eq!(status, 200);
    let job = wait_for_job(&app, jobs.last().unwrap()["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "approved", "{job}");
    assert_eq!(job["review"]["by"], "schedule:hourly", "{job}");
    let (status, prediction) = app.get_json("/api/v1/models/bc/predictions/p1").await;
    assert_eq!(status, 200, "{prediction}");
    assert_eq!(prediction["key"], "p1");
}

/// Waits until the next 10 s of the clock stay within one minute, and returns the next
/// whole second.
async fn a_whole_second_with_room() -> DateTime<Utc> {
    if Utc::now().second() >= 48 {
        tokio::time::sleep(Duration::from_secs(13)).await;
    }
    let now = Utc::now();
    now.with_nanosecond(0).unwrap() + chrono::Duration::seconds(1)
}

#[actix_web::test]
async fn a_registry_down_over_fire_times_fires_the_latest_when_it_returns() {
    let mut app = spawn_app().await;
    let dataset = registry_with_dataset(&app).await;
    // Two fire times, 3 s and 4 s from now, both while the registry is down.
    let start = a_whole_second_with_room().await;
    let (first, second) = (
        start + chrono::Duration::seconds(3),
        start + chrono::Duration::seconds(4),
    );
    let cron = format!(
        "{},{} {} {} {} {} *",
        first.second(),
        second.second(),
        first.minute(),
        first.hour(),
        first.day(),
        first.month()
    );
    create(&app, &schedule_body("once", &cron, &dataset)).await;
    app.stop_gracefully().await;
    let wait = (second - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(800)).await;
    assert_eq!(app.count_rows("batch_jobs"), 0, "a stopped registry fired");

    app.start_again().await;
    let jobs = wait_for_jobs(&app, "once", 1).await;
    // Only the latest missed fire time, once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(jobs_of(&app, "once").await.len(), 1, "{jobs:?}");
    let (_, schedule) = app.get_json("/api/v1/batch-schedules/once").await;
    let fired: DateTime<Utc> = serde_json::from_value(schedule["last_fire_at"].clone()).unwrap();
    assert_eq!(fired, second, "{schedule}");
}

#[actix_web::test]
async fn two_replicas_fire_each_time_once() {
    let app = spawn_app().await;
    if app.db_backend != DbBackend::Postgres {
        return; // SQLite has one registry per database.
    }
    let replica = app.spawn_replica().await;
    let dataset = registry_with_dataset(&app).await;
    let began = Utc::now();
    create(&app, &schedule_body("shared", "* * * * * *", &dataset)).await;
    wait_for_jobs(&app, "shared", 4).await;
    let (status, _) = patch(&app, "shared", &json!({"paused": true})).await;
    assert_eq!(status, 200);
    let seconds = (Utc::now() - began).num_seconds() as usize;
    let jobs = jobs_of(&replica, "shared").await;
    assert!(
        jobs.len() <= seconds + 1,
        "{} jobs in {seconds} s: a fire time was queued twice",
        jobs.len()
    );
    for job in &jobs {
        wait_for_job(&app, job["id"].as_str().unwrap()).await;
    }
    drop(replica);
}

#[actix_web::test]
async fn bad_schedules_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let dataset = registry_with_dataset(&app).await;
    let cases = [
        (json!({"cron": "61 * * * *"}), 422, "invalid_cron"),
        (json!({"cron": "* *"}), 422, "invalid_cron"),
        (json!({"timezone": "Mars/Olympus"}), 422, "invalid_timezone"),
        (json!({"name": "../etc"}), 400, "invalid_schedule_name"),
        (json!({"name": ""}), 400, "invalid_schedule_name"),
        (json!({"model": "nope@production"}), 404, "model_not_found"),
        (
            json!({"input": {"dataset": "missing"}}),
            404,
            "dataset_not_found",
        ),
        (json!({"id_column": ""}), 400, "invalid_id_column"),
    ];
    for (change, status, code) in cases {
        let mut body = schedule_body("bad", "0 3 * * *", &dataset);
        for (key, value) in change.as_object().unwrap() {
            body[key] = value.clone();
        }
        let (got, problem) = app.post_json("/api/v1/batch-schedules", &body).await;
        assert_problem(got, &problem, status, code);
    }
    let (_, list) = app.get_json("/api/v1/batch-schedules").await;
    assert_eq!(list["schedules"], json!([]), "{list}");

    let mut body = schedule_body("daily", "0 3 * * *", &dataset);
    body["timezone"] = json!("Europe/Paris");
    let created = create(&app, &body).await;
    let (status, problem) = app.post_json("/api/v1/batch-schedules", &body).await;
    assert_problem(status, &problem, 409, "schedule_exists");
    let (status, problem) = patch(&app, "daily", &json!({"cron": "0 25 * * *"})).await;
    assert_problem(status, &problem, 422, "invalid_cron");
    let (status, problem) = patch(&app, "daily", &json!({"every": "day"})).await;
    assert_eq!(status, 400, "{problem}");
    let (status, problem) = patch(&app, "missing", &json!({"paused": true})).await;
    assert_problem(status, &problem, 404, "schedule_not_found");
    let (_, shown) = app.get_json("/api/v1/batch-schedules/daily").await;
    assert_eq!(shown["cron"], created["cron"]);
    // 03:00 in Paris is 01:00 or 02:00 UTC.
    let next: DateTime<Utc> = serde_json::from_value(shown["next_fire_at"].clone()).unwrap();
    assert!(
        matches!(next.hour(), 1 | 2) && next.minute() == 0,
        "{shown}"
    );

    // Its dataset cannot go while it reads it.
    let (status, problem) = app.delete(&format!("/api/v1/datasets/{dataset}")).await;
    assert_problem(status, &problem, 409, "dataset_in_use");
    let (status, _) = app.delete("/api/v1/batch-schedules/daily").await;
    assert_eq!(status, 204);
    let (status, _) = app.delete(&format!("/api/v1/datasets/{dataset}")).await;
    assert_eq!(status, 204);
}
