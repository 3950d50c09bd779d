//! What the live tests share: a registry with trained versions of `bc`, a `LiveModel`
//! following it, a recorder of its updates, and the expected answers of each version.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::broadcast::Receiver;

use capstan_client::cache::BlobCache;
use capstan_client::http::Client;
use capstan_client::live::{Backoff, EventSource, LiveModel, LiveUpdate};
use capstan_client::runtime::ndarray::Array2;
use capstan_client::runtime::train::TrainedModel;
use capstan_client::types::PromoteRequest;
use capstan_client::{Config, Stage};
use capstan_tests::{breast_cancer_rows, train_breast_cancer, TestApp};

/// How long any single wait in these tests may take before it fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// A version of `bc` and the probabilities it gives the test rows.
pub struct Trained {
    pub version: i64,
    pub digest: String,
    pub expected: Vec<Vec<f64>>,
}

/// The rows predictions are checked on.
pub fn rows() -> Array2<f64> {
    let rows = breast_cancer_rows(3);
    let width = rows[0].len();
    Array2::from_shape_vec((rows.len(), width), rows.concat()).unwrap()
}

fn expected_probabilities(trained: &TrainedModel) -> Vec<Vec<f64>> {
    let predictor = capstan_client::runtime::load(trained.format, &trained.artifact, None).unwrap();
    let rows = rows();
    let prediction = predictor
        .predict(&capstan_client::runtime::Rows::numeric(rows.view()))
        .unwrap();
    prediction.as_classes().unwrap().probabilities.clone()
}

/// Creates `bc` with one trained version per L2 penalty; promotes the first to
/// production.
pub async fn bc_with_versions(app: &TestApp, penalties: &[f64]) -> Vec<Trained> {
    app.create_model("bc").await;
    let mut versions = Vec::new();
    for &l2 in penalties {
        let trained = train_breast_cancer(l2);
        let version = app.upload_trained("bc", &trained).await;
        versions.push(Trained {
            version,
            digest: capstan_tests::digest_of(&trained.artifact),
            expected: expected_probabilities(&trained),
        });
    }
    promote(app, versions[0].version).await;
    versions
}

pub async fn promote(app: &TestApp, version: i64) {
    let (status, body) = app
        .promote("bc", "production", &json!({ "version": version }))
        .await;
    assert_eq!(status, 200, "promote {version}: {body}");
}

pub fn client(app: &TestApp) -> Client {
    Client::new(Config::new(&app.base).unwrap()).unwrap()
}

/// Follows `bc@production` on `app` through `source`, with its own cache in `cache`.
pub async fn follow(
    app: &TestApp,
    cache: &Path,
    source: impl EventSource,
    backoff: Backoff,
) -> LiveModel {
    LiveModel::builder("bc@production".parse().unwrap())
        .client(client(app))
        .cache(BlobCache::new(cache))
        .source(source)
        .backoff(backoff)
        .start()
        .await
        .unwrap()
}

