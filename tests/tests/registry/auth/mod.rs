//! Who may do what (docs/security.md): tokens, roles, model scopes, and the one check every
//! route passes. `matrix.rs` calls every operation of the served OpenAPI document with
//! every kind of caller.

mod command;
mod matrix;
mod scopes;
mod tokens;
mod uploads;

use capstan_tests::{client_with, TestApp};
use serde_json::Value;

pub use capstan_tests::spawn_with_auth as auth_app;

/// `GET path` with `token` (or none): status, `WWW-Authenticate`, body.
pub async fn get_as(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
) -> (u16, Option<String>, Value) {
    let response = client_with(token).get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        challenge,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// `method path` with a JSON body and `token`: status and body.
pub async fn send_as(
    app: &TestApp,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let response = client_with(token)
        .request(method, app.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
