//! Predictions by key: an indexed file per job, so that one key's prediction is two or
//! three small range reads of the object store, never a scan of the output.
//!
//! While a chunk is scored, [`KeySink`] collects `(key, row, class, probabilities)` (a
//! classifier's) or `(key, row, values)` (a regressor's) and [`KeySink::take_sidecar`]
//! writes them sorted by `(hash, row)`. Once every chunk is
//! scored, [`merge_key_sidecars`] k-way-merges the sidecars into one index, streaming:
//! memory is one entry per sidecar plus one page table, whatever the number of rows.
//! The key is the id's text (a JSON number id by its JSON text), or the 1-based row number
//! when there is no id column; when rows share a key, **the first row wins**.
//!
//! Index layout of a classifier's predictions (integers little-endian):
//! ```text
//! "CAPKIX01"
//! page 0: entries of buckets 0..4096, then its table: 4097 × u64 absolute offsets
//!         (the start of each bucket's entries, then the end of the last one)
//! page 1: …                                   (a page holds PAGE_BUCKETS buckets)
//! footer: bucket_bits u32, pages u32, entries u64, classes_len u32,
//!         pages × u64 (the offset of each page's table), classes (JSON array)
//! trailer: footer_len u64 (footer + trailer), "CAPKIX01"
//! entry:  key_len u32, key (UTF-8), class u32 (index into classes), classes × f64
//! ```
//! A regressor's predictions (a value index) have their own magic, `CAPKIX02`, at the
//! start and in the trailer, so readers that predate it refuse such a file instead of
//! misreading it; pages and buckets are the same, and
//! ```text
//! footer: bucket_bits u32, pages u32, entries u64, targets u32, pages × u64
//! entry:  key_len u32, key (UTF-8), targets × f64
//! ```
//! Sidecars are `CAPKSC01` (classes) or `CAPKSC02` (values), then the count of classes or
//! targets (u32) and entries of `hash u64, row u64` followed by the index's entry.
//! A key's bucket is the top `bucket_bits` bits of FNV-1a-64 of its bytes followed by
//! murmur3's 64-bit finaliser; there are a power of two buckets, about one per 32 rows.
//! Lookup: [`KeyIndexFooter::TRAILER_LEN`] tail bytes → [`KeyIndexFooter::footer_len`]
//! tail bytes → [`KeyIndexFooter::parse`] (cache it per job) → the 16 bytes of
//! [`KeyIndexFooter::table_range`] → [`KeyIndexFooter::bucket_range`] → [`KeyIndexFooter::find`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::ops::Range;

pub use super::key_lookup::{KeyIndexFooter, StoredPrediction};
use super::values::Predicts;

/// The magic of a classifier's index.
pub(super) const INDEX_MAGIC: &[u8; 8] = b"CAPKIX01";
/// The magic of a regressor's (value) index.
pub(super) const VALUE_INDEX_MAGIC: &[u8; 8] = b"CAPKIX02";
const SIDECAR_MAGIC: &[u8; 8] = b"CAPKSC01";
const VALUE_SIDECAR_MAGIC: &[u8; 8] = b"CAPKSC02";
/// Buckets per page; each page's offset table is `(PAGE_BUCKETS + 1) × 8` bytes.
pub const PAGE_BUCKETS: u64 = 4096;
/// About this many rows share a bucket.
const ROWS_PER_BUCKET: u64 = 32;
pub(super) const FOOTER_FIXED_LEN: usize = 4 + 4 + 8 + 4;

