//! CSV input: the header's column names, and the data lines of one chunk turned into
//! feature rows for the scorer.
//!
//! A record is one line (`\n` or `\r\n`). Fields are separated by commas; a field may be
//! quoted (`"a,b"`, with `""` for a quote) but may not span lines, which keeps chunks
//! aligned to line boundaries. A line of only blanks (spaces, tabs, `\r`) is not a row:
//! it is skipped and not numbered, exactly as `index::RowIndexer` counts. Numeric feature
//! values are decimal numbers (surrounding blanks allowed), whole ones for `int64`
//! features; a nullable feature's empty field (or `NA`, `NaN`) is missing. A string
//! feature's field and the id field are kept as text, unquoted, as they are.

use std::borrow::Cow;

use memchr::memchr;

use super::columns::ColumnPlan;
use super::decimal::{parse_finite, plain_decimal, zero_bytes, ONES};
use super::index::{is_blank, lines, strip_line_end};
use super::score::{ChunkError, ChunkState, IdKind, IdScratch};
use super::values::{check_whole, FeatureKind};

/// What each input column is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// A numeric feature (by index).
    Feature(usize),
    /// A string feature: its text slot.
    Text(usize),
    Id,
    Ignored,
}

/// The plan, turned around: per input column, where its value goes.
#[derive(Debug)]
pub(super) struct CsvLayout {
    slots: Vec<Slot>,
    /// Per feature: whether an empty field is a missing value.
    nullable: Vec<bool>,
    /// The `int64` features and their input columns, checked once a line is read.
    whole: Vec<(usize, usize)>,
}

impl CsvLayout {
    pub(super) fn new(plan: &ColumnPlan, kinds: &[FeatureKind]) -> Self {
        let mut slots = vec![Slot::Ignored; plan.columns.len()];
        let mut whole = Vec::new();
        for (feature, (&column, kind)) in plan.feature_columns.iter().zip(kinds).enumerate() {
            slots[column] = match kind {
                FeatureKind::Text { slot } => Slot::Text(*slot),
                FeatureKind::Number { whole: true, .. } => {
                    whole.push((feature, column));
                    Slot::Feature(feature)
                }
                FeatureKind::Number { .. } => Slot::Feature(feature),
            };
        }
        if let Some(id) = &plan.id {
            slots[id.index] = Slot::Id;
        }
        CsvLayout {
            slots,
            nullable: kinds.iter().map(|kind| kind.is_nullable()).collect(),
            whole,
        }
    }
}

/// The column names of a CSV header line (a leading UTF-8 byte-order mark and the line
/// ending are ignored).
pub fn header_columns(line: &[u8]) -> Result<Vec<String>, String> {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let line = strip_line_end(line);
    if is_blank(line) {
        return Err("the CSV header line is empty".into());
    }
    let mut columns = Vec::new();
    let mut rest = line;
    loop {
        let (field, after) = next_field(rest).map_err(|reason| format!("CSV header: {reason}"))?;
        let name = std::str::from_utf8(&field)
            .map_err(|_| "the CSV header is not valid UTF-8".to_string())?;
        columns.push(name.trim().to_string());
        match after {
            Some(next) => rest = next,
            None => return Ok(columns),
        }
    }
}

/// Scores the data lines of one chunk, numbering rows from `first_row`.
pub(super) fn read_rows(
    data: &[u8],
    first_row: u64,
    layout: &CsvLayout,
    state: &mut ChunkState<'_>,
) -> Result<(), ChunkError> {
    let mut row = first_row;
    let mut divisors = vec![1.0; state.plan().features.len()];
    for line in lines(data) {
        if is_blank(line) {
            continue;
        }
        let slot = state.begin_row();
        match parse_line(line, layout, slot.values, &mut divisors, slot.text, slot.id) {
            Ok(()) => state.accept(row)?,
            Err(bad) => {
                let field = bad
                    .column
                    .map(|column| state.column_name(column).to_string());
                state.reject(row, field, bad.reason.into_owned());
            }
        }
        row += 1;
    }
    Ok(())
}

/// Why a line is not a row: the column concerned (when there is one) and the reason.
#[derive(Debug, PartialEq)]
struct BadLine {
    column: Option<usize>,
    reason: Cow<'static, str>,
}

