//! Zero failed requests across hot swaps, under load: 100 promotions
//! (`CAPSTAN_HOT_SWAPS` sets another number) while clients send single-row predictions
//! (JSON) and V2 infers to the model server as fast as they can. Every request must
//! succeed — no non-2xx, no connection error — and every answer must name a version that
//! had been promoted, with that version's probabilities. The time from each promotion's
//! answer to the model server serving the new version is recorded (printed, and written
//! to `hot-swaps.json` in the test's temporary directory for docs/reliability.md).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use capstan_tests::{
    breast_cancer_rows, direct_probabilities, spawn_app, spawn_model_server, train_breast_cancer,
};

/// What the load generator saw.
#[derive(Default)]
struct Tally {
    answered: u64,
    /// Non-2xx answers and connection errors, with what they said (the first few).
    failures: Vec<String>,
    failed: u64,
    /// Answers naming a version not promoted before the request was sent.
    unpromoted: Vec<i64>,
    wrong_answers: u64,
}

/// One request, JSON predict or V2 infer; the version it names and its probabilities.
async fn ask(
    http: &reqwest::Client,
    base: &str,
    row: &[f64],
    v2: bool,
) -> Result<(i64, Vec<f64>), String> {
    let request = if v2 {
        let body = json!({"inputs": [{"name": "input", "shape": [1, row.len()], "datatype": "FP64", "data": row}]});
        http.post(format!("{base}/v2/models/bc/infer")).json(&body)
    } else {
        http.post(format!(
            "{base}/api/v1/models/bc/versions/production/predict"
        ))
        .json(&json!({"instances": [row]}))
    };
    let response = request
        .send()
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    if !status.is_success() {
        return Err(format!("{status}: {text}"));
    }
    let answer: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    if v2 {
        let version = answer["model_version"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let output = answer["outputs"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["name"] == "probabilities"))
            .cloned()
            .unwrap_or_default();
        Ok((
            version,
            serde_json::from_value(output["data"].clone()).unwrap_or_default(),
        ))
    } else {
        let version = answer["model"]["version"].as_i64().unwrap_or(0);
        let probabilities: Vec<Vec<f64>> =
            serde_json::from_value(answer["probabilities"].clone()).unwrap_or_default();
        Ok((
            version,
            probabilities.into_iter().next().unwrap_or_default(),
        ))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_promotions_under_full_load_fail_no_request() {
    let swaps: usize = std::env::var("CAPSTAN_HOT_SWAPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let app = spawn_app().await;
    app.create_model("bc").await;
    let row = breast_cancer_rows(1).remove(0);
    let mut expected = BTreeMap::new();
    let mut versions = Vec::new();
    for l2 in [1.0, 10.0, 100.0] {
        let trained = train_breast_cancer(l2);
        let version = app.upload_trained("bc", &trained).await;
        expected.insert(
            version,
            direct_probabilities(&trained.artifact, std::slice::from_ref(&row))[0].clone(),
        );
        versions.push(version);
    }
    // Bit `v` set: version `v` has been promoted (set before its promotion is sent).
    let promoted = Arc::new(AtomicU64::new(1 << versions[0]));
    let (status, body) = app
        .promote("bc", "production", &json!({"version": versions[0]}))
        .await;
    assert_eq!(status, 200, "{body}");
    // Polling every minute: the swaps must come from the registry's events.
    let server = spawn_model_server(&app.base, &["bc@production"], 60_000).await;

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let expected = Arc::new(expected);
    let http = reqwest::Client::new();
    let mut clients = Vec::new();
    for client in 0..4 {
        let (http, base, stop, tally, promoted, expected, row) = (
            http.clone(),
            server.base.clone(),
            stop.clone(),
            tally.clone(),
            promoted.clone(),
            expected.clone(),
            row.clone(),
        );
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let before = promoted.load(Ordering::SeqCst);
                let answer = ask(&http, &base, &row, client % 2 == 1).await;
                let mut tally = tally.lock().unwrap();
                match answer {
                    Ok((version, probabilities)) => {
                        tally.answered += 1;
                        let was_promoted = (0..64).contains(&version)
                            && (before | promoted.load(Ordering::SeqCst)) & (1 << version) != 0;
                        if !was_promoted {
                            tally.unpromoted.push(version);
                        } else if expected.get(&version) != Some(&probabilities) {
                            tally.wrong_answers += 1;
                        }
                    }
                    Err(failure) => {
                        tally.failed += 1;
                        if tally.failures.len() < 5 {
                            tally.failures.push(failure);
                        }
                    }
                }
            }
        }));
    }

    let started = Instant::now();
    let mut swap_times = Vec::with_capacity(swaps);
    for round in 0..swaps {
        let target = versions[(round + 1) % versions.len()];
        promoted.fetch_or(1 << target, Ordering::SeqCst);
        let (status, body) = app
            .promote("bc", "production", &json!({"version": target}))
            .await;
        assert_eq!(status, 200, "round {round}: {body}");
        let promoted_at = Instant::now();
        loop {
            let meta: Value = http
                .get(format!("{}/v2/models/bc", server.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if meta["versions"] == json!([target.to_string()]) {
                break;
            }
            assert!(
                promoted_at.elapsed() < Duration::from_secs(10),
                "round {round}: the model server did not swap to version {target} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        swap_times.push(promoted_at.elapsed());
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    let tally = tally.lock().unwrap();
    assert_eq!(tally.failed, 0, "failed requests: {:?}", tally.failures);
    assert!(
        tally.unpromoted.is_empty(),
        "answers from versions never promoted: {:?}",
        tally.unpromoted
    );
    assert_eq!(
        tally.wrong_answers, 0,
        "answers not equal to the named version's"
    );
    assert!(
        tally.answered > swaps as u64,
        "the load generator sent only {} requests over {swaps} swaps",
        tally.answered
    );
    swap_times.sort();
    let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    let report = json!({
        "promotions": swaps,
        "requests": tally.answered,
        "failed": tally.failed,
        "seconds": (elapsed.as_secs_f64() * 100.0).round() / 100.0,
        "requests_per_second": (tally.answered as f64 / elapsed.as_secs_f64()).round(),
        "swap_ms": {
            "min": ms(swap_times[0]),
            "median": ms(percentile(&swap_times, 0.5)),
            "p95": ms(percentile(&swap_times, 0.95)),
            "max": ms(swap_times[swap_times.len() - 1]),
        },
    });
    eprintln!("hot swaps under load: {report}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hot-swaps.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
}
