//! Delivery under operational stress: an address that turns internal after creation (as
//! with DNS rebinding), a receiver down for the whole give-up window, and several
//! replicas sharing one database.

use std::time::Duration;

use serde_json::json;

use capstan_registry::webhooks::WebhooksConfig;
use capstan_tests::{spawn_with, TestOptions};

use super::{create_webhook, delivered, events_after, spawn_delivering, wait_for_status, Receiver};

/// The address check runs again at delivery time: a URL that now points at an internal
/// address (here: rewritten in the database, as a DNS answer could change) is not called;
/// each refusal is a failed attempt, logged and backed off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_address_is_refused_at_delivery_time_too() {
    let receiver = Receiver::start();
    let app = spawn_with(TestOptions {
        webhooks: Some(WebhooksConfig {
            retry_first: Duration::from_millis(100),
            retry_max: Duration::from_millis(300),
            ..WebhooksConfig::default()
        }),
        ..TestOptions::default()
    })
    .await;
    let webhook = create_webhook(
        &app,
        json!({"url": "http://93.184.215.14/hook", "events": ["*"]}),
    )
    .await;
    let id = webhook["id"].as_str().unwrap();
    app.execute_sql(&format!(
        "UPDATE webhooks SET url = '{}' WHERE id = '{id}'",
        receiver.url("/rebound")
    ));
    app.create_model("m").await;
    let start = std::time::Instant::now();
    let attempts = loop {
        let (_, page) = app
            .get_json(&format!("/api/v1/webhooks/{id}/deliveries"))
            .await;
        let attempts = page["deliveries"].as_array().unwrap().clone();
        if attempts.len() >= 2 {
            break attempts;
        }
        assert!(start.elapsed() < super::DEADLINE, "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for attempt in &attempts {
        assert!(attempt["status_code"].is_null(), "{attempt}");
        let error = attempt["error"].as_str().unwrap();
        assert!(error.contains("internal address"), "{error}");
        assert!(attempt["next_retry_at"].is_string(), "{attempt}");
    }
    assert!(receiver.records("/rebound").is_empty(), "never called");
    let (_, shown) = app.get_json(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(shown["status"], "active");
    assert!(shown["failed_attempts"].as_i64().unwrap() >= 2);
}

/// An event that keeps failing for the give-up window disables its webhook; nothing is
/// skipped: once re-enabled it starts at that event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_for_the_give_up_window_disables_the_webhook() {
    let receiver = Receiver::start();
    let app = spawn_with(TestOptions {
        webhooks: Some(WebhooksConfig {
            allow_private: true,
            retry_first: Duration::from_millis(50),
            retry_max: Duration::from_millis(100),
            give_up: Duration::from_millis(600),
            ..WebhooksConfig::default()
        }),
        ..TestOptions::default()
    })
    .await;
    let webhook =
        create_webhook(&app, json!({"url": receiver.url("/down"), "events": ["*"]})).await;
    let id = webhook["id"].as_str().unwrap();
    receiver
        .configure(
            "/down",
            json!({"status": 500, "secrets": {"current": webhook["secret"]}}),
        )
        .await;
    app.create_model("m").await;
    let disabled = wait_for_status(&app, id, "disabled").await;
    let reason = disabled["disabled_reason"].as_str().unwrap();
    assert!(
        reason.contains("gave up") && reason.contains("HTTP 500"),
        "{reason}"
    );
    let failures = receiver.records("/down").len();
    assert!(failures >= 3, "retried until giving up: {failures}");

    receiver.configure("/down", json!({"status": 200})).await;
    app.create_model("m2").await;
    let (status, _) = app
        .patch_json(&format!("/api/v1/webhooks/{id}"), &json!({"paused": false}))
        .await;
    assert_eq!(status, 200);
    let seqs: Vec<i64> = events_after(&app, 0)
        .await
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    let records = receiver
        .wait_for("/down", "both events", |r| delivered(r).len() >= 2)
        .await;
    assert_eq!(delivered(&records), seqs);
}

/// With two replicas on one database, one delivers (each event once); when it stops, the
/// other takes over from the stored cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_delivers_and_another_takes_over() {
    let receiver = Receiver::start();
    let app = spawn_delivering().await;
    let replica = app.spawn_replica().await;
    let webhook =
        create_webhook(&app, json!({"url": receiver.url("/both"), "events": ["*"]})).await;
    receiver
        .configure("/both", json!({"secrets": {"current": webhook["secret"]}}))
        .await;
    for name in ["r1", "r2", "r3"] {
        app.create_model(name).await;
        replica.create_model(&format!("{name}-b")).await;
    }
    let seqs: Vec<i64> = events_after(&app, 0)
        .await
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    let records = receiver
        .wait_for("/both", "every event", |r| r.len() >= seqs.len())
        .await;
    // A moment more, to see a second replica's duplicate if there were one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.records("/both").len(), seqs.len(), "{records:#?}");
    assert_eq!(delivered(&receiver.records("/both")), seqs);

    // Whichever replica held the lease, the one left delivers what follows.
    app.stop_gracefully().await;
    replica.create_model("after").await;
    let records = receiver
        .wait_for("/both", "the event after the stop", |r| {
            r.len() > seqs.len()
        })
        .await;
    let last = records.last().unwrap();
    assert_eq!(last["verified"], json!(["current"]));
    assert_eq!(last["seq"], seqs.last().unwrap() + 1);
    drop(replica);
}
