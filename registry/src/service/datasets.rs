//! Datasets: input files for batch jobs, streamed into the object store and stored
//! content-addressed like artifacts (sha256 on the fly, `blobs/sha256/…`, never buffered
//! whole), with a row in `datasets` naming them.

use bytes::Bytes;
use futures::{Stream, StreamExt};

use capstan_client::http::api::PageQuery;
use capstan_client::types::{BatchInput, DataFormat, Dataset, DatasetPage};

use super::batch_views::dataset_view;
use super::download::{etag, ArtifactContent, ArtifactRequest};
use super::upload::StagedUpload;
use super::{now, Registry};
use crate::artifacts::{ArtifactStore, StagedBlob};
use crate::batch::{parquet, RowIndexer};
use crate::domain::batch::check_label;
use crate::domain::paging::{decode_number_token, encode_number_token, page_limit};
use crate::error::{RegistryError, RegistryResult};
use crate::store::batch_rows::{DatasetRow, NewDatasetRow};
use crate::store::{batch_schedules, datasets};

/// A dataset opened for download.
pub struct OpenedDataset {
    pub dataset: Dataset,
    pub content: ArtifactContent,
}

impl OpenedDataset {
    pub fn etag(&self) -> String {
        etag(&self.dataset.digest)
    }
}

pub(crate) fn dataset_not_found(id: &str) -> RegistryError {
    RegistryError::not_found(
        "dataset_not_found",
        format!("no dataset {:?}", id.chars().take(64).collect::<String>()),
    )
}

/// The format a request's `Content-Type` names; 415 for any other.
pub fn dataset_format(content_type: Option<&str>) -> RegistryResult<DataFormat> {
    content_type
        .and_then(DataFormat::from_content_type)
        .ok_or_else(|| RegistryError::UnsupportedMediaType {
            detail: format!(
                "a dataset is sent as text/csv, application/x-ndjson or application/vnd.apache.parquet, not {}",
                content_type.unwrap_or("a body without Content-Type")
            ),
        })
}

fn invalid_dataset(error: impl std::fmt::Display) -> RegistryError {
    RegistryError::unprocessable("invalid_dataset", error.to_string())
}

/// The footer of a staged Parquet upload: refuses what is not a readable Parquet file.
async fn parquet_layout_of(
    artifacts: &ArtifactStore,
    blob: &StagedBlob,
) -> RegistryResult<crate::batch::parquet::ParquetLayout> {
    let size = blob.size;
    let tail = artifacts
        .read_staged_range(blob, size.saturating_sub(8)..size)
        .await?;
    let footer = parquet::footer_len(&tail).map_err(invalid_dataset)?;
    if footer > size {
        return Err(invalid_dataset(
            "the Parquet footer is longer than the file",
        ));
    }
    let bytes = artifacts
        .read_staged_range(blob, size - footer..size)
        .await?;
    parquet::parse_footer(&bytes).map_err(invalid_dataset)
}

