//! An upload from a caller who may not upload is refused before its body is read: a
//! 1 GiB body is neither stored nor read to its end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use capstan_tests::TestApp;

use super::auth_app;

const GIB: u64 = 1 << 30;

/// Sends `head` announcing a 1 GiB body and streams zeros until the server answers, as
/// an HTTP client that reads while it sends does; returns the status and how many body
/// bytes had been written when the answer arrived. (After answering, the server discards
/// what is still in flight for at most its client-disconnect timeout, so the client can
/// read the answer, then closes the connection.)
async fn announce_a_gibibyte(app: &TestApp, head: &str) -> (u16, u64) {
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let request = format!(
        "{head}\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {GIB}\r\n\r\n",
        app.addr
    );
    writer.write_all(request.as_bytes()).await.unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicBool::new(false));
    let sender = {
        let (sent, answered) = (sent.clone(), answered.clone());
        tokio::spawn(async move {
            let chunk = vec![0u8; 256 << 10];
            while sent.load(Ordering::SeqCst) < GIB && !answered.load(Ordering::SeqCst) {
                match tokio::time::timeout(Duration::from_secs(5), writer.write_all(&chunk)).await {
                    Ok(Ok(())) => sent.fetch_add(chunk.len() as u64, Ordering::SeqCst),
                    _ => break,
                };
            }
        })
    };
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        match reader.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let sent_when_answered = sent.load(Ordering::SeqCst);
    answered.store(true, Ordering::SeqCst);
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    sender.await.unwrap();
    (status, sent_when_answered)
}

#[tokio::test]
async fn an_unauthorised_upload_is_refused_before_its_body_is_read() {
    let app = auth_app(Duration::from_secs(1)).await;
    app.create_model("bc").await;
    let reader = app.create_token("dashboards", "reader", None).await;
    for (who, auth, expected) in [
        ("no token", String::new(), 401),
        (
            "a reader",
            format!("\r\nAuthorization: Bearer {reader}"),
            403,
        ),
    ] {
        let (status, sent) = announce_a_gibibyte(
            &app,
            &format!("PUT /api/v1/models/bc/versions/1/artifact HTTP/1.1{auth}"),
        )
        .await;
        assert_eq!(status, expected, "{who}");
        assert!(
            sent < GIB / 4,
            "{who}: the server read {sent} bytes of a refused body"
        );
        let (status, sent) = announce_a_gibibyte(
            &app,
            &format!("POST /api/v1/datasets?name=d HTTP/1.1{auth}"),
        )
        .await;
        assert_eq!(status, expected, "{who}, dataset");
        assert!(
            sent < GIB / 4,
            "{who}: the server read {sent} bytes of a refused dataset"
        );
    }
    assert_eq!(app.staged_uploads().await, 0, "nothing was staged");
    let (_, versions) = app.get_json("/api/v1/models/bc/versions").await;
    assert_eq!(versions["versions"], serde_json::json!([]));
    let (_, datasets) = app.get_json("/api/v1/datasets").await;
    assert_eq!(datasets["datasets"], serde_json::json!([]));
}
