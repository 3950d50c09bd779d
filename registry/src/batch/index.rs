//! Row index of a CSV or JSONL file: where its chunks start and which row each starts
//! with, computed in one streaming pass (it runs while a dataset is uploaded, beside the
//! sha256), so a job can split the file into byte ranges aligned to line boundaries.
//!
//! What a row is, for the indexer and the chunk scorers alike: a line ends at `\n` (a
//! `\r` before it is part of the line ending); the CSV header line is not a row; a line
//! of only spaces, tabs and `\r` is **blank: not a row, not numbered, skipped** (in CSV
//! and JSONL, anywhere in the file); every other line is a row, numbered from 1; a final
//! line needs no `\n`, and a trailing `\n` makes no extra row. A checkpoint is taken at
//! the start of the first data line, then at the first line start at least `chunk_bytes`
//! after the previous checkpoint.

use std::ops::Range;

use capstan_client::types::batch::DataFormat;
use memchr::memchr;
use serde::{Deserialize, Serialize};

use super::{csv, jsonl};

/// Longest first line (CSV header, first JSONL object) the indexer keeps.
pub const MAX_FIRST_LINE: usize = 16 * 1024 * 1024;

/// A line start where a chunk may begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Byte offset of the line's first byte in the file.
    pub offset: u64,
    /// The 1-based number of the first row at or after `offset`.
    pub first_row: u64,
}

/// A byte range of the file made of whole lines, and the rows in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub bytes: Range<u64>,
    pub first_row: u64,
    pub rows: u64,
}

/// Why a file cannot be indexed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("the file is empty: a CSV file needs a header line, a JSONL file an object")]
    Empty,
    #[error("the first line is longer than {MAX_FIRST_LINE} bytes")]
    FirstLineTooLong,
    #[error("{0}")]
    FirstLine(String),
    #[error("Parquet files are indexed from their footer, not line by line")]
    NotText,
}

/// The index of a whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowIndex {
    /// Column names: the CSV header, or the keys of the first JSONL object.
    pub columns: Vec<String>,
    pub checkpoints: Vec<Checkpoint>,
    /// Data rows in the file.
    pub rows: u64,
    /// Size of the file.
    pub bytes: u64,
}

impl RowIndex {
    /// The chunks between consecutive checkpoints (the last one runs to the end).
    pub fn chunks(&self) -> impl Iterator<Item = Chunk> + '_ {
        self.checkpoints.iter().enumerate().map(|(i, start)| {
            let next = self.checkpoints.get(i + 1);
            let end = next.map_or(self.bytes, |next| next.offset);
            let next_row = next.map_or(self.rows + 1, |next| next.first_row);
            Chunk {
                bytes: start.offset..end,
                first_row: start.first_row,
                rows: next_row - start.first_row,
            }
        })
    }
}

/// Builds a [`RowIndex`] from a file fed in order, in slices of any size.
#[derive(Debug)]
pub struct RowIndexer {
    format: DataFormat,
    chunk_bytes: u64,
    /// Bytes fed so far.
    offset: u64,
    at_line_start: bool,
    /// CSV only: the header line is being read.
    in_header: bool,
    line_has_content: bool,
    rows: u64,
    next_checkpoint: u64,
    checkpoints: Vec<Checkpoint>,
    /// The first line, while it is read.
    capture: Vec<u8>,
    first_line: Option<Vec<u8>>,
    too_long: bool,
}

impl RowIndexer {
    /// An indexer for a CSV or JSONL file, with a checkpoint about every `chunk_bytes`.
    pub fn new(format: DataFormat, chunk_bytes: u64) -> Result<Self, IndexError> {
        if format == DataFormat::Parquet {
            return Err(IndexError::NotText);
        }
        Ok(RowIndexer {
            format,
            chunk_bytes: chunk_bytes.max(1),
            offset: 0,
            at_line_start: true,
            in_header: format == DataFormat::Csv,
            line_has_content: false,
            rows: 0,
            next_checkpoint: 0,
            checkpoints: Vec::new(),
            capture: Vec::new(),
            first_line: None,
            too_long: false,
        })
    }

    /// The next bytes of the file.
    pub fn feed(&mut self, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            if self.at_line_start {
                self.begin_line(self.offset + i as u64);
            }
            let rest = &data[i..];
            let newline = memchr(b'\n', rest);
            let segment = &rest[..newline.unwrap_or(rest.len())];
            if !self.line_has_content {
                self.line_has_content = !is_blank(segment);
            }
            if self.first_line.is_none() {
                self.keep_first_line_bytes(segment);
            }
            i += segment.len();
            if newline.is_some() {
                i += 1;
                self.end_line();
            }
        }
        self.offset += data.len() as u64;
    }

    /// The index, once the whole file was fed.
    pub fn finish(mut self) -> Result<RowIndex, IndexError> {
        if !self.at_line_start {
            self.end_line();
        }
        if self.too_long {
            return Err(IndexError::FirstLineTooLong);
        }
        let first_line = self.first_line.ok_or(IndexError::Empty)?;
        let columns = match self.format {
            DataFormat::Jsonl => jsonl::object_keys(&first_line),
            _ => csv::header_columns(&first_line),
        }
        .map_err(IndexError::FirstLine)?;
        Ok(RowIndex {
            columns,
            checkpoints: self.checkpoints,
            rows: self.rows,
            bytes: self.offset,
        })
    }

    fn begin_line(&mut self, offset: u64) {
        self.at_line_start = false;
        self.line_has_content = false;
        if !self.in_header && offset >= self.next_checkpoint {
            self.checkpoints.push(Checkpoint {
                offset,
                first_row: self.rows + 1,
            });
            self.next_checkpoint = offset + self.chunk_bytes;
        }
    }

    fn end_line(&mut self) {
        self.at_line_start = true;
        if self.in_header {
            self.in_header = false;
            self.first_line = Some(std::mem::take(&mut self.capture));
            return;
        }
        if !self.line_has_content {
            self.capture.clear();
            return;
        }
        self.rows += 1;
        if self.first_line.is_none() {
            self.first_line = Some(std::mem::take(&mut self.capture));
        }
    }

    fn keep_first_line_bytes(&mut self, segment: &[u8]) {
        if self.capture.len() + segment.len() > MAX_FIRST_LINE {
            self.too_long = true;
        } else {
            self.capture.extend_from_slice(segment);
        }
    }
}

/// The lines of `data` without their `\n` or `\r\n` (a final line needs no `\n`; the
/// empty piece after a final `\n` is blank, so never a row).
pub(super) fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let text = rest?;
        let line = match memchr(b'\n', text) {
            Some(end) => {
                rest = Some(&text[end + 1..]);
                &text[..end]
            }
            None => {
                rest = None;
                text
            }
        };
        Some(strip_line_end(line))
    })
}

/// `line` without its `\r` (the `\n` is already gone).
pub(super) fn strip_line_end(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A line of only spaces, tabs and `\r` is blank: not a row (in CSV and JSONL alike).
pub(super) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