impl Registry {
    /// Streams a dataset into the object store and records it.
    pub async fn upload_dataset<S, E>(
        &self,
        name: String,
        format: DataFormat,
        body: S,
    ) -> RegistryResult<Dataset>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        check_label("name", &name)?;
        // CSV and JSONL are indexed on the way in (rows, and line-aligned chunk starts),
        // so a job over the dataset starts without reading it first.
        let mut indexer = match format {
            DataFormat::Parquet => None,
            text => Some(RowIndexer::new(text, self.batch_chunk_bytes).map_err(invalid_dataset)?),
        };
        let body = body.inspect(|chunk| {
            if let (Some(indexer), Ok(bytes)) = (indexer.as_mut(), chunk) {
                indexer.feed(bytes);
            }
        });
        let blob = self
            .artifacts
            .stage(Box::pin(body), self.limits.max_dataset_bytes)
            .await?;
        let staged = StagedUpload::new(self.artifacts.clone(), blob);
        if staged.size() == 0 {
            staged.discard().await;
            return Err(RegistryError::bad_request(
                "empty_dataset",
                "the dataset is empty",
            ));
        }
        let (staged, (rows, row_index)) = staged
            .check(async |artifacts, blob| match indexer {
                Some(indexer) => {
                    let index = indexer.finish().map_err(invalid_dataset)?;
                    let json =
                        serde_json::to_string(&index).map_err(crate::store::StoreError::from)?;
                    Ok((Some(index.rows as i64), Some(json)))
                }
                None => {
                    let layout = parquet_layout_of(artifacts, blob).await?;
                    Ok((Some(layout.rows as i64), None))
                }
            })
            .await?;
        let size = i64::try_from(staged.size()).unwrap_or(i64::MAX);
        let digest = staged.commit().await?;
        let row = NewDatasetRow {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            digest: digest.to_string(),
            format,
            size,
            rows,
            row_index,
            created_at: now(),
        };
        self.write(move |conn| Ok(dataset_view(&datasets::insert(conn, &row)?)?))
            .await
    }

    pub async fn list_datasets(&self, query: PageQuery) -> RegistryResult<DatasetPage> {
        let limit = page_limit(query.limit)?;
        let before = query
            .page_token
            .as_deref()
            .map(|token| decode_number_token("datasets", token))
            .transpose()?;
        self.db
            .read(move |conn| {
                let rows = datasets::list(conn, before, limit + 1)?;
                let has_more = rows.len() as i64 > limit;
                let page = &rows[..rows.len().min(limit as usize)];
                let next_page_token = has_more
                    .then(|| {
                        page.last()
                            .map(|row| encode_number_token("datasets", row.number))
                    })
                    .flatten();
                Ok(DatasetPage {
                    datasets: page.iter().map(dataset_view).collect::<Result<_, _>>()?,
                    next_page_token,
                })
            })
            .await
    }

    pub async fn get_dataset(&self, id: String) -> RegistryResult<Dataset> {
        dataset_view(&self.dataset_row(id).await?).map_err(Into::into)
    }

    pub(crate) async fn dataset_row(&self, id: String) -> RegistryResult<DatasetRow> {
        self.db
            .read(move |conn| datasets::find(conn, &id)?.ok_or_else(|| dataset_not_found(&id)))
            .await
    }

    /// Opens a dataset's bytes as `request` asks (whole, a range, or not modified).
    pub async fn open_dataset(
        &self,
        id: String,
        request: ArtifactRequest,
    ) -> RegistryResult<OpenedDataset> {
        let dataset = self.get_dataset(id).await?;
        let tag = etag(&dataset.digest);
        if request
            .if_none_match
            .iter()
            .any(|candidate| candidate == "*" || *candidate == tag)
        {
            return Ok(OpenedDataset {
                dataset,
                content: ArtifactContent::NotModified,
            });
        }
        let range = request
            .range
            .map(|range| range.within(dataset.size as u64))
            .transpose()?;
        let partial = range.is_some();
        let blob = self.artifacts.get(&dataset.digest, range).await?;
        Ok(OpenedDataset {
            dataset,
            content: ArtifactContent::Bytes { blob, partial },
        })
    }

    /// Deletes a dataset; 409 while a job that has not finished reads it. Like a deleted
    /// model's artifacts, its bytes stay in the object store (another dataset or version
    /// may store the same content); collecting unreferenced blobs is not done yet.
    pub async fn delete_dataset(&self, id: String) -> RegistryResult<()> {
        self.write(move |conn| {
            datasets::find(conn, &id)?.ok_or_else(|| dataset_not_found(&id))?;
            if datasets::in_use(conn, &id)? {
                return Err(RegistryError::conflict(
                    "dataset_in_use",
                    "a batch job that has not finished reads this dataset; cancel it or wait",
                ));
            }
            let input = serde_json::to_string(&BatchInput::Dataset {
                dataset: id.clone(),
            })
            .map_err(crate::store::StoreError::from)?;
            if let Some(schedule) = batch_schedules::reading(conn, &input)? {
                return Err(RegistryError::conflict(
                    "dataset_in_use",
                    format!("schedule {schedule:?} reads this dataset; delete it first"),
                ));
            }
            datasets::delete(conn, &id)?;
            Ok(())
        })
        .await
    }
}
