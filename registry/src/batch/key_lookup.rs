//! Reading a key index (the layout is described in `keys`): the footer, then one bucket's
//! byte range, then the key among the bucket's entries. Both kinds of index are read: a
//! classifier's (`CAPKIX01`) and a regressor's (`CAPKIX02`). Each step takes bytes the
//! caller fetched with a range read; nothing here does I/O.

use std::ops::Range;

use capstan_client::signature::ClassLabel;
use capstan_client::types::PredictedValue;

use super::keys::{
    bucket_of, corrupt, key_hash, le_u32, le_u64, KeyIndexError, FOOTER_FIXED_LEN, INDEX_MAGIC,
    PAGE_BUCKETS, VALUE_INDEX_MAGIC,
};
use super::values::Predicts;

/// The end of a key index: what a lookup needs before it reads a bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyIndexFooter {
    pub(super) bucket_bits: u32,
    entries: u64,
    pub(super) page_tables: Vec<u64>,
    predicts: Predicts,
}

/// One key's prediction, read back from a key index.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPrediction {
    /// The label, or the value (one per target for several targets).
    pub prediction: PredictedValue,
    /// Per class, in the predictor's class order; empty for a regressor.
    pub probabilities: Vec<(ClassLabel, f64)>,
}

/// The magic at the end of `trailer`, when it is a key index's.
fn trailer_magic(trailer: &[u8]) -> Option<&[u8]> {
    let magic = trailer.get(trailer.len().checked_sub(8)?..)?;
    (magic == INDEX_MAGIC || magic == VALUE_INDEX_MAGIC).then_some(magic)
}

impl KeyIndexFooter {
    /// Bytes to read at the end of the file first: they say how long the footer is.
    pub const TRAILER_LEN: u64 = 16;

    /// How many bytes at the end of the file hold the footer (trailer included).
    pub fn footer_len(trailer: &[u8]) -> Result<u64, KeyIndexError> {
        let trailer = trailer
            .get(trailer.len().saturating_sub(16)..)
            .filter(|t| t.len() == 16 && trailer_magic(t).is_some())
            .ok_or_else(|| corrupt("index", "the file does not end with the key index magic"))?;
        Ok(le_u64(trailer))
    }

    /// Parses the footer (the last [`Self::footer_len`] bytes of the file).
    pub fn parse(footer: &[u8]) -> Result<Self, KeyIndexError> {
        let body = footer
            .len()
            .checked_sub(Self::TRAILER_LEN as usize)
            .filter(|len| *len >= FOOTER_FIXED_LEN)
            .map(|len| &footer[..len])
            .ok_or_else(|| corrupt("index footer", "too short"))?;
        let values = trailer_magic(footer) == Some(VALUE_INDEX_MAGIC);
        let bucket_bits = le_u32(&body[0..4]);
        let pages = le_u32(&body[4..8]) as usize;
        let entries = le_u64(&body[8..16]);
        // A classifier's: the length of its classes' JSON; a regressor's: its targets.
        let count = le_u32(&body[16..20]) as usize;
        let classes_len = if values { 0 } else { count };
        if bucket_bits > 40 || body.len() != FOOTER_FIXED_LEN + 8 * pages + classes_len {
            return Err(corrupt("index footer", "inconsistent lengths"));
        }
        let tables = &body[FOOTER_FIXED_LEN..FOOTER_FIXED_LEN + 8 * pages];
        let page_tables = tables.chunks_exact(8).map(le_u64).collect();
        let predicts = if values {
            if count == 0 {
                return Err(corrupt("index footer", "a value index without targets"));
            }
            Predicts::Values(count)
        } else {
            let classes = serde_json::from_slice(&body[FOOTER_FIXED_LEN + 8 * pages..])
                .map_err(|e| corrupt("index footer", format!("classes: {e}")))?;
            Predicts::Classes(classes)
        };
        Ok(KeyIndexFooter {
            bucket_bits,
            entries,
            page_tables,
            predicts,
        })
    }

    /// The classes of a classifier's index; empty for a regressor's.
    pub fn classes(&self) -> &[ClassLabel] {
        self.predicts.classes()
    }

