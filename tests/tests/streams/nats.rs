//! Publishing to NATS JetStream: subjects, de-duplication ids, and a broker that is
//! stopped for a while.

use std::time::Duration;

use serde_json::json;

use capstan_registry::events::EventsConfig;
use capstan_tests::{digest_of, spawn_with_events};

use crate::support::{model_with_version, relay_metric, relay_status, wait_until_relayed, WAIT};
use capstan_tests::brokers::{
    delete_stream, distinct_seqs, machine_nats, own_stream, stream_contents, PrivateBroker,
};

#[tokio::test]
async fn a_promotion_is_published_on_the_models_subject_with_its_seq_as_msg_id() {
    let Some(url) = machine_nats("nats_promotion").await else {
        return;
    };
    let nats = own_stream(&url);
    let publisher = format!("nats/{}", nats.stream);
    let app = spawn_with_events(EventsConfig {
        public_url: Some("http://models.internal:8080".into()),
        nats: Some(nats.clone()),
        ..EventsConfig::default()
    })
    .await;
    model_with_version(&app, "fraud.v2", b"weights").await; // 1-3
    app.promote(
        "fraud.v2",
        "production",
        &json!({"version": 1, "reason": "auc up"}),
    )
    .await; // 4
    wait_until_relayed(&app, &publisher).await;

    let received = stream_contents(&nats).await;
    let seqs: Vec<i64> = received.iter().map(|r| r.seq()).collect();
    assert_eq!(seqs, [1, 2, 3, 4], "each event once, in order");
    let token = "fraud%2Ev2";
    let subjects: Vec<&str> = received.iter().map(|r| r.subject.as_str()).collect();
    let prefix = &nats.subject_prefix;
    assert_eq!(
        subjects,
        [
            format!("{prefix}.{token}.model_created"),
            format!("{prefix}.{token}.version_created"),
            format!("{prefix}.{token}.version_ready"),
            format!("{prefix}.{token}.stage_changed"),
        ]
    );
    for message in &received {
        assert_eq!(
            message.id,
            message.seq().to_string(),
            "Nats-Msg-Id is the seq"
        );
    }
    let promotion = &received[3].message;
    assert_eq!(promotion["model"], "fraud.v2");
    assert_eq!(promotion["refs"], json!(["production", "1"]));
    assert_eq!(promotion["reason"], "auc up");
    assert_eq!(
        promotion["artifact"],
        json!({
            "version": 1,
            "digest": digest_of(b"weights"),
            "size": 7,
            "format": "opaque",
            "url": "http://models.internal:8080/api/v1/models/fraud.v2/versions/1/artifact",
        })
    );

    let status = relay_status(&app, &publisher).await;
    assert_eq!(status["cursor"], 4);
    assert_eq!(status["publishing"], true);
    assert!(status.get("last_error").is_none(), "{status}");
    assert_eq!(
        relay_metric(&app, "capstan_relay_lag_events", &publisher).await,
        0.0
    );
    assert_eq!(
        relay_metric(&app, "capstan_relay_published_total", &publisher).await,
        4.0
    );
    app.stop_gracefully().await;
    delete_stream(&nats).await;
}

#[tokio::test]
async fn events_wait_while_the_broker_is_down_and_all_arrive_once_it_is_back() {
    let Some(mut server) = PrivateBroker::nats("nats_broker_down") else {
        return;
    };
    let nats = own_stream(&server.url());
    let publisher = format!("nats/{}", nats.stream);
    let app = spawn_with_events(EventsConfig {
        nats: Some(nats.clone()),
        ..EventsConfig::default()
    })
    .await;
    model_with_version(&app, "bc", b"one").await; // 1-3
    wait_until_relayed(&app, &publisher).await;

    server.stop();
    app.promote("bc", "production", &json!({"version": 1}))
        .await; // 4
    app.put_json("/api/v1/models/bc/aliases/champion", &json!({"version": 1}))
        .await; // 5
    app.upload("bc", b"two").await; // 6, 7
    app.promote("bc", "production", &json!({"version": 2}))
        .await; // 8
    let waiting = app
        .eventually(WAIT, || async {
            let status = relay_status(&app, &publisher).await;
            status["lag"] == 5 && status["last_error"].is_string()
        })
        .await;
    assert!(
        waiting,
        "a down broker must show as lag and an error: {}",
        relay_status(&app, &publisher).await
    );

    server.resume();
    wait_until_relayed(&app, &publisher).await;
    let received = stream_contents(&nats).await;
    assert_eq!(distinct_seqs(&received), (1..=8).collect::<Vec<_>>());
    for message in &received {
        assert_eq!(message.id, message.seq().to_string());
    }
    let last = &received.last().unwrap().message;
    assert_eq!(last["refs"], json!(["production", "2"]));
    assert!(relay_status(&app, &publisher)
        .await
        .get("last_error")
        .is_none());
    // Left running, the relay publishes nothing more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stream_contents(&nats).await.len(), received.len());
    app.stop_gracefully().await;
}
