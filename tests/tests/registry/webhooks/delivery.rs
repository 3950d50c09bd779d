//! Deliveries as a Standard Webhooks verifier sees them: signed, in order, at least once,
//! through outages, 410 Gone, pauses, filters and secret rotation.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{
    attempts_metric, create_webhook, delivered, events_after, first_arrivals, spawn_delivering,
    wait_for_status, Receiver, DEADLINE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_verify_with_the_standardwebhooks_package() {
    let receiver = Receiver::start();
    let app = spawn_delivering().await;
    let webhook = create_webhook(
        &app,
        json!({"url": receiver.url("/hook"), "events": ["*"], "description": "all"}),
    )
    .await;
    let secret = webhook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(webhook["status"], "active");
    receiver
        .configure("/hook", json!({"secrets": {"current": secret}}))
        .await;
    // The secret is shown once.
    let id = webhook["id"].as_str().unwrap();
    let (_, shown) = app.get_json(&format!("/api/v1/webhooks/{id}")).await;
    assert!(shown.get("secret").is_none(), "{shown}");
    let (_, listed) = app.get_json("/api/v1/webhooks").await;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
    assert!(listed["webhooks"][0].get("secret").is_none());

    app.create_model("fraud").await;
    let version = app.upload("fraud", b"weights").await;
    let (status, _) = app
        .promote("fraud", "production", &json!({"version": version}))
        .await;
    assert_eq!(status, 200);
    let events = events_after(&app, 0).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"model_created") && kinds.contains(&"stage_changed"),
        "{kinds:?}"
    );

    let records = receiver
        .wait_for("/hook", "every event", |r| r.len() >= events.len())
        .await;
    assert_eq!(records.len(), events.len(), "each event once: {records:#?}");
    for (record, event) in records.iter().zip(&events) {
        let seq = event["seq"].as_i64().unwrap();
        assert_eq!(record["verified"], json!(["current"]), "{record}");
        assert_eq!(record["webhook_id"], format!("evt_{seq}"));
        assert_eq!(record["content_type"], "application/json");
        assert_eq!(record["signatures"], 1);
        let body: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            &body, event,
            "the body is the event as the events API shows it"
        );
        let timestamp: i64 = record["timestamp"].as_str().unwrap().parse().unwrap();
        assert!((timestamp - chrono::Utc::now().timestamp()).abs() < 60);
    }

    // Each attempt is in the delivery log, newest first. The log is written after the
    // receiver answered, so the last attempt may land a moment after its request did.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let (status, page) = app
            .get_json(&format!("/api/v1/webhooks/{id}/deliveries"))
            .await;
        assert_eq!(status, 200);
        if page["deliveries"].as_array().unwrap().len() >= events.len()
            || tokio::time::Instant::now() > deadline
        {
            break page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let deliveries = page["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), events.len());
    let last = events.last().unwrap()["seq"].as_i64().unwrap();
    assert_eq!(deliveries[0]["seq"], last);
    assert_eq!(deliveries[0]["webhook_id"], id);
    assert_eq!(deliveries[0]["message_id"], format!("evt_{last}"));
    assert_eq!(deliveries[0]["attempt"], 1);
    assert_eq!(deliveries[0]["status_code"], 200);
    assert!(deliveries[0]["latency_ms"].as_i64().unwrap() >= 0);
    assert!(deliveries[0]["next_retry_at"].is_null());
    let (_, shown) = app.get_json(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(shown["cursor"], last);
    assert_eq!(
        attempts_metric(&app, "delivered").await,
        events.len() as i64
    );
    assert_eq!(attempts_metric(&app, "failed").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_outage_loses_nothing_and_keeps_order() {
    let receiver = Receiver::start();
    let app = spawn_delivering().await;
    let webhook =
        create_webhook(&app, json!({"url": receiver.url("/down"), "events": ["*"]})).await;
    let id = webhook["id"].as_str().unwrap();
    receiver
        .configure(
            "/down",
            json!({"secrets": {"current": webhook["secret"]}, "status": 503}),
        )
        .await;
    app.create_model("m1").await;
    app.create_model("m2").await;
    app.upload("m1", b"one").await;
    let events = events_after(&app, 0).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();

    // Failed attempts are logged with their next retry time; the head event is retried.
    receiver
        .wait_for("/down", "three failed attempts", |r| r.len() >= 3)
        .await;
    // An attempt is logged once its answer is in: the receiver may have answered a third
    // time before the log shows it.
    let deliveries = format!("/api/v1/webhooks/{id}/deliveries");
    let logged = app
        .eventually(Duration::from_secs(10), || async {
            let (_, page) = app.get_json(&deliveries).await;
            page["deliveries"].as_array().is_some_and(|d| d.len() >= 3)
        })
        .await;
    assert!(logged, "three failed attempts logged");
    let (_, page) = app.get_json(&deliveries).await;
    let failed = page["deliveries"].as_array().unwrap();
    assert!(failed.len() >= 3, "{page}");
    for attempt in failed {
        assert_eq!(attempt["status_code"], 503, "{attempt}");
        assert_eq!(
            attempt["seq"], seqs[0],
            "only the first event is tried: {attempt}"
        );
        assert!(attempt["next_retry_at"].is_string(), "{attempt}");
        assert!(attempt["error"].as_str().unwrap().contains("503"));
    }
    let numbers: Vec<i64> = failed
        .iter()
        .map(|a| a["attempt"].as_i64().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] == w[1] + 1),
        "newest first: {numbers:?}"
    );
    let (_, shown) = app.get_json(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(shown["status"], "active");
    assert!(shown["failed_attempts"].as_i64().unwrap() >= 3);
    assert!(shown["next_attempt_at"].is_string());
    assert_eq!(shown["cursor"], seqs[0] - 1);

    // More events during the outage, then the receiver recovers.
    app.create_model("m3").await;
    let events = events_after(&app, 0).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    receiver.configure("/down", json!({"status": 200})).await;
    let records = receiver
        .wait_for("/down", "every event delivered", |r| {
            delivered(r).len() >= seqs.len()
        })
        .await;
    assert_eq!(delivered(&records), seqs, "each delivered once, in order");
    assert_eq!(
        first_arrivals(&records),
        seqs,
        "first arrivals in seq order"
    );
    assert!(records.iter().all(|r| r["verified"] == json!(["current"])));
    assert!(attempts_metric(&app, "failed").await >= 3);
    let (_, shown) = app.get_json(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(shown["failed_attempts"], 0);
    assert!(shown["next_attempt_at"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_the_webhook_until_it_is_resumed() {
    let receiver = Receiver::start();
    let app = spawn_delivering().await;
    let webhook =
        create_webhook(&app, json!({"url": receiver.url("/gone"), "events": ["*"]})).await;
    let id = webhook["id"].as_str().unwrap();
    receiver
        .configure(
            "/gone",
            json!({"secrets": {"current": webhook["secret"]}, "status": 410}),
        )
        .await;
    app.create_model("g").await;
    let disabled = wait_for_status(&app, id, "disabled").await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410"),
        "{disabled}"
    );
    assert!(disabled["next_attempt_at"].is_null());
    // Nothing more is sent, however many events come.
    app.create_model("g2").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.records("/gone").len(), 1);
    let (_, page) = app
        .get_json(&format!("/api/v1/webhooks/{id}/deliveries"))
        .await;
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(page["deliveries"][0]["status_code"], 410);
    assert_eq!(attempts_metric(&app, "gone").await, 1);
    assert!(page["deliveries"][0]["next_retry_at"].is_null());

    // Resuming starts again at the first event not delivered.
    receiver.configure("/gone", json!({"status": 200})).await;
    let (status, resumed) = app
        .patch_json(&format!("/api/v1/webhooks/{id}"), &json!({"paused": false}))
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["status"], "active");
    assert!(resumed["disabled_reason"].is_null());
    let seqs: Vec<i64> = events_after(&app, 0)
        .await
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    let records = receiver
        .wait_for("/gone", "the rest", |r| delivered(r).len() >= seqs.len())
        .await;
    assert_eq!(delivered(&records), seqs);

    // Pausing stops delivery; the events wait.
    let (_, paused) = app
        .patch_json(&format!("/api/v1/webhooks/{id}"), &json!({"paused": true}))
        .await;
    assert_eq!(paused["status"], "paused");
    app.create_model("g3").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(delivered(&receiver.records("/gone")).len(), seqs.len());
    app.patch_json(&format!("/api/v1/webhooks/{id}"), &json!({"paused": false}))
        .await;
    receiver
        .wait_for("/gone", "the paused event", |r| {
            delivered(r).len() > seqs.len()
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_webhooks_get_no_history_and_the_model_filter_holds() {
    let receiver = Receiver::start();
    let app = spawn_delivering().await;
    app.create_model("a").await;
    app.upload("a", b"history").await;
    let history = events_after(&app, 0).await.len() as i64;
    let all = create_webhook(&app, json!({"url": receiver.url("/all"), "events": ["*"]})).await;
    assert_eq!(all["cursor"], history, "starts at the newest event");
    let only_a = create_webhook(
        &app,
        json!({"url": receiver.url("/a"), "events": ["version_ready", "stage_changed"], "model": "a"}),
    )
    .await;
    assert_eq!(only_a["model"], "a");
    receiver
        .configure("/all", json!({"secrets": {"current": all["secret"]}}))
        .await;
    receiver
        .configure("/a", json!({"secrets": {"current": only_a["secret"]}}))
        .await;

    app.create_model("b").await;
    let b1 = app.upload("b", b"b-weights").await;
    let a2 = app.upload("a", b"a-weights").await;
    app.promote("b", "staging", &json!({"version": b1})).await;
    app.promote("a", "staging", &json!({"version": a2})).await;
    let new_events = events_after(&app, history).await;
    let expected_all: Vec<i64> = new_events
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    let expected_a: Vec<i64> = new_events
        .iter()
        .filter(|e| {
            e["model"] == "a" && (e["kind"] == "version_ready" || e["kind"] == "stage_changed")
        })
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(expected_a.len(), 2, "{new_events:#?}");

    let records = receiver
        .wait_for("/all", "the new events", |r| r.len() >= expected_all.len())
        .await;
    assert_eq!(
        delivered(&records),
        expected_all,
        "no history, nothing else"
    );
    let records = receiver
        .wait_for("/a", "a's events", |r| r.len() >= expected_a.len())
        .await;
    assert_eq!(delivered(&records), expected_a);
    assert!(records.iter().all(|r| r["verified"] == json!(["current"])));
    // Nothing of b arrives later either: /all has caught up, and /a moved past b's events.
    let last = *expected_all.last().unwrap();
    let start = Instant::now();
    loop {
        let (_, shown) = app
            .get_json(&format!(
                "/api/v1/webhooks/{}",
                only_a["id"].as_str().unwrap()
            ))
            .await;
        if shown["cursor"] == last {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "{shown}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(receiver.records("/a").len(), expected_a.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_old_one_during_the_grace_period() {
    let receiver = Receiver::start();
    let app = spawn_delivering().await;
    let webhook = create_webhook(
        &app,
        json!({"url": receiver.url("/rot"), "events": ["model_created"]}),
    )
    .await;
    let id = webhook["id"].as_str().unwrap();
    let old = webhook["secret"].as_str().unwrap().to_owned();
    receiver
        .configure("/rot", json!({"secrets": {"old": old}}))
        .await;
    app.create_model("r1").await;
    receiver
        .wait_for("/rot", "the first event", |r| r.len() == 1)
        .await;

    let (status, rotated) = app
        .post_json(&format!("/api/v1/webhooks/{id}/rotate-secret"), &json!({}))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    let expires: chrono::DateTime<chrono::Utc> = rotated["previous_secret_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let grace = expires - chrono::Utc::now();
    assert!(grace > chrono::Duration::hours(23) && grace <= chrono::Duration::hours(24));
    let (_, shown) = app.get_json(&format!("/api/v1/webhooks/{id}")).await;
    assert!(shown.get("secret").is_none());

    receiver
        .configure("/rot", json!({"secrets": {"old": old, "new": new, "wrong": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}))
        .await;
    app.create_model("r2").await;
    let records = receiver
        .wait_for("/rot", "the second event", |r| r.len() == 2)
        .await;
    assert_eq!(records[0]["verified"], json!(["old"]));
    assert_eq!(records[0]["signatures"], 1);
    // Both secrets verify the same request (the receiver lists them in key order); the
    // wrong one does not.
    assert_eq!(
        records[1]["verified"],
        json!(["new", "old"]),
        "{:#?}",
        records[1]
    );
    assert_eq!(records[1]["signatures"], 2);
}