/// Reads a line into `values` (each plain decimal as numerator and divisor, divided once
/// the line is read, in one loop the compiler vectorises). Lines without quotes, nearly
/// all of them, are split at commas found with SIMD, so each field is read independently
/// of the others; lines with quotes take the general path.
fn parse_line(
    line: &[u8],
    layout: &CsvLayout,
    values: &mut [f64],
    divisors: &mut [f64],
    text: &mut [String],
    id: &mut IdScratch,
) -> Result<(), BadLine> {
    let mut reader = LineReader {
        layout,
        values,
        divisors,
        text,
        id,
        problem: None,
    };
    let columns = if memchr(b'"', line).is_none() {
        reader.read_unquoted(line)
    } else {
        reader.read_quoted(line)?
    };
    if columns != layout.slots.len() {
        return Err(BadLine {
            column: None,
            reason: format!("expected {} fields, got {columns}", layout.slots.len()).into(),
        });
    }
    if let Some(problem) = reader.problem {
        return Err(problem);
    }
    for (value, divisor) in values.iter_mut().zip(divisors.iter()) {
        *value /= divisor;
    }
    for &(feature, column) in &layout.whole {
        check_whole(values[feature]).map_err(|reason| BadLine {
            column: Some(column),
            reason: reason.into(),
        })?;
    }
    Ok(())
}

/// Where the field starting at `start` ends: its comma, or the end of the line. A field
/// of up to 7 bytes, the common case, is measured in one 8-byte load.
#[inline(always)]
fn field_end(line: &[u8], start: usize) -> usize {
    if let Some(bytes) = line.get(start..start + 8) {
        let chunk = u64::from_le_bytes(bytes.try_into().unwrap_or_default());
        let commas = zero_bytes(chunk ^ (u64::from(b',') * ONES));
        if commas != 0 {
            return start + (commas.trailing_zeros() / 8) as usize;
        }
    }
    memchr(b',', &line[start..]).map_or(line.len(), |comma| start + comma)
}

/// One line being read: where its values go and its first problem.
struct LineReader<'r> {
    layout: &'r CsvLayout,
    values: &'r mut [f64],
    divisors: &'r mut [f64],
    text: &'r mut [String],
    id: &'r mut IdScratch,
    problem: Option<BadLine>,
}

impl LineReader<'_> {
    /// Reads every field of a line without quotes; returns the number of fields.
    fn read_unquoted(&mut self, line: &[u8]) -> usize {
        let mut start = 0;
        let mut column = 0;
        loop {
            let end = field_end(line, start);
            match self.layout.slots.get(column) {
                Some(Slot::Feature(feature)) if self.problem.is_none() => {
                    match plain_decimal(line, start..end) {
                        Some((numerator, divisor)) => {
                            self.values[*feature] = numerator;
                            self.divisors[*feature] = divisor;
                        }
                        None => self.number(column, *feature, &line[start..end]),
                    }
                }
                Some(Slot::Text(slot)) => self.text(column, *slot, &line[start..end]),
                Some(Slot::Id) => self.id(column, &line[start..end]),
                _ => {}
            }
            column += 1;
            if end == line.len() {
                return column;
            }
            start = end + 1;
        }
    }

    /// Reads every field of a line with quotes; returns the number of fields.
    fn read_quoted(&mut self, line: &[u8]) -> Result<usize, BadLine> {
        let mut column = 0;
        let mut rest = line;
        loop {
            let (field, after) = next_field(rest).map_err(|reason| BadLine {
                column: Some(column),
                reason: reason.into(),
            })?;
            match self.layout.slots.get(column) {
                Some(Slot::Feature(feature)) if self.problem.is_none() => {
                    self.number(column, *feature, &field)
                }
                Some(Slot::Text(slot)) => self.text(column, *slot, &field),
                Some(Slot::Id) => self.id(column, &field),
                _ => {}
            }
            column += 1;
            match after {
                Some(next) => rest = next,
                None => return Ok(column),
            }
        }
    }

    /// A feature value the fast path did not read.
    fn number(&mut self, column: usize, feature: usize, field: &[u8]) {
        if self.layout.nullable[feature] && is_missing(field) {
            self.values[feature] = f64::NAN;
            self.divisors[feature] = 1.0;
            return;
        }
        match parse_finite(field) {
            Ok(value) => {
                self.values[feature] = value;
                self.divisors[feature] = 1.0;
            }
            Err(reason) => self.note(column, reason),
        }
    }

    /// A string feature's value, as it is.
    fn text(&mut self, column: usize, slot: usize, field: &[u8]) {
        match std::str::from_utf8(field) {
            Ok(text) => {
                self.text[slot].clear();
                self.text[slot].push_str(text);
            }
            Err(_) => self.note(column, "expected a string, got bytes that are not UTF-8"),
        }
    }

    fn id(&mut self, column: usize, field: &[u8]) {
        match std::str::from_utf8(field) {
            Ok(text) => self.id.set(text, IdKind::Text),
            Err(_) => self.note(column, "the id is not valid UTF-8"),
        }
    }

    fn note(&mut self, column: usize, reason: &'static str) {
        self.problem.get_or_insert(BadLine {
            column: Some(column),
            reason: reason.into(),
        });
    }
}