/// Waits until `live` serves `version`.
pub async fn wait_serving(live: &LiveModel, version: i64) {
    let mut watch = live.watch();
    let waited = tokio::time::timeout(WAIT, async {
        while watch.borrow_and_update().version != version {
            watch.changed().await.unwrap();
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "still serving version {} instead of {version} after {WAIT:?}",
        live.current().version
    );
}

/// Every update a `LiveModel` reported since the recorder was made.
pub struct Recorder {
    receiver: Receiver<LiveUpdate>,
    pub seen: Vec<LiveUpdate>,
}

impl Recorder {
    pub fn new(live: &LiveModel) -> Self {
        Recorder {
            receiver: live.updates(),
            seen: Vec::new(),
        }
    }

    /// Takes what arrived so far.
    pub fn drain(&mut self) {
        loop {
            match self.receiver.try_recv() {
                Ok(update) => self.seen.push(update),
                Err(TryRecvError::Empty) => return,
                Err(error) => panic!("updates lost: {error}"),
            }
        }
    }

    /// Waits for an update that `wanted` accepts; returns it.
    pub async fn wait_for(
        &mut self,
        what: &str,
        wanted: impl Fn(&LiveUpdate) -> bool,
    ) -> LiveUpdate {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let update = self.receiver.recv().await.unwrap();
                self.seen.push(update.clone());
                if wanted(&update) {
                    return update;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no update {what} within {WAIT:?}: {:#?}", self.seen))
    }

    /// The versions swapped in, in order.
    pub fn swaps(&self) -> Vec<i64> {
        self.seen
            .iter()
            .filter_map(|u| match u {
                LiveUpdate::Swapped { to, .. } => Some(to.version),
                _ => None,
            })
            .collect()
    }

    /// The `seq` of every event delivered after `start`, in order, after checking that no
    /// `seq` was delivered twice or out of order. (A broker may also hand a new subscriber
    /// a few events from just before it subscribed; those are not counted.)
    pub fn event_seqs_after(&self, start: i64) -> Vec<i64> {
        let all: Vec<i64> = self
            .seen
            .iter()
            .filter_map(|u| match u {
                LiveUpdate::Event { seq, .. } => Some(*seq),
                _ => None,
            })
            .collect();
        assert!(
            all.windows(2).all(|w| w[0] < w[1]),
            "events repeated or out of order: {all:?}"
        );
        all.into_iter().filter(|seq| *seq > start).collect()
    }
}

/// Waits for a final failure (no retry) of `version`; returns its message.
pub async fn wait_rejected(recorder: &mut Recorder, version: i64) -> String {
    let update = recorder
        .wait_for(&format!("rejecting version {version}"), |u| {
            matches!(u, LiveUpdate::Failed { version: Some(v), retry_in: None, .. } if *v == version)
        })
        .await;
    match update {
        LiveUpdate::Failed { error, .. } => error.to_string(),
        _ => unreachable!(),
    }
}

/// The `seq`s of `bc`'s events in the registry's log after `after`.
pub async fn logged_seqs(app: &TestApp, after: i64) -> Vec<i64> {
    let (status, page) = app
        .get_json(&format!("/api/v1/events?model=bc&after={after}&limit=1000"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

/// Uploads a version the runtime cannot load (stored, but not servable); returns it.
pub async fn upload_unloadable(app: &TestApp) -> i64 {
    let (status, body) = app
        .upload_with("bc", &json!({"format": "pmml"}), b"<PMML/>".to_vec())
        .await;
    assert_eq!(status, 201, "{body}");
    body["version"].as_i64().unwrap()
}

/// Overwrites a stored blob with other bytes of the same length (local store only).
pub fn tamper_blob(app: &TestApp, digest: &str) -> bool {
    let Some(objects) = app.objects_dir() else {
        return false;
    };
    let hex = digest.trim_start_matches("sha256:");
    let path = objects.join("blobs/sha256").join(&hex[..2]).join(hex);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.reverse();
    std::fs::write(&path, bytes).unwrap();
    true
}

/// Predicts the test rows again and again until `stop` resolves; checks every answer
/// against the probabilities of the version that gave it; returns answers per version.
pub async fn predict_until(
    live: LiveModel,
    expected: BTreeMap<i64, Vec<Vec<f64>>>,
    stop: impl Future<Output = ()>,
) -> BTreeMap<i64, usize> {
    let rows = rows();
    let mut answers = BTreeMap::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return answers,
            () = tokio::task::yield_now() => {}
        }
        let answer = live.predict(rows.view()).unwrap();
        let want = expected
            .get(&answer.model.version)
            .unwrap_or_else(|| panic!("answered by unknown version {}", answer.model.version));
        assert_eq!(
            &answer.prediction.as_classes().unwrap().probabilities,
            want,
            "version {}'s answer",
            answer.model.version
        );
        *answers.entry(answer.model.version).or_insert(0) += 1;
    }
}

/// Waits until every relay of `app` has published the whole event log, so a subscriber
/// that starts now sees only what happens next.
pub async fn wait_until_relayed(app: &TestApp) {
    let latest = app.registry.last_event_seq().await.unwrap();
    let caught_up = app
        .eventually(WAIT, || async {
            let (_, body) = app.get_json("/readyz").await;
            body["relays"].as_array().is_some_and(|relays| {
                relays
                    .iter()
                    .all(|r| r["cursor"].as_i64() >= Some(latest) && r["lag"] == 0)
            })
        })
        .await;
    assert!(caught_up, "the relays did not publish up to seq {latest}");
}

/// Waits until `recorder` has seen the swap to `version` (reported right after the
/// pointer moved, so [`wait_serving`] alone may return a moment before it).
pub async fn wait_swapped(recorder: &mut Recorder, version: i64) {
    let swapped =
        |u: &LiveUpdate| matches!(u, LiveUpdate::Swapped { to, .. } if to.version == version);
    if !recorder.seen.iter().any(swapped) {
        recorder
            .wait_for(&format!("swapping to version {version}"), swapped)
            .await;
    }
}

/// Promotes `version` of `bc` to production through the registry's service, as another
/// replica would while `app`'s server is stopped.
pub async fn promote_as_another_replica(app: &TestApp, version: i64) {
    app.registry
        .promote(
            "bc".parse().unwrap(),
            Stage::Production,
            PromoteRequest {
                version,
                ..PromoteRequest::default()
            },
            "test",
        )
        .await
        .unwrap();
}

/// Waits until `recorder` has seen the event with `seq`.
pub async fn wait_event(recorder: &mut Recorder, what: &str, seq: i64) {
    recorder
        .wait_for(
            what,
            |u| matches!(u, LiveUpdate::Event { seq: s, .. } if *s == seq),
        )
        .await;
}

/// The end of every restart test: promotes the last of `swaps` through the API and waits
/// until `live` serves it and its event arrived; then checks that every event of `bc`
/// after `start` was seen exactly once, in order, and that the swaps were exactly `swaps`.
pub async fn promote_last_and_check(
    app: &TestApp,
    live: &LiveModel,
    recorder: &mut Recorder,
    start: i64,
    swaps: &[i64],
) {
    let last = *swaps.last().unwrap();
    promote(app, last).await;
    wait_serving(live, last).await;
    let seq = app.registry.last_event_seq().await.unwrap();
    wait_event(recorder, "the last promotion", seq).await;
    wait_swapped(recorder, last).await;
    recorder.drain();
    assert_eq!(
        recorder.event_seqs_after(start),
        logged_seqs(app, start).await,
        "every event of bc exactly once, in order: {:#?}",
        recorder.seen
    );
    assert_eq!(
        recorder.swaps(),
        swaps,
        "each promotion applied once: {:#?}",
        recorder.seen
    );
}

/// How a broker attributes the first swap of a new subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstSwap {
    /// To the promotion's own message (NATS delivers new messages only).
    OnThePromotion,
    /// To the promotion or an earlier record (tansu may hand a new subscriber the last
    /// records from before it subscribed), as long as it is a record.
    OnARecord,
}

/// The broker scenario of the live tests, on a registry relaying to the broker `source`
/// reads: `bc` gets three versions; a `LiveModel` follows `bc@production` and swaps to v2
/// on its promotion; an unloadable version is skipped; the registry stops, another
/// replica promotes v3, the registry comes back and its relay publishes what it had not;
/// a last promotion (v1) arrives; every event was seen once and each promotion applied
/// once.
pub async fn promotions_across_a_registry_restart(
    app: &mut TestApp,
    source: impl EventSource,
    first_swap: FirstSwap,
) {
    let versions = bc_with_versions(app, &[1.0, 100.0, 10.0]).await;
    let (v1, v2, v3) = (&versions[0], &versions[1], &versions[2]);
    wait_until_relayed(app).await;
    let cache = tempfile::tempdir().unwrap();
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let live = follow(app, cache.path(), source, backoff).await;
    assert_eq!(live.current().version, v1.version);
    wait_connected(app, &live).await;
    let mut recorder = Recorder::new(&live);
    let start = app.registry.last_event_seq().await.unwrap();

    promote(app, v2.version).await;
    wait_serving(&live, v2.version).await;
    let swap = recorder
        .wait_for("swapping to v2", |u| {
            matches!(u, LiveUpdate::Swapped { .. })
        })
        .await;
    let promotion = app.registry.last_event_seq().await.unwrap();
    let LiveUpdate::Swapped { seq: Some(seq), .. } = swap else {
        panic!("swapped on a reconnection, not on a message: {swap:?}");
    };
    match first_swap {
        FirstSwap::OnThePromotion => assert_eq!(seq, promotion, "{swap:?}"),
        FirstSwap::OnARecord => assert!(seq <= promotion, "{swap:?}"),
    }

    let unloadable = upload_unloadable(app).await;
    promote(app, unloadable).await;
    wait_rejected(&mut recorder, unloadable).await;
    assert_eq!(live.current().version, v2.version);

    app.stop_gracefully().await;
    promote_as_another_replica(app, v3.version).await;
    app.start_again_in_place().await;
    wait_serving(&live, v3.version).await;
    let last = app.registry.last_event_seq().await.unwrap();
    wait_event(
        &mut recorder,
        "the promotion made while the registry was down",
        last,
    )
    .await;
    let swaps = [v2.version, v3.version, v1.version];
    promote_last_and_check(app, &live, &mut recorder, start, &swaps).await;
}

/// Waits until the subscription is in place (the relay creates a broker's stream or topic
/// on its first publish; until then subscribing is retried).
pub async fn wait_connected(app: &TestApp, live: &LiveModel) {
    let connected = app
        .eventually(WAIT, || async { live.status().connected })
        .await;
    assert!(connected, "never subscribed: {:?}", live.status());
}
