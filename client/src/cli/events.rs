//! `capstan events [--follow]`: the event log, as a table or JSON; with `--follow`, the
//! log from `--after` on and then new events as they are recorded, from the registry's
//! server-sent event stream (one line or JSON document each), reconnecting after the last
//! `seq` printed when the connection breaks.

use futures::StreamExt;

use clap::Args;

use super::output::{or_dash, time, write_json, write_json_line, OutputFormat, Table};
use super::{CliError, Context};
use crate::error::ErrorKind;
use crate::http::{Client, EventQuery};
use crate::live::{Backoff, LiveError, SseSource};
use crate::names::ModelName;
use crate::types::{Event, EventKind, EventMessage};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan events
  capstan events --model bc --kind stage_changed
  capstan events --actor ci-deployer
  capstan events --after 120 --follow --output json   # one JSON document per line")]
pub struct EventsArgs {
    /// Only events of this model.
    #[arg(long)]
    pub model: Option<ModelName>,
    /// Only events of this kind (`stage_changed`, `version_ready`, `alias_set`, …).
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<EventKind>,
    /// Only events by this actor (a token's name, `anonymous`, `worker`, `system`, …).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only events after this sequence number.
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    /// At most this many events (without --follow).
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
    /// Print the log after --after, then every new event as it is recorded, until
    /// interrupted (the registry's server-sent event stream; with --output json, each
    /// line is the published message: the event plus `refs`, `artifact` and `state`).
    #[arg(long)]
    pub follow: bool,
}

fn parse_kind(text: &str) -> Result<EventKind, String> {
    EventKind::parse(text).ok_or_else(|| {
        let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown event kind; one of: {}", kinds.join(", "))
    })
}

pub async fn run(args: EventsArgs, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    if args.follow {
        return follow(client, &args, ctx).await;
    }
    let query = EventQuery {
        model: args.model,
        kind: args.kind,
        actor: args.actor.clone(),
        after: Some(args.after),
        limit: Some(args.limit),
    };
    let page = client.list_events(&query).await?;
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &page.events)?);
    }
    let mut table = Table::new(&["SEQ", "TIME", "KIND", "MODEL", "VERSION", "ACTOR", "DETAIL"]);
    for event in &page.events {
        table.row(row(event));
    }
    Ok(table.write(ctx.out)?)
}

/// Prints events from the stream until interrupted. A refusal (a bad filter) ends it
/// with that error; a broken or unreachable stream is reopened after the last `seq`
/// printed, with backoff, saying so on stderr.
async fn follow(client: Client, args: &EventsArgs, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let mut filters = Vec::new();
    if let Some(model) = &args.model {
        filters.push(format!("model={model}"));
    }
    if let Some(kind) = args.kind {
        filters.push(format!("kind={}", kind.as_str()));
    }
    let filters = filters.join("&");
    let source = SseSource::new(client);
    let mut after = args.after;
    let mut backoff = Backoff::default();
    loop {
        let failure = match source.open_filtered(&filters, Some(after)).await {
            Ok(mut stream) => {
                backoff.reset();
                loop {
                    match stream.next().await {
                        Some(Ok(delivery)) if delivery.seq > after => {
                            after = delivery.seq;
                            // The stream has no actor filter: keep the actor's here.
                            let wanted = |message: &&EventMessage| {
                                args.actor.is_none() || message.event.actor == args.actor
                            };
                            if let Some(message) = delivery.message.as_ref().filter(wanted) {
                                print_message(ctx, message)?;
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(error)) => break error.to_string(),
                        None => break "the registry ended the stream".to_owned(),
                    }
                }
            }
            Err(LiveError::Registry(error)) if error.kind() != ErrorKind::Unavailable => {
                return Err(error.into());
            }
            Err(error) => error.to_string(),
        };
        let delay = backoff.next_delay();
        eprintln!("capstan: {failure}; reconnecting in {delay:.1?} (after seq {after})");
        tokio::time::sleep(delay).await;
    }
}

fn print_message(ctx: &mut Context<'_>, message: &EventMessage) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        write_json_line(ctx.out, message)?;
    } else {
        writeln!(ctx.out, "{}", row(&message.event).join("  "))?;
        ctx.out.flush()?;
    }
    Ok(())
}

fn row(event: &Event) -> Vec<String> {
    vec![
        event.seq.to_string(),
        time(&event.created_at),
        event.kind.as_str().to_owned(),
        event.model.to_string(),
        or_dash(event.version),
        event.actor.clone().unwrap_or_else(|| "-".to_owned()),
        detail(event),
    ]
}

/// The kind-specific part of an event, in words.
fn detail(event: &Event) -> String {
    let mut parts = Vec::new();
    match event.stage {
        // Promotion events name the stage a request is for; nothing moved yet.
        Some(stage) if event.to_version.is_none() => parts.push(stage.to_string()),
        Some(stage) => parts.push(format!(
            "{stage}: {} -> {}",
            or_dash(event.from_version),
            or_dash(event.to_version)
        )),
        None => {}
    }
    if let Some(alias) = &event.alias {
        parts.push(format!("alias {alias}"));
    }
    if let Some(digest) = &event.digest {
        parts.push(digest.to_string());
    }
    if let Some(request) = &event.request {
        parts.push(format!("request {request}"));
    }
    if let Some(reason) = &event.reason {
        parts.push(format!("({reason})"));
    }
    parts.join(" ")
}
