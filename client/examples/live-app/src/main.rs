//! An application that follows a ref and predicts with whatever it names now (Capstan
//! pattern 3, model as data).
//!
//! Usage: `CAPSTAN_URL=http://registry:8080 live-app bc@production [--deployment NAME]`
//!
//! It loads the version the ref names, prints `serving <model> version <n> (<digest>)`,
//! and prints that line again each time a promotion swaps a new version in — without
//! restarting. Each line typed on stdin (comma-separated feature values) is answered with
//! `class <c> probability <p> version <n>` (a classifier) or `value <v> version <n>` (a
//! regressor). When stdin closes it keeps following until it
//! is stopped. Failures (a version that cannot be loaded, a lost connection) go to stderr;
//! the last good model keeps serving.
//!
//! With `--deployment NAME` it also reports what it serves to that deployment of the
//! registry's control plane (as `<hostname>-<pid>`): at start, on every swap or failed
//! load, and every heartbeat.
//!
//! Events come over server-sent events from the registry; build with `--features nats`
//! or `--features kafka` and set `CAPSTAN_LIVE_SOURCE` to use a broker instead.

use std::process::ExitCode;
use std::sync::Arc;

use capstan_client::live::{LiveModel, LiveUpdate, Loaded};
use capstan_client::runtime::input::rows_from_instances;
use capstan_client::runtime::Prediction;
use capstan_client::{DataType, ModelName, ModelRef};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::broadcast::error::RecvError;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (reference, deployment) = match args.as_slice() {
        [reference] => (reference.clone(), None),
        [reference, flag, name] if flag == "--deployment" => (reference.clone(), Some(name.clone())),
        _ => {
            eprintln!("usage: live-app <model@ref> [--deployment NAME]   (the registry is $CAPSTAN_URL)");
            return ExitCode::from(2);
        }
    };
    let model = match follow(&reference, deployment.as_deref()).await {
        Ok(model) => model,
        Err(error) => {
            eprintln!("error: cannot follow {reference}: {error}");
            return ExitCode::from(1);
        }
    };
    tokio::spawn(announce_swaps(model.clone()));
    tokio::spawn(report_problems(model.clone()));

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        match predict(&model, &line) {
            Ok(answer) => println!("{answer}"),
            Err(message) => eprintln!("error: {message}"),
        }
    }
    eprintln!("stdin closed; still following {reference} (stop with Ctrl-C)");
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}

/// Follows `reference`; with a deployment, also reports to it what it serves.
async fn follow(reference: &str, deployment: Option<&str>) -> Result<LiveModel, String> {
    let Some(deployment) = deployment else {
        return LiveModel::follow(reference).await.map_err(|e| e.to_string());
    };
    let reference: ModelRef = reference.parse().map_err(|e| format!("{e}"))?;
    let deployment: ModelName = deployment.parse().map_err(|e| format!("{e}"))?;
    LiveModel::builder(reference)
        .deployment(deployment)
        .start()
        .await
        .map_err(|e| e.to_string())
}

/// Prints the model serving now, then the new one at every swap.
async fn announce_swaps(model: LiveModel) {
    let mut current = model.watch();
    loop {
        let loaded: Arc<Loaded> = current.borrow_and_update().clone();
        println!(
            "serving {} version {} ({})",
            loaded.model, loaded.version, loaded.digest
        );
        if current.changed().await.is_err() {
            return;
        }
    }
}

/// Versions that were skipped and connections that broke, on stderr.
async fn report_problems(model: LiveModel) {
    let mut updates = model.updates();
    loop {
        match updates.recv().await {
            Ok(LiveUpdate::Failed {
                version,
                error,
                retry_in,
                ..
            }) => {
                let version = version.map_or_else(|| "?".to_owned(), |v| v.to_string());
                match retry_in {
                    Some(delay) => eprintln!(
                        "warning: version {version} not loaded yet ({error}); retrying in {delay:?}"
                    ),
                    None => eprintln!(
                        "warning: skipping version {version}: {error}; still serving version {}",
                        model.current().version
                    ),
                }
            }
            Ok(LiveUpdate::Disconnected {
                source,
                error,
                retry_in,
            }) => eprintln!("warning: {source}: {error}; reconnecting in {retry_in:?}"),
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// One row of comma-separated feature values (in signature order: numbers, text for a
/// string feature, nothing for a missing value), answered by the current model.
fn predict(model: &LiveModel, line: &str) -> Result<String, String> {
    let current = model.current();
    let signature = current.predictor.signature();
    let values: Vec<&str> = line.split(',').map(str::trim).collect();
    if values.len() != signature.inputs.len() {
        return Err(format!(
            "the model takes {} feature values, got {}",
            signature.inputs.len(),
            values.len()
        ));
    }
    let row: Vec<Value> = values
        .iter()
        .zip(&signature.inputs)
        .map(|(text, feature)| match feature.dtype {
            DataType::String => Value::from(*text),
            _ if text.is_empty() => Value::Null,
            _ => text
                .parse::<f64>()
                .map_or_else(|_| Value::from(*text), Value::from),
        })
        .collect();
    let rows = rows_from_instances(&[Value::Array(row)], signature).map_err(|e| e.to_string())?;
    let answer = model.predict_rows(&rows).map_err(|e| e.to_string())?;
    match &answer.prediction {
        Prediction::Classes(classes) => {
            let class = &classes.predictions[0];
            let index = answer
                .model
                .predictor
                .classes()
                .iter()
                .position(|c| c == class)
                .unwrap_or_default();
            Ok(format!(
                "class {class} probability {:.6} version {}",
                classes.probabilities[0][index], answer.model.version
            ))
        }
        Prediction::Values(values) => {
            let row: Vec<String> = values.values.row(0).iter().map(f64::to_string).collect();
            Ok(format!(
                "value {} version {}",
                row.join(","),
                answer.model.version
            ))
        }
    }
}
