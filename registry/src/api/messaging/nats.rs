//! Predictions over NATS request/reply: the subject of a served model
//! (`<prefix><model>`, `capstan.predict.<model>` by default), subscribed in a queue group so
//! that several model servers share the requests; the reply goes to the request's reply
//! subject with a `Content-Type` header (`application/json` or
//! `application/problem+json`), `Capstan-Model-Version` when a version answered and
//! `Capstan-Instance` (which server did).
//! NATS keeps no unanswered request: a caller whose request met a stopping server times
//! out and asks again. The client reconnects by itself when the server goes away.

use std::sync::Arc;

use async_nats::{HeaderMap, Subject};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use capstan_client::ModelName;

use super::{answer, Message, AUTHORIZATION_HEADER, REF_HEADER};
use crate::api::prediction_gate::PredictionGate;
use crate::serving::Serving;

/// Where requests come from.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    pub url: String,
    /// Subjects are `<prefix><model>`.
    pub subject_prefix: String,
    pub queue_group: String,
    /// Sent as each reply's `Capstan-Instance` header: which server answered.
    pub instance: String,
}

/// The subject of `model`.
pub fn subject_name(prefix: &str, model: &ModelName) -> String {
    format!("{prefix}{model}")
}

/// Answers requests for `models` until `shutdown`.
pub async fn run(
    settings: NatsSettings,
    models: Vec<ModelName>,
    serving: Serving,
    gate: PredictionGate,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let client = async_nats::ConnectOptions::new()
        .name("capstan-model-server")
        .retry_on_initial_connect()
        .connect(&settings.url)
        .await?;
    let mut streams = Vec::with_capacity(models.len());
    for model in &models {
        let subject = subject_name(&settings.subject_prefix, model);
        let subscriber = client
            .queue_subscribe(subject, settings.queue_group.clone())
            .await?;
        let model = model.clone();
        streams.push(
            subscriber
                .map(move |message| (model.clone(), message))
                .boxed(),
        );
    }
    tracing::info!(url = %settings.url, subjects = models.len(), group = %settings.queue_group, "answering predictions over NATS");
    let mut requests = futures::stream::select_all(streams);
    let worker = Arc::new((serving, gate, client.clone(), settings.instance.clone()));
    let in_flight = TaskTracker::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            next = requests.next() => {
                let Some((model, message)) = next else { break };
                let worker = worker.clone();
                in_flight.spawn(async move {
                    let (serving, gate, client, instance) = &*worker;
                    let Some(reply_to) = message.reply.clone() else {
                        tracing::warn!(%model, "a NATS prediction without a reply subject: dropped");
                        return;
                    };
                    let header = |name: &str| {
                        message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str())
                    };
                    let reply = answer(
                        serving,
                        gate,
                        Message {
                            model: &model,
                            body: &message.payload,
                            reference: header(REF_HEADER),
                            authorization: header(AUTHORIZATION_HEADER),
                        },
                        "nats",
                    )
                    .await;
                    publish(client, reply_to, reply, instance).await;
                });
            }
        }
    }
    drop(requests);
    in_flight.close();
    in_flight.wait().await;
    client.flush().await?;
    Ok(())
}

async fn publish(
    client: &async_nats::Client,
    reply_to: Subject,
    reply: super::Reply,
    instance: &str,
) {
    let mut headers = HeaderMap::new();
    headers.insert("Content-Type", reply.content_type());
    headers.insert("Capstan-Instance", instance);
    if let Some(version) = reply.version {
        headers.insert("Capstan-Model-Version", version.to_string().as_str());
    }
    if let Err(error) = client
        .publish_with_headers(reply_to, headers, reply.body.into())
        .await
    {
        tracing::warn!(%error, "cannot publish a NATS reply");
    }
}
