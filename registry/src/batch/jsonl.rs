//! JSONL input: one JSON object per line, its members matched to features by name, or
//! for a by-position plan, its members other than the id member in document order (read
//! with a serde visitor, which sees members in order, so `preserve_order` stays off).
//!
//! The columns a JSONL file is planned against are the keys of its first object
//! ([`object_keys`], which `index::RowIndexer` calls on the first non-blank line). Every
//! non-blank line is a row; a blank line (spaces, tabs, `\r`) is skipped and not
//! numbered, as in CSV. A numeric feature's value must be a JSON number (a whole one
//! within ±2^53 for `int64`; `null` or an absent member is missing where the feature is
//! nullable), a string feature's a JSON string; the id member a string or a number (kept
//! as written for integers, in `serde_json`'s form for other numbers).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use capstan_client::runtime::MAX_EXACT_INT;

use super::columns::{ColumnPlan, Matching};
use super::index::{is_blank, lines};
use super::score::{ChunkError, ChunkState, IdKind, IdScratch};
use super::values::{FeatureKind, NOT_WHOLE};

/// What a member of a line's object is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Member {
    Feature(usize),
    Id,
    Ignored,
}

/// The plan as JSONL reads it: member names to features.
#[derive(Debug)]
pub(super) struct JsonlLayout {
    matching: Matching,
    features: Vec<String>,
    /// Per feature, how its value is read.
    kinds: Vec<FeatureKind>,
    by_name: HashMap<String, Member>,
    /// The first object's members in order: most lines repeat it, so a member is first
    /// compared with the one at the same position before a hash lookup.
    usual_order: Vec<(String, Member)>,
    id: Option<String>,
}

impl JsonlLayout {
    pub(super) fn new(plan: &ColumnPlan, kinds: &[FeatureKind]) -> Self {
        let id = plan.id.as_ref().map(|id| id.name.clone());
        let mut by_name: HashMap<String, Member> = HashMap::new();
        if plan.matching == Matching::ByName {
            for (feature, name) in plan.features.iter().enumerate() {
                by_name.insert(name.clone(), Member::Feature(feature));
            }
        }
        if let Some(id) = &id {
            by_name.insert(id.clone(), Member::Id);
        }
        let usual_order = plan
            .columns
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    by_name.get(name).copied().unwrap_or(Member::Ignored),
                )
            })
            .collect();
        JsonlLayout {
            matching: plan.matching,
            features: plan.features.clone(),
            kinds: kinds.to_vec(),
            by_name,
            usual_order,
            id,
        }
    }

    fn member(&self, position: usize, name: &str) -> Member {
        match self.usual_order.get(position) {
            Some((usual, member)) if usual == name => *member,
            _ => self.by_name.get(name).copied().unwrap_or(Member::Ignored),
        }
    }
}

/// The keys of a JSON object line, in document order (a BOM and the line end ignored).
pub fn object_keys(line: &[u8]) -> Result<Vec<String>, String> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut keys = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                keys.push(key);
            }
            Ok(keys)
        }
    }
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let mut de = serde_json::Deserializer::from_slice(line);
    let keys = Deserializer::deserialize_map(&mut de, Keys)
        .and_then(|keys| de.end().map(|()| keys))
        .map_err(|e| format!("the first line of the JSONL file is not a JSON object: {e}"))?;
    Ok(keys)
}

/// Scores the lines of one chunk, numbering rows from `first_row`.
pub(super) fn read_rows(
    data: &[u8],
    first_row: u64,
    layout: &JsonlLayout,
    state: &mut ChunkState<'_>,
) -> Result<(), ChunkError> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut seen = vec![0u64; layout.features.len()];
    let mut row = first_row;
    for line in lines(data) {
        if is_blank(line) {
            continue;
        }
        let slot = state.begin_row();
        let mut problem = None;
        let seed = LineSeed {
            layout,
            values: slot.values,
            text: slot.text,
            id: slot.id,
            seen: &mut seen,
            stamp: row,
            problem: &mut problem,
        };
        let mut de = serde_json::Deserializer::from_slice(line);
        let parsed = seed.deserialize(&mut de).and_then(|()| de.end());
        match (parsed, problem) {
            (Err(e), _) => state.reject(row, None, format!("not a JSON object: {e}")),
            (Ok(()), Some((field, reason))) => state.reject(row, field, reason),
            (Ok(()), None) => state.accept(row)?,
        }
        row += 1;
    }
    Ok(())
}

/// The first problem of a line: the member concerned (if any) and why.
type Problem = Option<(Option<String>, String)>;

/// Reads one line's object into a row. `seen[k] == stamp` marks feature `k` as set on
/// this line (the stamp is the row number, so the marks need no clearing).
struct LineSeed<'l> {
    layout: &'l JsonlLayout,
    values: &'l mut [f64],
    text: &'l mut [String],
    id: &'l mut IdScratch,
    seen: &'l mut [u64],
    stamp: u64,
    problem: &'l mut Problem,
}

impl LineSeed<'_> {
    fn note(&mut self, field: Option<&str>, reason: impl Into<String>) {
        if self.problem.is_none() {
            *self.problem = Some((field.map(str::to_string), reason.into()));
        }
    }

    /// After the last member: every feature and the id must have been there (an absent
    /// nullable feature is missing: NaN).
    fn check_complete(&mut self, positional: usize) {
        let layout = self.layout;
        if layout.matching == Matching::ByPosition && positional != layout.features.len() {
            let reason = format!(
                "expected {} values besides the id, got {positional}",
                layout.features.len()
            );
            self.note(None, reason);
        } else {
            for feature in 0..self.seen.len() {
                if self.seen[feature] == self.stamp {
                    continue;
                }
                if layout.kinds[feature].is_nullable() {
                    self.values[feature] = f64::NAN;
                } else {
                    self.note(Some(layout.features[feature].as_str()), "missing");
                    break;
                }
            }
        }
        if let Some(id) = &layout.id {
            if !self.id.is_set() {
                self.note(Some(id.as_str()), "missing");
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for LineSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LineSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut position = 0;
        let mut positional = 0;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let mut member = self.layout.member(position, &key);
            position += 1;
            if self.layout.matching == Matching::ByPosition && member != Member::Id {
                member = Member::Feature(positional);
                positional += 1;
            }
            match member {
                Member::Feature(feature) if feature < self.values.len() => {
                    let set = match self.layout.kinds[feature] {
                        FeatureKind::Number { whole, nullable } => map
                            .next_value_seed(NumberSeed { whole, nullable })?
                            .map(|value| self.values[feature] = value),
                        FeatureKind::Text { slot } => {
                            map.next_value_seed(TextSeed(&mut self.text[slot]))?
                        }
                    };
                    if self.seen[feature] == self.stamp {
                        self.note(Some(&*key), "appears more than once");
                    }
                    self.seen[feature] = self.stamp;
                    if let Err(reason) = set {
                        self.note(Some(&*key), reason);
                    }
                }
                Member::Id => {
                    if let Err(reason) = map.next_value_seed(IdSeed(&mut *self.id))? {
                        self.note(Some(&*key), reason);
                    }
                }
                Member::Feature(_) | Member::Ignored => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        self.check_complete(positional);
        Ok(())
    }
}

/// A member name, borrowed from the line when it has no escapes.
struct KeySeed;

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
struct NumberSeed {
    whole: bool,
    nullable: bool,
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
struct TextSeed<'t>(&'t mut String);

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
struct IdSeed<'i>(&'i mut IdScratch);

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
        super::output::write_f64(&mut text, value);
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
