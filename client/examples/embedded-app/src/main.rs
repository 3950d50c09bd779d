//! An application with the production model compiled in (Capstan pattern 1).
//!
//! The model's bytes are part of the binary (`include_bytes!`), pinned by digest in
//! `capstan.lock`: the app needs no registry at run time, and it changes model only when
//! it is rebuilt after `capstan lock update`.
//!
//! Usage: `embedded-app <comma-separated feature values>` (in signature order: numbers,
//! text for a string feature, nothing for a missing value); prints the predicted class
//! and its probability (a classifier) or the predicted value (a regressor), and the
//! embedded model's ref, version and digest.
//!
//! With `CAPSTAN_DEPLOYMENT=NAME` (and `CAPSTAN_URL`) it first reports the digest compiled
//! into it to that deployment of the control plane (`capstan_client::build::report_embedded_from_env`),
//! so an operator sees which builds still run an old model; a failed report is a warning.

use std::process::ExitCode;

use capstan_client::runtime::input::rows_from_instances;
use capstan_client::runtime::{self, Prediction};
use capstan_client::DataType;
use serde_json::Value;

/// The artifact, verified against its digest when it was fetched at build time.
static MODEL: &[u8] = include_bytes!(env!("BC_MODEL_PATH"));
const FORMAT: &str = env!("BC_MODEL_FORMAT");
const REFERENCE: &str = env!("BC_MODEL_REF");
const VERSION: &str = env!("BC_MODEL_VERSION");
const DIGEST: &str = env!("BC_MODEL_DIGEST");

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return Err("usage: embedded-app <comma-separated feature values>".into());
    }
    let values: Vec<String> = args
        .join(",")
        .split(',')
        .map(|v| v.trim().to_owned())
        .collect();

    // One line: report what this build embeds, when a deployment is configured.
    let reporter = match capstan_client::build::report_embedded_from_env(VERSION, DIGEST) {
        Ok(reporter) => reporter,
        Err(error) => {
            eprintln!("warning: cannot report to the deployment: {error}");
            None
        }
    };
    if let Some(reporter) = &reporter {
        println!("reported: {}", reporter.instance());
    }

    let predictor = runtime::load(FORMAT, MODEL, None).map_err(|e| e.to_string())?;
    let signature = predictor.signature();
    if values.len() != signature.inputs.len() {
        return Err(format!(
            "the model takes {} feature values, got {}",
            signature.inputs.len(),
            values.len()
        ));
    }
    // Text as the signature types it: a string feature keeps it, a number is parsed,
    // nothing is a missing value.
    let row: Vec<Value> = values
        .iter()
        .zip(&signature.inputs)
        .map(|(text, feature)| match feature.dtype {
            DataType::String => Value::from(text.as_str()),
            _ if text.is_empty() => Value::Null,
            _ => text
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(text.as_str())),
        })
        .collect();
    let rows = rows_from_instances(&[Value::Array(row)], signature).map_err(|e| e.to_string())?;
    match predictor.predict(&rows).map_err(|e| e.to_string())? {
        Prediction::Classes(answer) => {
            let class = &answer.predictions[0];
            let index = predictor
                .classes()
                .iter()
                .position(|c| c == class)
                .unwrap_or_default();
            println!("class: {class}");
            println!("probability: {:.4}", answer.probabilities[0][index]);
        }
        Prediction::Values(answer) => {
            let values: Vec<String> = answer.values.row(0).iter().map(f64::to_string).collect();
            println!("value: {}", values.join(","));
        }
    }
    println!("model: {REFERENCE}");
    println!("version: {VERSION}");
    println!("digest: {DIGEST}");
    Ok(())
}
