//! Predictions over message brokers (pattern 2 with a queue between the application and
//! the model): RabbitMQ's request/reply (`amqp.rs`) and NATS request/reply (`nats.rs`).
//! Both carry Capstan's JSON `predict` body to the subject or queue of a served model
//! (`capstan.predict.<model>` by default) and answer with the `predict` answer or a
//! problem document; this module is what they share: one message in, one reply out.
//!
//! A message may carry headers: `authorization` (`Bearer <token>`, when the model server
//! requires tokens) and `capstan-ref` (another of the refs this server serves for the
//! model; by default the model's first, split by a deployment's canary as over HTTP).

pub mod amqp;
pub mod nats;

use std::time::Instant;

use capstan_client::inference::PredictRequest;
use capstan_client::problem::PROBLEM_CONTENT_TYPE;
use capstan_client::{ModelName, VersionRef};

use super::prediction_gate::PredictionGate;
use crate::error::RegistryError;
use crate::serving::{ServeError, Serving};

/// The header naming another served ref of the model.
pub const REF_HEADER: &str = "capstan-ref";
/// The header carrying `Bearer <token>`.
pub const AUTHORIZATION_HEADER: &str = "authorization";
/// Largest prediction message read.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One prediction message, as the broker delivered it.
pub struct Message<'a> {
    pub model: &'a ModelName,
    pub body: &'a [u8],
    pub reference: Option<&'a str>,
    pub authorization: Option<&'a str>,
}

/// The reply to one message.
pub struct Reply {
    pub body: Vec<u8>,
    /// A problem document (an error) rather than a `predict` answer.
    pub problem: bool,
    /// The body was not a `predict` request at all: brokers that keep such messages
    /// (RabbitMQ's dead-letter queue) keep it.
    pub malformed: bool,
    /// The version that answered, when one did.
    pub version: Option<i64>,
}

impl Reply {
    pub fn content_type(&self) -> &'static str {
        if self.problem {
            PROBLEM_CONTENT_TYPE
        } else {
            "application/json"
        }
    }

    fn problem(error: impl Into<RegistryError>, malformed: bool) -> Self {
        let problem = error.into().problem();
        Self {
            body: serde_json::to_vec(&problem).unwrap_or_default(),
            problem: true,
            malformed,
            version: None,
        }
    }
}

/// Answers one prediction message, recorded in the metrics under `protocol`.
pub async fn answer(
    serving: &Serving,
    gate: &PredictionGate,
    message: Message<'_>,
    protocol: &'static str,
) -> Reply {
    let started = Instant::now();
    if let Err(error) = gate
        .admit(message.authorization, message.model.as_str())
        .await
    {
        return Reply::problem(error, false);
    }
    let request = match parse(message.body) {
        Ok(request) => request,
        Err(error) => return Reply::problem(error, true),
    };
    let model = match message.reference {
        Some(raw) => match VersionRef::parse(raw) {
            Ok(reference) => serving.route(message.model, &reference).await,
            Err(e) => Err(ServeError::BadInput(format!(
                "header {REF_HEADER} {:?}: {e}",
                raw.chars().take(64).collect::<String>()
            ))),
        },
        None => serving.v2_model(message.model, None).await,
    };
    let model = match model {
        Ok(model) => model,
        Err(error) => return Reply::problem(error, false),
    };
    match serving
        .predict_with(&model, request, protocol, started)
        .await
    {
        Ok(answer) => Reply {
            body: serde_json::to_vec(&answer).unwrap_or_default(),
            problem: false,
            malformed: false,
            version: Some(model.version),
        },
        Err(error) => Reply::problem(error, false),
    }
}

fn parse(body: &[u8]) -> Result<PredictRequest, ServeError> {
    if body.is_empty() {
        return Err(ServeError::BadInput(
            "the message is empty: send a predict body, {\"instances\": [[...]]}".into(),
        ));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(ServeError::BadInput(format!(
            "the message has {} bytes; at most {MAX_BODY_BYTES} are read",
            body.len()
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| ServeError::BadInput(format!("the message is not a predict body: {e}")))
}
