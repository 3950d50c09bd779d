//! `capstan alias set|delete`: free, user-managed pointers such as `champion`.

use clap::Subcommand;

use super::output::{write_json, OutputFormat};
use super::promotions::print_requested;
use super::stages::version_number;
use super::{CliError, Context};
use crate::http::Promotion;
use crate::names::{AliasName, ModelName};
use crate::reference::ModelRef;

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
    },
    /// Remove an alias.
    #[command(after_help = "Examples:\n  capstan alias delete bc canary")]
    Delete { name: ModelName, alias: AliasName },
}

pub async fn run(command: AliasCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        AliasCommand::Set { reference, alias } => {
            let version = version_number(&client, &reference).await?;
            let set = match client
                .set_alias_governed(&reference.model, &alias, version)
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
        AliasCommand::Delete { name, alias } => {
            client.delete_alias(&name, &alias).await?;
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
