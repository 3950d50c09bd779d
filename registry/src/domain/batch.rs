//! Rules of pattern 4: dataset names, job inputs, which transitions a job's status
//! allows, and how a job's first bad rows and its failure are summarised.

use capstan_client::types::{BatchFailure, BatchJobStatus, DataFormat, RowError};

use super::error::{DomainError, DomainResult};

/// How many bad rows a job document lists.
pub const MAX_LISTED_ERRORS: usize = 20;
/// Longest dataset name or id column name, in characters.
pub const MAX_LABEL_CHARS: usize = 256;

/// A dataset name or an id column: 1–256 characters, no control characters.
pub fn check_label(field: &'static str, text: &str) -> DomainResult<()> {
    if text.is_empty()
        || text.chars().count() > MAX_LABEL_CHARS
        || text.chars().any(char::is_control)
    {
        return Err(DomainError::InvalidLabel { field });
    }
    Ok(())
}

/// The format of an input named by URL, from its extension.
pub fn format_of_url(url: &str) -> DomainResult<DataFormat> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let extension = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("csv") => Ok(DataFormat::Csv),
        Some("jsonl" | "ndjson") => Ok(DataFormat::Jsonl),
        Some("parquet") => Ok(DataFormat::Parquet),
        _ => Err(DomainError::UnknownInputFormat {
            url: url.chars().take(200).collect(),
        }),
    }
}

/// The format of a job's input files: each named by its extension, one format for all
/// (a URL ending in `/` names every file under it).
pub fn format_of_files<'a>(
    url: &str,
    files: impl IntoIterator<Item = &'a str>,
) -> DomainResult<DataFormat> {
    let mut found: Option<(DataFormat, &str)> = None;
    for file in files {
        let format = format_of_url(file)?;
        match found {
            None => found = Some((format, file)),
            Some((first, first_file)) if first != format => {
                return Err(DomainError::MixedInputFormats {
                    url: url.chars().take(200).collect(),
                    first: first_file.chars().take(200).collect(),
                    other: file.chars().take(200).collect(),
                })
            }
            Some(_) => {}
        }
    }
    match found {
        Some((format, _)) => Ok(format),
        None => format_of_url(url),
    }
}

/// Cancelling is for jobs that have not finished.
pub fn check_cancellable(status: BatchJobStatus) -> DomainResult<()> {
    if status.is_unfinished() {
        Ok(())
    } else {
        Err(DomainError::JobNotCancellable { status })
    }
}

/// Only a succeeded job can be approved or rejected; a rejection needs a reason.
pub fn check_reviewable(
    status: BatchJobStatus,
    to: BatchJobStatus,
    reason: Option<&str>,
) -> DomainResult<()> {
    if status != BatchJobStatus::Succeeded {
        return Err(DomainError::JobNotReviewable { status });
    }
    if to == BatchJobStatus::Rejected && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(DomainError::ReasonRequired);
    }
    Ok(())
}

/// The first [`MAX_LISTED_ERRORS`] of two row-ordered lists of bad rows, in row order.
pub fn merge_errors(mut listed: Vec<RowError>, more: Vec<RowError>) -> Vec<RowError> {
    listed.extend(more);
    listed.sort_by_key(|error| error.row);
    listed.dedup_by_key(|error| error.row);
    listed.truncate(MAX_LISTED_ERRORS);
    listed
}

/// Whether `bad_rows` is past what the job tolerates; if so, why it failed, naming its
/// first bad rows.
pub fn too_many_bad_rows(
    bad_rows: i64,
    max_bad_rows: i64,
    first: &[RowError],
) -> Option<BatchFailure> {
    if bad_rows <= max_bad_rows {
        return None;
    }
    let named: Vec<String> = first
        .iter()
        .take(5)
        .map(|error| match &error.field {
            Some(field) => format!("row {} ({field}: {})", error.row, error.reason),
            None => format!("row {} ({})", error.row, error.reason),
        })
        .collect();
    Some(BatchFailure {
        code: "too_many_bad_rows".into(),
        detail: format!(
            "{bad_rows} bad rows, more than the {max_bad_rows} allowed; first: {}",
            named.join(", ")
        ),
    })
}

/// Rows per second between `started` and `now` (0 before any time has passed).
pub fn rows_per_second(rows_done: i64, elapsed_seconds: f64) -> f64 {
    if elapsed_seconds <= 0.0 {
        return 0.0;
    }
    (rows_done as f64 / elapsed_seconds * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(row: i64) -> RowError {
        RowError {
            row,
            id: None,
            field: Some("radius".into()),
            reason: "not a number".into(),
        }
    }

    #[test]
    fn errors_merge_in_row_order_and_keep_twenty() {
        let merged = merge_errors(
            (30..50).map(bad).collect(),
            [3, 40, 7].into_iter().map(bad).collect(),
        );
        assert_eq!(merged.len(), MAX_LISTED_ERRORS);
        assert_eq!(merged[0].row, 3);
        assert_eq!(merged[1].row, 7);
        assert_eq!(merged[2].row, 30);
        assert!(merged.windows(2).all(|w| w[0].row < w[1].row));
    }

    #[test]
    fn bad_rows_fail_a_job_only_past_its_tolerance() {
        assert!(too_many_bad_rows(2, 2, &[bad(1), bad(2)]).is_none());
        let failure = too_many_bad_rows(3, 2, &[bad(4), bad(9)]).unwrap();
        assert_eq!(failure.code, "too_many_bad_rows");
        assert!(
            failure.detail.contains("row 4 (radius"),
            "{}",
            failure.detail
        );
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(format_of_url("s3://b/x/y.CSV").unwrap(), DataFormat::Csv);
        assert_eq!(format_of_url("s3://b/y.ndjson").unwrap(), DataFormat::Jsonl);
        assert_eq!(
            format_of_url("s3://b/y.parquet").unwrap(),
            DataFormat::Parquet
        );
        assert!(format_of_url("s3://b/y.txt").is_err());
        assert!(format_of_url("s3://b/csv").is_err());
        let files = ["d/part-0.parquet", "d/part-1.parquet"];
        assert_eq!(
            format_of_files("s3://b/d/", files).unwrap(),
            DataFormat::Parquet
        );
        assert!(matches!(
            format_of_files("s3://b/d/", ["d/a.csv", "d/b.parquet"]),
            Err(DomainError::MixedInputFormats { .. })
        ));
    }

    #[test]
    fn only_succeeded_jobs_are_reviewed_and_rejections_say_why() {
        use BatchJobStatus::*;
        assert!(check_reviewable(Succeeded, Approved, None).is_ok());
        assert!(check_reviewable(Succeeded, Rejected, Some("  ")).is_err());
        assert!(check_reviewable(Running, Approved, Some("ok")).is_err());
        assert!(check_reviewable(Approved, Rejected, Some("late")).is_err());
        assert!(check_cancellable(Queued).is_ok());
        assert!(check_cancellable(Succeeded).is_err());
    }

    #[test]
    fn labels_are_short_printable_text() {
        assert!(check_label("name", "breast cancer — 2026").is_ok());
        assert!(check_label("name", "").is_err());
        assert!(check_label("name", "a\nb").is_err());
        assert!(check_label("name", &"x".repeat(257)).is_err());
    }
}
