//! CSV input: the header's column names, and the data lines of one chunk turned into
//! feature rows for the scorer.
//!
//! A record is one line (`\n` or `\r\n`). Fields are separated by commas; a field may be
//! quoted (`"a,b"`, with `""` for a quote) but may not span lines, which keeps chunks
//! aligned to line boundaries. A line of only blanks (spaces, tabs, `\r`) is not a row:
//! it is skipped and not numbered, exactly as `index::RowIndexer` counts. Feature values
//! are decimal numbers (surrounding blanks allowed); the id field is kept as text.

use std::borrow::Cow;

use memchr::memchr;

use super::columns::ColumnPlan;
use super::index::{is_blank, lines, strip_line_end};
use super::score::{ChunkError, ChunkState, IdKind, IdScratch};

/// What each input column is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Feature(usize),
    Id,
    Ignored,
}

/// The plan, turned around: per input column, where its value goes.
#[derive(Debug)]
pub(super) struct CsvLayout {
    slots: Vec<Slot>,
}

impl CsvLayout {
    pub(super) fn new(plan: &ColumnPlan) -> Self {
        let mut slots = vec![Slot::Ignored; plan.columns.len()];
        for (feature, &column) in plan.feature_columns.iter().enumerate() {
            slots[column] = Slot::Feature(feature);
        }
        if let Some(id) = &plan.id {
            slots[id.index] = Slot::Id;
        }
        CsvLayout { slots }
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
    for line in lines(data) {
        if is_blank(line) {
            continue;
        }
        let slot = state.begin_row();
        match parse_line(line, layout, slot.values, slot.id) {
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

fn parse_line(
    line: &[u8],
    layout: &CsvLayout,
    values: &mut [f64],
    id: &mut IdScratch,
) -> Result<(), BadLine> {
    let mut problem: Option<BadLine> = None;
    let mut column = 0;
    let mut rest = line;
    loop {
        let slot = layout.slots.get(column);
        if let (Some(Slot::Feature(feature)), None) = (slot, &problem) {
            if let Some((value, after)) = plain_decimal_field(rest) {
                values[*feature] = value;
                column += 1;
                match after {
                    Some(next) => {
                        rest = next;
                        continue;
                    }
                    None => break,
                }
            }
        }
        let (field, after) = next_field(rest).map_err(|reason| BadLine {
            column: Some(column),
            reason: reason.into(),
        })?;
        match slot {
            Some(Slot::Feature(feature)) if problem.is_none() => match parse_finite(&field) {
                Ok(value) => values[*feature] = value,
                Err(reason) => {
                    problem = Some(BadLine {
                        column: Some(column),
                        reason: reason.into(),
                    })
                }
            },
            Some(Slot::Id) => match std::str::from_utf8(&field) {
                Ok(text) => id.set(text, IdKind::Text),
                Err(_) if problem.is_none() => {
                    problem = Some(BadLine {
                        column: Some(column),
                        reason: "the id is not valid UTF-8".into(),
                    });
                }
                Err(_) => {}
            },
            _ => {}
        }
        column += 1;
        match after {
            Some(next) => rest = next,
            None => break,
        }
    }
    if column != layout.slots.len() {
        return Err(BadLine {
            column: None,
            reason: format!("expected {} fields, got {column}", layout.slots.len()).into(),
        });
    }
    problem.map_or(Ok(()), Err)
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

/// A finite decimal number, with surrounding blanks allowed.
pub(super) fn parse_finite(field: &[u8]) -> Result<f64, &'static str> {
    let field = field.trim_ascii();
    if field.is_empty() {
        return Err("empty value");
    }
    let value = match fast_decimal(field) {
        Some(value) => value,
        None => std::str::from_utf8(field)
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .ok_or("not a number")?,
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err("not a finite number")
    }
}

/// Exact powers of ten an `f64` holds (10^0 … 10^22).
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A whole field that is a plain decimal, for [`parse_finite`].
fn fast_decimal(text: &[u8]) -> Option<f64> {
    match plain_decimal_field(text)? {
        (value, None) => Some(value),
        (_, Some(_)) => None,
    }
}

/// The hot path of CSV reading: a field that is a plain decimal (`[+-]digits[.digits]`,
/// ended by a comma or the end of the line) read in one pass straight from the line,
/// with what follows its comma. `None` for anything else (blanks, quotes, exponents, more
/// than 19 digits, `inf`…), which the general path (`next_field`, `str::parse`) reads.
///
/// Exact by Clinger's fast path: digits up to 2^53 and at most 22 decimals make one exact
/// integer divided by one exact power of ten, so the single rounding of that division is
/// the correctly rounded value `str::parse` also returns.
fn plain_decimal_field(rest: &[u8]) -> Option<(f64, Option<&[u8]>)> {
    let (negative, start) = match rest.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let mut mantissa: u64 = 0;
    let mut digit_count = 0;
    let mut decimals: Option<usize> = None;
    let mut end = start;
    while let Some(&byte) = rest.get(end) {
        match byte {
            b'0'..=b'9' if digit_count < 19 => {
                mantissa = mantissa * 10 + u64::from(byte - b'0');
                digit_count += 1;
                if let Some(decimals) = decimals.as_mut() {
                    *decimals += 1;
                }
            }
            b'.' if decimals.is_none() => decimals = Some(0),
            b',' => break,
            _ => return None,
        }
        end += 1;
    }
    let decimals = decimals.unwrap_or(0);
    if digit_count == 0 || mantissa > 1 << 53 || decimals >= POWERS_OF_TEN.len() {
        return None;
    }
    let value = mantissa as f64 / POWERS_OF_TEN[decimals];
    let after = (end < rest.len()).then(|| &rest[end + 1..]);
    Some((if negative { -value } else { value }, after))
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

    #[test]
    fn numbers_are_parsed_like_str_parse() {
        assert_eq!(parse_finite(b" 1.5 "), Ok(1.5));
        assert_eq!(parse_finite(b"-0").map(f64::is_sign_negative), Ok(true));
        assert_eq!(parse_finite(b"1e3"), Ok(1000.0));
        assert_eq!(parse_finite(b""), Err("empty value"));
        assert_eq!(parse_finite(b"  "), Err("empty value"));
        assert_eq!(parse_finite(b"abc"), Err("not a number"));
        assert_eq!(parse_finite(b"1.2.3"), Err("not a number"));
        for text in ["NaN", "inf", "-infinity", "1e400"] {
            assert_eq!(
                parse_finite(text.as_bytes()),
                Err("not a finite number"),
                "{text}"
            );
        }
    }

    #[test]
    fn the_fast_path_agrees_with_str_parse_bit_for_bit() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"0123456789.-+e";
        for _ in 0..200_000 {
            let len = 1 + (next() % 24) as usize;
            let text: Vec<u8> = (0..len)
                .map(|i| {
                    let pick = next() % if i == 0 { 14 } else { 11 };
                    alphabet[pick as usize]
                })
                .collect();
            let text = std::str::from_utf8(&text).unwrap();
            if let Some(fast) = fast_decimal(text.as_bytes()) {
                let slow: f64 = text.parse().unwrap();
                assert_eq!(fast.to_bits(), slow.to_bits(), "{text}");
            }
        }
        for text in [
            "0.1",
            "17.99",
            "0.006399",
            "9007199254740992",
            "123456789.123456",
        ] {
            let fast = fast_decimal(text.as_bytes()).unwrap();
            assert_eq!(fast.to_bits(), text.parse::<f64>().unwrap().to_bits());
        }
        for text in [
            "9007199254740993",
            ".",
            "-",
            "1e5",
            "0.00000000000000000000001",
            "1,5",
        ] {
            assert_eq!(fast_decimal(text.as_bytes()), None, "{text}");
        }
        assert_eq!(plain_decimal_field(b"1.5,x"), Some((1.5, Some(&b"x"[..]))));
        assert_eq!(plain_decimal_field(b"2,"), Some((2.0, Some(&b""[..]))));
        assert_eq!(plain_decimal_field(b"-3"), Some((-3.0, None)));
        assert_eq!(plain_decimal_field(b",1"), None);
        assert_eq!(plain_decimal_field(b" 1,2"), None);
    }
}
