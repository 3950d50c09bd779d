//! `capstan batch schedule …` against a live registry: create (firing every second,
//! jobs approved automatically), list, show, pause, resume, delete, and the exit codes
//! of what the registry refuses.

use std::time::{Duration, Instant};

use capstan_client::types::{BatchJob, BatchJobStatus, BatchSchedule, Dataset};

use crate::batch::{patients_csv, registry_with_bc, write_file};
use crate::support::capstan;

fn schedule_of(stdout: &str) -> BatchSchedule {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not a BatchSchedule ({e}): {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_created_listed_paused_resumed_and_deleted() {
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let app = registry_with_bc(cache).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "patients.csv", &patients_csv(&[]));
    let uploaded = capstan(
        &app,
        cache,
        &[
            "dataset",
            "upload",
            &file.display().to_string(),
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    let dataset: Dataset = serde_json::from_str(&uploaded.stdout).unwrap();

    let created = capstan(
        &app,
        cache,
        &[
            "batch",
            "schedule",
            "create",
            "nightly",
            "--cron",
            "* * * * * *",
            "--model",
            "bc@production",
            "--input",
            &dataset.id,
            "--id-column",
            "patient",
            "--auto-approve",
            "--timezone",
            "Europe/Paris",
            "--output",
            "json",
        ],
    )
    .await
    .ok();
    let schedule = schedule_of(&created.stdout);
    assert_eq!(schedule.name, "nightly");
    assert_eq!(schedule.timezone, "Europe/Paris");
    assert_eq!(schedule.id_column.as_deref(), Some("patient"));
    assert!(schedule.auto_approve && !schedule.paused);
    assert!(schedule.next_fire_at.is_some());

    // It fires, and its jobs are approved without a person.
    let deadline = Instant::now() + Duration::from_secs(30);
    let job = loop {
        let listed = capstan(
            &app,
            cache,
            &[
                "batch",
                "list",
                "--schedule",
                "nightly",
                "--status",
                "approved",
                "--output",
                "json",
            ],
        )
        .await
        .ok();
        let jobs: Vec<BatchJob> = serde_json::from_str(&listed.stdout).unwrap();
        if let Some(job) = jobs.into_iter().next() {
            break job;
        }
        assert!(Instant::now() < deadline, "no approved job of the schedule");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(job.status, BatchJobStatus::Approved);
    assert_eq!(job.schedule.as_deref(), Some("nightly"));
    let served = capstan(
        &app,
        cache,
        &["batch", "predictions", "--model", "bc", "p1"],
    )
    .await
    .ok();
    assert_eq!(served.field("key"), "p1");

    let paused = capstan(
        &app,
        cache,
        &["batch", "schedule", "pause", "nightly", "--output", "json"],
    )
    .await
    .ok();
    let paused = schedule_of(&paused.stdout);
    assert!(paused.paused);
    assert_eq!(paused.next_fire_at, None);
    let table = capstan(&app, cache, &["batch", "schedule", "list"])
        .await
        .ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{table:#?}");
    assert!(lines[0].starts_with("NAME"), "{table:#?}");
    assert!(lines[1].starts_with("nightly"), "{table:#?}");
    assert!(lines[1].contains(" yes "), "{table:#?}");
    let resumed = capstan(&app, cache, &["batch", "schedule", "resume", "nightly"])
        .await
        .ok();
    assert_eq!(resumed.field("paused"), "no");
    let shown = capstan(&app, cache, &["batch", "schedule", "show", "nightly"])
        .await
        .ok();
    assert_eq!(shown.field("cron"), "* * * * * * (Europe/Paris)");
    assert_eq!(shown.field("auto approve"), "yes");

    // Refused: a name taken (4), a cron that is not one (2), an unknown dataset (3).
    let taken = capstan(
        &app,
        cache,
        &[
            "batch",
            "schedule",
            "create",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--model",
            "bc",
            "--input",
            &dataset.id,
        ],
    )
    .await;
    assert_eq!(taken.code, 4, "{taken:#?}");
    let bad_cron = capstan(
        &app,
        cache,
        &[
            "batch",
            "schedule",
            "create",
            "other",
            "--cron",
            "every night",
            "--model",
            "bc",
            "--input",
            &dataset.id,
        ],
    )
    .await;
    assert_eq!(bad_cron.code, 2, "{bad_cron:#?}");
    let no_dataset = capstan(
        &app,
        cache,
        &[
            "batch",
            "schedule",
            "create",
            "other",
            "--cron",
            "0 3 * * *",
            "--model",
            "bc",
            "--input",
            "00000000-0000-0000-0000-000000000000",
        ],
    )
    .await;
    assert_eq!(no_dataset.code, 3, "{no_dataset:#?}");

    let deleted = capstan(&app, cache, &["batch", "schedule", "delete", "nightly"])
        .await
        .ok();
    assert_eq!(deleted.stdout.trim(), "deleted schedule nightly");
    let gone = capstan(&app, cache, &["batch", "schedule", "show", "nightly"]).await;
    assert_eq!(gone.code, 3, "{gone:#?}");
    let empty = capstan(
        &app,
        cache,
        &["batch", "schedule", "list", "--output", "json"],
    )
    .await
    .ok();
    assert_eq!(empty.json(), serde_json::json!([]));
    // The jobs it made stay.
    let kept = capstan(&app, cache, &["batch", "status", &job.id])
        .await
        .ok();
    assert_eq!(kept.field("schedule"), "nightly");
}