/// Whether a nullable feature's field is a missing value: empty (or blank), `NA` or `NaN`
/// (any case), as the runtime reads CSV text.
fn is_missing(field: &[u8]) -> bool {
    let field = field.trim_ascii();
    field.is_empty() || field == b"NA" || field.eq_ignore_ascii_case(b"nan")
}

/// A field (unquoted) and what follows its comma (`None` at the end of the line).
type Field<'a> = (Cow<'a, [u8]>, Option<&'a [u8]>);

/// The first field of `rest` (unquoted) and what follows its comma (`None` at the end of
/// the line).
fn next_field(rest: &[u8]) -> Result<Field<'_>, &'static str> {
    if rest.first() == Some(&b'"') {
        return quoted_field(rest);
    }
    Ok(match memchr(b',', rest) {
        Some(comma) => (Cow::Borrowed(&rest[..comma]), Some(&rest[comma + 1..])),
        None => (Cow::Borrowed(rest), None),
    })
}

fn quoted_field(rest: &[u8]) -> Result<Field<'_>, &'static str> {
    let body = &rest[1..];
    let mut owned: Option<Vec<u8>> = None;
    let mut start = 0;
    loop {
        let quote = start
            + memchr(b'"', &body[start..]).ok_or("a quoted field is not closed on its line")?;
        if body.get(quote + 1) == Some(&b'"') {
            owned
                .get_or_insert_with(Vec::new)
                .extend_from_slice(&body[start..=quote]);
            start = quote + 2;
            continue;
        }
        let field = match owned {
            Some(mut text) => {
                text.extend_from_slice(&body[start..quote]);
                Cow::Owned(text)
            }
            None => Cow::Borrowed(&body[..quote]),
        };
        return match body.get(quote + 1) {
            None => Ok((field, None)),
            Some(b',') => Ok((field, Some(&body[quote + 2..]))),
            Some(_) => Err("a quoted field must be followed by a comma or the end of the line"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Result<Vec<String>, &'static str> {
        let mut out = Vec::new();
        let mut rest = line.as_bytes();
        loop {
            let (field, after) = next_field(rest)?;
            out.push(String::from_utf8(field.into_owned()).unwrap());
            match after {
                Some(next) => rest = next,
                None => return Ok(out),
            }
        }
    }

    #[test]
    fn fields_split_on_commas_and_quotes_protect_them() {
        assert_eq!(fields("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(fields("").unwrap(), [""]);
        assert_eq!(fields("a,").unwrap(), ["a", ""]);
        assert_eq!(
            fields(r#""x,y",1,"say ""hi""","""""#).unwrap(),
            ["x,y", "1", r#"say "hi""#, r#"""#]
        );
        assert!(fields(r#""open,1"#).is_err());
        assert!(fields(r#""a"b,1"#).is_err());
    }

    #[test]
    fn header_columns_drop_the_bom_and_line_end() {
        assert_eq!(
            header_columns(b"\xEF\xBB\xBFid, a ,\"b,c\"\r").unwrap(),
            ["id", "a", "b,c"]
        );
        assert!(header_columns(b" \r").is_err());
    }
}
