//! The two MLflow searches (registered models, model versions) as pure rules: parsing
//! `filter` and `order_by`, matching and ordering what the service read, and offset page
//! tokens (as MLflow's own SQL store pages).

use std::cmp::Ordering;

use super::error::DomainResult;
use super::mlflow::invalid;
use super::paging::{decode_token, encode_token};

/// What a filter compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Name,
    RunId,
    Source,
    Version,
    Tag(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Like,
    ILike,
    In,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    field: Field,
    op: Op,
    values: Vec<String>,
}

/// A search's `filter`: clauses joined by `AND`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    clauses: Vec<Clause>,
}

/// What a searched resource offers to a filter.
pub trait Searchable {
    /// The value of `field` (`None`: absent, which only `!=` matches).
    fn field(&self, field: &Field) -> Option<String>;
}

/// Which searches a filter is parsed for: registered models filter on `name` and tags;
/// model versions also on `run_id`, `source_path` and `version_number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Searched {
    Models,
    Versions,
}

impl Filter {
    /// Parses MLflow's filter grammar: `name = 'bc'`, `name LIKE 'b%'`, `name ILIKE '%C'`,
    /// `tags.team = 'risk'` (or ``tags.`my key` = 'v'``), `run_id IN ('a', 'b')`, joined
    /// by `AND`. An empty filter selects everything.
    pub fn parse(text: &str, searched: Searched) -> DomainResult<Self> {
        let tokens = tokenize(text)?;
        let mut clauses = Vec::new();
        let mut rest = tokens.as_slice();
        while !rest.is_empty() {
            let (clause, after) = parse_clause(rest, searched)?;
            clauses.push(clause);
            rest = after;
            match rest.split_first() {
                None => break,
                Some((Token::Word(word), after)) if word.eq_ignore_ascii_case("and") => {
                    if after.is_empty() {
                        return Err(invalid(format!("filter {text:?} ends with AND")));
                    }
                    rest = after;
                }
                Some((other, _)) => {
                    return Err(invalid(format!(
                        "filter {text:?}: expected AND, found {other:?}; only AND joins clauses"
                    )))
                }
            }
        }
        Ok(Filter { clauses })
    }

    /// The one model name the filter selects, when it has a `name = '…'` clause (the
    /// search then reads that model only).
    pub fn exact_name(&self) -> Option<&str> {
        self.clauses
            .iter()
            .find(|c| c.field == Field::Name && c.op == Op::Eq)
            .map(|c| c.values[0].as_str())
    }

    pub fn matches(&self, item: &impl Searchable) -> bool {
        self.clauses.iter().all(|clause| {
            // An absent field (a tag the item lacks) differs from every value, and
            // matches nothing else: the `mlflow` client adds
            // ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every model search.
            let Some(value) = item.field(&clause.field) else {
                return clause.op == Op::Ne;
            };
            match clause.op {
                Op::Eq => value == clause.values[0],
                Op::Ne => value != clause.values[0],
                Op::Like => like(&value, &clause.values[0], false),
                Op::ILike => like(&value, &clause.values[0], true),
                Op::In => clause.values.contains(&value),
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Symbol(&'static str),
}

fn tokenize(text: &str) -> DomainResult<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some(q) if q == c => break,
                    Some(ch) => value.push(ch),
                    None => return Err(invalid(format!("filter {text:?}: unclosed quote"))),
                }
            }
            tokens.push(Token::Quoted(value));
        } else if c == '`' {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('`') => break,
                    Some(ch) => value.push(ch),
                    None => return Err(invalid(format!("filter {text:?}: unclosed backtick"))),
                }
            }
            // A backticked tag key follows `tags.`: glue it to the word before.
            match tokens.last_mut() {
                Some(Token::Word(word)) if word.ends_with('.') => word.push_str(&value),
                _ => tokens.push(Token::Word(value)),
            }
        } else if matches!(c, '=' | '!' | '(' | ')' | ',') {
            chars.next();
            let symbol = match c {
                '=' => "=",
                '!' if chars.peek() == Some(&'=') => {
                    chars.next();
                    "!="
                }
                '(' => "(",
                ')' => ")",
                ',' => ",",
                _ => return Err(invalid(format!("filter {text:?}: unexpected {c:?}"))),
            };
            tokens.push(Token::Symbol(symbol));
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || matches!(ch, '=' | '!' | '(' | ')' | ',' | '\'' | '"') {
                    break;
                }
                if ch == '`' {
                    break;
                }
                word.push(ch);
                chars.next();
            }
            tokens.push(Token::Word(word));
        }
    }
    Ok(tokens)
}

