//! One delivery attempt over HTTP: a POST of the event's JSON with the Standard Webhooks
//! headers, to addresses checked just before. The connection is pinned to those
//! addresses (reqwest's `resolve_to_addrs`), so a DNS answer that changes between the
//! check and the connection (DNS rebinding) cannot redirect it; redirects are not
//! followed and no proxy is used.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, USER_AGENT};

use crate::domain::webhooks::ReceiverUrl;

/// What the receiver said: its status, or why there was none.
pub type Answer = Result<u16, String>;

/// The headers of one attempt.
pub struct Signed<'a> {
    pub message_id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
}

/// POSTs `body` to `url`, connecting only to `addresses`.
pub async fn post(
    url: &ReceiverUrl,
    addresses: &[SocketAddr],
    signed: Signed<'_>,
    body: Bytes,
    timeout: Duration,
) -> Answer {
    let mut headers = HeaderMap::new();
    let value = |text: &str| HeaderValue::from_str(text).map_err(|e| e.to_string());
    headers.insert("webhook-id", value(signed.message_id)?);
    headers.insert("webhook-timestamp", value(&signed.timestamp.to_string())?);
    headers.insert("webhook-signature", value(signed.signature)?);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("capstan-webhooks/", env!("CARGO_PKG_VERSION"))),
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .resolve_to_addrs(&url.host(), addresses)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let response = client
        .post(url.as_str())
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(describe)?;
    Ok(response.status().as_u16())
}

/// A transport error, without the URL (which the webhook document shows already).
fn describe(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}
