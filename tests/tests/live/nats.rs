//! `LiveModel` over NATS JetStream (the machine's server, and a private one that is
//! stopped for a while): promotions swap, bad versions are skipped, and neither a
//! registry restart nor a broker outage loses or repeats an event.

use std::time::Duration;

use capstan_client::live::{Backoff, LiveUpdate, NatsSource};
use capstan_registry::events::{EventsConfig, NatsConfig};
use capstan_tests::spawn_with_events;

use crate::support::{
    bc_with_versions, follow, logged_seqs, promote, promotions_across_a_registry_restart,
    wait_connected, wait_event, wait_serving, wait_swapped, wait_until_relayed, FirstSwap,
    Recorder,
};
use capstan_tests::brokers::{delete_stream, machine_nats, own_stream, PrivateBroker};

fn source(nats: &NatsConfig) -> NatsSource {
    NatsSource::new(nats.url.clone())
        .with_stream(nats.stream.clone())
        .with_subject_prefix(nats.subject_prefix.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_arrive_over_nats_across_a_registry_restart() {
    let Some(url) = machine_nats("live_nats_promotion").await else {
        return;
    };
    let nats = own_stream(&url);
    let mut app = spawn_with_events(EventsConfig {
        nats: Some(nats.clone()),
        ..EventsConfig::default()
    })
    .await;
    promotions_across_a_registry_restart(&mut app, source(&nats), FirstSwap::OnThePromotion).await;
    drop(app);
    delete_stream(&nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_while_the_broker_is_down() {
    let Some(mut server) = PrivateBroker::nats("live_nats_broker_down") else {
        return;
    };
    let nats = own_stream(&server.url());
    let app = spawn_with_events(EventsConfig {
        nats: Some(nats.clone()),
        ..EventsConfig::default()
    })
    .await;
    let versions = bc_with_versions(&app, &[1.0, 100.0, 10.0]).await;
    let (v2, v3) = (&versions[1], &versions[2]);
    wait_until_relayed(&app).await;
    let cache = tempfile::tempdir().unwrap();
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let live = follow(&app, cache.path(), source(&nats), backoff).await;
    wait_connected(&app, &live).await;
    let mut recorder = Recorder::new(&live);
    let start = app.registry.last_event_seq().await.unwrap();

    promote(&app, v2.version).await;
    wait_serving(&live, v2.version).await;

    server.stop();
    recorder
        .wait_for("losing the broker", |u| {
            matches!(u, LiveUpdate::Disconnected { .. })
        })
        .await;
    promote(&app, v3.version).await;
    let promotion = app.registry.last_event_seq().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        live.current().version,
        v2.version,
        "without the broker the subscriber hears of nothing"
    );

    server.resume();
    wait_serving(&live, v3.version).await;
    wait_event(
        &mut recorder,
        "the promotion made while the broker was down",
        promotion,
    )
    .await;
    wait_swapped(&mut recorder, v3.version).await;
    recorder.drain();
    assert_eq!(
        recorder.event_seqs_after(start),
        logged_seqs(&app, start).await,
        "every event once, in order: {:#?}",
        recorder.seen
    );
    assert_eq!(
        recorder.swaps(),
        [v2.version, v3.version],
        "{:#?}",
        recorder.seen
    );
}
