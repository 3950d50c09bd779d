//! The Open Inference Protocol's gRPC service (`--grpc-listen`): `tritonclient.grpc`
//! unchanged (raw contents), typed contents through the protocol's own messages, health and
//! reflection through the generic gRPC tools, hot swaps and the canary split seen over
//! gRPC, tokens in the `authorization` metadata, errors as status codes naming the row.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tonic::transport::Channel;
use tonic::{Code, Request};

use capstan_registry::api::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use capstan_registry::api::grpc::proto::model_infer_request::InferInputTensor;
use capstan_registry::api::grpc::proto::{
    InferTensorContents, ModelInferRequest, ModelInferResponse, ModelMetadataRequest,
    ServerLiveRequest,
};
use capstan_registry::model_server::{ModelServerArgs, ModelServerAuthArgs, TransportArgs};
use capstan_tests::python::{python_has, run_script};
use capstan_tests::{
    breast_cancer_csv, breast_cancer_rows, direct_probabilities, model_server_args,
    start_model_server, train_breast_cancer, TestApp, TestModelServer,
};

use super::http_probabilities;

fn with_grpc(args: ModelServerArgs) -> ModelServerArgs {
    ModelServerArgs {
        transports: TransportArgs {
            grpc_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..Default::default()
        },
        ..args
    }
}

async fn client(server: &TestModelServer) -> GrpcInferenceServiceClient<Channel> {
    let url = server.grpc.clone().expect("gRPC listens");
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    GrpcInferenceServiceClient::new(channel)
}

