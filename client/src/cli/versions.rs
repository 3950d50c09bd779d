//! `capstan versions list|show|upload|archive`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::output::{
    human_size, list, or_dash, short_digest, time, write_fields, write_json, OutputFormat, Table,
};
use super::progress::transfer_progress;
use super::{CliError, Context};
use crate::http::{Client, Upload};
use crate::names::ModelName;
use crate::reference::ModelRef;
use crate::signature::Signature;
use crate::types::{CreateModel, NewVersion, Version};

#[derive(Debug, Subcommand)]
pub enum VersionsCommand {
    /// List a model's versions, newest first.
    #[command(
        after_help = "Examples:\n  capstan versions list bc\n  capstan versions list bc --output json"
    )]
    List {
        name: ModelName,
        /// At most this many versions.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one version: digest, signature, metrics.
    #[command(after_help = "\
Examples:
  capstan versions show bc@3
  capstan versions show bc@production
  capstan versions show bc@champion --output json")]
    Show {
        /// NAME@REF: a number, `staging`, `production`, an alias or `latest`.
        reference: ModelRef,
    },
    /// Upload an artifact as a new, ready version.
    Upload(UploadArgs),
    /// Archive (retire) a version; refused while it holds a stage.
    #[command(
        after_help = "Examples:\n  capstan versions archive bc@2 --reason 'superseded by v3'"
    )]
    Archive {
        reference: ModelRef,
        /// Why, kept in the event log.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan versions upload model.json --model bc --format linfa-logistic
  capstan versions upload model.onnx --model bc --format onnx \\
      --signature signature.json --metrics accuracy=0.96,roc_auc=0.99 --source run-42
  capstan versions upload model.pkl --model churn --format pickle --create")]
pub struct UploadArgs {
    /// The artifact file (streamed; its sha256 is declared so the server verifies it).
    pub file: PathBuf,
    #[arg(long)]
    pub model: ModelName,
    /// `linfa-logistic`, `onnx`, or any other format to store (`pickle`, `joblib`, …).
    #[arg(long)]
    pub format: String,
    /// The signature: a JSON file, or inline JSON (`{"inputs": [...]}`).
    #[arg(long, value_name = "FILE|JSON")]
    pub signature: Option<String>,
    /// Metrics: `name=value,name=value`, inline JSON, or a JSON file.
    #[arg(long, value_name = "K=V,…|FILE|JSON")]
    pub metrics: Option<String>,
    /// Where the model came from: a run id, a commit, a notebook.
    #[arg(long)]
    pub source: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// A tag (repeat for more).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Create the model first if it does not exist.
    #[arg(long)]
    pub create: bool,
}

pub async fn run(command: VersionsCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        VersionsCommand::List { name, limit } => {
            let versions = client.list_all_versions(&name, limit).await?;
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(ctx.out, &versions)?);
            }
            let mut table = Table::new(&[
                "VERSION", "STATUS", "FORMAT", "STAGES", "ALIASES", "DIGEST", "SIZE", "CREATED",
            ]);
            for v in &versions {
                table.row(vec![
                    v.version.to_string(),
                    status(v),
                    v.format.clone(),
                    list(&v.stages),
                    list(&v.aliases),
                    v.digest.as_ref().map_or_else(|| "-".into(), short_digest),
                    v.size
                        .map_or_else(|| "-".into(), |s| human_size(s.unsigned_abs())),
                    time(&v.created_at),
                ]);
            }
            Ok(table.write(ctx.out)?)
        }
        VersionsCommand::Show { reference } => {
            let version = client
                .get_version(&reference.model, &reference.version)
                .await?;
            show(ctx, &version)
        }
        VersionsCommand::Upload(args) => upload(args, &client, ctx).await,
        VersionsCommand::Archive { reference, reason } => {
            let version = client
                .archive_version_because(&reference.model, &reference.version, reason.as_deref())
                .await?;
            show(ctx, &version)
        }
    }
}

async fn upload(args: UploadArgs, client: &Client, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let meta = NewVersion {
        format: args.format,
        signature: args.signature.as_deref().map(parse_signature).transpose()?,
        metrics: args.metrics.as_deref().map(parse_metrics).transpose()?,
        tags: (!args.tags.is_empty()).then_some(args.tags),
        source: args.source,
        description: args.description,
        ..NewVersion::default()
    };
    if !args.file.is_file() {
        return Err(CliError::Input(format!(
            "{} is not a readable file",
            args.file.display()
        )));
    }
    if args.create {
        ensure_model(client, &args.model).await?;
    }
    let version = client
        .upload_version(
            &args.model,
            meta,
            Upload::File(args.file),
            transfer_progress(ctx.quiet),
        )
        .await?;
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &version)?);
    }
    writeln!(
        ctx.out,
        "uploaded {}@{} ({}, {})",
        version.model,
        version.version,
        or_dash(version.digest.as_ref()),
        version
            .size
            .map_or_else(|| "-".into(), |s| human_size(s.unsigned_abs()))
    )?;
    Ok(())
}

