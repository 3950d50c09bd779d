//! `GET /api/v1/events/stream`: new-only vs replay, filters, heartbeats, the published
//! message, slow subscribers and shutdown.

use std::time::Duration;

use serde_json::{json, Value};

use capstan_registry::events::EventsConfig;
use capstan_tests::{assert_problem, digest_of, spawn_app, spawn_with_events};

use crate::support::{model_with_version, SseItem, SseReader, WAIT};

#[tokio::test]
async fn without_a_position_only_new_events_are_sent() {
    let app = spawn_app().await;
    model_with_version(&app, "bc", b"one").await; // seq 1-3
    let mut stream = SseReader::open(&app, "", None).await;
    let (status, _) = app
        .promote("bc", "production", &json!({"version": 1, "reason": "go"}))
        .await;
    assert_eq!(status, 200);
    let (seq, kind, message) = stream.next_event().await;
    assert_eq!((seq, kind.as_str()), (4, "stage_changed"));
    assert_eq!(message["seq"], 4);
    assert_eq!(message["kind"], "stage_changed");
    assert_eq!(message["model"], "bc");
    assert_eq!(message["stage"], "production");
    assert_eq!(message["to_version"], 1);
    assert_eq!(message["reason"], "go");
    assert_eq!(message["refs"], json!(["production", "1"]));
    assert_eq!(
        message["artifact"],
        json!({
            "version": 1,
            "digest": digest_of(b"one"),
            "size": 3,
            "format": "opaque",
            "url": "/api/v1/models/bc/versions/1/artifact",
        })
    );
    // The pointer resolves to the bytes.
    let bytes = app
        .get(message["artifact"]["url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"one");
}

#[tokio::test]
async fn after_replays_from_the_table_then_continues_live() {
    let app = spawn_app().await;
    model_with_version(&app, "bc", b"one").await; // seq 1-3
    let mut stream = SseReader::open(&app, "?after=1", None).await;
    let (seq, kind, ready) = stream.next_event().await;
    assert_eq!((seq, kind.as_str()), (2, "version_created"));
    assert_eq!(ready["refs"], json!([]));
    assert_eq!(ready["artifact"], json!(null));
    let (seq, kind, ready) = stream.next_event().await;
    assert_eq!((seq, kind.as_str()), (3, "version_ready"));
    assert_eq!(ready["refs"], json!(["latest", "1"]));
    assert_eq!(ready["artifact"]["version"], 1);
    app.put_json("/api/v1/models/bc/aliases/champion", &json!({"version": 1}))
        .await;
    let (seq, kind, alias) = stream.next_event().await;
    assert_eq!((seq, kind.as_str()), (4, "alias_set"));
    assert_eq!(alias["refs"], json!(["champion", "1"]));
    assert_eq!(alias["artifact"]["digest"], digest_of(b"one"));
}

/// Each message carries where all of the model's refs point after it — as of that point
/// of the log, not as the tables are when it is read — so a model's newest message (what
/// a compacted topic keeps) is enough to know its state.
#[tokio::test]
async fn every_message_carries_the_models_ref_state_as_of_its_event() {
    let app = spawn_app().await;
    model_with_version(&app, "bc", b"one").await; // 1-3
    app.promote("bc", "production", &json!({"version": 1}))
        .await; // 4
    app.put_json("/api/v1/models/bc/aliases/champion", &json!({"version": 1}))
        .await; // 5
    app.upload("bc", b"two").await; // 6 created, 7 ready
    app.delete("/api/v1/models/bc/aliases/champion").await; // 8
    let mut stream = SseReader::open(&app, "?after=0", None).await;
    let mut states = Vec::new();
    for _ in 1..=8 {
        let (seq, kind, message) = stream.next_event().await;
        states.push((seq, kind, message["state"].clone()));
    }
    let state = |stages: &Value, aliases: &Value, latest: Value| json!({"stages": stages, "aliases": aliases, "latest": latest});
    let none = json!({});
    assert_eq!(
        states,
        [
            (1, "model_created".into(), state(&none, &none, json!(null))),
            (
                2,
                "version_created".into(),
                state(&none, &none, json!(null))
            ),
            (3, "version_ready".into(), state(&none, &none, json!(1))),
            (
                4,
                "stage_changed".into(),
                state(&json!({"production": 1}), &none, json!(1))
            ),
            (
                5,
                "alias_set".into(),
                state(&json!({"production": 1}), &json!({"champion": 1}), json!(1))
            ),
            (
                6,
                "version_created".into(),
                state(&json!({"production": 1}), &json!({"champion": 1}), json!(1))
            ),
            (
                7,
                "version_ready".into(),
                state(&json!({"production": 1}), &json!({"champion": 1}), json!(2))
            ),
            (
                8,
                "alias_removed".into(),
                state(&json!({"production": 1}), &none, json!(2))
            ),
        ]
    );

    // A model deleted and created again under the same name starts from nothing.
    model_with_version(&app, "gone", b"old").await; // 9-11
    app.delete("/api/v1/models/gone").await; // 12
    model_with_version(&app, "gone", b"new").await; // 13-15
    let mut stream = SseReader::open(&app, "?model=gone&after=8", None).await;
    let mut latest = Vec::new();
    for _ in 9..=15 {
        let (seq, _, message) = stream.next_event().await;
        latest.push((seq, message["state"]["latest"].clone()));
    }
    assert_eq!(
        latest,
        [
            (9, json!(null)),
            (10, json!(null)),
            (11, json!(1)),
            (12, json!(null)),
            (13, json!(null)),
            (14, json!(null)),
            (15, json!(1)),
        ]
    );
}

#[tokio::test]
async fn last_event_id_resumes_after_that_seq_and_wins_over_after() {
    let app = spawn_app().await;
    model_with_version(&app, "bc", b"one").await; // seq 1-3
    let mut first = SseReader::open(&app, "?after=0", None).await;
    assert_eq!(first.next_seqs(2).await, [1, 2]);
    drop(first);
    // While disconnected, more happens.
    model_with_version(&app, "other", b"two").await; // seq 4-6
    let mut resumed = SseReader::open(&app, "?after=0", Some("2")).await;
    assert_eq!(resumed.next_seqs(4).await, [3, 4, 5, 6]);
    app.create_model("third").await; // seq 7
    assert_eq!(resumed.next_seqs(1).await, [7]);

    let response = SseReader::request(&app, "", Some("x")).await;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap();
    assert_problem(status, &body, 400, "invalid_last_event_id");
    let response = SseReader::request(&app, "?after=-1", None).await;
    let status = response.status().as_u16();
    assert_problem(
        status,
        &response.json().await.unwrap(),
        400,
        "invalid_after",
    );
}

#[tokio::test]
async fn model_and_kind_filters_apply_to_replay_and_live_events() {
    let app = spawn_app().await;
    model_with_version(&app, "bc", b"one").await; // 1-3
    model_with_version(&app, "other", b"two").await; // 4-6
    app.promote("other", "production", &json!({"version": 1}))
        .await; // 7
    app.promote("bc", "staging", &json!({"version": 1})).await; // 8
    let mut stream = SseReader::open(&app, "?model=bc&kind=stage_changed&after=0", None).await;
    let (seq, _, message) = stream.next_event().await;
    assert_eq!(seq, 8);
    assert_eq!(message["refs"], json!(["staging", "1"]));
    app.promote("other", "staging", &json!({"version": 1}))
        .await; // 9: filtered out
    app.upload("bc", b"three").await; // 10, 11: filtered out
    app.promote("bc", "production", &json!({"version": 2}))
        .await; // 12
    let (seq, _, message) = stream.next_event().await;
    assert_eq!(seq, 12);
    assert_eq!(message["refs"], json!(["production", "2"]));

    let response = SseReader::request(&app, "?kind=nonsense", None).await;
    let status = response.status().as_u16();
    assert_problem(status, &response.json().await.unwrap(), 400, "invalid_kind");
    let response = SseReader::request(&app, "?model=..", None).await;
    let status = response.status().as_u16();
    assert_problem(status, &response.json().await.unwrap(), 400, "invalid_name");
}

#[tokio::test]
async fn idle_streams_send_keep_alive_comments() {
    let app = spawn_with_events(EventsConfig {
        heartbeat: Duration::from_millis(100),
        ..EventsConfig::default()
    })
    .await;
    let mut stream = SseReader::open(&app, "", None).await;
    for _ in 0..2 {
        assert_eq!(
            stream.next().await,
            Some(SseItem::Comment("keep-alive".into()))
        );
    }
    app.create_model("bc").await;
    loop {
        match stream.next().await {
            Some(SseItem::Comment(_)) => {}
            Some(SseItem::Event { id, .. }) => break assert_eq!(id, 1),
            None => panic!("stream ended"),
        }
    }
}

#[tokio::test]
async fn archiving_the_latest_version_moves_latest_to_the_previous_one() {
    let app = spawn_with_events(EventsConfig {
        public_url: Some("https://models.example.com/".into()),
        ..EventsConfig::default()
    })
    .await;
    model_with_version(&app, "fraud.v2", b"one").await; // 1-3
    app.upload("fraud.v2", b"two").await; // 4-5
    let mut stream = SseReader::open(&app, "?after=3", None).await;
    let (_, kind, ready) = stream.next_event().await;
    assert_eq!(kind, "version_created");
    assert_eq!(ready["refs"], json!([]));
    let (_, kind, ready) = stream.next_event().await;
    assert_eq!(kind, "version_ready");
    assert_eq!(ready["refs"], json!(["latest", "2"]));
    assert_eq!(
        ready["artifact"]["url"],
        "https://models.example.com/api/v1/models/fraud.v2/versions/2/artifact"
    );
    app.post_json("/api/v1/models/fraud.v2/versions/2/archive", &json!({}))
        .await;
    let (_, kind, archived) = stream.next_event().await;
    assert_eq!(kind, "version_archived");
    assert_eq!(archived["version"], 2);
    assert_eq!(archived["refs"], json!(["latest", "1"]));
    assert_eq!(archived["artifact"]["version"], 1);
    assert_eq!(archived["artifact"]["digest"], digest_of(b"one"));
    app.post_json("/api/v1/models/fraud.v2/versions/1/archive", &json!({}))
        .await;
    let (_, _, archived) = stream.next_event().await;
    assert_eq!(archived["refs"], json!(["latest"]), "no version left");
    assert_eq!(archived["artifact"], json!(null));
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_reads_the_table_and_misses_nothing() {
    // A broadcast buffer of one event: bursts overflow it, so the subscriber must catch
    // up from the table by its own cursor.
    let app = spawn_with_events(EventsConfig {
        broadcast_capacity: 1,
        ..EventsConfig::default()
    })
    .await;
    let mut stream = SseReader::open(&app, "", None).await;
    let creates = (0..60).map(|i| {
        let app = &app;
        async move { app.create_model(&format!("m{i}")).await }
    });
    futures::future::join_all(creates).await;
    assert_eq!(stream.next_seqs(60).await, (1..=60).collect::<Vec<_>>());
}

#[tokio::test]
async fn streams_end_when_the_server_stops() {
    let app = spawn_app().await;
    let mut stream = SseReader::open(&app, "", None).await;
    let stopped = tokio::spawn(app.stop_gracefully());
    assert_eq!(stream.next().await, None, "the stream must end on shutdown");
    // Far sooner than actix's 30 s limit for in-flight requests.
    tokio::time::timeout(WAIT / 2, stopped)
        .await
        .expect("the graceful stop waited for the event stream")
        .unwrap();
}
