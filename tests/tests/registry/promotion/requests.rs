//! Promotion requests: four eyes, rejection, expiry, racing approvers, scopes, rollback.

use std::time::Duration;

use capstan_tests::assert_problem;
use serde_json::{json, Value};

use super::{events_of, governed_app, holder, promoters, set_policy, upload_with_metrics, As};

#[tokio::test]
async fn a_promotion_needing_approval_waits_for_another_promoter() {
    let app = governed_app(None).await;
    app.create_model("bc").await;
    let v1 = upload_with_metrics(&app, "bc", json!({"accuracy": 0.97})).await;
    set_policy(
        &app,
        "bc",
        json!({"stages": {"production": {"metrics": {"accuracy": {"min": 0.95}}, "approvals": 1}}}),
    )
    .await;
    let [alice, bob] = <[As; 2]>::try_from(promoters(&app, &["alice", "bob"]).await)
        .ok()
        .unwrap();
    let reader = As::new(&app, &app.create_token("ro", "reader", None).await);

    let (status, request) = alice
        .promote(
            "bc",
            "production",
            json!({"version": v1, "reason": "better recall"}),
        )
        .await;
    assert_eq!(status, 202, "{request}");
    assert_eq!(request["status"], "pending");
    assert_eq!(request["target"], "stage:production");
    assert_eq!(request["requested_by"], "alice");
    assert_eq!(request["version"], v1);
    assert_eq!(request["reason"], "better recall");
    assert_eq!(request["approvals"], json!([]));
    assert_eq!(holder(&app, "bc", "production").await, Value::Null);

    let (status, body) = alice.approve(&request["id"]).await;
    assert_problem(status, &body, 403, "self_approval");
    let (status, body) = reader.approve(&request["id"]).await;
    assert_problem(status, &body, 403, "insufficient_role");
    let (status, listed) = reader
        .get("/api/v1/promotion-requests?model=bc&status=pending")
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["requests"][0]["id"], request["id"]);
    assert_eq!(holder(&app, "bc", "production").await, Value::Null);

    let id = request["id"].as_str().unwrap();
    let (status, approved) = bob
        .post(
            &format!("/api/v1/promotion-requests/{id}/approve"),
            &json!({"reason": "checked the holdout"}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decided_by"], "bob");
    assert_eq!(approved["approvals"][0]["by"], "bob");
    assert_eq!(approved["approvals"][0]["reason"], "checked the holdout");
    assert_eq!(holder(&app, "bc", "production").await, v1);
    let (status, body) = bob.approve(&request["id"]).await;
    assert_problem(status, &body, 409, "request_not_pending");

    let requested = events_of(&app, "bc", "promotion_requested").await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["actor"], "alice");
    assert_eq!(requested[0]["request"], request["id"]);
    assert_eq!(requested[0]["stage"], "production");
    let approvals = events_of(&app, "bc", "promotion_approved").await;
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["actor"], "bob");
    let moved = events_of(&app, "bc", "stage_changed").await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["actor"], "bob");
    assert_eq!(moved[0]["request"], request["id"]);
    assert_eq!(moved[0]["reason"], "better recall");
}

#[tokio::test]
async fn two_approvals_need_two_other_promoters_each_once() {
    let app = governed_app(None).await;
    app.create_model("bc").await;
    let v1 = upload_with_metrics(&app, "bc", json!({})).await;
    set_policy(
        &app,
        "bc",
        json!({"stages": {"production": {"approvals": 2}}}),
    )
    .await;
    let [alice, bob, carol] =
        <[As; 3]>::try_from(promoters(&app, &["alice", "bob", "carol"]).await)
            .ok()
            .unwrap();
    let (status, request) = alice
        .promote("bc", "production", json!({"version": v1}))
        .await;
    assert_eq!(status, 202, "{request}");
    assert_eq!(request["approvals_required"], 2);
    let (status, once) = bob.approve(&request["id"]).await;
    assert_eq!(status, 200, "{once}");
    assert_eq!(once["status"], "pending");
    let (status, body) = bob.approve(&request["id"]).await;
    assert_problem(status, &body, 409, "already_approved");
    assert_eq!(holder(&app, "bc", "production").await, Value::Null);
    let (status, twice) = carol.approve(&request["id"]).await;
    assert_eq!(status, 200, "{twice}");
    assert_eq!(twice["status"], "approved");
    assert_eq!(twice["approvals"].as_array().unwrap().len(), 2);
    assert_eq!(holder(&app, "bc", "production").await, v1);
}

