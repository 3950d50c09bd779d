//! `LiveModel` over the registry's server-sent events: promotions swap the model while
//! predictions keep flowing, bad versions are reported and skipped, and a registry
//! restart is bridged by resuming from the last `seq` — no event missed, none applied
//! twice.

use std::collections::BTreeMap;
use std::time::Duration;

use capstan_client::live::{Backoff, LiveUpdate, SseSource};
use capstan_tests::spawn_app;

use crate::support::{
    bc_with_versions, client, follow, logged_seqs, predict_until, promote,
    promote_as_another_replica, promote_last_and_check, tamper_blob, upload_unloadable, wait_event,
    wait_rejected, wait_serving, wait_swapped, Recorder,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_swap_the_model_and_bad_versions_are_skipped() {
    let app = spawn_app().await;
    let versions = bc_with_versions(&app, &[1.0, 100.0, 10.0]).await;
    let (v1, v2, v3) = (&versions[0], &versions[1], &versions[2]);
    let cache = tempfile::tempdir().unwrap();
    let live = follow(
        &app,
        cache.path(),
        SseSource::new(client(&app)),
        Backoff::default(),
    )
    .await;
    let current = live.current();
    assert_eq!(current.version, v1.version);
    assert_eq!(current.digest.to_string(), v1.digest);
    assert!(
        cache
            .path()
            .join("blobs/sha256")
            .join(v1.digest.trim_start_matches("sha256:"))
            .exists(),
        "the artifact went through the content-addressed cache"
    );
    let mut recorder = Recorder::new(&live);

    // Predictions keep flowing while production moves; each answer is its version's.
    let expected: BTreeMap<i64, Vec<Vec<f64>>> = versions
        .iter()
        .map(|t| (t.version, t.expected.clone()))
        .collect();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let predictions = tokio::spawn(predict_until(live.clone(), expected, async {
        let _ = stopped.await;
    }));

    promote(&app, v2.version).await;
    wait_serving(&live, v2.version).await;
    let swap = recorder
        .wait_for("swapping to v2", |u| {
            matches!(u, LiveUpdate::Swapped { .. })
        })
        .await;
    let LiveUpdate::Swapped { seq, from, to } = swap else {
        unreachable!()
    };
    assert_eq!((from.version, to.version), (v1.version, v2.version));
    let promotion = *logged_seqs(&app, 0).await.last().unwrap();
    assert_eq!(
        seq,
        Some(promotion),
        "swapped because of the promotion event"
    );

    // A version the runtime cannot load: reported, skipped, v2 keeps serving.
    let unloadable = upload_unloadable(&app).await;
    promote(&app, unloadable).await;
    let error = wait_rejected(&mut recorder, unloadable).await;
    assert!(error.contains("cannot be loaded"), "{error}");
    assert_eq!(live.current().version, v2.version);

    // Bytes that do not match their digest: refused before loading.
    if tamper_blob(&app, &v3.digest) {
        promote(&app, v3.version).await;
        let error = wait_rejected(&mut recorder, v3.version).await;
        assert!(error.contains("digest mismatch"), "{error}");
        assert_eq!(live.current().version, v2.version);
    }

    // Still following: the next good version swaps in.
    promote(&app, v1.version).await;
    wait_serving(&live, v1.version).await;
    wait_swapped(&mut recorder, v1.version).await;
    let _ = stop.send(());
    let answers = predictions.await.unwrap();
    assert!(
        answers.contains_key(&v1.version) && answers.contains_key(&v2.version),
        "both versions answered during the run: {answers:?}"
    );
    recorder.drain();
    assert_eq!(
        recorder.swaps(),
        [v2.version, v1.version],
        "{:#?}",
        recorder.seen
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_restart_is_bridged_without_a_gap_or_a_duplicate() {
    let mut app = spawn_app().await;
    let versions = bc_with_versions(&app, &[1.0, 100.0, 10.0]).await;
    let (v1, v2, v3) = (&versions[0], &versions[1], &versions[2]);
    let cache = tempfile::tempdir().unwrap();
    // A slow first retry, so the promotion below lands while the subscriber is away.
    let backoff = Backoff::new(Duration::from_millis(700), Duration::from_secs(2));
    let live = follow(&app, cache.path(), SseSource::new(client(&app)), backoff).await;
    let mut recorder = Recorder::new(&live);
    let start = app.registry.last_event_seq().await.unwrap();

    promote(&app, v2.version).await;
    wait_serving(&live, v2.version).await;
    recorder
        .wait_for("the promotion to v2", |u| {
            matches!(u, LiveUpdate::Event { .. })
        })
        .await;
    let before = live.status().last_seq.unwrap();

    app.stop_gracefully().await;
    recorder
        .wait_for("losing the stream", |u| {
            matches!(u, LiveUpdate::Disconnected { .. })
        })
        .await;
    // Another replica promotes while this one is down.
    promote_as_another_replica(&app, v3.version).await;
    let during_gap = app.registry.last_event_seq().await.unwrap();
    app.start_again_in_place().await;

    let resumed = recorder
        .wait_for("resuming", |u| {
            matches!(
                u,
                LiveUpdate::Connected {
                    resumed_after: Some(_),
                    ..
                }
            )
        })
        .await;
    assert!(
        matches!(resumed, LiveUpdate::Connected { resumed_after: Some(seq), .. } if seq == before),
        "resumed after the last seq seen ({before}): {resumed:?}"
    );
    wait_serving(&live, v3.version).await;
    wait_event(
        &mut recorder,
        "the promotion made during the gap",
        during_gap,
    )
    .await;

    // After the restart, events keep coming.
    let swaps = [v2.version, v3.version, v1.version];
    promote_last_and_check(&app, &live, &mut recorder, start, &swaps).await;
}
