//! Every operation of the served OpenAPI document, called with no token, an unknown
//! token, a revoked token, each role, and an admin token limited to another model: 401,
//! 403, 404 or through, as the role the operation declares says. A route added later
//! without a declared role, or open by mistake, fails here.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use capstan_tests::{client_with, TestApp};

use super::auth_app;

/// The operations anyone may call.
const OPEN: [(&str, &str); 6] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/v2/health/live"),
    ("get", "/v2/health/ready"),
    ("get", "/metrics"),
    ("get", "/api-docs/openapi.json"),
];

const ROLES: [&str; 4] = ["reader", "editor", "promoter", "admin"];

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Nobody,
    Unknown,
    Revoked,
    Role(usize),
    /// An admin limited to a model the requests do not name.
    OtherModelAdmin,
}

/// `path` with its parameters filled in.
fn concrete(path: &str) -> String {
    let mut out = path.to_owned();
    for (param, value) in [
        ("{name}", "bc"),
        ("{ref}", "1"),
        ("{stage}", "staging"),
        ("{alias}", "champion"),
        ("{id}", "00000000-0000-0000-0000-000000000000"),
        ("{key}", "k1"),
        ("{instance}", "i-1"),
        ("{version}", "1"),
        (
            "{digest}",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ),
        ("{path}", "MLmodel"),
    ] {
        out = out.replace(param, value);
    }
    assert!(
        !out.contains('{'),
        "a parameter this test does not fill: {path}"
    );
    out
}

/// The role an operation declares: `None` for open.
fn declared(operation: &Value, method: &str, path: &str) -> (Option<usize>, bool) {
    let security = operation
        .get("security")
        .unwrap_or_else(|| panic!("{method} {path} declares no security requirement"));
    let requirements = security.as_array().unwrap();
    if requirements
        .iter()
        .any(|r| r.as_object().unwrap().is_empty())
    {
        assert!(
            OPEN.contains(&(method, path)),
            "{method} {path} is open to anyone: only {OPEN:?} may be"
        );
        return (None, false);
    }
    let scopes: Vec<&str> = requirements[0]["bearer"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path}: {security}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let role = ROLES
        .iter()
        .position(|r| *r == scopes[0])
        .unwrap_or_else(|| panic!("{method} {path} declares an unknown role {scopes:?}"));
    (Some(role), scopes.contains(&"unscoped"))
}

async fn call(app: &TestApp, token: Option<&str>, method: &str, path: &str) -> u16 {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let request = client_with(token)
        .request(method.clone(), app.url(path))
        .timeout(Duration::from_secs(30));
    let request = if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        request.json(&json!({}))
    } else {
        request
    };
    // The event stream answers its headers and stays open: the status is all we need.
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_operation_checks_who_calls() {
    let app = auth_app(Duration::from_secs(1)).await;
    app.create_model("bc").await;
    app.upload("bc", b"bytes").await;
    let mut tokens = Vec::new();
    for role in ROLES {
        tokens.push(app.create_token(&format!("as-{role}"), role, None).await);
    }
    let other = app
        .create_token("other-admin", "admin", Some(&["other"]))
        .await;
    let revoked = app.create_token("gone", "admin", None).await;
    let (status, _) = app.delete("/api/v1/tokens/gone").await;
    assert_eq!(status, 204);
    let unknown = format!("capstan_{}", "ab".repeat(32));

    let document: Value = reqwest::get(app.url("/api-docs/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut checked = 0;
    let mut open = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let (role, unscoped) = declared(operation, method, path);
            if role.is_none() {
                open.push((method.clone(), path.clone()));
            }
            let url = concrete(path);
            let names_model =
                path.starts_with("/api/v1/models/{name}") || path.starts_with("/v2/models/{name}");
            let mut callers = vec![
                Caller::Nobody,
                Caller::Unknown,
                Caller::Revoked,
                Caller::OtherModelAdmin,
            ];
            callers.extend((0..ROLES.len()).map(Caller::Role));
            for caller in callers {
                let token = match caller {
                    Caller::Nobody => None,
                    Caller::Unknown => Some(unknown.as_str()),
                    Caller::Revoked => Some(revoked.as_str()),
                    Caller::Role(i) => Some(tokens[i].as_str()),
                    Caller::OtherModelAdmin => Some(other.as_str()),
                };
                let status = call(&app, token, method, &url).await;
                let what = format!("{} {url} as {caller:?}", method.to_uppercase());
                match (role, caller) {
                    (None, _) => assert!(status != 401 && status != 403, "{what}: {status}"),
                    (Some(_), Caller::Nobody | Caller::Unknown | Caller::Revoked) => {
                        assert_eq!(status, 401, "{what}")
                    }
                    (Some(_), Caller::OtherModelAdmin) if names_model => {
                        assert_eq!(status, 404, "{what}")
                    }
                    (Some(_), Caller::OtherModelAdmin) if unscoped => {
                        assert_eq!(status, 403, "{what}")
                    }
                    (Some(_), Caller::OtherModelAdmin) => {
                        assert!(status != 401 && status != 403, "{what}: {status}")
                    }
                    (Some(needed), Caller::Role(has)) if has < needed => {
                        assert_eq!(status, 403, "{what}")
                    }
                    (Some(_), Caller::Role(_)) => {
                        assert!(status != 401 && status != 403, "{what}: {status}")
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(
        checked > 400,
        "only {checked} calls: is the document served whole?"
    );
    let mut expected: Vec<(String, String)> = OPEN
        .iter()
        .filter(|(_, path)| *path != "/api-docs/openapi.json")
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    open.sort();
    assert_eq!(open, expected, "the open operations");
}
