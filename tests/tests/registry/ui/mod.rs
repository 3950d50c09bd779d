//! The web UI in a real headless Chromium (`capstan_tests::browser`), against a registry
//! with authentication on: signing in, finding a model, a version and its **try it**
//! answer (equal to the predict API's), comparing versions, promoting with a reason (the
//! event in the history), a policy's refusal shown with its detail, a change made through
//! the API appearing in an open page without a reload, a reader seeing no actions and
//! refused anyway, and forms without this session's CSRF token refused.
//!
//! `CAPSTAN_UI_SCREENSHOTS=1` (`scripts/ui-screenshots.sh`) also saves the pages shown in
//! docs/ui.md.

use capstan_tests::browser::Browser;
use capstan_tests::{breast_cancer_rows, spawn_with_auth, train_breast_cancer, TestApp};
use serde_json::{json, Value};

mod access;
mod actions;
mod operations;
mod session;

/// A registry with `bc` v1 and v2 (different regularisation, so different metrics) and a
/// promoter's and a reader's token.
pub(super) async fn ui_app() -> (TestApp, String, String) {
    let app = spawn_with_auth(std::time::Duration::ZERO).await;
    app.create_model("bc").await;
    for l2 in [1.0, 0.01] {
        app.upload_trained("bc", &train_breast_cancer(l2)).await;
    }
    let promoter = app.create_token("ui-promoter", "promoter", None).await;
    let reader = app.create_token("ui-reader", "reader", None).await;
    (app, promoter, reader)
}

/// Signs in with `token` through the sign-in page the UI sends an anonymous visitor to.
pub(super) async fn sign_in(browser: &Browser, app: &TestApp, token: &str, page: &str) {
    browser.goto(&app.url(page)).await;
    browser.find("#token").await;
    assert!(browser.path().await.starts_with("/ui/sign-in?next="));
    browser.fill("token", token).await;
    browser.click("form button[type=submit]").await;
    browser.wait_to_leave("/ui/sign-in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_try_compare_promote_and_watch_in_a_real_browser() {
    let Some(browser) = Browser::start("ui_walkthrough", 1280).await else {
        return;
    };
    let (app, promoter, _) = ui_app().await;

    // Signing in lands on the page asked for; the models list finds bc.
    sign_in(&browser, &app, &promoter, "/ui/").await;
    assert_eq!(browser.path().await, "/ui/");
    browser.fill("q", "b").await;
    browser.click("form[role=search] button").await;
    browser.wait_for_path("q=b").await;
    browser.wait_for_text("main table", "bc").await;
    browser.screenshot("models").await;
    browser.click_link("bc").await;
    browser.wait_for_text("h1", "bc").await;
    assert_eq!(browser.path().await, "/ui/models/bc");
    let versions = browser.text("main table").await;
    assert!(
        versions.contains("v1") && versions.contains("v2"),
        "{versions}"
    );
    assert!(
        versions.contains("accuracy"),
        "metrics as columns: {versions}"
    );
    browser.screenshot("model").await;

    // A version, and a prediction through its try-it form equal to the API's.
    browser.click_link("v2").await;
    browser.wait_for_text("h1", "bc version 2").await;
    let row = &breast_cancer_rows(1)[0];
    for (i, value) in row.iter().enumerate() {
        browser.fill(&format!("f{i}"), &value.to_string()).await;
    }
    browser
        .click("#try + form button, form[action$='/try#try'] button")
        .await;
    let shown = browser.wait_for_text("#answer", "predicts").await;
    let (status, api) = app
        .post_json(
            "/api/v1/models/bc/versions/2/predict",
            &json!({ "instances": [row] }),
        )
        .await;
    assert_eq!(status, 200, "{api}");
    let label = match &api["predictions"][0] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    assert_eq!(browser.text("#prediction").await, label, "{shown}");
    browser.screenshot("version").await;

    // Compare v1 and v2: their metrics side by side, the differences marked.
    browser.goto(&app.url("/ui/models/bc")).await;
    browser.click("#cmp-1").await;
    browser.click("#cmp-2").await;
    browser
        .click("form[action='/ui/models/bc/compare'] button")
        .await;
    browser.wait_for_text("h1", "compared").await;
    // The table lists the newest first, so the form sends v=2 first.
    assert_eq!(browser.path().await, "/ui/models/bc/compare?v=2&v=1");
    let compared = browser.text("main").await;
    assert!(compared.contains("accuracy"), "{compared}");
    let marked = browser
        .client
        .find_all(fantoccini::Locator::Css("td.diff-changed"))
        .await
        .unwrap();
    assert!(
        !marked.is_empty(),
        "v2's metrics differ from v1's: {compared}"
    );
    browser.screenshot("compare").await;

    // Promote v2 to production with a reason: the notice, the pointer, the history.
    browser.goto(&app.url("/ui/models/bc")).await;
    promote(&browser, 2, "production", "better recall").await;
    browser
        .wait_for_text(".notice.ok", "production now holds version 2")
        .await;
    let history = browser.text("#history + div").await;
    assert!(history.contains("production none → v2"), "{history}");
    assert!(
        history.contains("better recall") && history.contains("ui-promoter"),
        "{history}"
    );
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["stages"]["production"], 2);

    // A promotion made through the API shows up in the open page by itself.
    let (status, body) = app
        .promote(
            "bc",
            "staging",
            &json!({"version": 1, "reason": "from the API"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    browser
        .wait_for_text("#history + div", "staging none → v1")
        .await;
    browser.wait_for_text("main dl.facts", "version 1").await;

    // A policy's refusal is shown with its detail, and changes nothing.
    let (status, body) = app
        .put_json(
            "/api/v1/models/bc/policy",
            &json!({"stages": {"production": {"metrics": {"accuracy": {"min": 0.999}}}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    browser.goto(&app.url("/ui/models/bc")).await;
    promote(&browser, 1, "production", "try anyway").await;
    let refusal = browser.wait_for_text(".notice.refused", "Refused").await;
    assert!(
        refusal.contains("accuracy") && refusal.contains("0.999"),
        "{refusal}"
    );
    browser.screenshot("refused").await;
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(
        model["stages"]["production"], 2,
        "the refusal changed nothing"
    );
    browser.close().await;
}

/// Fills and sends the promote form.
pub(super) async fn promote(browser: &Browser, version: i64, stage: &str, reason: &str) {
    let form = "form[action='/ui/models/bc/stages']:has(input[value=promote])";
    browser
        .click(&format!(
            "{form} #promote-version option[value='{version}']"
        ))
        .await;
    browser
        .click(&format!("{form} #promote-stage option[value='{stage}']"))
        .await;
    browser.fill("promote-reason", reason).await;
    browser.click("#promote-confirm").await;
    browser.click(&format!("{form} button")).await;
}
