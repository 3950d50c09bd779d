//! Publishing to Kafka (a tansu broker in CI): one record per event, keyed by model, and
//! a broker that is stopped for a while.

use serde_json::json;

use capstan_registry::events::EventsConfig;
use capstan_tests::spawn_with_events;

use crate::support::{model_with_version, relay_metric, relay_status, wait_until_relayed, WAIT};
use capstan_tests::brokers::{kafka_brokers, own_topic, topic_contents, PrivateBroker};

#[tokio::test]
async fn events_are_published_to_kafka_keyed_by_model_with_a_seq_header() {
    let Some(brokers) = kafka_brokers("kafka_publish") else {
        return;
    };
    let kafka = own_topic(&brokers);
    let publisher = format!("kafka/{}", kafka.topic);
    let app = spawn_with_events(EventsConfig {
        kafka: Some(kafka.clone()),
        ..EventsConfig::default()
    })
    .await;
    model_with_version(&app, "bc", b"one").await; // 1-3
    model_with_version(&app, "fraud.v2", b"two").await; // 4-6
    app.promote("bc", "production", &json!({"version": 1}))
        .await; // 7
    wait_until_relayed(&app, &publisher).await;

    let received = topic_contents(&kafka).await;
    let seqs: Vec<i64> = received.iter().map(|r| r.seq()).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    for record in &received {
        assert_eq!(record.id, record.seq().to_string(), "header seq");
        assert_eq!(
            record.key.as_deref(),
            record.message["model"].as_str(),
            "key"
        );
        assert_eq!(
            record.subject,
            record.message["kind"].as_str().unwrap(),
            "header kind"
        );
    }
    let promotion = &received[6].message;
    assert_eq!(promotion["kind"], "stage_changed");
    assert_eq!(promotion["refs"], json!(["production", "1"]));
    assert_eq!(
        promotion["artifact"]["url"],
        "/api/v1/models/bc/versions/1/artifact"
    );
    // What compaction keeps: each key's newest record, which names the model's state.
    let newest = |model: &str| {
        received
            .iter()
            .rev()
            .find(|r| r.key.as_deref() == Some(model))
            .map(|r| r.message["state"].clone())
            .unwrap()
    };
    assert_eq!(
        newest("bc"),
        json!({"stages": {"production": 1}, "aliases": {}, "latest": 1})
    );
    assert_eq!(
        newest("fraud.v2"),
        json!({"stages": {}, "aliases": {}, "latest": 1})
    );
    app.stop_gracefully().await;
}

/// A private tansu (its topics in an S3 server that outlives it) is stopped while events
/// are recorded: they wait, `/readyz` and `/metrics` show the lag, and once the broker is
/// back the topic holds every event exactly once, in order.
#[tokio::test]
async fn events_wait_while_kafka_is_down_and_go_out_when_it_is_back() {
    let Some(mut broker) = PrivateBroker::tansu("kafka_broker_down") else {
        return;
    };
    let kafka = own_topic(&[broker.address()]);
    let publisher = format!("kafka/{}", kafka.topic);
    let app = spawn_with_events(EventsConfig {
        kafka: Some(kafka.clone()),
        ..EventsConfig::default()
    })
    .await;
    model_with_version(&app, "bc", b"one").await; // 1-3
    wait_until_relayed(&app, &publisher).await;
    assert_eq!(topic_contents(&kafka).await.len(), 3);

    broker.stop();
    app.promote("bc", "production", &json!({"version": 1}))
        .await; // 4
    app.upload("bc", b"two").await; // 5, 6
    app.promote("bc", "production", &json!({"version": 2}))
        .await; // 7
    let waiting = app
        .eventually(WAIT, || async {
            let status = relay_status(&app, &publisher).await;
            status["lag"] == 4 && status["last_error"].is_string()
        })
        .await;
    assert!(
        waiting,
        "a down broker must show as lag and an error: {}",
        relay_status(&app, &publisher).await
    );
    assert_eq!(
        relay_metric(&app, "capstan_relay_lag_events", &publisher).await,
        4.0
    );

    broker.resume();
    wait_until_relayed(&app, &publisher).await;
    let seqs: Vec<i64> = topic_contents(&kafka)
        .await
        .iter()
        .map(|r| r.seq())
        .collect();
    assert_eq!(
        seqs,
        (1..=7).collect::<Vec<_>>(),
        "every event once, in order"
    );
    assert_eq!(
        relay_metric(&app, "capstan_relay_lag_events", &publisher).await,
        0.0
    );
    assert!(relay_status(&app, &publisher)
        .await
        .get("last_error")
        .is_none());
    app.stop_gracefully().await;
}
