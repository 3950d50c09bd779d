//! Governed promotion over real HTTP: a model's policy (rules per stage and alias), 422
//! for a version that breaks one, promotion requests that wait for approvals by another
//! promoter (four eyes), rejection, expiry, racing approvers moving a stage once, scoped
//! tokens, rollback and aliases under a policy. The event log is the evidence of who did
//! what. Rules and policies are in `rules.rs`, promotion requests in `requests.rs`.

mod requests;
mod rules;

use std::time::Duration;

use capstan_registry::config::AuthConfig;
use capstan_tests::{client_with, spawn_with, TestApp, TestOptions};
use serde_json::{json, Value};

/// A caller of `app` with its own token.
pub(super) struct As {
    base: String,
    http: reqwest::Client,
}

impl As {
    pub(super) fn new(app: &TestApp, token: &str) -> Self {
        As {
            base: app.base.clone(),
            http: client_with(Some(token)),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(super) async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub(super) async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub(super) async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.put(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub(super) async fn promote(&self, model: &str, stage: &str, body: Value) -> (u16, Value) {
        self.post(&format!("/api/v1/models/{model}/stages/{stage}"), &body)
            .await
    }

    pub(super) async fn approve(&self, id: &Value) -> (u16, Value) {
        let id = id.as_str().unwrap();
        self.post(
            &format!("/api/v1/promotion-requests/{id}/approve"),
            &json!({}),
        )
        .await
    }
}

pub(super) async fn governed_app(ttl: Option<Duration>) -> TestApp {
    spawn_with(TestOptions {
        auth: Some(AuthConfig {
            enabled: true,
            ..Default::default()
        }),
        promotion_request_ttl: ttl,
        ..Default::default()
    })
    .await
}

/// Uploads a version with these metrics; returns its number.
pub(super) async fn upload_with_metrics(app: &TestApp, model: &str, metrics: Value) -> i64 {
    let bytes = format!("{model} {metrics} {}", uuid::Uuid::new_v4()).into_bytes();
    let (status, body) = app
        .upload_with(
            model,
            &json!({"format": "opaque", "metrics": metrics}),
            bytes,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["version"].as_i64().unwrap()
}

pub(super) async fn set_policy(app: &TestApp, model: &str, policy: Value) {
    let (status, body) = app
        .put_json(&format!("/api/v1/models/{model}/policy"), &policy)
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The stage's holder now.
pub(super) async fn holder(app: &TestApp, model: &str, stage: &str) -> Value {
    let (status, body) = app.get_json(&format!("/api/v1/models/{model}")).await;
    assert_eq!(status, 200, "{body}");
    body["stages"][stage].clone()
}

/// The model's events of `kind`.
pub(super) async fn events_of(app: &TestApp, model: &str, kind: &str) -> Vec<Value> {
    let (status, body) = app
        .get_json(&format!(
            "/api/v1/events?model={model}&kind={kind}&limit=1000"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().unwrap().clone()
}

pub(super) async fn promoters(app: &TestApp, names: &[&str]) -> Vec<As> {
    let mut callers = Vec::new();
    for name in names {
        let token = app.create_token(name, "promoter", None).await;
        callers.push(As::new(app, &token));
    }
    callers
}
