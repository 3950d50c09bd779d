//! `capstan alias set|delete`: free, user-managed pointers such as `champion`.

use clap::Subcommand;

use super::output::{write_json, OutputFormat};
use super::promotions::print_requested;
use super::stages::version_number;
use super::{CliError, Context};
use crate::http::Promotion;
use crate::names::{AliasName, ModelName};
use crate::reference::ModelRef;
use crate::types::SetAlias;

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Point an alias at a version (creating or moving it).
    #[command(after_help = "\
Examples:
  capstan alias set bc@3 champion
  capstan alias set bc@production canary")]
    Set {
        /// NAME@VERSION (or any ref, resolved now).
        reference: ModelRef,
        /// The alias: not a number, a stage name or `latest`.
        alias: AliasName,
        /// Why, kept in the event log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Remove an alias.
    #[command(
        after_help = "Examples:\n  capstan alias delete bc canary --reason 'experiment over'"
    )]
    Delete {
        name: ModelName,
        alias: AliasName,
        /// Why, kept in the event log.
        #[arg(long)]
        reason: Option<String>,
    },
}

pub async fn run(command: AliasCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        AliasCommand::Set {
            reference,
            alias,
            reason,
        } => {
            let version = version_number(&client, &reference).await?;
            let request = SetAlias { version, reason };
            let set = match client
                .set_alias_governed(&reference.model, &alias, &request)
                .await?
            {
                Promotion::Done(set) => set,
                Promotion::Requested(request) => return print_requested(ctx, &request),
            };
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(ctx.out, &set)?);
            }
            writeln!(
                ctx.out,
                "{}@{} -> version {}",
                set.model, set.alias, set.version
            )?;
        }
        AliasCommand::Delete {
            name,
            alias,
            reason,
        } => {
            match reason {
                Some(reason) => client.delete_alias_because(&name, &alias, &reason).await?,
                None => client.delete_alias(&name, &alias).await?,
            }
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(
                    ctx.out,
                    &serde_json::json!({ "model": name, "deleted_alias": alias }),
                )?);
            }
            writeln!(ctx.out, "deleted alias {name}@{alias}")?;
        }
    }
    Ok(())
}