/// Creates `name` unless it exists.
pub async fn ensure_model(client: &Client, name: &ModelName) -> Result<(), CliError> {
    let created = client
        .create_model(&CreateModel {
            name: name.clone(),
            description: None,
            tags: None,
        })
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(error) if error.code() == Some("model_exists") => Ok(()),
        Err(error) => Err(error.into()),
    }
}

fn status(version: &Version) -> String {
    match version.archived_at {
        Some(_) => format!("{} (archived)", version.status.as_str()),
        None => version.status.as_str().to_owned(),
    }
}

pub fn show(ctx: &mut Context<'_>, v: &Version) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, v)?);
    }
    let mut fields = vec![
        ("model", v.model.to_string()),
        ("version", v.version.to_string()),
        ("status", status(v)),
        ("format", v.format.clone()),
        ("digest", or_dash(v.digest.as_ref())),
        (
            "size",
            v.size.map_or_else(
                || "-".into(),
                |s| format!("{} ({s} bytes)", human_size(s.unsigned_abs())),
            ),
        ),
        ("stages", list(&v.stages)),
        ("aliases", list(&v.aliases)),
        ("created", time(&v.created_at)),
        ("source", or_dash(v.source.as_ref())),
        ("description", or_dash(v.description.as_ref())),
    ];
    if let Some(signature) = &v.signature {
        let names: Vec<&str> = signature.inputs.iter().map(|f| f.name.as_str()).collect();
        fields.push((
            "inputs",
            format!("{} ({})", names.len(), abbreviate(&names, 6)),
        ));
        if let Some(classes) = &signature.classes {
            fields.push(("classes", list(classes)));
        }
    }
    let metrics: Vec<(&str, String)> = v
        .metrics
        .iter()
        .map(|(name, value)| (name.as_str(), format!("{value:.4}")))
        .collect();
    fields.extend(metrics);
    Ok(write_fields(ctx.out, &fields)?)
}

fn abbreviate(names: &[&str], shown: usize) -> String {
    if names.len() <= shown {
        names.join(", ")
    } else {
        format!("{}, …", names[..shown].join(", "))
    }
}

/// A JSON value given inline (starting with `{`) or as a file name.
fn json_argument(what: &str, value: &str) -> Result<serde_json::Value, CliError> {
    let text = if value.trim_start().starts_with('{') {
        value.to_owned()
    } else {
        std::fs::read_to_string(value)
            .map_err(|e| CliError::Input(format!("cannot read the {what} file {value:?}: {e}")))?
    };
    serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("the {what} is not valid JSON: {e}")))
}

pub fn parse_signature(value: &str) -> Result<Signature, CliError> {
    serde_json::from_value(json_argument("signature", value)?)
        .map_err(|e| CliError::Input(format!("the signature is not valid: {e}")))
}

/// `k=v,k=v`, inline JSON, or a JSON file.
pub fn parse_metrics(value: &str) -> Result<BTreeMap<String, f64>, CliError> {
    let looks_like_pairs = value.contains('=') && !value.trim_start().starts_with('{');
    if !looks_like_pairs {
        return serde_json::from_value(json_argument("metrics", value)?)
            .map_err(|e| CliError::Input(format!("metrics must map names to numbers: {e}")));
    }
    value
        .split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (name, number) = pair
                .split_once('=')
                .ok_or_else(|| CliError::Input(format!("metric {pair:?} is not `name=value`")))?;
            let number: f64 = number.trim().parse().map_err(|_| {
                CliError::Input(format!("metric {name:?}: {number:?} is not a number"))
            })?;
            Ok((name.trim().to_owned(), number))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn metrics_as_pairs_or_json() {
        let pairs = parse_metrics("accuracy=0.95, auc=0.99").unwrap();
        assert_eq!(pairs["accuracy"], 0.95);
        assert_eq!(pairs["auc"], 0.99);
        let json = parse_metrics(r#"{"accuracy": 0.9}"#).unwrap();
        assert_eq!(json["accuracy"], 0.9);
        assert!(parse_metrics("accuracy=high").is_err());
        assert!(parse_metrics("/no/such/file.json").is_err());
    }
}
