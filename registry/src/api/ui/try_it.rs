//! A version's **try it** form: generated from the version's signature, it predicts one
//! row through the same serving path as the predict API and shows the answer (or the
//! refusal) on the version's page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use capstan_client::inference::{PredictRequest, PredictResponse, Predictions};
use capstan_client::types::Version;
use capstan_client::VersionRef;
use maud::{html, Markup};
use serde_json::Value;

use super::models::metric_value;
use super::session::UiContext;
use super::versions::{version_page, VersionPath};
use super::UiError;
use crate::error::RegistryError;
use crate::service::Registry;
use crate::serving::Serving;

/// What the try-it form answered, or why not.
pub enum Tried {
    Answer {
        rows: Vec<String>,
        response: Box<PredictResponse>,
    },
    Refused(String),
}

pub fn try_form(ctx: &UiContext, base: &str, version: &Version, given: &[String]) -> Markup {
    let Some(signature) = &version.signature else {
        return html! {};
    };
    html! {
        form.panel method="post" action={ (base) "/try#try" } {
            (ctx.csrf_field())
            div.actions {
                @for (i, feature) in signature.inputs.iter().enumerate() {
                    div {
                        label for={ "f" (i) } { (feature.name) }
                        @if feature.dtype.is_numeric() {
                            input id={ "f" (i) } name={ "f" (i) } type="text" inputmode="decimal"
                                required[!feature.nullable] value=[given.get(i)];
                        } @else {
                            input id={ "f" (i) } name={ "f" (i) } type="text"
                                required value=[given.get(i)];
                        }
                    }
                }
            }
            p { button type="submit" { "Predict" } }
        }
    }
}

pub fn tried_markup(tried: &Tried) -> Markup {
    match tried {
        Tried::Refused(detail) => html! {
            div.notice.refused role="alert" #answer { p { strong { "Refused: " } (detail) } }
        },
        Tried::Answer { rows, response } => html! {
            div.notice.ok role="status" #answer {
                p {
                    "Version " (response.model.version) " predicts "
                    strong #prediction { (rows.first().map(String::as_str).unwrap_or("")) }
                }
                @if let Some(probabilities) = response.probabilities.first() {
                    table {
                        thead { tr { th scope="col" { "Class" } th scope="col" .num { "Probability" } } }
                        tbody {
                            @for (class, p) in response.classes.iter().zip(probabilities) {
                                tr { td { (class.to_string()) } td.num { (format!("{p:.4}")) } }
                            }
                        }
                    }
                }
            }
        },
    }
}

/// `POST /ui/models/{name}/versions/{version}/try`: one row from the form, predicted by
/// this version through the serving path the predict API uses.
pub async fn try_it(
    request: HttpRequest,
    ctx: UiContext,
    registry: web::Data<Registry>,
    serving: web::Data<Serving>,
    path: web::Path<VersionPath>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, UiError> {
    let VersionPath { name, version } = path.into_inner();
    let form = form.into_inner();
    let csrf = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    ctx.check_form(&request, csrf)?;
    let described = registry
        .get_version(name.clone(), VersionRef::Number(version))
        .await?;
    let features = described
        .signature
        .as_ref()
        .map(|s| s.inputs.clone())
        .unwrap_or_default();
    let given: Vec<String> = (0..features.len())
        .map(|i| {
            let key = format!("f{i}");
            form.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        })
        .collect();
    let row: Result<Vec<Value>, String> = features
        .iter()
        .zip(&given)
        .map(|(feature, text)| {
            if text.is_empty() {
                return Ok(Value::Null);
            }
            if !feature.dtype.is_numeric() {
                return Ok(Value::String(text.clone()));
            }
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("{}: {text:?} is not a number", feature.name))
        })
        .collect();
    let tried = match row {
        Err(why) => Tried::Refused(why),
        Ok(row) => {
            let request = PredictRequest {
                instances: Some(vec![Value::Array(row)]),
                inputs: None,
            };
            match serving
                .predict(&name, &VersionRef::Number(version), request)
                .await
            {
                Ok((_, response)) => Tried::Answer {
                    rows: prediction_texts(&response.predictions),
                    response: Box::new(response),
                },
                Err(error) => Tried::Refused(RegistryError::from(error).problem().detail),
            }
        }
    };
    let status = match tried {
        Tried::Answer { .. } => StatusCode::OK,
        Tried::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    version_page(&ctx, &registry, name, version, Some((tried, given)), status).await
}

fn prediction_texts(predictions: &Predictions) -> Vec<String> {
    match serde_json::to_value(predictions) {
        Ok(Value::Array(rows)) => rows
            .iter()
            .map(|row| match row {
                Value::String(text) => text.clone(),
                Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), metric_value),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}
