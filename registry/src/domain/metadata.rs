//! Rules for the descriptive metadata of models and versions: tags, free texts (descriptions,
//! reasons, sources) and artifact format names.

use capstan_client::types::{MAX_TAGS, MAX_TAG_LEN, MAX_TEXT_LEN};

use super::error::{DomainError, DomainResult};

/// Tags are 1–128 printable characters, at most 64 of them; duplicates are dropped and
/// the result is sorted, so equal sets compare equal.
pub fn normalize_tags(tags: Option<Vec<String>>) -> DomainResult<Vec<String>> {
    let mut tags = tags.unwrap_or_default();
    if tags.len() > MAX_TAGS {
        return Err(DomainError::TooManyTags { count: tags.len() });
    }
    for tag in &tags {
        let printable = !tag.chars().any(char::is_control);
        if tag.trim().is_empty() || tag.chars().count() > MAX_TAG_LEN || !printable {
            return Err(DomainError::InvalidTag { tag: shorten(tag) });
        }
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// Descriptions, reasons and sources: at most 16 KiB, no NUL.
pub fn check_text(field: &str, text: Option<&str>) -> DomainResult<()> {
    let Some(text) = text else { return Ok(()) };
    if text.len() > MAX_TEXT_LEN || text.contains('\0') {
        return Err(DomainError::InvalidText {
            field: field.to_owned(),
        });
    }
    Ok(())
}

/// Artifact formats: `[a-z0-9][a-z0-9._+-]{0,63}` (`onnx`, `linfa-logistic`, `pickle`).
pub fn check_format(format: &str) -> DomainResult<()> {
    let mut bytes = format.bytes();
    let ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && format.len() <= 64
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'+' | b'-')
        });
    if !ok {
        return Err(DomainError::InvalidFormat {
            format: shorten(format),
        });
    }
    Ok(())
}

pub fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_sorted_deduplicated_and_bounded() {
        let tags = normalize_tags(Some(vec!["b".into(), "a".into(), "b".into()])).unwrap();
        assert_eq!(tags, ["a", "b"]);
        assert!(normalize_tags(Some(vec!["".into()])).is_err());
        assert!(normalize_tags(Some(vec!["a\nb".into()])).is_err());
        assert!(normalize_tags(Some(vec!["x".repeat(129)])).is_err());
        assert!(normalize_tags(Some((0..65).map(|i| i.to_string()).collect())).is_err());
    }

    #[test]
    fn formats() {
        assert!(check_format("onnx").is_ok());
        assert!(check_format("linfa-logistic").is_ok());
        assert!(check_format("").is_err());
        assert!(check_format("../x").is_err());
        assert!(check_format("ONNX").is_err());
    }
}
