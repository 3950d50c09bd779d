//! `capstan token create|list|revoke` (admins limited to no model) and `capstan whoami`.
//! A created token's secret is printed once, to stdout, and nowhere else.

use clap::Subcommand;

use super::output::{list, or_dash, time, write_fields, write_json, OutputFormat, Table};
use super::{CliError, Context};
use crate::types::{CreateToken, CreatedToken, Role, Token, Whoami};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints its secret, which is never shown again.
    #[command(after_help = "\
Examples:
  capstan token create ci-deployer --role promoter
  capstan token create fraud-team --role editor --models 'fraud-*' --output json

Roles: reader < editor < promoter < admin (each includes the ones before it).
Hand the secret over as CAPSTAN_TOKEN; only a hash of it is stored.")]
    Create {
        /// The token's name: the actor the event log records for its requests.
        name: String,
        /// reader, editor, promoter or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Limit the token to models matching this pattern (`*` matches any run of
        /// characters); repeat for more. Without it: every model.
        #[arg(long = "models", visible_alias = "model", value_name = "PATTERN")]
        models: Vec<String>,
    },
    /// List tokens (never their secrets), with when each was last used.
    #[command(after_help = "Examples:\n  capstan token list\n  capstan token list --output json")]
    List {
        /// At most this many tokens.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Revoke a token: it is refused (401) from the next request on.
    #[command(after_help = "Examples:\n  capstan token revoke ci-deployer")]
    Revoke { name: String },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
        .ok_or_else(|| format!("{text:?} is not a role: reader, editor, promoter or admin"))
}

pub async fn run(command: TokenCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        TokenCommand::Create { name, role, models } => {
            let request = CreateToken {
                name,
                role,
                models: (!models.is_empty()).then_some(models),
            };
            created(ctx, &client.create_token(&request).await?)
        }
        TokenCommand::List { limit } => tokens(ctx, &client.list_all_tokens(limit).await?),
        TokenCommand::Revoke { name } => {
            client.revoke_token(&name).await?;
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(
                    ctx.out,
                    &serde_json::json!({ "revoked": name }),
                )?);
            }
            Ok(writeln!(ctx.out, "revoked token {name}")?)
        }
    }
}

/// `capstan whoami`: the token the CLI presents.
pub async fn whoami(ctx: &mut Context<'_>) -> Result<(), CliError> {
    let who: Whoami = ctx.client()?.whoami().await?;
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &who)?);
    }
    Ok(write_fields(
        ctx.out,
        &[
            ("name", who.name),
            ("role", who.role.to_string()),
            ("models", models(who.models.as_deref())),
        ],
    )?)
}

fn models(patterns: Option<&[String]>) -> String {
    match patterns {
        None => "*".to_owned(),
        Some(patterns) => list(patterns),
    }
}

fn created(ctx: &mut Context<'_>, token: &CreatedToken) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, token)?);
    }
    Ok(write_fields(
        ctx.out,
        &[
            ("name", token.name.clone()),
            ("role", token.role.to_string()),
            ("models", models(token.models.as_deref())),
            ("token (shown once)", token.token.clone()),
        ],
    )?)
}

fn tokens(ctx: &mut Context<'_>, tokens: &[Token]) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &tokens)?);
    }
    let mut table = Table::new(&["NAME", "ROLE", "MODELS", "CREATED", "BY", "LAST USED"]);
    for t in tokens {
        table.row(vec![
            t.name.clone(),
            t.role.to_string(),
            models(t.models.as_deref()),
            time(&t.created_at),
            t.created_by.clone(),
            or_dash(t.last_used_at.as_ref().map(time)),
        ]);
    }
    Ok(table.write(ctx.out)?)
}
