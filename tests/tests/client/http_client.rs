//! The async typed client (`capstan_client::http::Client`) against a live registry, and
//! its retry policy against fake servers that drop connections or answer 503.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use capstan_client::cache::{BlobCache, Silent};
use capstan_client::http::{Client, Download, EventQuery, ModelQuery, Upload};
use capstan_client::types::{
    CreateModel, EventKind, NewVersion, PromoteRequest, RollbackRequest, UpdateModel, VersionStatus,
};
use capstan_client::{
    AliasName, Config, Digest, ErrorKind, ModelName, ModelRef, Stage, VersionRef,
};
use capstan_tests::{spawn_app, TestApp};

fn client(app: &TestApp) -> Client {
    Client::new(Config::new(&app.base).unwrap()).unwrap()
}

fn name(text: &str) -> ModelName {
    ModelName::parse(text).unwrap()
}

fn opaque() -> NewVersion {
    NewVersion {
        format: "opaque".into(),
        ..NewVersion::default()
    }
}

async fn body(mut download: Download) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(chunk) = download.chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_through_typed_calls() {
    let app = spawn_app().await;
    let client = client(&app);
    let bc = name("bc");
    let model = client
        .create_model(&CreateModel {
            name: bc.clone(),
            description: Some("breast cancer".into()),
            tags: Some(vec!["medical".into()]),
        })
        .await
        .unwrap();
    assert_eq!(model.name, bc);
    client
        .create_model(&CreateModel {
            name: name("other"),
            description: None,
            tags: None,
        })
        .await
        .unwrap();
    let prefix = ModelQuery {
        name_prefix: Some("b".into()),
        ..ModelQuery::default()
    };
    let listed = client.list_all_models(&prefix, 100).await.unwrap();
    assert_eq!(listed.len(), 1);
    let updated = client
        .update_model(
            &bc,
            &UpdateModel {
                description: Some("updated".into()),
                tags: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some("updated"));

    // One-step upload from memory, two-step upload from a file.
    let metrics = BTreeMap::from([("accuracy".to_owned(), 0.9)]);
    let first = NewVersion {
        metrics: Some(metrics.clone()),
        ..opaque()
    };
    let v1 = client
        .upload_version(
            &bc,
            first,
            Upload::Bytes(b"first".to_vec()),
            Box::new(Silent),
        )
        .await
        .unwrap();
    assert_eq!(v1.status, VersionStatus::Ready);
    assert_eq!(v1.digest, Some(Digest::of(b"first")));
    assert_eq!(v1.metrics, metrics);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("second.bin");
    std::fs::write(&file, b"the second artifact").unwrap();
    let pending = client.create_pending_version(&bc, &opaque()).await.unwrap();
    assert_eq!(pending.status, VersionStatus::Pending);
    let v2 = client
        .upload_artifact(&bc, pending.version, Upload::File(file), Box::new(Silent))
        .await
        .unwrap();
    assert_eq!(v2.status, VersionStatus::Ready);
    let v2_digest = Digest::of(b"the second artifact");
    assert_eq!(v2.digest, Some(v2_digest));
    let versions = client.list_all_versions(&bc, 10).await.unwrap();
    let numbers: Vec<i64> = versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [2, 1]);

    // Stages, with optimistic concurrency, and rollback.
    let promote = |version, expected| PromoteRequest {
        version,
        reason: Some(format!("promote {version}")),
        expected_version: Some(expected),
    };
    client
        .promote(&bc, Stage::Production, &promote(1, None))
        .await
        .unwrap();
    client
        .promote(&bc, Stage::Production, &promote(2, Some(1)))
        .await
        .unwrap();
    let stale = client
        .promote(&bc, Stage::Production, &promote(1, Some(1)))
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict, "{stale}");
    let production = VersionRef::Stage(Stage::Production);
    assert_eq!(
        client.get_version(&bc, &production).await.unwrap().version,
        2
    );
    let back = client
        .rollback(
            &bc,
            Stage::Production,
            &RollbackRequest {
                reason: Some("oops".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(back.version, 1);

    // Aliases.
    let champion = AliasName::parse("champion").unwrap();
    assert_eq!(
        client.set_alias(&bc, &champion, 2).await.unwrap().version,
        2
    );
    let by_alias = VersionRef::Alias(champion.clone());
    assert_eq!(client.get_version(&bc, &by_alias).await.unwrap().version, 2);
    client.delete_alias(&bc, &champion).await.unwrap();
    let gone = client.get_version(&bc, &by_alias).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");

    // Downloads: whole, ranged, and not modified.
    let whole = client
        .download(&bc, &VersionRef::Number(2), 0, None)
        .await
        .unwrap();
    assert_eq!(
        (whole.status, whole.etag, whole.version),
        (200, Some(v2_digest), Some(2))
    );
    assert_eq!(body(whole).await, b"the second artifact");
    let tail = client
        .download(&bc, &VersionRef::Number(2), 4, None)
        .await
        .unwrap();
    assert_eq!((tail.status, tail.start, tail.total), (206, 4, Some(19)));
    assert_eq!(body(tail).await, b"second artifact");
    let current = client
        .download(&bc, &VersionRef::Number(2), 0, Some(&v2_digest))
        .await
        .unwrap();
    assert!(current.not_modified());

    // The event log, filtered.
    let stage_changes = EventQuery {
        model: Some(bc.clone()),
        kind: Some(EventKind::StageChanged),
        ..EventQuery::default()
    };
    let events = client.list_events(&stage_changes).await.unwrap().events;
    let moves: Vec<(Option<i64>, Option<i64>)> = events
        .iter()
        .map(|e| (e.from_version, e.to_version))
        .collect();
    assert_eq!(
        moves,
        [(None, Some(1)), (Some(1), Some(2)), (Some(2), Some(1))]
    );

    let archived = client
        .archive_version(&bc, &VersionRef::Number(2))
        .await
        .unwrap();
    assert!(archived.archived_at.is_some());
    client.delete_model(&name("other")).await.unwrap();
    let deleted = client.get_model(&name("other")).await.unwrap_err();
    assert_eq!(deleted.code(), Some("model_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_the_problem_code_and_a_kind() {
    let app = spawn_app().await;
    let client = client(&app);
    let missing = client.get_model(&name("nope")).await.unwrap_err();
    assert_eq!(
        (missing.status(), missing.code()),
        (Some(404), Some("model_not_found"))
    );
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert!(missing.to_string().contains("nope"), "{missing}");

    app.create_model("bc").await;
    let twice = client
        .create_model(&CreateModel {
            name: name("bc"),
            description: None,
            tags: None,
        })
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Some("model_exists"));
    assert_eq!(twice.kind(), ErrorKind::Conflict);

    let lying = NewVersion {
        sha256: Some(Digest::of(b"something else")),
        ..opaque()
    };
    let mismatch = client
        .upload_version(
            &name("bc"),
            lying,
            Upload::Bytes(b"real".to_vec()),
            Box::new(Silent),
        )
        .await
        .unwrap_err();
    assert_eq!(mismatch.code(), Some("digest_mismatch"), "{mismatch}");
    assert_eq!(mismatch.kind(), ErrorKind::Verification);

    let no_version = client
        .get_version(&name("bc"), &VersionRef::Number(99))
        .await
        .unwrap_err();
    assert_eq!(no_version.kind(), ErrorKind::NotFound, "{no_version}");
}

/// A server that answers every request with `answer` (or drops the connection when
/// `None`), counting the requests.
fn fake_server(answer: Option<String>) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            if let Some(answer) = &answer {
                let _ = stream.write_all(answer.as_bytes());
            }
        }
    });
    (url, count)
}

