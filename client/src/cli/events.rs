//! `capstan events [--follow]`: the event log, as a table or JSON; with `--follow`, new
//! events as they are recorded (polling the log, one line or JSON document each).

use std::time::Duration;

use clap::Args;

use super::output::{or_dash, time, write_json, write_json_line, OutputFormat, Table};
use super::{CliError, Context};
use crate::http::EventQuery;
use crate::names::ModelName;
use crate::types::{Event, EventKind};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan events
  capstan events --model bc --kind stage_changed
  capstan events --after 120 --follow --output json   # one JSON document per line")]
pub struct EventsArgs {
    /// Only events of this model.
    #[arg(long)]
    pub model: Option<ModelName>,
    /// Only events of this kind (`stage_changed`, `version_ready`, `alias_set`, …).
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<EventKind>,
    /// Only events after this sequence number.
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    /// At most this many events (per poll with --follow).
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
    /// Keep printing new events as they are recorded (until interrupted).
    #[arg(long)]
    pub follow: bool,
    /// Seconds between polls with --follow.
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
}

fn parse_kind(text: &str) -> Result<EventKind, String> {
    EventKind::parse(text).ok_or_else(|| {
        let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown event kind; one of: {}", kinds.join(", "))
    })
}

pub async fn run(args: EventsArgs, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    let mut query = EventQuery {
        model: args.model,
        kind: args.kind,
        after: Some(args.after),
        limit: Some(args.limit),
    };
    if !args.follow {
        let page = client.list_events(&query).await?;
        if ctx.output == OutputFormat::Json {
            return Ok(write_json(ctx.out, &page.events)?);
        }
        let mut table = Table::new(&["SEQ", "TIME", "KIND", "MODEL", "VERSION", "DETAIL"]);
        for event in &page.events {
            table.row(row(event));
        }
        return Ok(table.write(ctx.out)?);
    }
    if !(args.interval.is_finite() && args.interval > 0.0) {
        return Err(CliError::Input(
            "--interval must be a positive number".into(),
        ));
    }
    let interval = Duration::from_secs_f64(args.interval);
    loop {
        let page = client.list_events(&query).await?;
        for event in &page.events {
            if ctx.output == OutputFormat::Json {
                write_json_line(ctx.out, event)?;
            } else {
                writeln!(ctx.out, "{}", row(event).join("  "))?;
                ctx.out.flush()?;
            }
        }
        if let Some(last) = page.last_seq.or(page.events.last().map(|e| e.seq)) {
            query.after = Some(last.max(query.after.unwrap_or(0)));
        }
        if page.events.is_empty() {
            tokio::time::sleep(interval).await;
        }
    }
}

fn row(event: &Event) -> Vec<String> {
    vec![
        event.seq.to_string(),
        time(&event.created_at),
        event.kind.as_str().to_owned(),
        event.model.to_string(),
        or_dash(event.version),
        detail(event),
    ]
}

/// The kind-specific part of an event, in words.
fn detail(event: &Event) -> String {
    let mut parts = Vec::new();
    if let Some(stage) = event.stage {
        parts.push(format!(
            "{stage}: {} -> {}",
            or_dash(event.from_version),
            or_dash(event.to_version)
        ));
    }
    if let Some(alias) = &event.alias {
        parts.push(format!("alias {alias}"));
    }
    if let Some(digest) = &event.digest {
        parts.push(digest.to_string());
    }
    if let Some(reason) = &event.reason {
        parts.push(format!("({reason})"));
    }
    parts.join(" ")
}
