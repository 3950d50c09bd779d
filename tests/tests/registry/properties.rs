//! The one-step upload's multipart body, generated (proptest) and sent over real HTTP:
//! parts in any order, repeated, unknown, empty, with junk metadata, a wrong declared
//! digest, a missing artifact, a body cut short or without its closing boundary. Every
//! answer is a `201` whose version holds exactly the artifact's bytes, or a `4xx` problem
//! document; a refusal creates no version and leaves no staged upload behind.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use capstan_tests::{digest_of, spawn_app};

/// One part of a generated body.
#[derive(Clone, Debug)]
enum Piece {
    Metadata(Value),
    MetadataJunk(Vec<u8>),
    Artifact(Vec<u8>),
    Unknown(String, Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        3 => prop_oneof![
            Just(json!({"format": "opaque"})),
            Just(json!({"format": "opaque", "description": "ü ☃", "tags": ["a", "b"]})),
            Just(json!({"format": "opaque", "sha256": "0".repeat(64)})),
            Just(json!({"format": "Not A Format"})),
            Just(json!({"format": "opaque", "metrics": {"auc": "high"}})),
            Just(json!({"format": "opaque", "unknown": 1})),
            Just(json!([])),
        ]
        .prop_map(Piece::Metadata),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Piece::MetadataJunk),
        3 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Piece::Artifact),
        1 => ("[a-z]{0,8}", prop::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(name, body)| Piece::Unknown(name, body)),
    ]
}

const BOUNDARY: &str = "capstan-prop-boundary";

/// The body: each piece as a part, then the closing boundary unless `unclosed`, cut to
/// `cut` of its length when given.
fn body_of(pieces: &[Piece], unclosed: bool, cut: Option<f64>) -> Vec<u8> {
    let mut body = Vec::new();
    for piece in pieces {
        let (name, content_type, bytes) = match piece {
            Piece::Metadata(value) => (
                "metadata",
                "application/json",
                value.to_string().into_bytes(),
            ),
            Piece::MetadataJunk(bytes) => ("metadata", "application/json", bytes.clone()),
            Piece::Artifact(bytes) => ("artifact", "application/octet-stream", bytes.clone()),
            Piece::Unknown(name, bytes) => (name.as_str(), "text/plain", bytes.clone()),
        };
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\r\n");
    }
    if !unclosed {
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    }
    if let Some(cut) = cut {
        body.truncate((body.len() as f64 * cut) as usize);
    }
    body
}

#[test]
fn any_multipart_upload_is_a_version_or_a_clean_refusal() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(async {
        let app = spawn_app().await;
        app.create_model("bc").await;
        app
    });
    let created = std::cell::Cell::new(0usize);
    let strategy = (
        prop::collection::vec(piece(), 0..5),
        any::<bool>(),
        prop::option::weighted(0.2, 0.0f64..1.0),
    );
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(pieces, unclosed, cut)| {
            let body = body_of(&pieces, unclosed, cut);
            let (status, answer) = runtime.block_on(async {
                let response = app
                    .http
                    .post(app.url("/api/v1/models/bc/versions"))
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={BOUNDARY}"),
                    )
                    .body(body)
                    .timeout(std::time::Duration::from_secs(10))
                    .send()
                    .await;
                let response = match response {
                    Ok(response) => response,
                    Err(e) => return (0, (String::new(), json!(format!("no answer: {e}")))),
                };
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                (status, (content_type, answer))
            });
            let (content_type, answer) = answer;
            if status == 201 {
                created.set(created.get() + 1);
                let artifact = pieces
                    .iter()
                    .find_map(|p| match p {
                        Piece::Artifact(bytes) => Some(bytes.clone()),
                        _ => None,
                    })
                    .expect("a version was made without an artifact part");
                prop_assert_eq!(
                    &answer["digest"],
                    &json!(digest_of(&artifact)),
                    "{}",
                    answer
                );
                prop_assert_eq!(&answer["size"], &json!(artifact.len()));
            } else {
                prop_assert!((400..500).contains(&status), "{} {}", status, answer);
                prop_assert_eq!(content_type.as_str(), "application/problem+json");
                prop_assert!(
                    answer["detail"].as_str().is_some_and(|d| !d.is_empty()),
                    "{}",
                    answer
                );
            }
            let (versions, staged) = runtime.block_on(async {
                let (_, page) = app.get_json("/api/v1/models/bc/versions?limit=1000").await;
                (
                    page["versions"].as_array().map_or(0, Vec::len),
                    app.staged_uploads().await,
                )
            });
            prop_assert_eq!(versions, created.get(), "a refusal created a version");
            prop_assert_eq!(staged, 0, "a staged upload was left behind");
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
}
