//! The UI without a mouse and without a wide screen: a model found and an alias set
//! with the keyboard alone (Tab, typing, Space, Enter — focus always visible), and every
//! page readable at 400% zoom — 320 CSS pixels wide, as WCAG's reflow criterion counts a
//! 1280-pixel screen at 400% — with no sideways scrolling of the page and a label on
//! every field.

use fantoccini::key::Key;
use serde_json::{json, Value};

use capstan_tests::browser::Browser;
use capstan_tests::TestApp;

use super::{sign_in, ui_app};
use crate::batch::{table_with_ids, upload_dataset, wait_for_job};

/// Presses `keys` in the focused element (the page's body when nothing is focused).
async fn press(browser: &Browser, keys: &str) {
    let focused = browser.client.active_element().await.unwrap();
    focused.send_keys(keys).await.unwrap();
}

/// Runs `script` (a function body taking `arguments`) and returns its value.
async fn eval(browser: &Browser, script: &str, args: Vec<Value>) -> Value {
    browser.client.execute(script, args).await.unwrap()
}

/// Presses Tab until the focused element matches `css`, checking on the way that each
/// focused element shows the focus ring; fails when `css` is never reached.
async fn tab_to(browser: &Browser, css: &str) {
    for _ in 0..200 {
        press(browser, &Key::Tab).await;
        let focused = eval(
            browser,
            "const e = document.activeElement; const s = getComputedStyle(e);
             return {matches: e.matches(arguments[0]), outline: s.outlineStyle,
                     width: s.outlineWidth, html: e.outerHTML.slice(0, 120)};",
            vec![json!(css)],
        )
        .await;
        if focused["html"]
            .as_str()
            .is_some_and(|h| h.starts_with("<body"))
        {
            continue;
        }
        assert_eq!(
            (focused["outline"].as_str(), focused["width"].as_str()),
            (Some("solid"), Some("3px")),
            "the focus is not visible on {}",
            focused["html"]
        );
        if focused["matches"] == json!(true) {
            return;
        }
    }
    panic!("Tab never reached {css:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyboard_alone_finds_a_model_and_sets_an_alias_with_a_reason() {
    let Some(browser) = Browser::start("ui_keyboard", 1280).await else {
        return;
    };
    let (app, promoter, _) = ui_app().await;
    sign_in(&browser, &app, &promoter, "/ui/").await;

    // The first stop is the skip link; then on to the model, opened with Enter.
    tab_to(&browser, "a.skip").await;
    tab_to(&browser, "main a[href='/ui/models/bc']").await;
    press(&browser, &Key::Enter).await;
    browser.wait_for_text("h1", "bc").await;
    assert_eq!(browser.path().await, "/ui/models/bc");

    // The alias form, field by field: name, version (typed ahead), reason, the
    // confirmation box (Space), the button (Enter).
    tab_to(&browser, "#alias-name").await;
    press(&browser, "champion").await;
    tab_to(&browser, "#alias-version").await;
    press(&browser, "v1").await;
    let chosen = eval(&browser, "return document.activeElement.value;", Vec::new()).await;
    assert_eq!(chosen, "1", "typing v1 in the list chooses version 1");
    tab_to(&browser, "#alias-reason").await;
    press(&browser, "chosen by keyboard").await;
    tab_to(&browser, "#alias-confirm").await;
    press(&browser, &Key::Space).await;
    tab_to(&browser, "form:has(#alias-name) button[type=submit]").await;
    press(&browser, &Key::Enter).await;

    browser
        .wait_for_text(".notice.ok", "@champion now points at version 1")
        .await;
    let history = browser.text("#history + div").await;
    assert!(
        history.contains("alias champion → v1") && history.contains("chosen by keyboard"),
        "{history}"
    );
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["aliases"]["champion"], 1, "{model}");
    browser.close().await;
}

/// Asserts the page in `browser` fits its window (only tables scroll, inside their own
/// box) and labels every field; `page` names it in failures.
pub(super) async fn assert_reflows(browser: &Browser, page: &str) {
    let state = eval(
        browser,
        "const unlabelled = [...document.querySelectorAll(
             'input:not([type=hidden]), select, textarea')]
           .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
           .map(e => e.outerHTML.slice(0, 120));
         return {width: window.innerWidth,
                 overflow: document.documentElement.scrollWidth - window.innerWidth,
                 unlabelled};",
        Vec::new(),
    )
    .await;
    assert!(
        state["overflow"].as_i64().unwrap() <= 0,
        "{page} is wider than its {}-pixel window by {} pixels",
        state["width"],
        state["overflow"]
    );
    assert_eq!(
        state["unlabelled"],
        json!([]),
        "{page} has fields without a label"
    );
}

/// Opens `path` and waits for its heading.
async fn open(browser: &Browser, app: &TestApp, path: &str) {
    browser.goto(&app.url(path)).await;
    browser.find("main h1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_reads_at_400_percent_zoom() {
    let Some(browser) = Browser::start_narrow("ui_zoom", 320, 4.0).await else {
        return;
    };
    let (app, promoter, _) = ui_app().await;
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
    let (csv, _) = table_with_ids();
    let (_, dataset) = upload_dataset(&app, "bc", "text/csv", csv.into_bytes()).await;
    let (status, job) = app
        .post_json(
            "/api/v1/batch-jobs",
            &json!({"model": "bc@production", "input": {"dataset": dataset["id"]}, "id_column": "id"}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let job = job["id"].as_str().unwrap().to_owned();
    wait_for_job(&app, &job).await;

    browser.goto(&app.url("/ui/")).await;
    browser.find("#token").await;
    let width = eval(&browser, "return window.innerWidth;", Vec::new()).await;
    assert!(
        width.as_i64().unwrap() <= 320,
        "the window is {width} pixels wide, not 320"
    );
    assert_reflows(&browser, "the sign-in page").await;
    sign_in(&browser, &app, &promoter, "/ui/").await;
    let job_page = format!("/ui/batch-jobs/{job}");
    for path in [
        "/ui/",
        "/ui/models/bc",
        "/ui/models/bc/versions/1",
        "/ui/models/bc/compare?v=1&v=2",
        "/ui/deployments",
        "/ui/deployments/bc-api",
        "/ui/batch-jobs",
        &job_page,
    ] {
        open(&browser, &app, path).await;
        assert_reflows(&browser, path).await;
        if path == "/ui/models/bc/versions/1" {
            browser.screenshot("version-400-percent").await;
        }
    }
    browser.close().await;
}
