//! `capstan import mlflow`: copies an MLflow model registry into Capstan (the work is
//! `crate::mlflow`'s), drawing a progress bar per version and printing the report —
//! copied, unchanged, not copied and why — as a table or JSON. Exits 1 when anything
//! could not be copied.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};

use super::output::{write_json, OutputFormat, Table};
use super::progress::transfer_progress;
use super::{CliError, Context};
use crate::http::ModelQuery;
use crate::mlflow::{self, ImportReport, ImportRequest, MlflowAuth, MlflowReader, OutcomeStatus};
use crate::names::ModelName;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Copy registered models, their versions (numbers kept), metadata, run metrics,
    /// stages, aliases and files from an MLflow tracking server.
    Mlflow(MlflowArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan import mlflow --tracking-uri http://mlflow.internal:5000 --dry-run
  capstan import mlflow --tracking-uri http://mlflow.internal:5000
  capstan import mlflow --model fraud --model 'Churn Model' --rename 'Churn Model=churn'
  MLFLOW_TRACKING_TOKEN=… capstan import mlflow --tracking-uri https://mlflow.example --output json

Each version's files are read through the tracking server's mlflow-artifacts proxy and
pushed as a file-tree version with the same number (only files Capstan lacks are sent).
Of several MLflow versions in one stage the highest-numbered takes Capstan's stage.
Running it again copies only what is missing: versions already in Capstan are compared
file by file, never overwritten. A name Capstan cannot hold ([a-z0-9][a-z0-9._-]*) is
reported and skipped unless --rename gives another.
MLflow credentials: $MLFLOW_TRACKING_TOKEN (bearer), else $MLFLOW_TRACKING_USERNAME and
$MLFLOW_TRACKING_PASSWORD (basic).
Exit codes: 0 everything copied (or already there), 1 something could not be copied
(the report says what and why; with --dry-run: could not be), 2 bad arguments,
5 MLflow or Capstan unreachable, 7/8 credentials refused.")]
pub struct MlflowArgs {
    /// The MLflow tracking server (`http(s)://host:port`).
    #[arg(long, env = "MLFLOW_TRACKING_URI", value_name = "URL")]
    pub tracking_uri: String,
    /// Import only this MLflow model (repeat for more; default: every registered model).
    #[arg(long = "model", value_name = "NAME")]
    pub models: Vec<String>,
    /// Import MLflow model OLD as Capstan model NEW (repeat for more).
    #[arg(long = "rename", value_name = "OLD=NEW", value_parser = parse_rename)]
    pub renames: Vec<(String, ModelName)>,
    /// Print the plan; change nothing (files are not downloaded).
    #[arg(long)]
    pub dry_run: bool,
}

/// `OLD=NEW`, split at the last `=` (Capstan names have none).
fn parse_rename(text: &str) -> Result<(String, ModelName), String> {
    let (old, new) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("{text:?} is not OLD=NEW"))?;
    if old.is_empty() {
        return Err(format!("{text:?} names no MLflow model before `=`"));
    }
    let new = ModelName::parse(new).map_err(|e| e.to_string())?;
    Ok((old.to_owned(), new))
}

pub async fn run(command: ImportCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    match command {
        ImportCommand::Mlflow(args) => import_mlflow(args, ctx).await,
    }
}

async fn import_mlflow(args: MlflowArgs, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let reader = MlflowReader::new(&args.tracking_uri, MlflowAuth::from_env())?;
    let client = ctx.client()?;
    // Capstan unreachable or the token refused: say so once, with its exit code, rather
    // than once per model in the report.
    let probe = ModelQuery {
        limit: Some(1),
        ..ModelQuery::default()
    };
    client.list_models(&probe).await?;
    let mut renames = BTreeMap::new();
    for (old, new) in args.renames {
        if renames.insert(old.clone(), new).is_some() {
            return Err(CliError::Input(format!("--rename names {old:?} twice")));
        }
    }
    let request = ImportRequest {
        models: args.models,
        renames,
        dry_run: args.dry_run,
    };
    let report = mlflow::import(&reader, &client, &request, transfer_progress(ctx.quiet)).await?;
    if ctx.output == OutputFormat::Json {
        write_json(ctx.out, &report)?;
    } else {
        write_report(ctx, &report)?;
    }
    let not_copied = report.summary.not_copied;
    if not_copied > 0 {
        return Err(CliError::Incomplete(format!(
            "{not_copied} item(s) {} from MLflow; the report says why",
            if report.dry_run {
                "cannot be copied"
            } else {
                "could not be copied"
            }
        )));
    }
    Ok(())
}

fn write_report(ctx: &mut Context<'_>, report: &ImportReport) -> std::io::Result<()> {
    let mut table = Table::new(&["MODEL", "ITEM", "STATUS", "DETAIL"]);
    for outcome in &report.outcomes {
        let model = match &outcome.capstan_model {
            Some(name) if *name != outcome.model => format!("{} → {name}", outcome.model),
            _ => outcome.model.clone(),
        };
        table.row(vec![
            model,
            outcome.item.clone(),
            outcome.status.as_str().to_owned(),
            outcome.detail.clone(),
        ]);
    }
    table.write(ctx.out)?;
    let summary = &report.summary;
    let counts = [
        (OutcomeStatus::Planned, summary.planned),
        (OutcomeStatus::Copied, summary.copied),
        (OutcomeStatus::Unchanged, summary.unchanged),
        (OutcomeStatus::NotCopied, summary.not_copied),
    ];
    let mut shown: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(status, n)| format!("{n} {}", status.as_str()))
        .collect();
    if shown.is_empty() {
        shown.push("no models".to_owned());
    }
    let heading = if report.dry_run {
        "dry run, nothing changed"
    } else {
        "done"
    };
    writeln!(ctx.out, "\n{heading}: {}", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_split_at_the_last_equals_sign() {
        let (old, new) = parse_rename("Breast Cancer=bc").unwrap();
        assert_eq!((old.as_str(), new.as_str()), ("Breast Cancer", "bc"));
        let (old, _) = parse_rename("a=b=c").unwrap();
        assert_eq!(old, "a=b");
        assert!(parse_rename("no-equals").is_err());
        assert!(parse_rename("=bc").is_err());
        assert!(
            parse_rename("Old=New Name").is_err(),
            "the new name must be a Capstan name"
        );
    }
}