#[tokio::test]
async fn a_rejected_request_keeps_its_reason_and_cannot_be_approved() {
    let app = governed_app(None).await;
    app.create_model("bc").await;
    let v1 = upload_with_metrics(&app, "bc", json!({})).await;
    set_policy(
        &app,
        "bc",
        json!({"stages": {"production": {"approvals": 1}}}),
    )
    .await;
    let [alice, bob] = <[As; 2]>::try_from(promoters(&app, &["alice", "bob"]).await)
        .ok()
        .unwrap();
    let (_, request) = alice
        .promote("bc", "production", json!({"version": v1}))
        .await;
    let id = request["id"].as_str().unwrap();
    let (status, rejected) = bob
        .post(
            &format!("/api/v1/promotion-requests/{id}/reject"),
            &json!({"reason": "recall dropped on small tumours"}),
        )
        .await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["decided_by"], "bob");
    assert_eq!(
        rejected["rejection_reason"],
        "recall dropped on small tumours"
    );
    let (status, body) = bob.approve(&request["id"]).await;
    assert_problem(status, &body, 409, "request_not_pending");
    assert_eq!(holder(&app, "bc", "production").await, Value::Null);
    let events = events_of(&app, "bc", "promotion_rejected").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"], "bob");
    assert_eq!(events[0]["reason"], "recall dropped on small tumours");
    let (_, listed) = app
        .get_json("/api/v1/promotion-requests?status=rejected")
        .await;
    assert_eq!(listed["requests"][0]["id"], request["id"]);
}

