//! `registered-models/*`: shapes, errors, names refused, tags, aliases, rename, search.

use reqwest::Method;
use serde_json::{json, Value};

use capstan_tests::spawn_app;

use super::{assert_mlflow_error, call, call_on, event_kinds};

#[tokio::test]
async fn create_get_update_delete_in_mlflow_shapes() {
    let app = spawn_app().await;
    let (status, created) = call(
        &app,
        Method::POST,
        "registered-models/create",
        &json!({"name": "bc", "description": "breast cancer", "tags": [
            {"key": "team", "value": "risk"}, {"key": "flag", "value": ""}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let model = &created["registered_model"];
    assert_eq!(model["name"], "bc");
    assert_eq!(model["description"], "breast cancer");
    assert!(model["creation_timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    let mut tags = model["tags"].as_array().unwrap().clone();
    tags.sort_by_key(|t| t["key"].as_str().unwrap().to_owned());
    assert_eq!(
        tags,
        [
            json!({"key": "flag", "value": ""}),
            json!({"key": "team", "value": "risk"})
        ]
    );

    // Capstan's own API sees the MLflow tags as `key=value`.
    let (_, own) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(own["tags"], json!(["flag", "team=risk"]));

    let (status, again) = call(
        &app,
        Method::POST,
        "registered-models/create",
        &json!({"name": "bc"}),
    )
    .await;
    assert_mlflow_error(status, &again, 400, "RESOURCE_ALREADY_EXISTS");

    let (status, updated) = call(
        &app,
        Method::PATCH,
        "registered-models/update",
        &json!({"name": "bc", "description": "new words"}),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["registered_model"]["description"], "new words");
    let (_, own) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(own["description"], "new words");

    let (status, got) = call(
        &app,
        Method::GET,
        "registered-models/get",
        &json!({"name": "bc"}),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["registered_model"]["description"], "new words");

    let (status, deleted) = call(
        &app,
        Method::DELETE,
        "registered-models/delete",
        &json!({"name": "bc"}),
    )
    .await;
    assert_eq!((status, deleted), (200, json!({})));
    let (status, missing) = call(
        &app,
        Method::GET,
        "registered-models/get",
        &json!({"name": "bc"}),
    )
    .await;
    assert_mlflow_error(status, &missing, 404, "RESOURCE_DOES_NOT_EXIST");
    let (status, _) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(status, 404);
    assert_eq!(
        event_kinds(&app, "bc").await,
        ["model_created", "model_updated", "model_deleted"]
    );
}

#[tokio::test]
async fn ajax_prefix_answers_the_same() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let (status, got) = call_on(
        &app,
        &app.http,
        "/ajax-api/2.0/mlflow",
        Method::GET,
        "registered-models/get",
        &json!({"name": "bc"}),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["registered_model"]["name"], "bc");
    let (status, unknown) = call(&app, Method::GET, "experiments/search", &json!({})).await;
    assert_mlflow_error(status, &unknown, 404, "ENDPOINT_NOT_FOUND");
}

#[tokio::test]
async fn names_capstan_cannot_hold_are_refused_and_nothing_is_created() {
    let app = spawn_app().await;
    for name in ["My Model", "BC", "a/b", "x..y", ""] {
        let (status, body) = call(
            &app,
            Method::POST,
            "registered-models/create",
            &json!({"name": name}),
        )
        .await;
        assert_mlflow_error(status, &body, 400, "INVALID_PARAMETER_VALUE");
        if !name.is_empty() {
            let message = body["message"].as_str().unwrap();
            assert!(message.contains("a-z"), "the rule is named: {message}");
        }
    }
    let (_, models) = app.get_json("/api/v1/models").await;
    assert_eq!(models["models"], json!([]));
    let (_, events) = app.get_json("/api/v1/events").await;
    assert_eq!(events["events"], json!([]));

    // Tag keys with `=` cannot be stored as `key=value`.
    let (status, body) = call(
        &app,
        Method::POST,
        "registered-models/create",
        &json!({"name": "bc", "tags": [{"key": "a=b", "value": "c"}]}),
    )
    .await;
    assert_mlflow_error(status, &body, 400, "INVALID_PARAMETER_VALUE");
    let (status, _) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(status, 404, "nothing created");
}

#[tokio::test]
async fn tags_set_and_delete() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    for (key, value) in [("team", "risk"), ("team", "ops"), ("owner", "ana")] {
        let (status, body) = call(
            &app,
            Method::POST,
            "registered-models/set-tag",
            &json!({"name": "bc", "key": key, "value": value}),
        )
        .await;
        assert_eq!((status, body), (200, json!({})));
    }
    let (_, own) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(own["tags"], json!(["owner=ana", "team=ops"]));
    let (status, _) = call(
        &app,
        Method::DELETE,
        "registered-models/delete-tag",
        &json!({"name": "bc", "key": "team"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, own) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(own["tags"], json!(["owner=ana"]));
    let (status, body) = call(
        &app,
        Method::DELETE,
        "registered-models/delete-tag",
        &json!({"name": "bc", "key": "team"}),
    )
    .await;
    assert_mlflow_error(status, &body, 404, "RESOURCE_DOES_NOT_EXIST");
    let (status, body) = call(
        &app,
        Method::POST,
        "registered-models/set-tag",
        &json!({"name": "bc", "key": "k=v", "value": "x"}),
    )
    .await;
    assert_mlflow_error(status, &body, 400, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn aliases_set_get_delete_both_ways() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    let (status, body) = call(
        &app,
        Method::POST,
        "registered-models/alias",
        &json!({"name": "bc", "alias": "champion", "version": v1.to_string()}),
    )
    .await;
    assert_eq!((status, body), (200, json!({})));
    let (_, own) = app.get_json("/api/v1/models/bc/versions/champion").await;
    assert_eq!(own["version"], v1);

    let (status, got) = call(
        &app,
        Method::GET,
        "registered-models/alias",
        &json!({"name": "bc", "alias": "champion"}),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["model_version"]["version"], v1.to_string());
    assert_eq!(got["model_version"]["aliases"], json!(["champion"]));
    let (_, model) = call(
        &app,
        Method::GET,
        "registered-models/get",
        &json!({"name": "bc"}),
    )
    .await;
    assert_eq!(
        model["registered_model"]["aliases"],
        json!([{"alias": "champion", "version": v1.to_string()}])
    );

    // An alias set through Capstan's API is seen through MLflow's, and removed by it.
    let (status, _) = app
        .put_json("/api/v1/models/bc/aliases/canary", &json!({"version": v1}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &app,
        Method::DELETE,
        "registered-models/alias",
        &json!({"name": "bc", "alias": "canary"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = app.get_json("/api/v1/models/bc/versions/canary").await;
    assert_eq!(status, 404);
    let (status, missing) = call(
        &app,
        Method::GET,
        "registered-models/alias",
        &json!({"name": "bc", "alias": "canary"}),
    )
    .await;
    assert_mlflow_error(status, &missing, 404, "RESOURCE_DOES_NOT_EXIST");
    let kinds = event_kinds(&app, "bc").await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "alias_set").count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"alias_removed".to_owned()));
}

#[tokio::test]
async fn rename_moves_everything_and_is_logged() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    app.promote("bc", "production", &json!({"version": v1}))
        .await;
    let (status, renamed) = call(
        &app,
        Method::POST,
        "registered-models/rename",
        &json!({"name": "bc", "new_name": "breast-cancer"}),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["registered_model"]["name"], "breast-cancer");
    let (status, _) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(status, 404);
    let (_, production) = app
        .get_json("/api/v1/models/breast-cancer/versions/production")
        .await;
    assert_eq!(production["version"], v1);
    let (_, events) = app
        .get_json("/api/v1/events?model=breast-cancer&kind=model_renamed")
        .await;
    assert_eq!(events["events"][0]["previous_name"], "bc");

    // Through Capstan's API, back; a taken name and a bad one are refused.
    app.create_model("other").await;
    let (status, body) = app
        .post_json(
            "/api/v1/models/breast-cancer/rename",
            &json!({"name": "other"}),
        )
        .await;
    capstan_tests::assert_problem(status, &body, 409, "model_exists");
    let (status, body) = call(
        &app,
        Method::POST,
        "registered-models/rename",
        &json!({"name": "breast-cancer", "new_name": "Breast Cancer"}),
    )
    .await;
    assert_mlflow_error(status, &body, 400, "INVALID_PARAMETER_VALUE");
    let (status, back) = app
        .post_json(
            "/api/v1/models/breast-cancer/rename",
            &json!({"name": "bc"}),
        )
        .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["stages"]["production"], v1);
}

async fn names(app: &capstan_tests::TestApp, params: Value) -> (Vec<String>, Option<String>) {
    let (status, found) = call(app, Method::GET, "registered-models/search", &params).await;
    assert_eq!(status, 200, "{params}: {found}");
    let names = found["registered_models"]
        .as_array()
        .map(|models| {
            models
                .iter()
                .map(|m| m["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (names, found["next_page_token"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn search_filters_orders_and_pages() {
    let app = spawn_app().await;
    for name in ["fraud", "bc", "churn", "bc-v2"] {
        app.create_model(name).await;
    }
    // Timestamps are in milliseconds: let the tag's change come strictly later.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (status, _) = call(
        &app,
        Method::POST,
        "registered-models/set-tag",
        &json!({"name": "churn", "key": "team", "value": "risk"}),
    )
    .await;
    assert_eq!(status, 200);

    let (all, _) = names(&app, json!({})).await;
    assert_eq!(all, ["bc", "bc-v2", "churn", "fraud"]);
    let (found, _) = names(&app, json!({"filter": "name = 'bc'"})).await;
    assert_eq!(found, ["bc"]);
    let (found, _) = names(&app, json!({"filter": "name LIKE 'bc%'"})).await;
    assert_eq!(found, ["bc", "bc-v2"]);
    let (found, _) = names(&app, json!({"filter": "name ILIKE 'BC-%'"})).await;
    assert_eq!(found, ["bc-v2"]);
    let (found, _) = names(&app, json!({"filter": "tags.team = 'risk'"})).await;
    assert_eq!(found, ["churn"]);
    let (found, _) = names(&app, json!({"order_by": ["name DESC"]})).await;
    assert_eq!(found, ["fraud", "churn", "bc-v2", "bc"]);
    // `churn` changed last (its tag).
    let (found, _) = names(&app, json!({"order_by": ["last_updated_timestamp DESC"]})).await;
    assert_eq!(found[0], "churn");

    let (first, token) = names(&app, json!({"max_results": "3"})).await;
    assert_eq!(first, ["bc", "bc-v2", "churn"]);
    let token = token.expect("a next page");
    let (second, token) = names(&app, json!({"max_results": "3", "page_token": token})).await;
    assert_eq!((second, token), (vec!["fraud".to_owned()], None));

    for bad in [
        json!({"filter": "name = 'bc' OR name = 'x'"}),
        json!({"filter": "run_id = 'x'"}),
        json!({"order_by": ["size"]}),
        json!({"max_results": "0"}),
        json!({"page_token": "nonsense"}),
    ] {
        let (status, body) = call(&app, Method::GET, "registered-models/search", &bad).await;
        assert_mlflow_error(status, &body, 400, "INVALID_PARAMETER_VALUE");
    }
}
