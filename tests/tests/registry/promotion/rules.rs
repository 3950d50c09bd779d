//! Promotion policies: what they accept, and the rules they hold versions to (422).

use capstan_tests::{assert_problem, spawn_app};
use serde_json::{json, Value};

use super::{events_of, governed_app, holder, promoters, set_policy, upload_with_metrics, As};

#[tokio::test]
async fn versions_breaking_the_rules_are_refused_with_names_and_values() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let weak = upload_with_metrics(&app, "bc", json!({"accuracy": 0.93, "latency_ms": 10})).await;
    let slow = upload_with_metrics(&app, "bc", json!({"accuracy": 0.97, "latency_ms": 30})).await;
    let good = upload_with_metrics(&app, "bc", json!({"accuracy": 0.97, "latency_ms": 20})).await;
    let unmeasured = upload_with_metrics(&app, "bc", json!({"accuracy": 0.99})).await;
    let (status, body) = app.get_json("/api/v1/models/bc/policy").await;
    assert_problem(status, &body, 404, "policy_not_found");
    set_policy(
        &app,
        "bc",
        json!({"stages": {"production": {"from": "staging", "metrics": {"accuracy": {"min": 0.95}, "latency_ms": {"max": 20}}}}}),
    )
    .await;
    let (status, shown) = app.get_json("/api/v1/models/bc/policy").await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["updated_by"], "anonymous");
    assert_eq!(
        shown["policy"]["stages"]["production"]["metrics"]["accuracy"]["min"],
        0.95
    );

    let (status, body) = app
        .promote("bc", "production", &json!({"version": weak}))
        .await;
    assert_problem(status, &body, 422, "policy_violation");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("accuracy 0.93 is below the minimum 0.95 required for production"),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("version {weak} does not hold staging")),
        "{detail}"
    );

    for (version, expected) in [
        (
            slow,
            "latency_ms 30 is above the maximum 20 allowed for production",
        ),
        (unmeasured, "metric latency_ms is missing"),
    ] {
        let (status, body) = app
            .promote("bc", "staging", &json!({"version": version}))
            .await;
        assert_eq!(status, 200, "staging has no rule: {body}");
        let (status, body) = app
            .promote("bc", "production", &json!({"version": version}))
            .await;
        assert_problem(status, &body, 422, "policy_violation");
        assert!(
            body["detail"].as_str().unwrap().contains(expected),
            "{body}"
        );
    }
    assert_eq!(holder(&app, "bc", "production").await, Value::Null);

    app.promote("bc", "staging", &json!({"version": good}))
        .await;
    let (status, body) = app
        .promote("bc", "production", &json!({"version": good}))
        .await;
    assert_eq!(status, 200, "meets every rule, no approvals: {body}");
    assert_eq!(holder(&app, "bc", "production").await, good);

    // Nothing was asked for: no request, no request event.
    let (_, requests) = app.get_json("/api/v1/promotion-requests").await;
    assert_eq!(requests["requests"], json!([]), "{requests}");
    assert!(events_of(&app, "bc", "promotion_requested")
        .await
        .is_empty());

    let (status, _) = app.delete("/api/v1/models/bc/policy").await;
    assert_eq!(status, 204);
    let (status, body) = app.delete("/api/v1/models/bc/policy").await;
    assert_problem(status, &body, 404, "policy_not_found");
    let (status, body) = app
        .promote("bc", "production", &json!({"version": weak}))
        .await;
    assert_eq!(status, 200, "no policy, today's behaviour: {body}");
    let set = events_of(&app, "bc", "policy_set").await;
    let deleted = events_of(&app, "bc", "policy_deleted").await;
    assert_eq!(set.len(), 1);
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["actor"], "anonymous");
}

#[tokio::test]
async fn invalid_policies_are_refused() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    for policy in [
        r#"{"stages": {"production": {"approvals": 11}}}"#,
        r#"{"stages": {"prod": {}}}"#,
        r#"{"stages": {"production": {"metrics": {"accuracy": {"min": 1e999}}}}}"#,
        r#"{"stages": {"production": {"metrics": {"accuracy": {"max": NaN}}}}}"#,
        r#"{"stages": {"production": {"metrics": {"accuracy": {}}}}}"#,
        r#"{"stages": {"production": {"metrics": {"accuracy": {"min": 0.9, "max": 0.1}}}}}"#,
        r#"{"stages": {"production": {"from": "production"}}}"#,
        r#"{"aliases": {"latest": {}}}"#,
        r#"{"stages": {"production": {"approval": 1}}}"#,
    ] {
        let response = app
            .http
            .put(app.url("/api/v1/models/bc/policy"))
            .header("content-type", "application/json")
            .body(policy)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 400, "{policy}: {body}");
    }
    let (status, body) = app.put_json("/api/v1/models/nope/policy", &json!({})).await;
    assert_problem(status, &body, 404, "model_not_found");
    assert!(events_of(&app, "bc", "policy_set").await.is_empty());
}

#[tokio::test]
async fn aliases_follow_their_rule() {
    let app = governed_app(None).await;
    app.create_model("bc").await;
    let weak = upload_with_metrics(&app, "bc", json!({"accuracy": 0.8})).await;
    let strong = upload_with_metrics(&app, "bc", json!({"accuracy": 0.95})).await;
    set_policy(
        &app,
        "bc",
        json!({"aliases": {"champion": {"metrics": {"accuracy": {"min": 0.9}}, "approvals": 1}}}),
    )
    .await;
    let [alice, bob] = <[As; 2]>::try_from(promoters(&app, &["alice", "bob"]).await)
        .ok()
        .unwrap();
    let (status, body) = alice
        .put(
            "/api/v1/models/bc/aliases/champion",
            &json!({"version": weak}),
        )
        .await;
    assert_problem(status, &body, 422, "policy_violation");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("accuracy 0.8 is below the minimum 0.9 required for alias champion"),
        "{body}"
    );
    // Other aliases have no rule.
    let (status, body) = alice
        .put(
            "/api/v1/models/bc/aliases/canary",
            &json!({"version": weak}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, request) = alice
        .put(
            "/api/v1/models/bc/aliases/champion",
            &json!({"version": strong}),
        )
        .await;
    assert_eq!(status, 202, "{request}");
    assert_eq!(request["target"], "alias:champion");
    let (status, body) = app.get_json("/api/v1/models/bc/versions/champion").await;
    assert_problem(status, &body, 404, "version_not_found");
    let (status, body) = bob.approve(&request["id"]).await;
    assert_eq!(status, 200, "{body}");
    let (status, version) = app.get_json("/api/v1/models/bc/versions/champion").await;
    assert_eq!(status, 200, "{version}");
    assert_eq!(version["version"], strong);
    let set = events_of(&app, "bc", "alias_set").await;
    let champion: Vec<&Value> = set.iter().filter(|e| e["alias"] == "champion").collect();
    assert_eq!(champion.len(), 1);
    assert_eq!(champion[0]["actor"], "bob");
    assert_eq!(champion[0]["request"], request["id"]);
}

#[tokio::test]
async fn a_deleted_model_takes_its_policy_and_requests_along() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    upload_with_metrics(&app, "bc", json!({})).await;
    set_policy(&app, "bc", json!({"stages": {"staging": {"approvals": 1}}})).await;
    let (status, _) = app.promote("bc", "staging", &json!({"version": 1})).await;
    assert_eq!(status, 202);
    assert_eq!(app.count_rows("promotion_requests"), 1);
    let (status, body) = app.delete("/api/v1/models/bc").await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(app.count_rows("promotion_policies"), 0);
    assert_eq!(app.count_rows("promotion_requests"), 0);
}
