//! The operator's pages in a real browser: a deployment going from `rolling_out` to
//! `in_sync` after a promotion made through the API, shown live; a promotion request
//! approved from the model's page (the requester cannot approve their own); a succeeded
//! batch job approved from its page.

use std::time::Duration;

use capstan_registry::config::AuthConfig;
use capstan_tests::browser::Browser;
use capstan_tests::{spawn_with, train_breast_cancer, TestApp};
use serde_json::json;

use super::sign_in;
use crate::batch::{table_with_ids, upload_dataset, wait_for_job};
use crate::deployments::{quick_deployments, report};

async fn operations_app() -> (TestApp, String, String) {
    let app = spawn_with(capstan_tests::TestOptions {
        auth: Some(AuthConfig {
            enabled: true,
            cache: Duration::ZERO,
            ..AuthConfig::default()
        }),
        ..quick_deployments(Duration::from_secs(60), Duration::from_secs(10))
    })
    .await;
    app.create_model("bc").await;
    for l2 in [1.0, 0.01] {
        app.upload_trained("bc", &train_breast_cancer(l2)).await;
    }
    let alice = app.create_token("alice", "promoter", None).await;
    let bob = app.create_token("bob", "promoter", None).await;
    (app, alice, bob)
}

async fn digest(app: &TestApp, version: i64) -> String {
    let (_, body) = app
        .get_json(&format!("/api/v1/models/bc/versions/{version}"))
        .await;
    body["digest"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_rolls_out_live_and_reviews_are_made_in_the_browser() {
    let Some(browser) = Browser::start("ui_operations", 1280).await else {
        return;
    };
    let (app, alice, bob) = operations_app().await;
    let (status, body) = app
        .promote("bc", "production", &json!({"version": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .put_json(
            "/api/v1/deployments/bc-api",
            &json!({"model": "bc@production", "pattern": "api"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let one = digest(&app, 1).await;
    let (status, body) = report(
        &app,
        "bc-api",
        "pod-a",
        json!({"version": 1, "digest": one, "status": "serving"}),
    )
    .await;
    assert!(status < 300, "{body}");

    // The deployment's page: in sync; then a promotion through the API rolls it out, and
    // the instance catching up brings it back in sync — all without a reload.
    sign_in(&browser, &app, &alice, "/ui/deployments").await;
    browser.click_link("bc-api").await;
    browser.wait_for_text("h1", "in sync").await;
    assert_eq!(browser.path().await, "/ui/deployments/bc-api");
    let (status, body) = app
        .promote("bc", "production", &json!({"version": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    browser.wait_for_text("h1", "rolling out").await;
    browser.wait_for_text("#instances", "v1").await;
    browser.screenshot("deployment-rolling-out").await;
    let two = digest(&app, 2).await;
    report(
        &app,
        "bc-api",
        "pod-a",
        json!({"version": 2, "digest": two, "status": "serving"}),
    )
    .await;
    browser.wait_for_text("h1", "in sync").await;
    browser.wait_for_text("#instances", "v2").await;

    // A promotion that needs an approval: alice asks, bob approves in the browser.
    let (status, body) = app
        .put_json(
            "/api/v1/models/bc/policy",
            &json!({"stages": {"staging": {"approvals": 1}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    browser.goto(&app.url("/ui/models/bc")).await;
    super::promote(&browser, 1, "staging", "needs a second pair of eyes").await;
    browser.wait_for_text(".notice.ok", "needs approvals").await;
    browser
        .wait_for_text("#requests + div", "asked by alice")
        .await;
    // Alice may not approve her own request: the service says so, on the page.
    review_request(&browser, "approve").await;
    let refusal = browser.wait_for_text(".notice.refused", "Refused").await;
    assert!(
        refusal.contains("alice asked for this promotion and cannot approve it"),
        "{refusal}"
    );
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert!(model["stages"]["staging"].is_null(), "{model}");
    // Bob signs in and approves: staging holds v1.
    browser.click("header form button").await;
    browser.find("#token").await;
    sign_in(&browser, &app, &bob, "/ui/models/bc").await;
    review_request(&browser, "approve").await;
    browser.wait_for_text(".notice.ok", "Approved").await;
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["stages"]["staging"], 1, "{model}");

    // A batch job, succeeded, approved from its page.
    let (csv, _) = table_with_ids();
    let (_, dataset) = upload_dataset(&app, "bc", "text/csv", csv.into_bytes()).await;
    let (status, job) = app
        .post_json(
            "/api/v1/batch-jobs",
            &json!({"model": "bc@production", "input": {"dataset": dataset["id"]}, "id_column": "id"}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(wait_for_job(&app, &id).await["status"], "succeeded");
    browser.goto(&app.url("/ui/batch-jobs")).await;
    browser.click_link(&id[..8]).await;
    browser.wait_for_text("h1", "succeeded").await;
    browser.screenshot("batch-job").await;
    browser.fill("review-reason", "spot-checked 20 rows").await;
    browser.click("#review-confirm").await;
    browser.click("button[value=approve]").await;
    browser.wait_for_text("h1", "approved").await;
    let (_, job) = app.get_json(&format!("/api/v1/batch-jobs/{id}")).await;
    assert_eq!(job["status"], "approved");
    assert_eq!(job["review"]["by"], "bob");
    assert_eq!(job["review"]["reason"], "spot-checked 20 rows");

    browser.close().await;
}

/// Sends the first pending request's review form with `decision`.
async fn review_request(browser: &Browser, decision: &str) {
    let form = "form[action^='/ui/promotion-requests/']";
    browser.click(&format!("{form} input[type=checkbox]")).await;
    browser
        .click(&format!("{form} button[value={decision}]"))
        .await;
}
