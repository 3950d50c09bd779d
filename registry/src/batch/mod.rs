//! Batch scoring (pattern 4, offline predictions): the pure, synchronous engine that
//! turns a dataset's bytes into prediction bytes. It owns column planning (`columns`),
//! splitting CSV/JSONL files into line-aligned chunks (`index`), reading rows (`csv` with
//! `decimal`, `jsonl`, `parquet`), scoring a chunk in batches (`score`), writing output
//! rows (`output`, `parquet_output`) and the per-job key index that serves predictions by
//! key (`keys` writes it, `key_lookup` reads it). `values` holds the rules the readers
//! share (what each feature's values are) and what a model predicts (`Predicts`: a
//! classifier's classes or a regressor's targets), which shapes the output and the index.
//!
//! How a job uses it: index the file while it is uploaded ([`RowIndexer`]; Parquet:
//! [`parquet::parse_footer`]), [`plan_columns`] once, make one [`Scorer`], score each chunk
//! on any thread into an output part and a key sidecar, then concatenate the parts (after
//! [`Scorer::write_header`]; Parquet: [`parquet::merge_parquet_parts`]) and
//! [`merge_key_sidecars`] into the job's key index.
//!
//! The engine must not touch the database, HTTP, async runtimes or the object store:
//! callers (`service::batch_work`, the dataset upload) fetch bytes, hand them over, and
//! store what comes back. Every function of it is deterministic and safe to run on any
//! thread. The one exception in this folder is [`worker`], the loop that claims batch work
//! and has `Registry` do it (like `events/` and `serving/`, a service started from
//! `startup.rs`).

pub mod columns;
pub mod csv;
mod decimal;
pub mod index;
pub mod jsonl;
mod key_lookup;
pub mod keys;
pub mod output;
pub mod parquet;
pub mod parquet_output;
pub mod scheduler;
pub mod score;
#[cfg(test)]
mod testing;
mod values;
pub mod worker;

pub use columns::{plan_columns, ColumnPlan, IdColumn, Matching, PlanError};
pub use index::{Checkpoint, Chunk, IndexError, RowIndex, RowIndexer};
pub use keys::{merge_key_sidecars, EntryShape, KeyIndexFooter, KeySink, StoredPrediction};
pub use score::{ChunkError, ChunkInput, ChunkOutcome, RowError, Scorer};
pub use values::Predicts;
