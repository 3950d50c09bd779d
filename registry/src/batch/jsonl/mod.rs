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

use std::collections::HashMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

mod seeds;

use self::seeds::{IdSeed, KeySeed, NumberSeed, TextSeed};
use super::columns::{ColumnPlan, Matching};
use super::index::{is_blank, lines};
use super::score::{ChunkError, ChunkState, IdScratch};
use super::values::FeatureKind;

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
