use serde_json::{json, Value};

use capstan_tests::{assert_problem, spawn_app};

fn kinds(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_change_is_recorded_in_order_with_gap_free_seq() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    app.http
        .patch(app.url("/api/v1/models/bc"))
        .json(&json!({"description": "d"}))
        .send()
        .await
        .unwrap();
    app.promote("bc", "production", &json!({"version": v1, "reason": "go"}))
        .await;
    app.put_json(
        "/api/v1/models/bc/aliases/champion",
        &json!({"version": v1}),
    )
    .await;
    app.delete("/api/v1/models/bc/aliases/champion").await;
    let v2 = app.upload("bc", b"2").await;
    app.post_json(
        &format!("/api/v1/models/bc/versions/{v2}/archive"),
        &json!({}),
    )
    .await;
    app.create_model("gone").await;
    app.delete("/api/v1/models/gone").await;
    // Rejected requests write nothing.
    app.promote("bc", "production", &json!({"version": 99}))
        .await;

    let (status, page) = app.get_json("/api/v1/events").await;
    assert_eq!(status, 200);
    assert_eq!(
        kinds(&page),
        [
            "model_created",
            "version_created",
            "version_ready",
            "model_updated",
            "stage_changed",
            "alias_set",
            "alias_removed",
            "version_created",
            "version_ready",
            "version_archived",
            "model_created",
            "model_deleted"
        ]
    );
    let seqs: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
    assert_eq!(page["last_seq"], 12);
    let ready = &page["events"][2];
    assert_eq!(ready["version"], v1);
    assert!(ready["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(ready["created_at"].is_string());
    assert_eq!(page["events"][5]["alias"], "champion");

    let (_, filtered) = app
        .get_json("/api/v1/events?model=bc&kind=version_ready")
        .await;
    assert_eq!(kinds(&filtered), ["version_ready", "version_ready"]);
    let (_, after) = app.get_json("/api/v1/events?after=10&limit=1").await;
    assert_eq!(kinds(&after), ["model_created"]);
    assert_eq!(after["events"][0]["seq"], 11);

    let (status, body) = app.get_json("/api/v1/events?kind=nonsense").await;
    assert_problem(status, &body, 400, "invalid_kind");
    let (status, body) = app.get_json("/api/v1/events?model=..").await;
    assert_problem(status, &body, 400, "invalid_name");
    let (status, body) = app.get_json("/api/v1/events?after=-1").await;
    assert_problem(status, &body, 400, "invalid_after");
    let (status, body) = app.get_json("/api/v1/events?after=abc").await;
    assert_problem(status, &body, 400, "invalid_query");
}

#[tokio::test]
async fn concurrent_writers_keep_seq_gap_free() {
    let app = spawn_app().await;
    let creates = (0..20).map(|i| {
        let app = &app;
        async move { app.create_model(&format!("m{i}")).await }
    });
    futures::future::join_all(creates).await;
    let (_, page) = app.get_json("/api/v1/events?limit=1000").await;
    let seqs: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
}