/// One FP64 `[rows, 30]` tensor in typed contents, for `bc` at `version` ("" = default).
fn infer_request(rows: &[Vec<f64>], version: &str) -> ModelInferRequest {
    ModelInferRequest {
        model_name: "bc".to_owned(),
        model_version: version.to_owned(),
        inputs: vec![InferInputTensor {
            name: "input".to_owned(),
            datatype: "FP64".to_owned(),
            shape: vec![rows.len() as i64, 30],
            contents: Some(InferTensorContents {
                fp64_contents: rows.concat(),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn probabilities(answer: &ModelInferResponse) -> Vec<f64> {
    let output = answer
        .outputs
        .iter()
        .find(|o| o.name == "probabilities")
        .unwrap();
    output.contents.as_ref().unwrap().fp64_contents.clone()
}

async fn bc_versions(app: &TestApp) -> [i64; 2] {
    app.create_model("bc").await;
    let v1 = app.upload_trained("bc", &train_breast_cancer(1.0)).await;
    let v2 = app.upload_trained("bc", &train_breast_cancer(100.0)).await;
    app.promote("bc", "production", &json!({"version": v1}))
        .await;
    [v1, v2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tritonclient_grpc_and_generic_grpc_tools_work_unchanged() {
    const TEST: &str = "tritonclient_grpc_and_generic_grpc_tools_work_unchanged";
    if !python_has(
        TEST,
        "tritonclient.grpc, numpy, grpc_health.v1, grpc_reflection",
        "pip install 'tritonclient[grpc]' numpy grpcio-health-checking grpcio-reflection",
    ) {
        return;
    }
    let app = capstan_tests::spawn_app().await;
    app.create_model("bc").await;
    let trained = train_breast_cancer(1.0);
    let v = app.upload_trained("bc", &trained).await;
    app.promote("bc", "production", &json!({"version": v}))
        .await;
    let server =
        start_model_server(&with_grpc(model_server_args(&app.base, &["bc@production"]))).await;
    let rows = breast_cancer_rows(5);
    let expected = direct_probabilities(&trained.artifact, &rows);
    let over_http = http_probabilities(&server.base, "production", &rows).await;
    assert_eq!(over_http, expected);

    let host = server
        .grpc
        .as_ref()
        .unwrap()
        .trim_start_matches("http://")
        .to_owned();
    let csv = breast_cancer_csv().to_str().unwrap().to_owned();
    let report = run_script("grpc_client.py", vec![host, "bc".into(), csv, "5".into()]).await;

    assert_eq!(report["live"], true, "{report}");
    assert_eq!(report["ready"], true, "{report}");
    assert_eq!(report["model_ready"], true, "{report}");
    assert_eq!(report["unknown_model_ready"], false, "{report}");
    assert_eq!(report["server"]["name"], "capstan", "{report}");
    assert_eq!(report["metadata"]["name"], "bc");
    assert_eq!(report["metadata"]["versions"], json!([v.to_string()]));
    // protobuf's JSON writes int64 as strings.
    assert_eq!(
        report["metadata"]["inputs"][0]["shape"],
        json!(["-1", "30"])
    );

    let raw = &report["raw"];
    assert_eq!(raw["id"], "raw-1");
    assert_eq!(raw["model_version"], v.to_string());
    let got: Vec<Vec<f64>> = serde_json::from_value(raw["probabilities"].clone()).unwrap();
    assert_eq!(got, over_http, "raw contents answer as HTTP does");
    assert_eq!(raw["labels"].as_array().unwrap().len(), 5);

    let typed = &report["typed"];
    assert_eq!(typed["id"], "typed-1");
    assert_eq!(typed["raw_output_contents"], 0, "typed in, typed out");
    assert_eq!(typed["probabilities_shape"], json!([5, 2]));
    let flat: Vec<f64> = serde_json::from_value(typed["probabilities"].clone()).unwrap();
    assert_eq!(
        flat,
        over_http.concat(),
        "typed contents answer as HTTP does"
    );
    assert_eq!(typed["labels"], raw["labels"]);

    let error = &report["error"];
    assert!(
        error["status"]
            .as_str()
            .unwrap()
            .contains("INVALID_ARGUMENT"),
        "{error}"
    );
    assert!(
        error["message"].as_str().unwrap().contains("row 0"),
        "the error names the row: {error}"
    );

    assert_eq!(
        report["health"],
        json!({"server": "SERVING", "inference.GRPCInferenceService": "SERVING"})
    );
    let services = report["reflection"].as_array().unwrap();
    for service in [
        "inference.GRPCInferenceService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            services.iter().any(|s| s == service),
            "{service} in {services:?}"
        );
    }
    assert_eq!(
        report["reflected_methods"],
        json!([
            "ModelInfer",
            "ModelMetadata",
            "ModelReady",
            "ServerLive",
            "ServerMetadata",
            "ServerReady"
        ])
    );

    // Every prediction is counted under its protocol.
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "capstan_predict_requests_total{{model=\"bc\",version=\"{v}\",protocol=\"grpc\"}} 3"
        )),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_follows_a_promotion_under_load_without_a_failed_call() {
    let app = capstan_tests::spawn_app().await;
    let [v1, v2] = bc_versions(&app).await;
    let server = start_model_server(&ModelServerArgs {
        poll_interval_ms: 100,
        ..with_grpc(model_server_args(&app.base, &["bc@production"]))
    })
    .await;
    let mut grpc = client(&server).await;
    let rows = breast_cancer_rows(1);
    let first = grpc
        .model_infer(infer_request(&rows, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.model_version, v1.to_string());

    let load = {
        let mut grpc = grpc.clone();
        let rows = rows.clone();
        tokio::spawn(async move {
            let mut versions = BTreeMap::<String, usize>::new();
            let started = Instant::now();
            loop {
                let answer = grpc
                    .model_infer(infer_request(&rows, ""))
                    .await
                    .expect("no call fails across the swap")
                    .into_inner();
                *versions.entry(answer.model_version.clone()).or_default() += 1;
                if answer.model_version == v2.to_string() && versions[&answer.model_version] >= 20 {
                    return versions;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "no swap: {versions:?}"
                );
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.promote("bc", "production", &json!({"version": v2}))
        .await;
    let versions = load.await.unwrap();
    assert_eq!(
        versions.keys().cloned().collect::<Vec<_>>(),
        vec![v1.to_string(), v2.to_string()],
        "{versions:?}"
    );

    // The errors a caller can make: a version this server does not serve, a version that
    // is not a number, a model it does not serve, tensors that do not add up.
    let error = grpc
        .model_infer(infer_request(&rows, &v1.to_string()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound, "{error:?}");
    assert!(error.message().contains("is not served here"), "{error:?}");
    let error = grpc
        .model_infer(infer_request(&rows, "production"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument, "{error:?}");
    assert!(error.message().contains("version number"), "{error:?}");
    let mut unknown = infer_request(&rows, "");
    unknown.model_name = "nope".to_owned();
    let error = grpc.model_infer(unknown).await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound, "{error:?}");
    let mut mismatched = infer_request(&rows, "");
    mismatched.raw_input_contents = vec![vec![0; 8], vec![0; 8]];
    let error = grpc.model_infer(mismatched).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument, "{error:?}");
    assert!(
        error
            .message()
            .contains("raw_input_contents has 2 entries for 1 inputs"),
        "{error:?}"
    );
    let mut wrong_field = infer_request(&rows, "");
    wrong_field.inputs[0].contents = Some(InferTensorContents {
        int64_contents: vec![1; 30],
        ..Default::default()
    });
    let error = grpc.model_infer(wrong_field).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument, "{error:?}");
    assert!(
        error.message().contains("not in fp64_contents"),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_are_split_by_the_deployments_canary() {
    let app = capstan_tests::spawn_app().await;
    let [v1, v2] = bc_versions(&app).await;
    app.put_json(
        "/api/v1/deployments/scorer",
        &json!({"model": "bc@production", "pattern": "api", "canary": {"model": format!("bc@{v2}"), "percent": 30}}),
    )
    .await;
    let server = start_model_server(&with_grpc(ModelServerArgs {
        deployment: Some("scorer".parse().unwrap()),
        instance_id: Some("grpc-canary".parse().unwrap()),
        ..model_server_args(&app.base, &[])
    }))
    .await;
    let mut grpc = client(&server).await;
    let rows = breast_cancer_rows(1);
    let expected = [
        http_probabilities(&server.base, &v1.to_string(), &rows).await,
        http_probabilities(&server.base, &v2.to_string(), &rows).await,
    ];
    let mut counts = BTreeMap::<String, usize>::new();
    for _ in 0..1000 {
        let answer = grpc
            .model_infer(infer_request(&rows, ""))
            .await
            .unwrap()
            .into_inner();
        let index = usize::from(answer.model_version == v2.to_string());
        assert_eq!(
            probabilities(&answer),
            expected[index].concat(),
            "answer of {}",
            answer.model_version
        );
        *counts.entry(answer.model_version).or_default() += 1;
    }
    let canary = counts.get(&v2.to_string()).copied().unwrap_or(0);
    assert!(
        (230..=370).contains(&canary),
        "{canary} of 1000 gRPC calls went to the canary, not 30 % ± 7 points: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_takes_a_token_in_the_authorization_metadata() {
    let app = capstan_tests::spawn_app().await;
    bc_versions(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    let secret = "grpc-test-secret";
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(secret.as_bytes()));
    std::fs::write(&file, format!("{hash} grpc-caller\n")).unwrap();
    let server = start_model_server(&with_grpc(ModelServerArgs {
        auth: ModelServerAuthArgs {
            auth_token_file: Some(file),
            ..Default::default()
        },
        ..model_server_args(&app.base, &["bc@production"])
    }))
    .await;
    let mut grpc = client(&server).await;
    let rows = breast_cancer_rows(1);

    // Liveness is open, as over HTTP.
    assert!(
        grpc.server_live(ServerLiveRequest {})
            .await
            .unwrap()
            .into_inner()
            .live
    );
    let error = grpc
        .model_infer(infer_request(&rows, ""))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated, "{error:?}");
    fn with<T>(value: &str, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
        request
    }
    let error = grpc
        .model_infer(with("Bearer wrong", infer_request(&rows, "")))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated, "{error:?}");
    let error = grpc
        .model_metadata(ModelMetadataRequest {
            name: "bc".into(),
            version: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated, "{error:?}");
    let answer = grpc
        .model_infer(with(&format!("Bearer {secret}"), infer_request(&rows, "")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.model_name, "bc");
    let metadata: Value = serde_json::to_value(
        grpc.model_metadata(with(
            &format!("Bearer {secret}"),
            ModelMetadataRequest {
                name: "bc".into(),
                version: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .inputs
        .iter()
        .map(|t| t.name.clone())
        .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(metadata, json!(["input"]));
}

/// `serve --grpc-listen`: the registry's own single-process serving over gRPC, behind its
/// own tokens and their model scopes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_serves_grpc_with_its_own_tokens() {
    let app = capstan_tests::spawn_with(capstan_tests::TestOptions {
        auth: Some(capstan_registry::config::AuthConfig {
            enabled: true,
            ..Default::default()
        }),
        grpc: true,
        ..Default::default()
    })
    .await;
    let [v1, _] = bc_versions(&app).await;
    app.create_model("other").await;
    let reader = app.create_token("grpc-reader", "reader", None).await;
    let other_only = app
        .create_token("grpc-other", "reader", Some(&["other"]))
        .await;
    let url = app.grpc.clone().expect("gRPC listens");
    let mut grpc = GrpcInferenceServiceClient::new(
        Channel::from_shared(url).unwrap().connect().await.unwrap(),
    );
    let rows = breast_cancer_rows(2);
    let call = |token: &str| {
        let mut request = Request::new(infer_request(&rows, ""));
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    };
    let error = grpc
        .model_infer(infer_request(&rows, ""))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated, "{error:?}");
    let error = grpc.model_infer(call(&other_only)).await.unwrap_err();
    assert_eq!(
        error.code(),
        Code::NotFound,
        "a token limited to other models sees no bc: {error:?}"
    );
    // Without a version: production, as on the registry's HTTP V2 routes.
    let answer = grpc.model_infer(call(&reader)).await.unwrap().into_inner();
    assert_eq!(answer.model_version, v1.to_string());
    let over_http: Value = app
        .http
        .post(format!("{}/v2/models/bc/infer", app.base))
        .json(&json!({"inputs": [{"name": "input", "shape": [2, 30], "datatype": "FP64", "data": rows.concat()}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let http_probabilities: Vec<f64> =
        serde_json::from_value(over_http["outputs"][1]["data"].clone()).unwrap();
    assert_eq!(probabilities(&answer), http_probabilities);
    // Any version by number: the registry loads what it is asked for.
    let mut pinned = Request::new(infer_request(&rows, "2"));
    pinned
        .metadata_mut()
        .insert("authorization", format!("Bearer {reader}").parse().unwrap());
    assert_eq!(
        grpc.model_infer(pinned)
            .await
            .unwrap()
            .into_inner()
            .model_version,
        "2"
    );
}