    /// What the indexed predictions are: classes, or values.
    pub fn predicts(&self) -> &Predicts {
        &self.predicts
    }

    /// Distinct keys in the index.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The 16 bytes of the page table that hold `key`'s bucket's start and end offsets.
    pub fn table_range(&self, key: &str) -> Range<u64> {
        let bucket = bucket_of(key_hash(key.as_bytes()), self.bucket_bits);
        let page = (bucket / PAGE_BUCKETS) as usize;
        let start = self.page_tables.get(page).copied().unwrap_or(0) + 8 * (bucket % PAGE_BUCKETS);
        start..start + 16
    }

    /// The byte range of a bucket's entries, from the 16 bytes at [`Self::table_range`].
    pub fn bucket_range(&self, table: &[u8]) -> Result<Range<u64>, KeyIndexError> {
        if table.len() != 16 {
            return Err(corrupt("index", "a bucket's table entry is 16 bytes"));
        }
        let (start, end) = (le_u64(&table[..8]), le_u64(&table[8..]));
        if start > end {
            return Err(corrupt("index", "a bucket ends before it starts"));
        }
        Ok(start..end)
    }

    /// `key`'s prediction among a bucket's entries (the bytes at [`Self::bucket_range`]).
    pub fn find(
        &self,
        bucket: &[u8],
        key: &str,
    ) -> Result<Option<StoredPrediction>, KeyIndexError> {
        let (class_len, numbers) = match &self.predicts {
            Predicts::Classes(classes) => (4, classes.len()),
            Predicts::Values(targets) => (0, *targets),
        };
        let mut rest = bucket;
        while !rest.is_empty() {
            let key_len =
                rest.get(..4)
                    .map(le_u32)
                    .ok_or_else(|| corrupt("index", "truncated entry"))? as usize;
            let entry_len = 4 + key_len + class_len + 8 * numbers;
            let entry = rest
                .get(..entry_len)
                .ok_or_else(|| corrupt("index", "truncated entry"))?;
            if &entry[4..4 + key_len] == key.as_bytes() {
                return self.prediction(&entry[4 + key_len..]).map(Some);
            }
            rest = &rest[entry_len..];
        }
        Ok(None)
    }

    /// An entry's prediction, from the bytes after its key.
    fn prediction(&self, entry: &[u8]) -> Result<StoredPrediction, KeyIndexError> {
        let numbers = |bytes: &[u8]| -> Vec<f64> {
            bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))
                .collect()
        };
        match &self.predicts {
            Predicts::Classes(classes) => {
                let class = le_u32(entry) as usize;
                let label = classes
                    .get(class)
                    .cloned()
                    .ok_or_else(|| corrupt("index", "class index out of range"))?;
                let probabilities = classes.iter().cloned().zip(numbers(&entry[4..])).collect();
                Ok(StoredPrediction {
                    prediction: PredictedValue::Label(label),
                    probabilities,
                })
            }
            Predicts::Values(_) => {
                let mut values = numbers(entry);
                let prediction = match values.as_slice() {
                    [value] => PredictedValue::Value(*value),
                    _ => PredictedValue::Targets(std::mem::take(&mut values)),
                };
                Ok(StoredPrediction {
                    prediction,
                    probabilities: Vec::new(),
                })
            }
        }
    }

    /// Looks `key` up in a whole index held in memory (tests, small jobs).
    pub fn lookup(file: &[u8], key: &str) -> Result<Option<StoredPrediction>, KeyIndexError> {
        let slice = |range: Range<u64>| {
            file.get(range.start as usize..range.end as usize)
                .ok_or_else(|| corrupt("index", "a range points past the end of the file"))
        };
        let len = file.len() as u64;
        let footer_len = Self::footer_len(slice(len.saturating_sub(Self::TRAILER_LEN)..len)?)?;
        let footer = Self::parse(slice(len.saturating_sub(footer_len)..len)?)?;
        let bucket = footer.bucket_range(slice(footer.table_range(key))?)?;
        footer.find(slice(bucket)?, key)
    }
}
