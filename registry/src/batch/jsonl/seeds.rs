//! The values of one JSONL line's members, read with serde seeds straight from the line:
//! member names (borrowed when unescaped), a numeric feature's number (or why it is not
//! one), a string feature's text and the id. Each seed answers what it found; `LineSeed`
//! in `mod.rs` decides what a bad value does to the row.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use capstan_client::runtime::MAX_EXACT_INT;

use crate::batch::score::{IdKind, IdScratch};
use crate::batch::values::NOT_WHOLE;

/// A member name, borrowed from the line when it has no escapes.
pub(super) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_string()))
    }
}

/// A numeric feature's value: a finite JSON number (whole within ±2^53 when `whole`),
/// `null` when `nullable` (NaN), or why not (the line still parses on).
pub(super) struct NumberSeed {
    pub(super) whole: bool,
    pub(super) nullable: bool,
}

type Number = Result<f64, &'static str>;

impl NumberSeed {
    /// Why a value that is not a number does not fit, naming what was expected.
    fn refuse(&self, got: Got) -> Number {
        Err(match (self.whole, got) {
            (false, Got::String) => "expected a number, got a string",
            (false, Got::Boolean) => "expected a number, got a boolean",
            (false, Got::Null) => "expected a number, got null",
            (false, Got::Array) => "expected a number, got an array",
            (false, Got::Object) => "expected a number, got an object",
            (true, Got::String) => "expected a whole number, got a string",
            (true, Got::Boolean) => "expected a whole number, got a boolean",
            (true, Got::Null) => "expected a whole number, got null",
            (true, Got::Array) => "expected a whole number, got an array",
            (true, Got::Object) => "expected a whole number, got an object",
        })
    }

    fn integer(&self, magnitude: u64, value: f64) -> Number {
        if self.whole && magnitude > MAX_EXACT_INT as u64 {
            Err(NOT_WHOLE)
        } else {
            Ok(value)
        }
    }
}

/// What a JSON value that is not a number is.
#[derive(Clone, Copy)]
enum Got {
    String,
    Boolean,
    Null,
    Array,
    Object,
}

impl<'de> DeserializeSeed<'de> for NumberSeed {
    type Value = Number;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Number, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NumberSeed {
    type Value = Number;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Number, E> {
        if !value.is_finite() {
            return Ok(Err("not a finite number"));
        }
        if self.whole && (value.fract() != 0.0 || value.abs() > MAX_EXACT_INT) {
            return Ok(Err(NOT_WHOLE));
        }
        Ok(Ok(value))
    }
    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Number, E> {
        Ok(self.integer(value.unsigned_abs(), value as f64))
    }
    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Number, E> {
        Ok(self.integer(value, value as f64))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Number, E> {
        Ok(self.refuse(Got::String))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Number, E> {
        Ok(self.refuse(Got::Boolean))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Number, E> {
        if self.nullable {
            return Ok(Ok(f64::NAN));
        }
        Ok(self.refuse(Got::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Number, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.refuse(Got::Array))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Number, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self.refuse(Got::Object))
    }
}

/// A string feature's value: a JSON string, written into the row's text slot, or why not.
pub(super) struct TextSeed<'t>(pub(super) &'t mut String);

type TextResult = Result<(), &'static str>;

impl<'de> DeserializeSeed<'de> for TextSeed<'_> {
    type Value = TextResult;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<TextResult, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextSeed<'_> {
    type Value = TextResult;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<TextResult, E> {
        self.0.clear();
        self.0.push_str(text);
        Ok(Ok(()))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<TextResult, E> {
        Ok(Err("expected a string, got a number"))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<TextResult, E> {
        Ok(Err("expected a string, got a number"))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<TextResult, E> {
        Ok(Err("expected a string, got a number"))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<TextResult, E> {
        Ok(Err("expected a string, got a boolean"))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<TextResult, E> {
        Ok(Err("expected a string, got null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextResult, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err("expected a string, got an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TextResult, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err("expected a string, got an object"))
    }
}

/// The id member: a string or a number, written into the row's id.
pub(super) struct IdSeed<'i>(pub(super) &'i mut IdScratch);

type IdResult = Result<(), &'static str>;

impl<'de> DeserializeSeed<'de> for IdSeed<'_> {
    type Value = IdResult;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<IdResult, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for IdSeed<'_> {
    type Value = IdResult;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<IdResult, E> {
        self.0.set(text, IdKind::Text);
        Ok(Ok(()))
    }
    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<IdResult, E> {
        self.0
            .set(itoa::Buffer::new().format(value), IdKind::Number);
        Ok(Ok(()))
    }
    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<IdResult, E> {
        self.0
            .set(itoa::Buffer::new().format(value), IdKind::Number);
        Ok(Ok(()))
    }
    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<IdResult, E> {
        let mut text = Vec::new();
        crate::batch::output::write_f64(&mut text, value);
        self.0.set(
            std::str::from_utf8(&text).unwrap_or_default(),
            IdKind::Number,
        );
        Ok(Ok(()))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<IdResult, E> {
        Ok(Err("the id must be a string or a number, got a boolean"))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<IdResult, E> {
        Ok(Err("the id must be a string or a number, got null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IdResult, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err("the id must be a string or a number, got an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IdResult, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err("the id must be a string or a number, got an object"))
    }
}
