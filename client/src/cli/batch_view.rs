//! How batch jobs and keyed predictions are printed: tables and `key: value` blocks for
//! people, the registry's own documents with `--output json`. Formatting only.

use super::output::{human_size, or_dash, short_digest, time, write_fields, write_json};
use super::output::{OutputFormat, Table};
use super::{CliError, Context};
use crate::types::{BatchInput, BatchJob, BatchJobStatus, KeyedPrediction, RowError};

/// Bad rows named in the error of a job that failed.
const BAD_ROWS_SHOWN: usize = 5;

pub fn show_jobs(ctx: &mut Context<'_>, jobs: &[BatchJob]) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &jobs)?);
    }
    let mut table = Table::new(&[
        "ID", "STATUS", "MODEL", "VERSION", "ROWS", "BAD", "SCHEDULE", "CREATED",
    ]);
    for job in jobs {
        table.row(vec![
            job.id.clone(),
            job.status.as_str().to_owned(),
            job.model.reference.to_string(),
            or_dash(job.model.version),
            rows(job),
            job.bad_rows.to_string(),
            or_dash(job.schedule.as_ref()),
            time(&job.created_at),
        ]);
    }
    Ok(table.write(ctx.out)?)
}

pub fn show_job(ctx: &mut Context<'_>, job: &BatchJob) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, job)?);
    }
    write_fields(ctx.out, &job_fields(job))?;
    if !job.errors.is_empty() {
        writeln!(ctx.out)?;
        let mut table = Table::new(&["ROW", "ID", "FIELD", "REASON"]);
        for error in &job.errors {
            table.row(vec![
                error.row.to_string(),
                or_dash(error.id.as_ref()),
                or_dash(error.field.as_ref()),
                error.reason.clone(),
            ]);
        }
        table.write(ctx.out)?;
    }
    Ok(())
}

fn job_fields(job: &BatchJob) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("id", job.id.clone()),
        ("status", job.status.as_str().to_owned()),
        ("model", model(job)),
        ("input", input(&job.input)),
        ("output format", job.output_format.as_str().to_owned()),
        ("id column", or_dash(job.id_column.as_ref())),
        (
            "matching",
            or_dash(job.matching.map(|m| match m {
                crate::types::Matching::ByName => "by name",
                crate::types::Matching::ByPosition => "by position",
            })),
        ),
        ("progress", progress(job)),
        (
            "bad rows",
            format!("{} (tolerated: {})", job.bad_rows, job.max_bad_rows),
        ),
    ];
    if let Some(failure) = &job.failure {
        fields.push(("failure", format!("{}: {}", failure.code, failure.detail)));
    }
    if let Some(output) = &job.output {
        fields.push((
            "output",
            format!(
                "{} rows, {}, {}",
                output.rows,
                human_size(output.size.unsigned_abs()),
                output.digest
            ),
        ));
    }
    if let Some(review) = &job.review {
        let reason = review
            .reason
            .as_deref()
            .map_or_else(String::new, |r| format!(": {r}"));
        fields.push((
            "review",
            format!(
                "{} by {} at {}{reason}",
                job.status.as_str(),
                review.by,
                time(&review.at)
            ),
        ));
    }
    if let Some(schedule) = &job.schedule {
        fields.push(("schedule", schedule.clone()));
    }
    if let Some(deployment) = &job.deployment {
        fields.push(("deployment", deployment.to_string()));
    }
    fields.push(("created", time(&job.created_at)));
    fields.push(("started", or_dash(job.started_at.as_ref().map(time))));
    fields.push(("finished", or_dash(job.finished_at.as_ref().map(time))));
    fields
}

/// `bc@production (version 1, sha256:7c8466747457)`; the version once a worker started it.
fn model(job: &BatchJob) -> String {
    match (job.model.version, &job.model.digest) {
        (Some(version), Some(digest)) => format!(
            "{} (version {version}, {})",
            job.model.reference,
            short_digest(digest)
        ),
        _ => job.model.reference.to_string(),
    }
}

pub fn input(input: &BatchInput) -> String {
    match input {
        BatchInput::Dataset { dataset } => format!("dataset {dataset}"),
        BatchInput::Url { url } => url.clone(),
    }
}

/// `569 / 569 rows (3191 rows/s)`.
fn progress(job: &BatchJob) -> String {
    format!(
        "{} rows ({:.0} rows/s)",
        rows(job),
        job.progress.rows_per_second
    )
}

fn rows(job: &BatchJob) -> String {
    match job.progress.rows_total {
        Some(total) => format!("{} / {total}", job.progress.rows_done),
        None => job.progress.rows_done.to_string(),
    }
}

/// Why a job that `--wait` followed failed or was cancelled, with its first bad rows;
/// `None` when it succeeded (whether or not it was reviewed since).
pub fn ended_badly(job: &BatchJob) -> Option<String> {
    let mut message = match job.status {
        BatchJobStatus::Failed => format!("batch job {} failed", job.id),
        BatchJobStatus::Cancelled => format!("batch job {} was cancelled", job.id),
        _ => return None,
    };
    if let Some(failure) = &job.failure {
        message.push_str(&format!(": {}: {}", failure.code, failure.detail));
    }
    let shown = job.errors.len().min(BAD_ROWS_SHOWN);
    for error in &job.errors[..shown] {
        message.push_str(&format!("\n  {}", bad_row(error)));
    }
    if job.bad_rows > shown as i64 {
        message.push_str(&format!(
            "\n  … {} more bad rows (capstan batch status {} lists the first 20)",
            job.bad_rows - shown as i64,
            job.id
        ));
    }
    Some(message)
}

/// `row 3 (id p3), field radius: not a number`.
fn bad_row(error: &RowError) -> String {
    let mut text = format!("row {}", error.row);
    if let Some(id) = &error.id {
        text.push_str(&format!(" (id {id})"));
    }
    if let Some(field) = &error.field {
        text.push_str(&format!(", field {field}"));
    }
    format!("{text}: {}", error.reason)
}

pub fn show_prediction(ctx: &mut Context<'_>, p: &KeyedPrediction) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, p)?);
    }
    let mut fields = vec![
        ("key".to_owned(), p.key.clone()),
        (
            "prediction".to_owned(),
            serde_json::to_string(&p.prediction).unwrap_or_default(),
        ),
    ];
    for (class, probability) in &p.probabilities {
        fields.push((format!("p({class})"), probability.to_string()));
    }
    fields.push(("job".to_owned(), p.job.clone()));
    fields.push(("version".to_owned(), p.version.to_string()));
    fields.push(("digest".to_owned(), p.digest.to_string()));
    fields.push((
        "approved".to_owned(),
        p.approved_at.as_ref().map_or_else(|| "no".to_owned(), time),
    ));
    let borrowed: Vec<(&str, String)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    Ok(write_fields(ctx.out, &borrowed)?)
}