#[derive(Debug, thiserror::Error)]
pub enum KeyIndexError {
    #[error("reading or writing a key index: {0}")]
    Io(#[from] io::Error),
    #[error("not a valid key {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

pub(super) fn corrupt(what: &'static str, detail: impl Into<String>) -> KeyIndexError {
    KeyIndexError::Corrupt {
        what,
        detail: detail.into(),
    }
}

/// The stable hash of a key: FNV-1a-64, then murmur3's finaliser so the top bits (the
/// bucket) depend on every byte. Part of the file format: never change it.
pub fn key_hash(key: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in key {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// `log2` of the bucket count for about `rows` rows.
fn bucket_bits_for(rows: u64) -> u32 {
    rows.div_ceil(ROWS_PER_BUCKET)
        .max(1)
        .next_power_of_two()
        .trailing_zeros()
}

pub(super) fn bucket_of(hash: u64, bits: u32) -> u64 {
    if bits == 0 {
        0
    } else {
        hash >> (64 - bits)
    }
}

/// What an entry holds besides its key: a class and one probability per class, or one
/// value per target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryShape {
    Classes(usize),
    Values(usize),
}

impl Default for EntryShape {
    fn default() -> Self {
        EntryShape::Classes(0)
    }
}

impl EntryShape {
    /// The numbers of an entry (probabilities or values).
    fn numbers(self) -> usize {
        match self {
            EntryShape::Classes(count) | EntryShape::Values(count) => count,
        }
    }

    fn has_class(self) -> bool {
        matches!(self, EntryShape::Classes(_))
    }

    fn sidecar_magic(self) -> &'static [u8; 8] {
        match self {
            EntryShape::Classes(_) => SIDECAR_MAGIC,
            EntryShape::Values(_) => VALUE_SIDECAR_MAGIC,
        }
    }
}

impl From<&Predicts> for EntryShape {
    fn from(predicts: &Predicts) -> Self {
        match predicts {
            Predicts::Classes(classes) => EntryShape::Classes(classes.len()),
            Predicts::Values(targets) => EntryShape::Values(*targets),
        }
    }
}

/// One chunk's keys, collected while it is scored.
#[derive(Debug, Default)]
pub struct KeySink {
    shape: EntryShape,
    entries: Vec<PendingKey>,
    keys: Vec<u8>,
    numbers: Vec<f64>,
}

#[derive(Debug)]
struct PendingKey {
    hash: u64,
    row: u64,
    key: Range<usize>,
    class: u32,
    /// Where its probabilities (or values) start in `KeySink::numbers`.
    numbers: usize,
}

impl KeySink {
    /// A sink for a classifier with `classes` classes.
    pub fn new(classes: usize) -> Self {
        KeySink::with_shape(EntryShape::Classes(classes))
    }

    /// A sink for entries of `shape`.
    pub fn with_shape(shape: EntryShape) -> Self {
        KeySink {
            shape,
            ..KeySink::default()
        }
    }

    /// Records row `row`'s prediction under `key`; `probabilities` has one value per class.
    pub fn push(&mut self, key: &[u8], row: u64, class: usize, probabilities: &[f64]) {
        debug_assert_eq!(self.shape, EntryShape::Classes(probabilities.len()));
        self.push_entry(key, row, class as u32, probabilities);
    }

    /// Records a regressor's row `row` under `key`: one value per target.
    pub fn push_values(&mut self, key: &[u8], row: u64, values: &[f64]) {
        debug_assert_eq!(self.shape, EntryShape::Values(values.len()));
        self.push_entry(key, row, 0, values);
    }

    fn push_entry(&mut self, key: &[u8], row: u64, class: u32, numbers: &[f64]) {
        let start = self.keys.len();
        self.keys.extend_from_slice(key);
        self.entries.push(PendingKey {
            hash: key_hash(key),
            row,
            key: start..self.keys.len(),
            class,
            numbers: self.numbers.len(),
        });
        self.numbers.extend_from_slice(numbers);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Empties the sink for entries of `shape`, keeping its memory.
    pub fn reset(&mut self, shape: EntryShape) {
        self.shape = shape;
        self.entries.clear();
        self.keys.clear();
        self.numbers.clear();
    }

    /// The collected keys as a sidecar (sorted by hash, then row), emptying the sink.
    pub fn take_sidecar(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.take_sidecar_into(&mut out);
        out
    }

    /// Like [`KeySink::take_sidecar`], into `out` (cleared first, its memory reused).
    pub fn take_sidecar_into(&mut self, out: &mut Vec<u8>) {
        self.entries
            .sort_unstable_by_key(|entry| (entry.hash, entry.row));
        let (numbers, has_class) = (self.shape.numbers(), self.shape.has_class());
        let per_entry = 8 + 8 + 4 + 4 + 8 * numbers;
        out.clear();
        out.reserve(12 + self.entries.len() * per_entry + self.keys.len());
        out.extend_from_slice(self.shape.sidecar_magic());
        out.extend_from_slice(&(numbers as u32).to_le_bytes());
        for entry in &self.entries {
            out.extend_from_slice(&entry.hash.to_le_bytes());
            out.extend_from_slice(&entry.row.to_le_bytes());
            let key = &self.keys[entry.key.clone()];
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
            if has_class {
                out.extend_from_slice(&entry.class.to_le_bytes());
            }
            let start = entry.numbers;
            for p in &self.numbers[start..start + numbers] {
                out.extend_from_slice(&p.to_le_bytes());
            }
        }
        self.entries.clear();
        self.keys.clear();
        self.numbers.clear();
    }
}

/// One sidecar being merged: its next entry.
struct SidecarCursor<R: Read> {
    reader: BufReader<R>,
    shape: EntryShape,
    hash: u64,
    row: u64,
    key: Vec<u8>,
    class: u32,
    /// Its probabilities or values, as stored.
    numbers: Vec<u8>,
}

impl<R: Read> SidecarCursor<R> {
    fn open(reader: R, shape: EntryShape) -> Result<Self, KeyIndexError> {
        let mut reader = BufReader::with_capacity(16 * 1024, reader);
        let mut head = [0u8; 12];
        reader.read_exact(&mut head)?;
        if &head[..8] != shape.sidecar_magic() {
            return Err(corrupt("sidecar", "bad magic bytes"));
        }
        let count = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
        if count != shape.numbers() {
            return Err(corrupt(
                "sidecar",
                format!("it holds {count} numbers per entry, the index {shape:?}"),
            ));
        }
        Ok(SidecarCursor {
            reader,
            shape,
            hash: 0,
            row: 0,
            key: Vec::new(),
            class: 0,
            numbers: vec![0; 8 * shape.numbers()],
        })
    }

    /// Reads the next entry; `false` at the end of the sidecar.
    fn advance(&mut self) -> Result<bool, KeyIndexError> {
        let mut fixed = [0u8; 20];
        match self.reader.read_exact(&mut fixed[..1]) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            other => other?,
        }
        self.reader.read_exact(&mut fixed[1..])?;
        let (hash, row) = (le_u64(&fixed[..8]), le_u64(&fixed[8..16]));
        if (hash, row) < (self.hash, self.row) {
            return Err(corrupt("sidecar", "entries are not sorted by hash and row"));
        }
        (self.hash, self.row) = (hash, row);
        self.key.resize(le_u32(&fixed[16..20]) as usize, 0);
        self.reader.read_exact(&mut self.key)?;
        if let EntryShape::Classes(classes) = self.shape {
            let mut class = [0u8; 4];
            self.reader.read_exact(&mut class)?;
            self.class = u32::from_le_bytes(class);
            if self.class as usize >= classes {
                return Err(corrupt("sidecar", "class index out of range"));
            }
        }
        self.reader.read_exact(&mut self.numbers)?;
        Ok(true)
    }
}

pub(super) fn le_u64(bytes: &[u8]) -> u64 {
    let mut array = [0u8; 8];
    array.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(array)
}

pub(super) fn le_u32(bytes: &[u8]) -> u32 {
    let mut array = [0u8; 4];
    array.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(array)
}

/// What [`merge_key_sidecars`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyIndexSummary {
    /// Distinct keys in the index.
    pub entries: u64,
    /// Size of the index file.
    pub bytes: u64,
}

/// Merges the sidecars of every chunk of a job into one key index written to `out`.
/// `rows_total` (the job's row count) sizes the buckets; `predicts` is what the predictor
/// predicts (a classifier's classes make a `CAPKIX01` index, a regressor's targets a
/// `CAPKIX02` one).
pub fn merge_key_sidecars<R: Read>(
    sidecars: impl IntoIterator<Item = R>,
    predicts: &Predicts,
    rows_total: u64,
    out: impl Write,
) -> Result<KeyIndexSummary, KeyIndexError> {
    let shape = EntryShape::from(predicts);
    let mut cursors = Vec::new();
    let mut heap = BinaryHeap::new();
    for reader in sidecars {
        let mut cursor = SidecarCursor::open(reader, shape)?;
        if cursor.advance()? {
            heap.push(Reverse((cursor.hash, cursor.row, cursors.len())));
        }
        cursors.push(cursor);
    }
    let mut writer = IndexWriter::new(out, bucket_bits_for(rows_total), predicts)?;
    let mut current_hash = None;
    // The keys written under the current hash (almost always one), end to end.
    let mut seen = SeenKeys::default();
    while let Some(Reverse((hash, _, index))) = heap.pop() {
        let cursor = &mut cursors[index];
        if current_hash != Some(hash) {
            current_hash = Some(hash);
            seen.clear();
        }
        if seen.insert(&cursor.key) {
            let class = shape.has_class().then_some(cursor.class);
            writer.write_entry(hash, &cursor.key, class, &cursor.numbers)?;
        }
        if cursor.advance()? {
            heap.push(Reverse((cursor.hash, cursor.row, index)));
        }
    }
    writer.finish(predicts)
}

/// The keys seen under one hash, in one reused buffer (no allocation per entry).
#[derive(Default)]
struct SeenKeys {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl SeenKeys {
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Adds `key`; false when it was there already.
    fn insert(&mut self, key: &[u8]) -> bool {
        let mut start = 0;
        for &end in &self.ends {
            if &self.bytes[start..end] == key {
                return false;
            }
            start = end;
        }
        self.bytes.extend_from_slice(key);
        self.ends.push(self.bytes.len());
        true
    }
}

/// Writes entries in bucket order, closing each page with its offset table.
struct IndexWriter<W: Write> {
    out: BufWriter<W>,
    magic: &'static [u8; 8],
    position: u64,
    bucket_bits: u32,
    buckets: u64,
    /// The first bucket whose start offset is not recorded yet.
    next_bucket: u64,
    table: Vec<u64>,
    page_tables: Vec<u64>,
    entries: u64,
}

impl<W: Write> IndexWriter<W> {
    fn new(out: W, bucket_bits: u32, predicts: &Predicts) -> Result<Self, KeyIndexError> {
        let magic = match predicts {
            Predicts::Classes(_) => INDEX_MAGIC,
            Predicts::Values(_) => VALUE_INDEX_MAGIC,
        };
        let mut out = BufWriter::with_capacity(256 * 1024, out);
        out.write_all(magic)?;
        Ok(IndexWriter {
            out,
            magic,
            position: magic.len() as u64,
            bucket_bits,
            buckets: 1 << bucket_bits,
            next_bucket: 0,
            table: Vec::with_capacity(PAGE_BUCKETS as usize + 1),
            page_tables: Vec::new(),
            entries: 0,
        })
    }

