//! Publishing to Kafka (a tansu broker in CI): one record per event, keyed by model.

use serde_json::json;

use capstan_registry::events::EventsConfig;
use capstan_tests::spawn_with_events;

use crate::brokers::{kafka_brokers, own_topic, topic_contents};
use crate::support::{model_with_version, wait_until_relayed};

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
    app.stop_gracefully().await;
}
