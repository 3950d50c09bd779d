//! The relay's cursor and lease: a restarted registry resumes where it stopped, and of
//! two registries on one PostgreSQL database exactly one publishes.

use std::time::Duration;

use serde_json::json;

use capstan_client::types::{CreateModel, PromoteRequest};
use capstan_client::{ModelName, Stage};
use capstan_registry::events::EventsConfig;
use capstan_tests::{spawn_with_events, DbBackend, TestApp};

use crate::support::{model_with_version, relay_metric, relay_status, wait_until_relayed};
use capstan_tests::brokers::{
    delete_stream, distinct_seqs, machine_nats, own_stream, stream_contents,
};

#[tokio::test]
async fn a_restarted_registry_resumes_from_its_cursor_without_gap_or_flood() {
    let Some(url) = machine_nats("relay_restart").await else {
        return;
    };
    let nats = own_stream(&url);
    let publisher = format!("nats/{}", nats.stream);
    let mut app = spawn_with_events(EventsConfig {
        nats: Some(nats.clone()),
        relay_lease: Duration::from_secs(3),
        ..EventsConfig::default()
    })
    .await;
    model_with_version(&app, "bc", b"one").await; // 1-3
    wait_until_relayed(&app, &publisher).await;

    app.stop_gracefully().await;
    // Written while no relay runs (another process could do this): it waits in the table.
    let name = ModelName::parse("bc").unwrap();
    app.registry
        .promote(
            name,
            Stage::Production,
            PromoteRequest {
                version: 1,
                ..PromoteRequest::default()
            },
            "test",
        )
        .await
        .unwrap(); // 4
    app.registry
        .create_model(
            CreateModel {
                name: ModelName::parse("other").unwrap(),
                description: None,
                tags: None,
            },
            &capstan_registry::domain::access::Caller::anonymous(),
        )
        .await
        .unwrap(); // 5
    app.start_again().await;
    app.upload("bc", b"two").await; // 6, 7
    wait_until_relayed(&app, &publisher).await;

    let received = stream_contents(&nats).await;
    assert_eq!(distinct_seqs(&received), (1..=7).collect::<Vec<_>>());
    assert_eq!(received.len(), 7, "no event published twice");
    assert_eq!(
        relay_metric(&app, "capstan_relay_published_total", &publisher).await,
        4.0,
        "the new process publishes only what the old one had not"
    );
    app.stop_gracefully().await;
    delete_stream(&nats).await;
}

/// Which of `apps` reports itself as the publisher.
async fn publishers(apps: &[&TestApp], publisher: &str) -> Vec<bool> {
    let mut publishing = Vec::new();
    for app in apps {
        publishing.push(relay_status(app, publisher).await["publishing"] == true);
    }
    publishing
}

#[tokio::test]
async fn of_two_registries_on_one_database_exactly_one_publishes_and_the_other_takes_over() {
    let Some(url) = machine_nats("relay_two_replicas").await else {
        return;
    };
    let nats = own_stream(&url);
    let publisher = format!("nats/{}", nats.stream);
    // The default lease (10 s): a slow machine must not make the lease change hands in
    // the first phase; the failover below is a graceful stop, which gives the lease up.
    let first = spawn_with_events(EventsConfig {
        nats: Some(nats.clone()),
        ..EventsConfig::default()
    })
    .await;
    if first.db_backend != DbBackend::Postgres {
        // Two registries never share a SQLite file; CI runs this on PostgreSQL too.
        eprintln!("skipped relay_two_replicas: needs CAPSTAN_TEST_DATABASE_URL (PostgreSQL)");
        return;
    }
    let second = first.spawn_replica().await;
    model_with_version(&first, "bc", b"one").await; // 1-3
    model_with_version(&second, "other", b"two").await; // 4-6
    first
        .promote("bc", "production", &json!({"version": 1}))
        .await; // 7
    second
        .promote("other", "production", &json!({"version": 1}))
        .await; // 8
    wait_until_relayed(&first, &publisher).await;

    let publishing = publishers(&[&first, &second], &publisher).await;
    assert_eq!(
        publishing.iter().filter(|p| **p).count(),
        1,
        "{publishing:?}"
    );
    let mut published = Vec::new();
    for app in [&first, &second] {
        published.push(relay_metric(app, "capstan_relay_published_total", &publisher).await);
    }
    published.sort_by(f64::total_cmp);
    assert_eq!(published, [0.0, 8.0], "one replica published everything");
    let received = stream_contents(&nats).await;
    assert_eq!(distinct_seqs(&received), (1..=8).collect::<Vec<_>>());
    assert_eq!(received.len(), 8);

    // The publisher stops; the other takes the lease over and continues from the cursor.
    let (leader, survivor) = if publishing[0] {
        (&first, &second)
    } else {
        (&second, &first)
    };
    leader.stop_gracefully().await;
    survivor.upload("bc", b"three").await; // 9, 10
    wait_until_relayed(survivor, &publisher).await;
    assert_eq!(relay_status(survivor, &publisher).await["publishing"], true);
    let received = stream_contents(&nats).await;
    assert_eq!(distinct_seqs(&received), (1..=10).collect::<Vec<_>>());
    assert_eq!(received.len(), 10);
    survivor.stop_gracefully().await;
    delete_stream(&nats).await;
}
