//! Predictions over RabbitMQ (`--amqp-url`), driven by Python's `pika`: RPC answers equal to
//! HTTP's, problems as `application/problem+json` replies, a body that is not a predict
//! request dead-lettered, tokens in the `authorization` header, and a model server killed
//! with requests in flight whose requests a second one answers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};
use sha2::Digest as _;

use capstan_registry::model_server::{ModelServerArgs, ModelServerAuthArgs, TransportArgs};
use capstan_tests::brokers::{skip_or_fail, unique_id};
use capstan_tests::python::{python_has, script};
use capstan_tests::{
    breast_cancer_csv, breast_cancer_rows, model_server_args, start_model_server,
    train_breast_cancer, TestApp,
};

/// The machine's RabbitMQ (`CAPSTAN_TEST_AMQP_URL`), if it and pika are there.
fn rabbitmq(test: &str) -> Option<String> {
    if !python_has(test, "pika", "pip install pika") {
        return None;
    }
    let url = std::env::var("CAPSTAN_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let host = url::Url::parse(&url).ok()?;
    let address = format!(
        "{}:{}",
        host.host_str().unwrap_or("127.0.0.1"),
        host.port().unwrap_or(5672)
    );
    if std::net::TcpStream::connect(&address).is_err() {
        skip_or_fail(test, &format!("no RabbitMQ at {address}"));
        return None;
    }
    Some(url)
}

/// Removes the test's queues (and their dead-letter queues) when dropped.
struct Queues {
    url: String,
    names: Vec<String>,
}

impl Drop for Queues {
    fn drop(&mut self) {
        let code = "import pika, sys\nc = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))\nch = c.channel()\nfor q in sys.argv[2:]:\n    ch.queue_delete(q)\nc.close()";
        let mut names = self.names.clone();
        names.extend(self.names.iter().map(|q| format!("{q}.dead")));
        let _ = Command::new("python3")
            .args(["-c", code, &self.url])
            .args(names)
            .status();
    }
}

async fn bc_in_production(app: &TestApp) -> i64 {
    app.create_model("bc").await;
    let v = app.upload_trained("bc", &train_breast_cancer(1.0)).await;
    app.promote("bc", "production", &json!({"version": v}))
        .await;
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pika_rpc_answers_as_http_does_and_malformed_messages_are_dead_lettered() {
    const TEST: &str = "pika_rpc_answers_as_http_does_and_malformed_messages_are_dead_lettered";
    let Some(url) = rabbitmq(TEST) else { return };
    let app = capstan_tests::spawn_app().await;
    let v = bc_in_production(&app).await;
    let prefix = format!("capstan.test.{}.", unique_id());
    let queue = format!("{prefix}bc");
    let _queues = Queues {
        url: url.clone(),
        names: vec![queue.clone()],
    };
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let secret = "amqp-test-secret";
    std::fs::write(
        &tokens,
        format!("{}\n", hex::encode(sha2::Sha256::digest(secret))),
    )
    .unwrap();
    let server = start_model_server(&ModelServerArgs {
        instance_id: Some("amqp-a".parse().unwrap()),
        auth: ModelServerAuthArgs {
            auth_token_file: Some(tokens),
            ..Default::default()
        },
        transports: TransportArgs {
            amqp_url: Some(url.clone()),
            amqp_queue_prefix: prefix,
            ..Default::default()
        },
        ..model_server_args(&app.base, &["bc@production"])
    })
    .await;
    let rows = breast_cancer_rows(5);
    let over_http = {
        let answer: Value = reqwest::Client::new()
            .post(format!(
                "{}/api/v1/models/bc/versions/production/predict",
                server.base
            ))
            .bearer_auth(secret)
            .json(&json!({ "instances": rows }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["probabilities"].clone()
    };

    let csv = breast_cancer_csv().to_str().unwrap().to_owned();
    let report = capstan_tests::python::run_script(
        "amqp_client.py",
        vec![
            "rpc".into(),
            url,
            queue.clone(),
            csv,
            "5".into(),
            "1".into(),
            secret.into(),
        ],
    )
    .await;
    let replies = &report["replies"];
    for i in 0..5 {
        let reply = &replies[format!("row-{i}")];
        assert_eq!(reply["content_type"], "application/json", "{reply}");
        assert_eq!(reply["app_id"], "amqp-a");
        assert_eq!(reply["body"]["model"]["version"], v);
        assert_eq!(
            reply["body"]["probabilities"][0], over_http[i],
            "row {i} as over HTTP"
        );
    }
    assert_eq!(replies["batch"]["body"]["probabilities"], over_http);

    let bad = &replies["bad-shape"];
    assert_eq!(bad["content_type"], "application/problem+json", "{bad}");
    assert_eq!(bad["body"]["status"], 400);
    assert!(
        bad["body"]["detail"].as_str().unwrap().contains("row 0"),
        "{bad}"
    );
    let no_token = &replies["no-token"];
    assert_eq!(
        no_token["content_type"], "application/problem+json",
        "{no_token}"
    );
    assert_eq!(no_token["body"]["status"], 401, "{no_token}");
    let malformed = &replies["malformed"];
    assert_eq!(malformed["body"]["status"], 400, "{malformed}");
    assert!(
        malformed["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("not a predict body"),
        "{malformed}"
    );

    let dead = report["dead"].as_array().unwrap();
    assert_eq!(
        dead.len(),
        1,
        "only the malformed message is dead-lettered: {dead:?}"
    );
    assert_eq!(dead[0]["body"], "this is not json");
    assert_eq!(dead[0]["correlation_id"], "malformed");
    assert_eq!(dead[0]["reason"], "rejected");

    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "capstan_predict_requests_total{{model=\"bc\",version=\"{v}\",protocol=\"amqp\"}} 7"
        )),
        "five rows, the batch and the bad shape: {metrics}"
    );
}

/// A model server as its own process, consuming `prefix`'s queue as `instance`.
fn model_server_process(registry: &str, url: &str, prefix: &str, instance: &str) -> Child {
    Command::new(capstan_tests::example::registry_bin())
        .args([
            "model-server",
            "--registry",
            registry,
            "--model",
            "bc@production",
        ])
        .args(["--listen", "127.0.0.1:0", "--instance-id", instance])
        .args([
            "--amqp-url",
            url,
            "--amqp-queue-prefix",
            prefix,
            "--amqp-prefetch",
            "64",
        ])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_server_killed_mid_request_leaves_its_requests_to_another() {
    const TEST: &str = "a_model_server_killed_mid_request_leaves_its_requests_to_another";
    let Some(url) = rabbitmq(TEST) else { return };
    let app = capstan_tests::spawn_app().await;
    bc_in_production(&app).await;
    let prefix = format!("capstan.test.{}.", unique_id());
    let queue = format!("{prefix}bc");
    let _queues = Queues {
        url: url.clone(),
        names: vec![queue.clone()],
    };
    let mut a = model_server_process(&app.base, &url, &prefix, "server-a");
    let mut b = model_server_process(&app.base, &url, &prefix, "server-b");

    const REQUESTS: usize = 4000;
    let csv = breast_cancer_csv().to_str().unwrap().to_owned();
    let mut flood = Command::new("python3")
        .arg(script("amqp_client.py"))
        .args(["flood", &url, &queue, &csv, &REQUESTS.to_string(), "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = flood.stderr.take().unwrap();
    let (killed, flood) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr).lines();
        // Kill server-a (SIGKILL) once half the requests are out, requests in flight.
        let killed = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line == "half");
        a.kill().unwrap();
        a.wait().unwrap();
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        if !rest.is_empty() {
            eprintln!("amqp_client.py: {}", rest.join("\n"));
        }
        (killed, flood)
    })
    .await
    .unwrap();
    let output = tokio::task::spawn_blocking(move || flood.wait_with_output().unwrap())
        .await
        .unwrap();
    let _ = b.kill();
    let _ = b.wait();
    assert!(killed, "the flood never reached half way");
    assert!(output.status.success(), "amqp_client.py flood failed");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["answered"], REQUESTS,
        "every request answered: {report}"
    );
    let by_server = &report["by_server"];
    assert!(by_server["server-a"].as_u64().unwrap_or(0) > 0, "{report}");
    assert!(by_server["server-b"].as_u64().unwrap_or(0) > 0, "{report}");
    assert!(
        report["redelivered_replies"].as_u64().unwrap() > 0,
        "server-a was killed with requests in flight, which server-b answered: {report}"
    );
    // Nothing is left behind: the queue is empty.
    let empty = Command::new("python3")
        .args(["-c", "import pika, sys\nc = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))\nprint(c.channel().queue_declare(sys.argv[2], passive=True).method.message_count)", &url, &queue])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&empty.stdout).trim(), "0");
}