    /// Records the start of every bucket up to `bucket` (`buckets` closes the last page).
    fn start_buckets_through(&mut self, bucket: u64) -> io::Result<()> {
        while self.next_bucket <= bucket {
            let next = self.next_bucket;
            if next > 0 && (next.is_multiple_of(PAGE_BUCKETS) || next == self.buckets) {
                self.close_page()?;
            }
            if next < self.buckets {
                self.table.push(self.position);
            }
            self.next_bucket += 1;
        }
        Ok(())
    }

    fn close_page(&mut self) -> io::Result<()> {
        self.table.push(self.position);
        self.page_tables.push(self.position);
        for offset in &self.table {
            self.out.write_all(&offset.to_le_bytes())?;
        }
        self.position += 8 * self.table.len() as u64;
        self.table.clear();
        Ok(())
    }

    fn write_entry(
        &mut self,
        hash: u64,
        key: &[u8],
        class: Option<u32>,
        numbers: &[u8],
    ) -> io::Result<()> {
        self.start_buckets_through(bucket_of(hash, self.bucket_bits))?;
        self.out.write_all(&(key.len() as u32).to_le_bytes())?;
        self.out.write_all(key)?;
        if let Some(class) = class {
            self.out.write_all(&class.to_le_bytes())?;
            self.position += 4;
        }
        self.out.write_all(numbers)?;
        self.position += (4 + key.len() + numbers.len()) as u64;
        self.entries += 1;
        Ok(())
    }

