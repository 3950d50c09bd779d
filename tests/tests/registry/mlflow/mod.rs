//! The MLflow model-registry REST API (`/api/2.0/mlflow/…`, docs/mlflow.md) over real
//! HTTP: MLflow's shapes and error codes, stage semantics, searches, a change through one
//! API seen through the other and in the event log, auth; and the unmodified `mlflow`
//! Python client (`client.rs`).

mod auth;
mod client;
mod models;
mod versions;

use serde_json::Value;

use capstan_tests::TestApp;

/// Calls MLflow endpoint `endpoint` (e.g. `registered-models/get`) as the `mlflow` client
/// does: `GET` with query parameters, anything else with a JSON body.
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    endpoint: &str,
    params: &Value,
) -> (u16, Value) {
    call_on(app, &app.http, "/api/2.0/mlflow", method, endpoint, params).await
}

pub async fn call_on(
    app: &TestApp,
    http: &reqwest::Client,
    prefix: &str,
    method: reqwest::Method,
    endpoint: &str,
    params: &Value,
) -> (u16, Value) {
    let url = app.url(&format!("{prefix}/{endpoint}"));
    let request = if method == reqwest::Method::GET {
        let mut query: Vec<(String, String)> = Vec::new();
        for (key, value) in params.as_object().unwrap() {
            match value {
                Value::Array(values) => {
                    for v in values {
                        query.push((key.clone(), v.as_str().unwrap().to_owned()));
                    }
                }
                Value::String(s) => query.push((key.clone(), s.clone())),
                other => query.push((key.clone(), other.to_string())),
            }
        }
        http.get(reqwest::Url::parse_with_params(&url, &query).unwrap())
    } else {
        http.request(method, url).json(params)
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asserts an MLflow error: `status` and `error_code`, with a message.
pub fn assert_mlflow_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "unexpected status; body: {body}");
    assert_eq!(body["error_code"], code, "unexpected code; body: {body}");
    assert!(body["message"].is_string(), "no message: {body}");
}

/// The kinds of the events of `model`, oldest first.
pub async fn event_kinds(app: &TestApp, model: &str) -> Vec<String> {
    let (status, events) = app
        .get_json(&format!("/api/v1/events?model={model}&limit=1000"))
        .await;
    assert_eq!(status, 200, "{events}");
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}
