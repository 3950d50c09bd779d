//! Predictions over NATS request/reply (`--nats-predict`): two model servers in one queue
//! group share the requests, every answer equal to HTTP's, problems with their content
//! type, and `capstan-ref` choosing among the served refs.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::HeaderMap;
use serde_json::{json, Value};

use capstan_registry::model_server::{ModelServerArgs, TransportArgs};
use capstan_tests::brokers::{machine_nats, unique_id};
use capstan_tests::{
    breast_cancer_rows, model_server_args, start_model_server, train_breast_cancer,
};

use super::http_probabilities;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_requests_are_shared_by_a_queue_group_and_answered_as_over_http() {
    let Some(url) =
        machine_nats("nats_requests_are_shared_by_a_queue_group_and_answered_as_over_http").await
    else {
        return;
    };
    let app = capstan_tests::spawn_app().await;
    app.create_model("bc").await;
    let v = app.upload_trained("bc", &train_breast_cancer(1.0)).await;
    app.promote("bc", "production", &json!({"version": v}))
        .await;
    let prefix = format!("capstan.test.{}.", unique_id());
    let server = |instance: &str| ModelServerArgs {
        instance_id: Some(instance.parse().unwrap()),
        transports: TransportArgs {
            nats_predict: Some(url.clone()),
            nats_predict_prefix: prefix.clone(),
            ..Default::default()
        },
        ..model_server_args(&app.base, &["bc@production"])
    };
    let a = start_model_server(&server("nats-a")).await;
    let _b = start_model_server(&server("nats-b")).await;
    let client = async_nats::connect(&url).await.unwrap();
    let subject = format!("{prefix}bc");
    let rows = breast_cancer_rows(20);
    let over_http = http_probabilities(&a.base, "production", &rows).await;

    let request = |body: Vec<u8>, headers: HeaderMap| {
        let client = client.clone();
        let subject = subject.clone();
        async move {
            for _ in 0..100 {
                match tokio::time::timeout(
                    Duration::from_secs(2),
                    client.request_with_headers(
                        subject.clone(),
                        headers.clone(),
                        body.clone().into(),
                    ),
                )
                .await
                {
                    Ok(Ok(reply)) => return reply,
                    // No responders yet: the subscriptions are still being made.
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            panic!("no model server answered on {subject}");
        }
    };
    let header = |reply: &async_nats::Message, name: &str| {
        reply
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_owned())
    };

    let mut by_instance = BTreeMap::<String, usize>::new();
    for round in 0..10 {
        for (i, row) in rows.iter().enumerate() {
            let reply = request(
                serde_json::to_vec(&json!({"instances": [row]})).unwrap(),
                HeaderMap::new(),
            )
            .await;
            assert_eq!(
                header(&reply, "Content-Type").as_deref(),
                Some("application/json")
            );
            assert_eq!(header(&reply, "Capstan-Model-Version"), Some(v.to_string()));
            let body: Value = serde_json::from_slice(&reply.payload).unwrap();
            let got: Vec<f64> = serde_json::from_value(body["probabilities"][0].clone()).unwrap();
            assert_eq!(got, over_http[i], "round {round}, row {i}");
            *by_instance
                .entry(header(&reply, "Capstan-Instance").unwrap())
                .or_default() += 1;
        }
    }
    assert_eq!(
        by_instance.keys().cloned().collect::<Vec<_>>(),
        ["nats-a", "nats-b"],
        "{by_instance:?}"
    );

    let reply = request(b"{\"instances\": 7}".to_vec(), HeaderMap::new()).await;
    assert_eq!(
        header(&reply, "Content-Type").as_deref(),
        Some("application/problem+json")
    );
    let problem: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(problem["status"], 400, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not a predict body"),
        "{problem}"
    );

    let mut staging = HeaderMap::new();
    staging.insert("capstan-ref", "staging");
    let reply = request(
        serde_json::to_vec(&json!({"instances": [rows[0]]})).unwrap(),
        staging,
    )
    .await;
    let problem: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(
        problem["status"], 404,
        "a ref this server does not serve: {problem}"
    );
    let mut pinned = HeaderMap::new();
    pinned.insert("capstan-ref", "production");
    let reply = request(
        serde_json::to_vec(&json!({"instances": [rows[0]]})).unwrap(),
        pinned,
    )
    .await;
    assert_eq!(header(&reply, "Capstan-Model-Version"), Some(v.to_string()));
}
