//! Sessions and what protects them: the cookie's attributes, where signing in may lead,
//! a reader's pages (no action shown) and the refusal of an action anyway, forms without
//! this session's CSRF token or from another origin, signing out.

use capstan_tests::browser::Browser;
use capstan_tests::TestApp;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use super::{sign_in, ui_app};

/// A client that shows redirects instead of following them and keeps no cookies.
fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn sign_in_over_http(
    app: &TestApp,
    token: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = plain()
        .post(app.url("/ui/sign-in"))
        .form(&[("token", token), ("next", "/ui/models/bc")]);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn session_cookie(headers: &HeaderMap) -> String {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("capstan_session="))
        .unwrap_or_else(|| panic!("no session cookie in {headers:?}"))
        .to_owned()
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_secure_over_tls() {
    let (app, promoter, _) = ui_app().await;
    let response = sign_in_over_http(&app, &promoter, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "/ui/models/bc");
    let cookie = session_cookie(response.headers());
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    let behind_tls = sign_in_over_http(&app, &promoter, &[("X-Forwarded-Proto", "https")]).await;
    assert!(session_cookie(behind_tls.headers()).contains("Secure"));

    // A wrong token: the page again, 401, no cookie.
    let wrong = sign_in_over_http(&app, "capstan_not-a-token", &[]).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(wrong.text().await.unwrap().contains("unknown or revoked"));

    // Signing in never leads off the UI.
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/api/v1/models",
        "/ui\\..\\x",
    ] {
        let response = plain()
            .post(app.url("/ui/sign-in"))
            .form(&[("token", promoter.as_str()), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[LOCATION], "/ui/", "{next}");
    }

    // Pages without a session go to the sign-in page, which comes back.
    let response = plain()
        .get(app.url("/ui/models/bc?sort=created"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()[LOCATION],
        "/ui/sign-in?next=%2Fui%2Fmodels%2Fbc%3Fsort%3Dcreated"
    );
    // The API does not take the cookie for a write.
    let cookie = format!("capstan_session={promoter}");
    let write = plain()
        .post(app.url("/api/v1/models/bc/stages/production"))
        .header("Cookie", &cookie)
        .json(&serde_json::json!({"version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 401);
    let read = plain()
        .get(app.url("/api/v1/models/bc"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read.status(),
        200,
        "reads (the event stream, downloads) take it"
    );
}

/// Posts the promote form (v1 to staging) with this session cookie, CSRF token and origin.
async fn promote_staging(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    origin: Option<&str>,
) -> reqwest::Response {
    let mut request = plain()
        .post(app.url("/ui/models/bc/stages"))
        .header("Cookie", cookie)
        .form(&[
            ("csrf", csrf),
            ("action", "promote"),
            ("stage", "staging"),
            ("version", "1"),
            ("confirm", "yes"),
        ]);
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn forms_need_this_sessions_csrf_token_and_origin() {
    let (app, promoter, _) = ui_app().await;
    let cookie = format!("capstan_session={promoter}");
    let page = plain()
        .get(app.url("/ui/models/bc"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_owned();
    for (token, origin) in [
        ("0".repeat(64), None),
        (String::new(), None),
        (csrf.clone(), Some("http://evil.example")),
    ] {
        let response = promote_staging(&app, &cookie, &token, origin).await;
        assert_eq!(response.status(), 403, "{token:?} from {origin:?}");
        assert!(response.text().await.unwrap().contains("reload the page"));
    }
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert!(
        model["stages"]["staging"].is_null(),
        "nothing changed: {model}"
    );
    let response = promote_staging(&app, &cookie, &csrf, Some(&app.base)).await;
    assert_eq!(response.status(), 303);
    let (_, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(model["stages"]["staging"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_no_actions_and_is_refused_anyway_then_signs_out() {
    let Some(browser) = Browser::start_narrow("ui_reader", 390, 3.0).await else {
        return;
    };
    let (app, _, reader) = ui_app().await;
    sign_in(&browser, &app, &reader, "/ui/models/bc").await;
    assert_eq!(browser.path().await, "/ui/models/bc");
    browser
        .wait_for_text("header .who", "ui-reader (reader)")
        .await;
    let actions = browser
        .client
        .find_all(fantoccini::Locator::Css(
            "#actions, form[action$='/stages']",
        ))
        .await
        .unwrap();
    assert!(actions.is_empty(), "a reader is offered no action");
    browser.screenshot("model-reader-phone").await;
    // A phone-width page reflows: only tables scroll sideways, inside their own box.
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page is wider than the screen by {overflow}"
    );

    // The server refuses a reader's promotion even without the button.
    let cookie = format!("capstan_session={reader}");
    let response = plain()
        .post(app.url("/ui/models/bc/stages"))
        .header("Cookie", &cookie)
        .form(&[
            ("csrf", "x"),
            ("action", "promote"),
            ("stage", "staging"),
            ("version", "1"),
            ("confirm", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("needs the promoter role"));

    // Signing out forgets the session: the next page asks to sign in again.
    browser.click("header form button").await;
    browser.find("#token").await;
    browser.goto(&app.url("/ui/models/bc")).await;
    browser.find("#token").await;
    assert!(browser.path().await.starts_with("/ui/sign-in"));
    browser.close().await;
}
