//! `LiveModel` over Kafka (a tansu broker in CI, `CAPSTAN_TEST_KAFKA_BROKERS`):
//! promotions swap, bad versions are skipped, and a registry restart loses or repeats
//! no event.

use std::time::Duration;

use capstan_client::live::{Backoff, KafkaSource, LiveUpdate};
use capstan_registry::events::EventsConfig;
use capstan_tests::spawn_with_events;

use crate::nats::wait_connected;
use crate::support::{
    bc_with_versions, follow, promote, promote_as_another_replica, promote_last_and_check,
    upload_unloadable, wait_rejected, wait_serving, wait_until_relayed, Recorder,
};
use capstan_tests::brokers::{kafka_brokers, own_topic};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_arrive_over_kafka_across_a_registry_restart() {
    let Some(brokers) = kafka_brokers("live_kafka_promotion") else {
        return;
    };
    let kafka = own_topic(&brokers);
    let mut app = spawn_with_events(EventsConfig {
        kafka: Some(kafka.clone()),
        ..EventsConfig::default()
    })
    .await;
    let versions = bc_with_versions(&app, &[1.0, 100.0, 10.0]).await;
    let (v1, v2, v3) = (&versions[0], &versions[1], &versions[2]);
    wait_until_relayed(&app).await;
    let cache = tempfile::tempdir().unwrap();
    let source = KafkaSource::new(kafka.brokers.clone()).with_topic(kafka.topic.clone());
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let live = follow(&app, cache.path(), source, backoff).await;
    wait_connected(&app, &live).await;
    let mut recorder = Recorder::new(&live);
    let start = app.registry.last_event_seq().await.unwrap();

    promote(&app, v2.version).await;
    wait_serving(&live, v2.version).await;
    let swap = recorder
        .wait_for("swapping to v2", |u| {
            matches!(u, LiveUpdate::Swapped { .. })
        })
        .await;
    let promotion = app.registry.last_event_seq().await.unwrap();
    // Tansu may hand a new subscriber the last records from before it subscribed; one of
    // those can be the event the swap is attributed to, as long as it is a record.
    assert!(
        matches!(swap, LiveUpdate::Swapped { seq: Some(seq), .. } if seq <= promotion),
        "swapped on a record, not on a reconnection: {swap:?}"
    );

    let unloadable = upload_unloadable(&app).await;
    promote(&app, unloadable).await;
    wait_rejected(&mut recorder, unloadable).await;
    assert_eq!(live.current().version, v2.version);

    app.stop_gracefully().await;
    promote_as_another_replica(&app, v3.version).await;
    app.start_again_in_place().await;
    wait_serving(&live, v3.version).await;
    let swaps = [v2.version, v3.version, v1.version];
    promote_last_and_check(&app, &live, &mut recorder, start, &swaps).await;
}