fn parse_field(word: &str, searched: Searched) -> DomainResult<Field> {
    let lower = word.to_ascii_lowercase();
    if let Some(key) = word
        .strip_prefix("tags.")
        .or_else(|| word.strip_prefix("tag."))
    {
        if key.is_empty() {
            return Err(invalid("a tag filter needs a key: tags.<key>"));
        }
        return Ok(Field::Tag(key.to_owned()));
    }
    match (lower.as_str(), searched) {
        ("name", _) => Ok(Field::Name),
        ("run_id", Searched::Versions) => Ok(Field::RunId),
        ("source_path", Searched::Versions) => Ok(Field::Source),
        ("version_number", Searched::Versions) => Ok(Field::Version),
        _ => Err(invalid(format!(
            "cannot filter on {word:?}: Capstan filters {} on {}",
            match searched {
                Searched::Models => "registered models",
                Searched::Versions => "model versions",
            },
            match searched {
                Searched::Models => "name and tags.<key>",
                Searched::Versions => "name, run_id, source_path, version_number and tags.<key>",
            }
        ))),
    }
}

fn parse_clause(tokens: &[Token], searched: Searched) -> DomainResult<(Clause, &[Token])> {
    let (field, rest) = match tokens.split_first() {
        Some((Token::Word(word), rest)) => (parse_field(word, searched)?, rest),
        other => {
            return Err(invalid(format!(
                "filter: expected a field name, found {:?}",
                other.map(|(t, _)| t)
            )))
        }
    };
    let (op, rest) = match rest.split_first() {
        Some((Token::Symbol("="), rest)) => (Op::Eq, rest),
        Some((Token::Symbol("!="), rest)) => (Op::Ne, rest),
        Some((Token::Word(w), rest)) if w.eq_ignore_ascii_case("like") => (Op::Like, rest),
        Some((Token::Word(w), rest)) if w.eq_ignore_ascii_case("ilike") => (Op::ILike, rest),
        Some((Token::Word(w), rest)) if w.eq_ignore_ascii_case("in") => (Op::In, rest),
        other => {
            return Err(invalid(format!(
                "filter: expected =, !=, LIKE, ILIKE or IN, found {:?}",
                other.map(|(t, _)| t)
            )))
        }
    };
    let value = |token: Option<&Token>| match token {
        Some(Token::Quoted(v)) => Ok(v.clone()),
        // `version_number = 3`: numbers may come unquoted.
        Some(Token::Word(w)) if w.bytes().all(|b| b.is_ascii_digit()) && !w.is_empty() => {
            Ok(w.clone())
        }
        other => Err(invalid(format!(
            "filter: expected a quoted value, found {other:?}"
        ))),
    };
    if op == Op::In {
        let Some((Token::Symbol("("), mut rest)) = rest.split_first() else {
            return Err(invalid("filter: IN needs a list: IN ('a', 'b')"));
        };
        let mut values = Vec::new();
        loop {
            values.push(value(rest.first())?);
            match rest.get(1) {
                Some(Token::Symbol(",")) => rest = &rest[2..],
                Some(Token::Symbol(")")) => {
                    rest = &rest[2..];
                    break;
                }
                _ => return Err(invalid("filter: IN list must end with `)`")),
            }
        }
        return Ok((Clause { field, op, values }, rest));
    }
    let Some((first, rest)) = rest.split_first() else {
        return Err(invalid("filter: a comparison needs a value"));
    };
    let values = vec![value(Some(first))?];
    Ok((Clause { field, op, values }, rest))
}

/// SQL `LIKE`: `%` any run of characters, `_` one character.
fn like(value: &str, pattern: &str, insensitive: bool) -> bool {
    let fold = |s: &str| {
        if insensitive {
            s.to_lowercase().chars().collect::<Vec<_>>()
        } else {
            s.chars().collect()
        }
    };
    let (value, pattern) = (fold(value), fold(pattern));
    // Dynamic programming over (pattern position, value position).
    let mut reachable = vec![false; value.len() + 1];
    reachable[0] = true;
    for p in &pattern {
        let mut next = vec![false; value.len() + 1];
        for (i, ok) in reachable.iter().enumerate() {
            if !ok {
                continue;
            }
            match p {
                '%' => next[i..].iter_mut().for_each(|n| *n = true),
                '_' if i < value.len() => next[i + 1] = true,
                c if i < value.len() && value[i] == *c => next[i + 1] = true,
                _ => {}
            }
        }
        reachable = next;
    }
    reachable[value.len()]
}