#[tokio::test]
async fn an_expired_request_cannot_be_approved() {
    let app = governed_app(Some(Duration::from_millis(300))).await;
    app.create_model("bc").await;
    let v1 = upload_with_metrics(&app, "bc", json!({})).await;
    set_policy(
        &app,
        "bc",
        json!({"stages": {"production": {"approvals": 1}}}),
    )
    .await;
    let [alice, bob] = <[As; 2]>::try_from(promoters(&app, &["alice", "bob"]).await)
        .ok()
        .unwrap();
    let (status, request) = alice
        .promote("bc", "production", json!({"version": v1}))
        .await;
    assert_eq!(status, 202, "{request}");
    let id = request["id"].as_str().unwrap().to_owned();
    // Expiry is a point in time: nothing signals it, so wait past it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, shown) = bob.get(&format!("/api/v1/promotion-requests/{id}")).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["status"], "expired");
    let (status, body) = bob.approve(&request["id"]).await;
    assert_problem(status, &body, 409, "request_expired");
    assert_eq!(holder(&app, "bc", "production").await, Value::Null);
    let (_, expired) = app
        .get_json("/api/v1/promotion-requests?status=expired")
        .await;
    assert_eq!(expired["requests"][0]["id"], request["id"], "{expired}");
    let (_, pending) = app
        .get_json("/api/v1/promotion-requests?status=pending")
        .await;
    assert_eq!(pending["requests"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_approvers_move_the_stage_exactly_once() {
    let app = governed_app(None).await;
    app.create_model("bc").await;
    set_policy(
        &app,
        "bc",
        json!({"stages": {"production": {"approvals": 2}}}),
    )
    .await;
    let callers = promoters(&app, &["alice", "bob", "carol", "dave"]).await;
    let (alice, approvers) = callers.split_first().unwrap();
    let rounds = 5;
    for round in 0..rounds {
        let version = upload_with_metrics(&app, "bc", json!({"round": round})).await;
        let (status, request) = alice
            .promote("bc", "production", json!({"version": version}))
            .await;
        assert_eq!(status, 202, "{request}");
        let answers = futures::future::join_all(
            approvers
                .iter()
                .map(|approver| approver.approve(&request["id"])),
        )
        .await;
        let mut statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 200, 409], "{answers:?}");
        let approved = answers
            .iter()
            .filter(|(_, body)| body["status"] == "approved")
            .count();
        assert_eq!(approved, 1, "{answers:?}");
        assert_eq!(holder(&app, "bc", "production").await, version);
    }
    let moved = events_of(&app, "bc", "stage_changed").await;
    assert_eq!(moved.len(), rounds, "{moved:?}");
    assert_eq!(
        events_of(&app, "bc", "promotion_approved").await.len(),
        2 * rounds
    );
}

#[tokio::test]
async fn scoped_tokens_see_only_the_requests_of_their_models() {
    let app = governed_app(None).await;
    for model in ["fraud-a", "bc"] {
        app.create_model(model).await;
        upload_with_metrics(&app, model, json!({})).await;
        set_policy(
            &app,
            model,
            json!({"stages": {"production": {"approvals": 1}}}),
        )
        .await;
    }
    let [alice] = <[As; 1]>::try_from(promoters(&app, &["alice"]).await)
        .ok()
        .unwrap();
    let scoped = As::new(
        &app,
        &app.create_token("fraud-team", "promoter", Some(&["fraud-*"]))
            .await,
    );
    let (_, fraud) = alice
        .promote("fraud-a", "production", json!({"version": 1}))
        .await;
    let (_, bc) = alice
        .promote("bc", "production", json!({"version": 1}))
        .await;

    let (status, listed) = scoped.get("/api/v1/promotion-requests").await;
    assert_eq!(status, 200, "{listed}");
    let ids: Vec<&Value> = listed["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, [&fraud["id"]]);
    let (_, listed) = scoped.get("/api/v1/promotion-requests?model=bc").await;
    assert_eq!(listed["requests"], json!([]));
    let bc_id = bc["id"].as_str().unwrap();
    let (status, body) = scoped
        .get(&format!("/api/v1/promotion-requests/{bc_id}"))
        .await;
    assert_problem(status, &body, 404, "promotion_request_not_found");
    let (status, body) = scoped.approve(&bc["id"]).await;
    assert_problem(status, &body, 404, "promotion_request_not_found");
    let (status, body) = scoped
        .post(
            &format!("/api/v1/promotion-requests/{bc_id}/reject"),
            &json!({}),
        )
        .await;
    assert_problem(status, &body, 404, "promotion_request_not_found");
    let (status, body) = scoped.approve(&fraud["id"]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(holder(&app, "fraud-a", "production").await, 1);
    assert_eq!(holder(&app, "bc", "production").await, Value::Null);
    // A scoped token cannot set policies.
    let (status, body) = scoped
        .put("/api/v1/models/fraud-a/policy", &json!({}))
        .await;
    assert_problem(status, &body, 403, "scoped_token");
}

#[tokio::test]
async fn rollback_follows_the_policy_and_stale_requests_fail() {
    let app = governed_app(None).await;
    app.create_model("bc").await;
    let v1 = upload_with_metrics(&app, "bc", json!({"accuracy": 0.9})).await;
    let v2 = upload_with_metrics(&app, "bc", json!({"accuracy": 0.99})).await;
    let v3 = upload_with_metrics(&app, "bc", json!({"accuracy": 0.98})).await;
    app.promote("bc", "production", &json!({"version": v1}))
        .await;
    app.promote("bc", "production", &json!({"version": v2}))
        .await;
    set_policy(
        &app,
        "bc",
        json!({"stages": {"production": {"from": "staging", "metrics": {"accuracy": {"min": 0.95}}, "approvals": 1}}}),
    )
    .await;
    let [alice, bob] = <[As; 2]>::try_from(promoters(&app, &["alice", "bob"]).await)
        .ok()
        .unwrap();

    // The previous holder breaks the rule: refused, and the history is left as it was.
    // (`from` is not asked of a rollback: the version held production before.)
    let (status, body) = alice
        .post("/api/v1/models/bc/stages/production/rollback", &json!({}))
        .await;
    assert_problem(status, &body, 422, "policy_violation");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("accuracy 0.9 is below"),
        "{body}"
    );
    assert!(
        !body["detail"].as_str().unwrap().contains("staging"),
        "{body}"
    );
    let (status, body) = alice
        .promote("bc", "production", json!({"version": v3}))
        .await;
    assert_problem(status, &body, 422, "policy_violation");
    let (status, body) = alice.promote("bc", "staging", json!({"version": v3})).await;
    assert_eq!(status, 200, "{body}");

    let (_, to_v3) = alice
        .promote(
            "bc",
            "production",
            json!({"version": v3, "expected_version": v2}),
        )
        .await;
    assert_eq!(to_v3["expected_version"], v2, "{to_v3}");
    let (status, moved) = bob.approve(&to_v3["id"]).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(holder(&app, "bc", "production").await, v3);

    let (status, rollback) = alice
        .post(
            "/api/v1/models/bc/stages/production/rollback",
            &json!({"reason": "v3 regressed"}),
        )
        .await;
    assert_eq!(status, 202, "{rollback}");
    assert_eq!(rollback["rollback"], true);
    assert_eq!(rollback["version"], v2);
    assert_eq!(rollback["expected_version"], v3);
    let (status, body) = bob.approve(&rollback["id"]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(holder(&app, "bc", "production").await, v2);
    let last = events_of(&app, "bc", "stage_changed").await.pop().unwrap();
    assert_eq!(last["reason"], "v3 regressed");
    assert_eq!(last["actor"], "bob");
    assert_eq!(last["request"], rollback["id"]);

    // Two requests expecting v2: the first approved moves production, the other fails.
    let v4 = upload_with_metrics(&app, "bc", json!({"accuracy": 0.97})).await;
    let (_, first) = alice
        .promote(
            "bc",
            "production",
            json!({"version": v3, "expected_version": v2}),
        )
        .await;
    let (status, body) = alice.promote("bc", "staging", json!({"version": v4})).await;
    assert_eq!(status, 200, "{body}");
    let (_, second) = alice
        .promote(
            "bc",
            "production",
            json!({"version": v4, "expected_version": v2}),
        )
        .await;
    assert_eq!(second["status"], "pending", "{second}");
    let (status, body) = bob.approve(&first["id"]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = bob.approve(&second["id"]).await;
    assert_problem(status, &body, 409, "stage_conflict");
    let id = second["id"].as_str().unwrap();
    let (_, failed) = app
        .get_json(&format!("/api/v1/promotion-requests/{id}"))
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["failure_reason"]
            .as_str()
            .unwrap()
            .contains("production holds version"),
        "{failed}"
    );
    assert_eq!(failed["approvals"][0]["by"], "bob");
    assert_eq!(holder(&app, "bc", "production").await, v3);
}
