//! `capstan pull` and `capstan lock update`: the same cache and lockfile logic a build
//! script runs (`crate::lock::pin`), driven from the command line.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{human_size, or_dash, write_fields, write_json, OutputFormat, Table};
use super::progress::transfer_progress;
use super::{CliError, Context};
use crate::cache::BlobCache;
use crate::digest::Digest;
use crate::lock::{lockfile_path, Lockfile};
use crate::reference::ModelRef;
use crate::types::ArtifactLayout;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan pull bc@production
  capstan pull bc@3 -o model.bin
  CAPSTAN_CACHE_DIR=/var/cache/capstan capstan pull bc@champion --output json

The artifact goes to the content-addressed cache ($CAPSTAN_CACHE_DIR, default
~/.cache/capstan) and is verified against its sha256; an interrupted download
resumes where it stopped.")]
pub struct PullArgs {
    /// NAME@REF: a number, `staging`, `production`, an alias or `latest`.
    pub reference: ModelRef,
    /// Also write the artifact to this file; for a version that holds a tree of files,
    /// the directory to write the tree to (required).
    #[arg(short = 'o', long = "file", value_name = "FILE|DIR")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Re-resolve the refs of ./capstan.lock (all, or the ones named) and fetch them.
    #[command(after_help = "\
Examples:
  capstan lock update                    # every entry of ./capstan.lock
  capstan lock update bc@production      # just this one (added if not locked yet)
  CAPSTAN_LOCKFILE=models.lock capstan lock update

Builds keep embedding the pinned digests until this is run; then the next
`cargo build` embeds what the refs name now.")]
    Update {
        /// Refs to re-resolve (default: every entry).
        refs: Vec<ModelRef>,
        /// The lockfile (default: $CAPSTAN_LOCKFILE, else ./capstan.lock).
        #[arg(long, value_name = "FILE")]
        lockfile: Option<PathBuf>,
    },
}

#[derive(Serialize)]
struct Pulled<'a> {
    #[serde(rename = "ref")]
    reference: &'a ModelRef,
    version: i64,
    digest: Digest,
    size: u64,
    format: &'a str,
    path: PathBuf,
    file: Option<PathBuf>,
    cached: bool,
    downloaded_bytes: u64,
    resumed_from: u64,
}

pub async fn pull(args: PullArgs, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    let version = client
        .get_version(&args.reference.model, &args.reference.version)
        .await?;
    if version.layout == ArtifactLayout::Tree {
        return super::trees::pull_tree(&args.reference, args.file.as_deref(), ctx).await;
    }
    let cache = BlobCache::from_env()?;
    let (entry, blob) = client
        .pull(&args.reference, &cache, transfer_progress(ctx.quiet))
        .await?;
    if let Some(file) = &args.file {
        cache.copy_to(&entry.digest, file)?;
    }
    let pulled = Pulled {
        reference: &args.reference,
        version: entry.version,
        digest: entry.digest,
        size: entry.size,
        format: &entry.format,
        path: blob.path,
        file: args.file,
        cached: blob.cached,
        downloaded_bytes: blob.downloaded,
        resumed_from: blob.resumed_from,
    };
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &pulled)?);
    }
    let how = if pulled.cached {
        "already cached".to_owned()
    } else if pulled.resumed_from > 0 {
        format!(
            "downloaded {}, resumed after {}",
            human_size(pulled.downloaded_bytes),
            human_size(pulled.resumed_from)
        )
    } else {
        format!("downloaded {}", human_size(pulled.downloaded_bytes))
    };
    Ok(write_fields(
        ctx.out,
        &[
            ("ref", pulled.reference.to_string()),
            ("version", pulled.version.to_string()),
            ("digest", pulled.digest.to_string()),
            ("size", human_size(pulled.size)),
            ("format", pulled.format.to_owned()),
            ("cache", format!("{} ({how})", pulled.path.display())),
            ("file", or_dash(pulled.file.as_ref().map(|f| f.display()))),
        ],
    )?)
}

#[derive(Serialize)]
struct Updated {
    #[serde(rename = "ref")]
    reference: ModelRef,
    previous_version: Option<i64>,
    previous_digest: Option<Digest>,
    version: i64,
    digest: Digest,
    size: u64,
    format: String,
    changed: bool,
}

pub async fn lock(command: LockCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let LockCommand::Update { refs, lockfile } = command;
    let path = match lockfile {
        Some(path) => path,
        None => {
            let dir = std::env::current_dir()
                .map_err(|e| CliError::Input(format!("no current directory: {e}")))?;
            lockfile_path(&dir)
        }
    };
    if refs.is_empty() && !path.exists() {
        return Err(CliError::Input(format!(
            "{} does not exist: run this in the crate's directory, or name the refs to lock",
            path.display()
        )));
    }
    let lock = Lockfile::load(&path)?;
    let client = ctx.client()?;
    let cache = BlobCache::from_env()?;
    let (mut lock, pinned) = client
        .update_lock(lock, refs, &cache, transfer_progress(ctx.quiet))
        .await?;
    lock.save()?;
    let updates: Vec<Updated> = pinned
        .into_iter()
        .map(|p| Updated {
            changed: p.previous.as_ref() != Some(&p.entry),
            previous_version: p.previous.as_ref().map(|e| e.version),
            previous_digest: p.previous.as_ref().map(|e| e.digest),
            reference: p.entry.reference,
            version: p.entry.version,
            digest: p.entry.digest,
            size: p.entry.size,
            format: p.entry.format,
        })
        .collect();
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &updates)?);
    }
    let mut table = Table::new(&["REF", "WAS", "NOW", "DIGEST"]);
    for update in &updates {
        table.row(vec![
            update.reference.to_string(),
            or_dash(update.previous_version),
            update.version.to_string(),
            update.digest.to_string(),
        ]);
    }
    table.write(ctx.out)?;
    let changed = updates.iter().filter(|u| u.changed).count();
    writeln!(
        ctx.out,
        "{}: {changed} of {} entries changed",
        path.display(),
        updates.len()
    )?;
    Ok(())
}
