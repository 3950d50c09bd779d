//! Decimal numbers of CSV fields, read exactly as `str::parse::<f64>` reads them but
//! faster for the plain ones (`[+-]digits[.digits]`), which is what datasets hold.
//!
//! A plain decimal with at most 2^53 as its digits and at most 22 decimals is one exact
//! integer divided by one exact power of ten, so the single rounding of that division is
//! the correctly rounded value `str::parse` returns (Clinger's fast path). Fields of up
//! to 8 characters are read 8 bytes at a time (SWAR) with no branch per character, since
//! a field's length is unpredictable and a loop's exit would be mispredicted on most of
//! them. The division is left to the caller, who can do a whole row's in one vectorised
//! loop. Anything else goes to `str::parse`.

use std::ops::Range;

/// Exact powers of ten an `f64` holds (10^0 … 10^22).
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x80 * ONES;

/// A finite decimal number, with surrounding blanks allowed.
pub(super) fn parse_finite(field: &[u8]) -> Result<f64, &'static str> {
    let field = field.trim_ascii();
    if field.is_empty() {
        return Err("empty value");
    }
    let value = match plain_decimal(field, 0..field.len()) {
        Some((numerator, divisor)) => numerator / divisor,
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

/// The field `line[field]` as `(numerator, divisor)` when it is a plain decimal the fast
/// path reads exactly; `None` sends it to [`parse_finite`]. Bytes of `line` after the
/// field may be loaded but never count.
#[inline]
pub(super) fn plain_decimal(line: &[u8], field: Range<usize>) -> Option<(f64, f64)> {
    let (negative, start) = match line.get(field.start)? {
        b'-' => (true, field.start + 1),
        b'+' => (false, field.start + 1),
        _ => (false, field.start),
    };
    let len = field.end.checked_sub(start)?;
    let (mantissa, decimals) = match len {
        1..=8 => short_decimal(eight_bytes(line, start, len), len)?,
        _ => long_decimal(line.get(start..field.end)?)?,
    };
    let numerator = mantissa as f64;
    Some((
        if negative { -numerator } else { numerator },
        POWERS_OF_TEN[decimals],
    ))
}

/// The `len` (1..=8) bytes of `line` from `start`, little-endian, zero above them.
#[inline(always)]
fn eight_bytes(line: &[u8], start: usize, len: usize) -> u64 {
    let keep = u64::MAX >> (8 * (8 - len));
    match line.get(start..start + 8) {
        Some(bytes) => u64::from_le_bytes(bytes.try_into().unwrap_or_default()) & keep,
        None => line[start..start + len]
            .iter()
            .rev()
            .fold(0, |chunk, &byte| (chunk << 8) | u64::from(byte)),
    }
}

/// Digits with at most one `.`, `len` (1..=8) bytes packed in `chunk` (first byte
/// lowest): the digits' value and the number of decimals.
#[inline(always)]
fn short_decimal(chunk: u64, len: usize) -> Option<(u64, usize)> {
    let in_field = HIGH_BITS & (u64::MAX >> (8 * (8 - len)));
    let dots = zero_bytes(chunk ^ (u64::from(b'.') * ONES)) & in_field;
    let (digits, count, decimals) = if dots == 0 {
        (chunk, len, 0)
    } else {
        if dots & (dots - 1) != 0 {
            return None;
        }
        // Take the dot out: the bytes above it move down one.
        let dot = (dots.trailing_zeros() / 8) as usize;
        let below = (1u64 << (8 * dot)) - 1;
        (
            (chunk & below) | ((chunk >> 8) & !below),
            len - 1,
            len - 1 - dot,
        )
    };
    if count == 0 || non_digit_bytes(digits) & HIGH_BITS & (u64::MAX >> (8 * (8 - count))) != 0 {
        return None;
    }
    // The digits' values moved to the top bytes; the zero bytes below read as leading
    // zeros. Bytes above the digits (and any borrow they cause) are shifted out.
    let values = digits.wrapping_sub(u64::from(b'0') * ONES) << (8 * (8 - count));
    Some((eight_digits(values), decimals))
}

/// Digits with at most one `.`, longer than 8 bytes, one byte at a time.
fn long_decimal(body: &[u8]) -> Option<(u64, usize)> {
    let mut mantissa: u64 = 0;
    let mut digits = 0;
    let mut dot = None;
    for (index, &byte) in body.iter().enumerate() {
        let digit = byte.wrapping_sub(b'0');
        match byte {
            b'.' if dot.is_none() => dot = Some(index),
            _ if digit > 9 || digits == 19 => return None,
            _ => {
                mantissa = mantissa * 10 + u64::from(digit);
                digits += 1;
            }
        }
    }
    let decimals = dot.map_or(0, |dot| body.len() - 1 - dot);
    if digits == 0 || mantissa > 1 << 53 || decimals >= POWERS_OF_TEN.len() {
        return None;
    }
    Some((mantissa, decimals))
}

/// The high bit of every byte of `x` that is zero.
#[inline(always)]
pub(super) fn zero_bytes(x: u64) -> u64 {
    !((((x & (0x7F * ONES)) + 0x7F * ONES) | x) | !HIGH_BITS)
}

/// The high bit of every byte of `x` that is not an ASCII digit (a digit's high nibble is
/// 3 and adding 6 keeps it 3). A carry out of a byte >= 0xFA only reaches bytes above a
/// non-digit, which already refuses the field.
#[inline(always)]
fn non_digit_bytes(x: u64) -> u64 {
    let high = x & (0xF0 * ONES);
    let bumped = x.wrapping_add(0x06 * ONES) & (0xF0 * ONES);
    let wrong = (high ^ (0x30 * ONES)) | (bumped ^ (0x30 * ONES));
    (((wrong & (0x7F * ONES)) + 0x7F * ONES) | wrong) & HIGH_BITS
}

/// The number whose 8 decimal digits are the bytes of `values`, first digit in the lowest
/// byte (the multiply-and-shift of `core`'s float parser).
#[inline(always)]
fn eight_digits(values: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 0x000F_4240_0000_0064;
    const MUL2: u64 = 0x0000_2710_0000_0001;
    let pairs = values.wrapping_mul(10).wrapping_add(values >> 8);
    ((pairs & MASK)
        .wrapping_mul(MUL1)
        .wrapping_add(((pairs >> 16) & MASK).wrapping_mul(MUL2)))
        >> 32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(text: &str) -> Option<f64> {
        plain_decimal(text.as_bytes(), 0..text.len()).map(|(n, d)| n / d)
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
            let parsed = parse_finite(text.as_bytes());
            assert_eq!(parsed, Err("not a finite number"), "{text}");
        }
    }

    #[test]
    fn fields_inside_a_line_read_like_str_parse() {
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        let mut fast_count = 0;
        for _ in 0..300_000 {
            let mut field = String::new();
            match next(6) {
                0 => field.push('-'),
                1 => field.push('+'),
                _ => {}
            }
            for _ in 0..next(12) {
                field.push(char::from(b'0' + next(10) as u8));
            }
            if next(3) > 0 {
                field.push('.');
                for _ in 0..next(12) {
                    field.push(char::from(b'0' + next(10) as u8));
                }
            }
            if next(20) == 0 {
                let at = next(field.len() as u64 + 1) as usize;
                field.insert(at, ['.', 'e', ' ', '/', ':', '\u{ff}'][next(6) as usize]);
            }
            // What follows the field is loaded with it and must not count.
            let line = format!("{field},{}", ["9", "99999999", ".5", ""][next(4) as usize]);
            let found = plain_decimal(line.as_bytes(), 0..field.len()).map(|(n, d)| n / d);
            match (field.parse::<f64>(), found) {
                (Ok(expected), Some(value)) => {
                    assert_eq!(value.to_bits(), expected.to_bits(), "{field:?}");
                    fast_count += 1;
                }
                (Err(_), Some(value)) => panic!("{field:?} is not a number, read {value}"),
                // Only exponents and mantissas past 2^53 or 19 digits are left to
                // `str::parse`.
                (Ok(_), None) if field.contains('e') => {}
                (Ok(_), None) => {
                    assert!(
                        field.bytes().filter(u8::is_ascii_digit).count() > 15,
                        "{field:?}"
                    )
                }
                (Err(_), None) => {}
            }
        }
        assert!(fast_count > 150_000, "the fast path took {fast_count}");
    }

    #[test]
    fn short_and_long_fields() {
        for text in [
            "0.1", "17.99", "0.006399", "1001.0", "5.", ".5", "-0.25", "+7",
        ] {
            assert_eq!(
                fast(text).map(f64::to_bits),
                Some(text.parse::<f64>().unwrap().to_bits()),
                "{text}"
            );
        }
        for text in ["9007199254740992", "123456789.123456", "0.000000000000001"] {
            assert_eq!(
                fast(text).map(f64::to_bits),
                Some(text.parse::<f64>().unwrap().to_bits()),
                "{text}"
            );
        }
        for text in [
            "9007199254740993",
            ".",
            "-",
            "+",
            "1e5",
            "1..2",
            "1.2.3",
            "1,5",
            " 1",
            "0x10",
        ] {
            assert_eq!(fast(text), None, "{text}");
        }
        assert_eq!(fast("12345678"), Some(12345678.0));
        assert_eq!(fast("1234567.8"), Some(1234567.8));
    }
}
