//! The model's and the version's other actions in a real browser, each with its reason
//! kept in the history: rolling a stage back, removing an alias, archiving a version (and
//! the refusal to archive one that holds a stage); and a tree version's page listing its
//! files, each linked to its bytes.

use capstan_client::http::Client;
use capstan_client::types::NewVersion;
use capstan_client::{Config, ModelName};
use capstan_tests::browser::Browser;
use capstan_tests::{zoo, TestApp};
use serde_json::json;

use super::{sign_in, ui_app};

/// Ticks the confirmation box `confirm` and sends its form.
async fn confirm_and_send(browser: &Browser, confirm: &str) {
    browser.click(confirm).await;
    browser
        .click(&format!("form:has({confirm}) button[type=submit]"))
        .await;
}

/// Pushes a tree version of `bc` (an MLflow ONNX model with a note beside it); its number.
async fn push_tree(app: &TestApp) -> i64 {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir_all(model.join("extra")).unwrap();
    std::fs::write(
        model.join("MLmodel"),
        "flavors:\n  onnx:\n    data: model.onnx\n",
    )
    .unwrap();
    std::fs::write(
        model.join("model.onnx"),
        zoo::bytes(&zoo::model("logistic")),
    )
    .unwrap();
    std::fs::write(model.join("extra/notes ü.md"), "# notes\n").unwrap();
    let config = Config::new(&app.base)
        .unwrap()
        .with_token(app.admin_token.clone());
    let meta = NewVersion {
        format: "mlflow".into(),
        ..NewVersion::default()
    };
    Client::new(config)
        .unwrap()
        .push_tree(&ModelName::parse("bc").unwrap(), &model, meta)
        .await
        .unwrap()
        .version
        .version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roll_back_remove_an_alias_and_archive_with_reasons() {
    let Some(browser) = Browser::start("ui_actions", 1280).await else {
        return;
    };
    let (app, promoter, _) = ui_app().await;
    for version in [1, 2] {
        let (status, body) = app
            .promote("bc", "production", &json!({ "version": version }))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = app
        .put_json("/api/v1/models/bc/aliases/canary", &json!({"version": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    sign_in(&browser, &app, &promoter, "/ui/models/bc").await;

    // Roll production back to v1.
    browser
        .click("#rollback-stage option[value=production]")
        .await;
    browser
        .fill("rollback-reason", "v2 misreads small tumours")
        .await;
    confirm_and_send(&browser, "#rollback-confirm").await;
    browser
        .wait_for_text(".notice.ok", "production now holds version 1")
        .await;
    let history = browser.text("#history + div").await;
    assert!(
        history.contains("production v2 → v1") && history.contains("v2 misreads small tumours"),
        "{history}"
    );

    // Remove the canary alias.
    browser.click("#unalias-name option[value=canary]").await;
    browser.fill("unalias-reason", "canary over").await;
    confirm_and_send(&browser, "#unalias-confirm").await;
    browser.wait_for_text(".notice.ok", "@canary removed").await;
    let history = browser.text("#history + div").await;
    assert!(
        history.contains("alias canary removed") && history.contains("canary over"),
        "{history}"
    );
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["aliases"], json!({}), "{model}");
    assert_eq!(model["stages"]["production"], 1, "{model}");

    // Version 1 holds production: archiving it is refused, with the reason why.
    browser.click_link("version 1").await;
    browser.wait_for_text("h1", "bc version 1").await;
    browser.fill("archive-reason", "retire it").await;
    confirm_and_send(&browser, "#archive-confirm").await;
    let refusal = browser.wait_for_text(".notice.refused", "Refused").await;
    assert!(refusal.contains("holds production"), "{refusal}");
    let (_, one) = app.get_json("/api/v1/models/bc/versions/1").await;
    assert!(one["archived_at"].is_null(), "{one}");

    // Version 2 is archived from its page.
    browser.goto(&app.url("/ui/models/bc/versions/2")).await;
    browser
        .fill("archive-reason", "superseded by v1's retrain")
        .await;
    confirm_and_send(&browser, "#archive-confirm").await;
    browser
        .wait_for_text(".notice.ok", "Version 2 archived")
        .await;
    let history = browser.text("#history + div").await;
    assert!(
        history.contains("version archived (v2)") && history.contains("superseded by v1's retrain"),
        "{history}"
    );
    let (_, two) = app.get_json("/api/v1/models/bc/versions/2").await;
    assert!(two["archived_at"].is_string(), "{two}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_versions_page_lists_its_files_with_links_to_their_bytes() {
    let Some(browser) = Browser::start("ui_tree", 1280).await else {
        return;
    };
    let (app, promoter, _) = ui_app().await;
    let number = push_tree(&app).await;
    let page = format!("/ui/models/bc/versions/{number}");
    sign_in(&browser, &app, &promoter, &page).await;
    let files = browser.text("#files + div").await;
    for path in ["MLmodel", "model.onnx", "extra/notes ü.md"] {
        assert!(files.contains(path), "{path} not listed: {files}");
    }
    let (_, manifest) = app
        .get_json(&format!("/api/v1/models/bc/versions/{number}/manifest"))
        .await;
    let notes = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "extra/notes ü.md")
        .unwrap();
    let digest = notes["digest"].as_str().unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    assert!(files.contains(&hex[..12]), "digest shown: {files}");

    let link = browser
        .find("#files + div a[href$='notes%20%C3%BC.md']")
        .await;
    let href = link.attr("href").await.unwrap().unwrap();
    let bytes = app
        .http
        .get(app.url(&href))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"# notes\n", "{href}");
    browser.screenshot("tree-version").await;
    browser.close().await;
}
