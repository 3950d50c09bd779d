//! `capstan models list|create|show|delete`.

use clap::Subcommand;

use super::output::{list, or_dash, time, write_fields, write_json, OutputFormat, Table};
use super::{CliError, Context};
use crate::http::ModelQuery;
use crate::names::ModelName;
use crate::types::{CreateModel, Model};

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List models by name, with the versions in their stages.
    #[command(after_help = "\
Examples:
  capstan models list
  capstan models list --prefix fraud --tag team-risk
  capstan models list --output json")]
    List {
        /// Only models whose name starts with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Only models with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// At most this many models.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Register a new model.
    #[command(after_help = "\
Examples:
  capstan models create bc
  capstan models create bc --description 'breast cancer classifier' --tag medical")]
    Create {
        /// Name: lowercase letters, digits, `.`, `_`, `-` (e.g. `fraud-v2`).
        name: ModelName,
        #[arg(long)]
        description: Option<String>,
        /// A tag (repeat for more).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Show a model: stages, aliases, latest version.
    #[command(
        after_help = "Examples:\n  capstan models show bc\n  capstan models show bc --output json"
    )]
    Show { name: ModelName },
    /// Delete a model and all its versions (refused while a version holds a stage).
    #[command(after_help = "Examples:\n  capstan models delete old-model")]
    Delete { name: ModelName },
}

pub async fn run(command: ModelsCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        ModelsCommand::List { prefix, tag, limit } => {
            let query = ModelQuery {
                name_prefix: prefix,
                tag,
                limit: Some(i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000)),
                page_token: None,
            };
            let models = client.list_all_models(&query, limit).await?;
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(ctx.out, &models)?);
            }
            let mut table = Table::new(&[
                "NAME",
                "PRODUCTION",
                "STAGING",
                "LATEST",
                "ALIASES",
                "UPDATED",
            ]);
            for model in &models {
                table.row(vec![
                    model.name.to_string(),
                    or_dash(model.stages.production),
                    or_dash(model.stages.staging),
                    or_dash(model.latest_version),
                    aliases(model),
                    time(&model.updated_at),
                ]);
            }
            Ok(table.write(ctx.out)?)
        }
        ModelsCommand::Create {
            name,
            description,
            tags,
        } => {
            let model = client
                .create_model(&CreateModel {
                    name,
                    description,
                    tags: (!tags.is_empty()).then_some(tags),
                })
                .await?;
            show(ctx, &model)
        }
        ModelsCommand::Show { name } => {
            let model = client.get_model(&name).await?;
            show(ctx, &model)
        }
        ModelsCommand::Delete { name } => {
            client.delete_model(&name).await?;
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(
                    ctx.out,
                    &serde_json::json!({ "deleted": name }),
                )?);
            }
            Ok(writeln!(ctx.out, "deleted model {name}")?)
        }
    }
}

fn aliases(model: &Model) -> String {
    list(
        model
            .aliases
            .iter()
            .map(|(alias, v)| format!("{alias}={v}")),
    )
}

fn show(ctx: &mut Context<'_>, model: &Model) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, model)?);
    }
    Ok(write_fields(
        ctx.out,
        &[
            ("name", model.name.to_string()),
            ("description", or_dash(model.description.as_ref())),
            ("tags", list(&model.tags)),
            ("production", or_dash(model.stages.production)),
            ("staging", or_dash(model.stages.staging)),
            ("latest", or_dash(model.latest_version)),
            ("aliases", aliases(model)),
            ("created", time(&model.created_at)),
            ("updated", time(&model.updated_at)),
        ],
    )?)
}
