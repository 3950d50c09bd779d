//! `capstan-registry`: parses flags and starts things; everything else is the library.

use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use capstan_registry::config::{Config, ServeArgs};
use capstan_registry::model_server::ModelServerArgs;

mod token_command;
use token_command as token;

/// Capstan model registry and deployment control plane.
#[derive(Debug, Parser)]
#[command(
    name = "capstan-registry",
    version,
    about,
    after_help = "Examples:\n  capstan-registry                      # serve on 127.0.0.1:8080 with ./capstan-data\n  capstan-registry serve --listen 0.0.0.0:8080 --database-url postgres://user@db/capstan \\\n      --object-store-url s3://models/capstan\n  capstan-registry model-server --registry http://127.0.0.1:8080 --model bc@production --listen 127.0.0.1:8081\n  capstan-registry worker --database-url postgres://user@db/capstan --object-store-url s3://models/capstan\n  capstan-registry openapi > openapi/openapi.json"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registry and its API (the default).
    Serve(Box<ServeArgs>),
    /// Score batch jobs (pattern 4) against the database and object store of a registry,
    /// without serving its API; takes the same settings as `serve`.
    Worker(Box<ServeArgs>),
    /// Serve predictions for refs of another registry (pattern 2); no database of its own.
    ModelServer(Box<ModelServerArgs>),
    /// Print the OpenAPI document the server serves at /api-docs/openapi.json (without
    /// authentication).
    Openapi,
    /// Create, list and revoke API tokens directly in the database: for the first token
    /// and for a lost admin token. Takes the same settings as `serve`.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    if matches!(
        matches.subcommand_name(),
        None | Some("serve") | Some("worker")
    ) {
        cap_malloc_arenas();
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    init_logging();
    let result = match cli.command {
        Some(Command::Openapi) => print_openapi(),
        Some(Command::ModelServer(args)) => model_server(*args),
        Some(Command::Worker(_)) => worker(matches.subcommand().map_or(&matches, |(_, w)| w)),
        Some(Command::Token(command)) => {
            // The action's own matches hold its settings (see `serve`).
            let action = matches
                .subcommand()
                .and_then(|(_, token)| token.subcommand())
                .map_or(&matches, |(_, action)| action);
            token::run(command, action)
        }
        // `serve`'s settings are read from its matches: they tell which flags and
        // variables were given, so the config file fills in only the others.
        Some(Command::Serve(_)) | None => {
            serve(matches.subcommand().map_or(&matches, |(_, serve)| serve))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<token::NoSuchToken>() => {
            eprintln!("capstan-registry: {error:#}");
            ExitCode::from(token::EXIT_NOT_FOUND)
        }
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("capstan-registry: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives threads that allocate at once arenas of their own (up to eight per core)
/// and keeps each arena's peak, so a batch worker's memory grew with the threads its
/// chunks' buffers passed through (+134 MiB scoring 10 M rows with ONNX; +86 MiB with the
/// arenas capped). glibc reads the cap only when a process starts: unless
/// `MALLOC_ARENA_MAX` is set already (any value is kept), `serve` and `worker` start
/// themselves again with it set to the number of cores, keeping their process id.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    // Returns only if the program could not be started again; then run as is.
    let error = std::process::Command::new(program)
        .args(std::env::args_os().skip(1))
        .env("MALLOC_ARENA_MAX", cores.to_string())
        .exec();
    eprintln!("capstan-registry: cannot cap malloc arenas ({error}); running without the cap");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cap_malloc_arenas() {}

fn print_openapi() -> anyhow::Result<()> {
    println!("{}", capstan_registry::api::openapi().to_pretty_json()?);
    Ok(())
}

fn serve(matches: &ArgMatches) -> anyhow::Result<()> {
    let config = Config::resolve(ServeArgs::from_matches(matches)?)?;
    actix_web::rt::System::new().block_on(async move {
        let running = capstan_registry::startup::start(&config).await?;
        running.server.await?;
        running.transports.stop();
        tracing::info!("capstan registry stopped");
        Ok(())
    })
}

fn worker(matches: &ArgMatches) -> anyhow::Result<()> {
    let config = Config::resolve(ServeArgs::from_matches(matches)?)?;
    actix_web::rt::System::new()
        .block_on(async move { capstan_registry::startup::run_worker(&config).await })
}

fn model_server(args: ModelServerArgs) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let running = capstan_registry::model_server::start(&args).await?;
        running.server.await?;
        // HTTP has stopped (a signal): let gRPC and broker requests in flight finish.
        running.transports.stop();
        tracing::info!("capstan model server stopped");
        Ok(())
    })
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`); `CAPSTAN_LOG_FORMAT=json` writes
/// one JSON object per line for log collectors.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("CAPSTAN_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}