/// What a search orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderField {
    Name,
    CreationTimestamp,
    LastUpdatedTimestamp,
    VersionNumber,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    pub field: OrderField,
    pub ascending: bool,
}

/// What a searched resource offers to `order_by`.
pub trait Sortable {
    fn name(&self) -> &str;
    fn created_ms(&self) -> i64;
    fn updated_ms(&self) -> i64;
    fn version(&self) -> i64;
}

/// Parses `order_by` (`name ASC`, `last_updated_timestamp DESC`, `version_number`…);
/// MLflow's defaults are appended as tie-breakers (`name ASC`, then `version_number DESC`
/// for versions), so paging is stable.
pub fn order_by(clauses: &[String], searched: Searched) -> DomainResult<Vec<OrderKey>> {
    let mut keys = Vec::new();
    for clause in clauses {
        let mut words = clause.split_whitespace();
        let field = words.next().unwrap_or("");
        let field = match (field.to_ascii_lowercase().as_str(), searched) {
            ("name", _) => OrderField::Name,
            ("timestamp" | "last_updated_timestamp", _) => OrderField::LastUpdatedTimestamp,
            ("creation_timestamp", _) => OrderField::CreationTimestamp,
            ("version_number", Searched::Versions) => OrderField::VersionNumber,
            _ => {
                return Err(invalid(format!(
                    "cannot order by {clause:?}: use name, creation_timestamp, \
                     last_updated_timestamp{} with ASC or DESC",
                    if searched == Searched::Versions {
                        ", version_number"
                    } else {
                        ""
                    }
                )))
            }
        };
        let ascending = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => true,
            Some("DESC") => false,
            Some(other) => {
                return Err(invalid(format!(
                    "order_by {clause:?}: expected ASC or DESC, found {other:?}"
                )))
            }
        };
        if words.next().is_some() {
            return Err(invalid(format!("order_by {clause:?} has extra words")));
        }
        keys.push(OrderKey { field, ascending });
    }
    keys.push(OrderKey {
        field: OrderField::Name,
        ascending: true,
    });
    if searched == Searched::Versions {
        keys.push(OrderKey {
            field: OrderField::VersionNumber,
            ascending: false,
        });
    }
    Ok(keys)
}

