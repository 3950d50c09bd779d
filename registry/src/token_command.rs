//! `capstan-registry token create|list|revoke`: API tokens straight in the database, for
//! bootstrapping and for a lost admin token. The same use cases as `/api/v1/tokens`, run
//! as the actor `cli`.

use std::io::Write;

use anyhow::Context;
use clap::{ArgMatches, Args, Subcommand, ValueEnum};

use capstan_client::http::api::PageQuery;
use capstan_client::types::{CreateToken, Role};
use capstan_registry::config::{Config, ServeArgs};
use capstan_registry::domain::access::{Caller, ModelScope};

/// Exit status when the token to revoke does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;

/// The actor tokens made here record as their creator.
const ACTOR: &str = "cli";

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown this once).
    #[command(
        after_help = "Examples:\n  capstan-registry token create ci --role editor --models 'fraud-*' --models bc\n  CAPSTAN_TOKEN=$(capstan-registry token create ops --role admin --database-url postgres://…)"
    )]
    Create(Box<CreateArgs>),
    /// List tokens (never their secrets), with when each was last used.
    List(Box<ListArgs>),
    /// Revoke a token: every replica refuses it from its next request on (at most
    /// --auth-cache-ms later on replicas other than the one that revoked it).
    Revoke(Box<RevokeArgs>),
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum Output {
    /// A table (list) or the bare secret (create).
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The token's name (model-name rules): what the event log records as the actor.
    name: String,
    /// reader, editor, promoter or admin; each includes the ones before it.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// Limit the token to models matching this pattern (`*` matches any run of
    /// characters); repeat for more. Without it the token reaches every model.
    #[arg(long = "models", value_name = "PATTERN")]
    models: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    #[command(flatten)]
    settings: ServeArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    #[command(flatten)]
    settings: ServeArgs,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    name: String,
    #[command(flatten)]
    settings: ServeArgs,
}

/// The token to revoke does not exist (exit status [`EXIT_NOT_FOUND`]).
#[derive(Debug, thiserror::Error)]
#[error("no token named {0:?}")]
pub struct NoSuchToken(String);

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| "one of reader, editor, promoter, admin".to_owned())
}

/// Runs `command`; `matches` are the action's own (its settings, file included).
pub fn run(command: TokenCommand, matches: &ArgMatches) -> anyhow::Result<()> {
    let config = Config::resolve(ServeArgs::from_matches(matches)?)?;
    actix_web::rt::System::new().block_on(async move {
        let registry = capstan_registry::startup::open_registry(&config).await?;
        let cli = Caller {
            name: ACTOR.to_owned(),
            role: Role::Admin,
            scope: ModelScope::All,
        };
        match command {
            TokenCommand::Create(args) => {
                let request = CreateToken {
                    name: args.name,
                    role: args.role,
                    models: (!args.models.is_empty()).then_some(args.models),
                };
                let created = registry.create_token(&cli, request).await?;
                match args.output {
                    Output::Json => println!("{}", serde_json::to_string_pretty(&created)?),
                    Output::Text => {
                        eprintln!(
                            "created token {:?} ({}); it is shown this once:",
                            created.name, created.role
                        );
                        println!("{}", created.token);
                    }
                }
            }
            TokenCommand::List(args) => list(&registry, args.output).await?,
            TokenCommand::Revoke(args) => {
                registry
                    .revoke_token(args.name.clone())
                    .await
                    .map_err(|e| match e.problem().status {
                        404 => anyhow::Error::new(NoSuchToken(args.name.clone())),
                        _ => anyhow::Error::new(e),
                    })?;
                eprintln!("revoked token {:?}", args.name);
            }
        }
        Ok(())
    })
}

async fn list(
    registry: &capstan_registry::service::Registry,
    output: Output,
) -> anyhow::Result<()> {
    let mut tokens = Vec::new();
    let mut query = PageQuery {
        limit: Some(1000),
        page_token: None,
    };
    loop {
        let page = registry.list_tokens(query.clone()).await?;
        tokens.extend(page.tokens);
        match page.next_page_token {
            Some(next) => query.page_token = Some(next),
            None => break,
        }
    }
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&tokens)?)?,
        Output::Text => {
            writeln!(
                out,
                "{:<24} {:<9} {:<24} {:<20} LAST USED",
                "NAME", "ROLE", "MODELS", "CREATED"
            )?;
            for token in tokens {
                let models = token.models.map_or("*".to_owned(), |m| m.join(","));
                let last = token.last_used_at.map_or("never".to_owned(), |at| {
                    at.format("%Y-%m-%d %H:%M").to_string()
                });
                writeln!(
                    out,
                    "{:<24} {:<9} {:<24} {:<20} {last}",
                    token.name,
                    token.role,
                    models,
                    token.created_at.format("%Y-%m-%d %H:%M"),
                )?;
            }
        }
    }
    out.flush().context("cannot write to stdout")
}
