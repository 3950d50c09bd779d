//! `LiveModel` over Kafka (a tansu broker in CI, `CAPSTAN_TEST_KAFKA_BROKERS`):
//! promotions swap, bad versions are skipped, and a registry restart loses or repeats
//! no event.

use capstan_client::live::KafkaSource;
use capstan_registry::events::EventsConfig;
use capstan_tests::brokers::{kafka_brokers, own_topic};
use capstan_tests::spawn_with_events;

use crate::support::{promotions_across_a_registry_restart, FirstSwap};

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
    let source = KafkaSource::new(kafka.brokers.clone()).with_topic(kafka.topic.clone());
    promotions_across_a_registry_restart(&mut app, source, FirstSwap::OnARecord).await;
}