/// Orders two searched items by `keys`.
pub fn compare(keys: &[OrderKey], a: &impl Sortable, b: &impl Sortable) -> Ordering {
    keys.iter()
        .map(|key| {
            let order = match key.field {
                OrderField::Name => a.name().cmp(b.name()),
                OrderField::CreationTimestamp => a.created_ms().cmp(&b.created_ms()),
                OrderField::LastUpdatedTimestamp => a.updated_ms().cmp(&b.updated_ms()),
                OrderField::VersionNumber => a.version().cmp(&b.version()),
            };
            if key.ascending {
                order
            } else {
                order.reverse()
            }
        })
        .find(|order| order.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// The page of results a search answers: `max_results` (1 to `cap`, MLflow's default
/// when absent) starting at the offset `page_token` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub size: usize,
}

impl Page {
    pub fn parse(
        kind: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
        default: i64,
        cap: i64,
    ) -> DomainResult<Self> {
        let size = max_results.unwrap_or(default);
        if !(1..=cap).contains(&size) {
            return Err(invalid(format!(
                "max_results must be between 1 and {cap}, got {size}"
            )));
        }
        let offset = match page_token.filter(|t| !t.is_empty()) {
            None => 0,
            Some(token) => decode_token(kind, token)
                .ok()
                .and_then(|offset| offset.parse::<usize>().ok())
                .ok_or_else(|| invalid(format!("invalid page_token {token:?}")))?,
        };
        Ok(Page {
            offset,
            size: usize::try_from(size).unwrap_or(1),
        })
    }

    /// The items of this page, and the token of the next one if more follow.
    pub fn slice<T>(self, kind: &str, mut items: Vec<T>) -> (Vec<T>, Option<String>) {
        let total = items.len();
        let end = self.offset.saturating_add(self.size).min(total);
        let next = (end < total).then(|| encode_token(kind, &end.to_string()));
        let page = if self.offset >= total {
            Vec::new()
        } else {
            items.truncate(end);
            items.split_off(self.offset)
        };
        (page, next)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::mlflow::key_value;

    struct Item {
        name: &'static str,
        tags: Vec<String>,
        run_id: Option<&'static str>,
        version: i64,
        updated: i64,
    }

    impl Searchable for Item {
        fn field(&self, field: &Field) -> Option<String> {
            match field {
                Field::Name => Some(self.name.to_owned()),
                Field::RunId => self.run_id.map(str::to_owned),
                Field::Source => None,
                Field::Version => Some(self.version.to_string()),
                Field::Tag(key) => self
                    .tags
                    .iter()
                    .map(|t| key_value(t))
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.to_owned()),
            }
        }
    }

    impl Sortable for Item {
        fn name(&self) -> &str {
            self.name
        }
        fn created_ms(&self) -> i64 {
            0
        }
        fn updated_ms(&self) -> i64 {
            self.updated
        }
        fn version(&self) -> i64 {
            self.version
        }
    }

    fn item(name: &'static str, tags: &[&str]) -> Item {
        Item {
            name,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            run_id: Some("r1"),
            version: 1,
            updated: 0,
        }
    }

    #[test]
    fn filters() {
        let bc = item("bc", &["team=risk", "flag"]);
        let fraud = item("fraud", &["team=ops"]);
        let check = |text: &str, searched| Filter::parse(text, searched).unwrap();
        assert!(check("", Searched::Models).matches(&bc));
        assert!(check("name = 'bc'", Searched::Models).matches(&bc));
        assert!(!check("name='bc'", Searched::Models).matches(&fraud));
        assert!(check("name LIKE 'fr%'", Searched::Models).matches(&fraud));
        assert!(!check("name LIKE 'FR%'", Searched::Models).matches(&fraud));
        assert!(check("name ilike 'FR%'", Searched::Models).matches(&fraud));
        assert!(check("name LIKE 'b_'", Searched::Models).matches(&bc));
        assert!(check("tags.team = 'risk' AND name != 'x'", Searched::Models).matches(&bc));
        assert!(check("tags.`team` = 'risk'", Searched::Models).matches(&bc));
        assert!(check("tags.flag = ''", Searched::Models).matches(&bc));
        assert!(!check("tags.team = 'risk'", Searched::Models).matches(&fraud));
        let unprompted = "name = 'bc' AND tag.`mlflow.prompt.is_prompt` != 'true'";
        assert!(check(unprompted, Searched::Models).matches(&bc));
        assert!(!check("tags.absent = 'x'", Searched::Models).matches(&bc));
        assert!(check("run_id IN ('r0', 'r1')", Searched::Versions).matches(&bc));
        assert!(check("version_number = 1", Searched::Versions).matches(&bc));
        assert!(Filter::parse("run_id = 'r1'", Searched::Models).is_err());
        assert!(Filter::parse("name = 'bc' OR name = 'x'", Searched::Models).is_err());
        assert!(Filter::parse("name = 'bc", Searched::Models).is_err());
        assert!(Filter::parse("name = 'bc' AND", Searched::Models).is_err());
    }

    #[test]
    fn order_and_pages() {
        let keys = order_by(&["last_updated_timestamp DESC".into()], Searched::Models).unwrap();
        let mut items = [item("a", &[]), item("b", &[]), item("c", &[])];
        items[0].updated = 1;
        items[2].updated = 5;
        items.sort_by(|a, b| compare(&keys, a, b));
        let names: Vec<_> = items.iter().map(|i| i.name).collect();
        assert_eq!(names, ["c", "a", "b"]);
        assert!(order_by(&["size".into()], Searched::Models).is_err());
        assert!(order_by(&["name SIDEWAYS".into()], Searched::Models).is_err());

        let page = Page::parse("m", Some(2), None, 100, 1000).unwrap();
        let (first, token) = page.slice("m", vec![1, 2, 3]);
        assert_eq!(first, [1, 2]);
        let page = Page::parse("m", Some(2), token.as_deref(), 100, 1000).unwrap();
        let (second, token) = page.slice("m", vec![1, 2, 3]);
        assert_eq!((second, token), (vec![3], None));
        assert!(Page::parse("m", Some(0), None, 100, 1000).is_err());
        assert!(Page::parse("m", None, Some("junk"), 100, 1000).is_err());
    }
}
