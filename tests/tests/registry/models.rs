use serde_json::json;

use capstan_tests::{assert_problem, spawn_app};

#[tokio::test]
async fn create_show_update_delete() {
    let app = spawn_app().await;
    let (status, model) = app
        .post_json("/api/v1/models", &json!({"name": "bc", "description": "breast cancer", "tags": ["medical", "demo", "demo"]}))
        .await;
    assert_eq!(status, 201, "{model}");
    assert_eq!(model["name"], "bc");
    assert_eq!(model["tags"], json!(["demo", "medical"]));
    assert_eq!(
        model["stages"],
        json!({"staging": null, "production": null})
    );
    assert_eq!(model["aliases"], json!({}));
    assert_eq!(model["latest_version"], json!(null));

    let (status, body) = app
        .post_json("/api/v1/models", &json!({"name": "bc"}))
        .await;
    assert_problem(status, &body, 409, "model_exists");

    let response = app
        .http
        .patch(app.url("/api/v1/models/bc"))
        .json(&json!({"description": "updated", "tags": ["x"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, shown) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(shown["description"], "updated");
    assert_eq!(shown["tags"], json!(["x"]));

    let (status, _) = app.delete("/api/v1/models/bc").await;
    assert_eq!(status, 204);
    let (status, body) = app.get_json("/api/v1/models/bc").await;
    assert_problem(status, &body, 404, "model_not_found");
}

#[tokio::test]
async fn model_json_shows_stages_aliases_and_latest() {
    let app = spawn_app().await;
    app.create_model("fraud").await;
    let v1 = app.upload("fraud", b"one").await;
    let v2 = app.upload("fraud", b"two").await;
    app.promote("fraud", "production", &json!({"version": v1}))
        .await;
    app.promote("fraud", "staging", &json!({"version": v2}))
        .await;
    app.put_json(
        "/api/v1/models/fraud/aliases/champion",
        &json!({"version": v1}),
    )
    .await;
    let (_, model) = app.get_json("/api/v1/models/fraud").await;
    assert_eq!(model["stages"], json!({"staging": v2, "production": v1}));
    assert_eq!(model["aliases"], json!({"champion": v1}));
    assert_eq!(model["latest_version"], v2);
}

#[tokio::test]
async fn deleting_a_model_with_a_stage_is_a_conflict() {
    let app = spawn_app().await;
    app.create_model("m").await;
    let v = app.upload("m", b"x").await;
    app.promote("m", "staging", &json!({"version": v})).await;
    let (status, body) = app.delete("/api/v1/models/m").await;
    assert_problem(status, &body, 409, "model_in_use");
    let (status, _) = app.get_json("/api/v1/models/m").await;
    assert_eq!(status, 200, "the model must survive a refused delete");
}

#[tokio::test]
async fn listing_paginates_and_filters() {
    let app = spawn_app().await;
    for i in 0..7 {
        let tags = if i % 2 == 0 {
            json!(["even"])
        } else {
            json!(["odd"])
        };
        let (status, _) = app
            .post_json(
                "/api/v1/models",
                &json!({"name": format!("m{i}"), "tags": tags}),
            )
            .await;
        assert_eq!(status, 201);
    }
    app.create_model("other").await;

    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            Some(t) => format!("/api/v1/models?limit=3&page_token={t}"),
            None => "/api/v1/models?limit=3".to_owned(),
        };
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["models"].as_array().unwrap().len() <= 3);
        names.extend(
            page["models"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["name"].as_str().unwrap().to_owned()),
        );
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "other"]);

    let (_, page) = app.get_json("/api/v1/models?name_prefix=m").await;
    assert_eq!(page["models"].as_array().unwrap().len(), 7);
    let (_, page) = app.get_json("/api/v1/models?tag=even").await;
    let even: Vec<_> = page["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(even, [json!("m0"), json!("m2"), json!("m4"), json!("m6")]);
    let (_, page) = app.get_json("/api/v1/models?tag=even&name_prefix=m6").await;
    assert_eq!(page["models"].as_array().unwrap().len(), 1);

    let (status, body) = app.get_json("/api/v1/models?limit=0").await;
    assert_problem(status, &body, 400, "invalid_limit");
    let (status, body) = app.get_json("/api/v1/models?page_token=garbage!").await;
    assert_problem(status, &body, 400, "invalid_page_token");
}

#[tokio::test]
async fn default_page_is_100() {
    let app = spawn_app().await;
    for i in 0..101 {
        let (status, _) = app
            .post_json("/api/v1/models", &json!({"name": format!("n{i:03}")}))
            .await;
        assert_eq!(status, 201);
    }
    let (_, page) = app.get_json("/api/v1/models").await;
    assert_eq!(page["models"].as_array().unwrap().len(), 100);
    assert!(page["next_page_token"].is_string());
}

#[tokio::test]
async fn invalid_names_are_rejected_and_nothing_is_created() {
    let app = spawn_app().await;
    let too_long = "a".repeat(129);
    for name in [
        "",
        "..",
        "a..b",
        "../etc",
        "%2e%2e",
        "a/b",
        "a\\b",
        "/abs",
        "Upper",
        "-x",
        ".x",
        "a b",
        "a#b",
        "a;b",
        "ｂｃ",
        "bс",
        too_long.as_str(),
    ] {
        let (status, body) = app
            .post_json("/api/v1/models", &json!({"name": name}))
            .await;
        assert_problem(status, &body, 400, "invalid_body");
        assert!(
            body["detail"].as_str().unwrap().contains("model name"),
            "{body}"
        );
    }
    let (_, page) = app.get_json("/api/v1/models").await;
    assert_eq!(page["models"], json!([]));
    let (_, events) = app.get_json("/api/v1/events").await;
    assert_eq!(events["events"], json!([]));
}