fn impatient(url: &str) -> Client {
    let mut config = Config::new(url).unwrap();
    config.retries = 2;
    config.backoff = Duration::from_millis(5);
    Client::new(config).unwrap()
}

#[tokio::test]
async fn idempotent_calls_are_retried_on_5xx_and_report_the_problem() {
    let problem = r#"{"type":"https://capstan.dev/problems/database_unavailable","title":"Service Unavailable","status":503,"detail":"the database is not reachable; try again","code":"database_unavailable"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{problem}",
        problem.len()
    );
    let (url, requests) = fake_server(Some(answer));
    let client = impatient(&url);
    let error = client.get_model(&name("bc")).await.unwrap_err();
    assert_eq!(error.code(), Some("database_unavailable"));
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(
        requests.load(Ordering::SeqCst),
        3,
        "one call and two retries"
    );

    // POST is not idempotent: one attempt only.
    let create = CreateModel {
        name: name("bc"),
        description: None,
        tags: None,
    };
    client.create_model(&create).await.unwrap_err();
    assert_eq!(requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn dropped_connections_are_retried_then_reported_as_unavailable() {
    let (url, connections) = fake_server(None);
    let error = impatient(&url).get_model(&name("bc")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(error.to_string().contains(&url), "{error}");
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_resumes_an_interrupted_download_and_verifies_the_cache() {
    let app = spawn_app().await;
    app.create_model("big").await;
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    app.upload("big", &data).await;
    let digest = Digest::of(&data);
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::new(dir.path());
    // What an earlier, interrupted download left behind.
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    std::fs::write(
        dir.path()
            .join("tmp")
            .join(format!("{}.partial", digest.hex())),
        &data[..100_000],
    )
    .unwrap();

    let client = client(&app);
    let big = ModelRef::parse("big@1").unwrap();
    let (entry, blob) = client.pull(&big, &cache, Box::new(Silent)).await.unwrap();
    assert_eq!(
        (entry.version, entry.digest, entry.size),
        (1, digest, 300_000)
    );
    assert_eq!((blob.resumed_from, blob.downloaded), (100_000, 200_000));
    assert_eq!(std::fs::read(&blob.path).unwrap(), data);

    let (_, again) = client.pull(&big, &cache, Box::new(Silent)).await.unwrap();
    assert!(again.cached);
    assert_eq!(again.downloaded, 0);

    std::fs::write(&blob.path, b"tampered").unwrap();
    let error = client
        .pull(&big, &cache, Box::new(Silent))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
}
