//! An application with the breast-cancer classifier compiled in (Capstan pattern 1).
//!
//! The model's bytes are part of the binary (`include_bytes!`), pinned by digest in
//! `capstan.lock`: the app needs no registry at run time, and it changes model only when
//! it is rebuilt after `capstan lock update`.
//!
//! Usage: `embedded-app <30 comma-separated feature values>`; prints the predicted class,
//! its probability, and the embedded model's ref, version and digest.
//!
//! With `CAPSTAN_DEPLOYMENT=NAME` (and `CAPSTAN_URL`) it first reports the digest compiled
//! into it to that deployment of the control plane (`capstan_client::build::report_embedded_from_env`),
//! so an operator sees which builds still run an old model; a failed report is a warning.

use std::process::ExitCode;

use capstan_client::runtime::{self, ndarray::Array2};

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
    let values = args
        .join(",")
        .split(',')
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .map_err(|_| format!("{v:?} is not a number"))
        })
        .collect::<Result<Vec<f64>, String>>()?;

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
    let features = predictor.signature().inputs.len();
    if values.len() != features {
        return Err(format!(
            "the model takes {features} feature values, got {}",
            values.len()
        ));
    }
    let rows = Array2::from_shape_vec((1, features), values).map_err(|e| e.to_string())?;
    let prediction = predictor.predict(rows.view()).map_err(|e| e.to_string())?;
    let class = &prediction.predictions[0];
    let index = predictor
        .classes()
        .iter()
        .position(|c| c == class)
        .unwrap_or_default();
    println!("class: {class}");
    println!("probability: {:.4}", prediction.probabilities[0][index]);
    println!("model: {REFERENCE}");
    println!("version: {VERSION}");
    println!("digest: {DIGEST}");
    Ok(())
}
