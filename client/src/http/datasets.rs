//! Datasets: `/api/v1/datasets[/{id}[/content]]`, the inputs of batch jobs. An upload
//! sends the file as the raw body, streamed (never read into memory; the server hashes
//! and indexes it on the way in), with its format as the `Content-Type`.

use std::path::Path;

use reqwest::Method;

use super::api::{self, PageQuery};
use super::client::{checked, decode, transport_error};
use super::{Client, Download, Upload};
use crate::cache::Progress;
use crate::error::{Error, Result};
use crate::types::{DataFormat, Dataset, DatasetPage};

/// The format a data file's extension says: `.csv`, `.jsonl` or `.ndjson`, `.parquet`
/// (any case), the same extensions the registry reads from an input URL.
pub fn format_of_path(path: &Path) -> Option<DataFormat> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "csv" => Some(DataFormat::Csv),
        "jsonl" | "ndjson" => Some(DataFormat::Jsonl),
        "parquet" => Some(DataFormat::Parquet),
        _ => None,
    }
}

impl Client {
    /// Uploads the file at `path` as a dataset called `name`, streamed, reporting to
    /// `progress`. `format` defaults to what the extension says ([`format_of_path`]); a
    /// file whose format cannot be told is refused here, before any byte is sent.
    pub async fn upload_dataset(
        &self,
        name: &str,
        path: &Path,
        format: Option<DataFormat>,
        progress: Box<dyn Progress>,
    ) -> Result<Dataset> {
        let format = format.or_else(|| format_of_path(path)).ok_or_else(|| {
            Error::Invalid(format!(
                "cannot tell the format of {} from its extension (.csv, .jsonl, .ndjson, \
                 .parquet); name it explicitly",
                path.display()
            ))
        })?;
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| Error::io(path, e))?
            .len();
        let body = Upload::File(path.to_owned())
            .into_body(size, progress)
            .await?;
        let url_path = api::dataset_upload(name);
        // A streamed body cannot be replayed, so the upload is sent once, never retried.
        let response = self
            .request(Method::POST, &url_path)
            .header("content-type", format.content_type())
            .header("content-length", size)
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(&self.config().endpoint(&url_path), &e))?;
        decode(checked(response).await?).await
    }

    /// One page of datasets, newest first.
    pub async fn list_datasets(&self, query: &PageQuery) -> Result<DatasetPage> {
        self.get_json(&query.path(api::DATASETS)).await
    }

    /// Datasets, newest first (following page tokens), at most `max`.
    pub async fn list_all_datasets(&self, max: usize) -> Result<Vec<Dataset>> {
        let mut query = PageQuery::default();
        let mut datasets = Vec::new();
        loop {
            let page = self.list_datasets(&query).await?;
            datasets.extend(page.datasets);
            match page.next_page_token {
                Some(token) if datasets.len() < max => query.page_token = Some(token),
                _ => break,
            }
        }
        datasets.truncate(max);
        Ok(datasets)
    }

    pub async fn get_dataset(&self, id: &str) -> Result<Dataset> {
        self.get_json(&api::dataset(id)).await
    }

    /// Deletes a dataset (refused, 409, while a queued or running job reads it).
    pub async fn delete_dataset(&self, id: &str) -> Result<()> {
        self.delete(&api::dataset(id)).await
    }

    /// Starts downloading a dataset's bytes; [`Download::save_to`] or
    /// [`Download::copy_to`] check them against the digest the server names.
    pub async fn download_dataset(&self, id: &str) -> Result<Download> {
        self.get_download(&api::dataset_content(id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_extensions() {
        assert_eq!(format_of_path(Path::new("a/b.csv")), Some(DataFormat::Csv));
        assert_eq!(
            format_of_path(Path::new("x.NDJSON")),
            Some(DataFormat::Jsonl)
        );
        assert_eq!(
            format_of_path(Path::new("x.jsonl")),
            Some(DataFormat::Jsonl)
        );
        assert_eq!(
            format_of_path(Path::new("x.parquet")),
            Some(DataFormat::Parquet)
        );
        assert_eq!(format_of_path(Path::new("x.txt")), None);
        assert_eq!(format_of_path(Path::new("csv")), None);
    }
}