    fn finish(mut self, predicts: &Predicts) -> Result<KeyIndexSummary, KeyIndexError> {
        self.start_buckets_through(self.buckets)?;
        // A classifier's footer ends with its classes (JSON), a regressor's with nothing.
        let (count, classes) = match predicts {
            Predicts::Classes(classes) => {
                let json = serde_json::to_vec(classes).map_err(io::Error::other)?;
                (json.len(), json)
            }
            Predicts::Values(targets) => (*targets, Vec::new()),
        };
        let mut footer =
            Vec::with_capacity(FOOTER_FIXED_LEN + 8 * self.page_tables.len() + classes.len() + 16);
        footer.extend_from_slice(&self.bucket_bits.to_le_bytes());
        footer.extend_from_slice(&(self.page_tables.len() as u32).to_le_bytes());
        footer.extend_from_slice(&self.entries.to_le_bytes());
        footer.extend_from_slice(&(count as u32).to_le_bytes());
        for offset in &self.page_tables {
            footer.extend_from_slice(&offset.to_le_bytes());
        }
        footer.extend_from_slice(&classes);
        let footer_len = footer.len() as u64 + KeyIndexFooter::TRAILER_LEN;
        footer.extend_from_slice(&footer_len.to_le_bytes());
        footer.extend_from_slice(self.magic);
        self.out.write_all(&footer)?;
        self.out.flush()?;
        Ok(KeyIndexSummary {
            entries: self.entries,
            bytes: self.position + footer_len,
        })
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
