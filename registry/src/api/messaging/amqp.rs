//! Predictions over RabbitMQ (AMQP 0.9.1), the RPC pattern: a durable queue per served
//! model (`<prefix><model>`), requests carrying `reply_to` and `correlation_id`, the answer
//! published to `reply_to` through the default exchange with the request's
//! `correlation_id`. A request is acknowledged only once its reply is confirmed by the
//! broker, so a model server that stops mid-request leaves it to be delivered again —
//! to another server on the same queue — and a redelivered request is answered once per
//! delivery (callers match replies by `correlation_id` and ignore duplicates). At most
//! `prefetch` requests are in flight per server. A message that is not a `predict` body,
//! or has no `reply_to`, goes to the queue's dead-letter queue `<queue>.dead` (after a
//! problem reply, when it has somewhere to go).
//!
//! The connection is re-opened with backoff when it drops; queues are declared (with
//! their dead-letter arguments) on every connect.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use capstan_client::ModelName;

use super::{answer, Message, AUTHORIZATION_HEADER, REF_HEADER};
use crate::api::prediction_gate::PredictionGate;
use crate::serving::Serving;

/// Where requests come from and how many may be in flight.
#[derive(Debug, Clone)]
pub struct AmqpSettings {
    pub url: String,
    /// Queues are named `<prefix><model>`.
    pub queue_prefix: String,
    pub prefetch: u16,
    /// Sent as each reply's `app_id`: which server answered.
    pub instance: String,
}

/// Set on the reply to a request the broker delivered again (a server stopped before
/// acknowledging it): the caller may already have an answer to it.
pub const REDELIVERED_HEADER: &str = "capstan-redelivered";

const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Consumes the queues of `models` until `shutdown`, reconnecting when the broker goes away.
pub async fn run(
    settings: AmqpSettings,
    models: Vec<ModelName>,
    serving: Serving,
    gate: PredictionGate,
    shutdown: CancellationToken,
) {
    let worker = Arc::new(Worker {
        serving,
        gate,
        instance: settings.instance.clone().into(),
    });
    let mut backoff = BACKOFF_FIRST;
    loop {
        match consume(&settings, &models, &worker, &shutdown).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, url = %redacted(&settings.url), retry_in_ms = backoff.as_millis() as u64, "AMQP consumer stopped; reconnecting");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// The queue of `model`.
pub fn queue_name(prefix: &str, model: &ModelName) -> String {
    format!("{prefix}{model}")
}

/// One connection's life: declare, consume, answer; `Ok` only on shutdown.
async fn consume(
    settings: &AmqpSettings,
    models: &[ModelName],
    worker: &Arc<Worker>,
    shutdown: &CancellationToken,
) -> lapin::Result<()> {
    let properties = ConnectionProperties::default()
        .with_connection_name(format!("capstan-model-server {}", settings.instance).into());
    let connection = Connection::connect(&settings.url, properties).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    channel
        .basic_qos(settings.prefetch.max(1), BasicQosOptions::default())
        .await?;
    let mut streams = Vec::with_capacity(models.len());
    let mut tags = Vec::with_capacity(models.len());
    for model in models {
        let queue = queue_name(&settings.queue_prefix, model);
        declare(&channel, &queue).await?;
        let tag = format!("capstan-{}-{model}", settings.instance);
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tags.push(tag);
        let model = model.clone();
        streams.push(
            consumer
                .map(move |delivery| (model.clone(), delivery))
                .boxed(),
        );
    }
    tracing::info!(url = %redacted(&settings.url), queues = models.len(), prefetch = settings.prefetch, "consuming predictions from AMQP");
    let mut deliveries = futures::stream::select_all(streams);
    let in_flight = TaskTracker::new();
    let result = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            next = deliveries.next() => match next {
                Some((model, Ok(delivery))) => {
                    let worker = worker.clone();
                    let channel = channel.clone();
                    in_flight.spawn(async move { worker.handle(&channel, &model, delivery).await });
                }
                Some((_, Err(error))) => break Err(error),
                None => break Err(lapin::Error::from(lapin::ErrorKind::InvalidConnectionState(
                    lapin::ConnectionState::Closed,
                ))),
            },
        }
    };
    if result.is_ok() {
        // Take no more; answer what arrived; what is left unacknowledged goes back to
        // the queue when the connection closes.
        for tag in tags {
            let _ = channel
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await;
        }
        in_flight.close();
        in_flight.wait().await;
        let _ = connection.close(200, "model server stopping".into()).await;
    }
    result
}

/// The request queue, durable, dead-lettering to `<queue>.dead`.
async fn declare(channel: &Channel, queue: &str) -> lapin::Result<()> {
    let dead = format!("{queue}.dead");
    channel
        .queue_declare(
            dead.as_str().into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await?;
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    arguments.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dead.as_str().into()),
    );
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
        .await?;
    Ok(())
}

struct Worker {
    serving: Serving,
    gate: PredictionGate,
    instance: ShortString,
}

impl Worker {
    async fn handle(&self, channel: &Channel, model: &ModelName, delivery: Delivery) {
        let properties = &delivery.properties;
        let reply = answer(
            &self.serving,
            &self.gate,
            Message {
                model,
                body: &delivery.data,
                reference: header(properties, REF_HEADER),
                authorization: header(properties, AUTHORIZATION_HEADER),
            },
            "amqp",
        )
        .await;
        let Some(reply_to) = properties.reply_to().as_ref() else {
            tracing::warn!(%model, "an AMQP prediction without reply_to: dead-lettered");
            settle(&delivery, Settle::DeadLetter).await;
            return;
        };
        let mut reply_properties = BasicProperties::default()
            .with_content_type(reply.content_type().into())
            .with_app_id(self.instance.clone());
        if delivery.redelivered {
            let mut headers = FieldTable::default();
            headers.insert(REDELIVERED_HEADER.into(), AMQPValue::Boolean(true));
            reply_properties = reply_properties.with_headers(headers);
        }
        if let Some(correlation_id) = properties.correlation_id() {
            reply_properties = reply_properties.with_correlation_id(correlation_id.clone());
        }
        let published = async {
            channel
                .basic_publish(
                    "".into(),
                    reply_to.clone(),
                    BasicPublishOptions::default(),
                    &reply.body,
                    reply_properties,
                )
                .await?
                .await
        }
        .await;
        let settle_as = match published {
            Err(error) => {
                tracing::warn!(%error, %model, "cannot publish an AMQP reply; the request goes back to the queue");
                Settle::Requeue
            }
            Ok(_) if reply.malformed => Settle::DeadLetter,
            Ok(_) => Settle::Ack,
        };
        settle(&delivery, settle_as).await;
    }
}

enum Settle {
    Ack,
    Requeue,
    DeadLetter,
}

async fn settle(delivery: &Delivery, settle: Settle) {
    let result = match settle {
        Settle::Ack => delivery.ack(BasicAckOptions::default()).await,
        Settle::Requeue => {
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await
        }
        Settle::DeadLetter => delivery.reject(BasicRejectOptions { requeue: false }).await,
    };
    if let Err(error) = result {
        tracing::warn!(%error, "cannot settle an AMQP delivery; the broker delivers it again");
    }
}

/// A string header of a message.
fn header<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a str> {
    match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(value) => std::str::from_utf8(value.as_bytes()).ok(),
        AMQPValue::ShortString(value) => Some(value.as_str()),
        _ => None,
    }
}

/// A broker URL without its password, for logs.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<invalid URL>".to_owned(),
    }
}
