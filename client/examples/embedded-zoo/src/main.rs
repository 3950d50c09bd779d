//! Several models compiled into one binary (Capstan pattern 1): the ones `EMBEDDED_MODELS`
//! named at build time.
//!
//! Usage: `embedded-zoo REF` with rows on stdin as JSON (`[[value, …], …]`, in the
//! model's signature order: numbers, strings, `null` for a missing value). Prints the
//! answer as JSON, shaped like the registry's `predict` answer: `classes`, `predictions`
//! and `probabilities` for a classifier, `predictions` (numbers, or one array per row)
//! for a regressor. Exit 2 for an unknown ref or bad input.

use std::io::Read;
use std::process::ExitCode;

use capstan_client::runtime::input::rows_from_instances;
use capstan_client::runtime::{self, Prediction};
use serde_json::{json, Value};

include!(concat!(env!("OUT_DIR"), "/models.rs"));

fn main() -> ExitCode {
    match run() {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<Value, String> {
    let wanted = std::env::args()
        .nth(1)
        .ok_or("usage: embedded-zoo REF < rows.json")?;
    let (_, format, bytes) = MODELS
        .iter()
        .find(|(reference, _, _)| *reference == wanted)
        .ok_or_else(|| format!("{wanted} is not compiled in"))?;
    let predictor = runtime::load(format, bytes, None).map_err(|e| e.to_string())?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| e.to_string())?;
    let rows: Vec<Value> = serde_json::from_str(&input).map_err(|e| e.to_string())?;
    let rows = rows_from_instances(&rows, predictor.signature()).map_err(|e| e.to_string())?;
    Ok(match predictor.predict(&rows).map_err(|e| e.to_string())? {
        Prediction::Classes(answer) => json!({
            "classes": predictor.classes(),
            "predictions": answer.predictions,
            "probabilities": answer.probabilities,
        }),
        Prediction::Values(answer) if answer.values.ncols() == 1 => {
            json!({ "predictions": answer.values.column(0).to_vec() })
        }
        Prediction::Values(answer) => {
            let rows: Vec<Vec<f64>> = answer.values.outer_iter().map(|r| r.to_vec()).collect();
            json!({ "predictions": rows })
        }
    })
}
