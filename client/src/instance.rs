//! Who reports to a deployment: an instance id, chosen by the instance. The default is
//! `<hostname>-<pid>`, made to follow the model-name rules the registry checks ids with
//! (lowercase letters, digits, `.`, `_`, `-`; at most 128 characters).

use crate::names::ModelName;

/// `<hostname>-<pid>` of this process, as a valid instance id.
pub fn default_instance_id() -> ModelName {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    instance_id(host.trim(), std::process::id())
}

/// `<host>-<pid>` with every character a model name cannot hold replaced by `-` and the
/// host shortened so the whole fits; `instance-<pid>` when nothing of the host is left.
pub fn instance_id(host: &str, pid: u32) -> ModelName {
    let suffix = format!("-{pid}");
    let mut slug: String = host
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    slug = slug.trim_start_matches(['-', '_']).to_owned();
    slug.truncate(128 - suffix.len());
    if slug.is_empty() {
        slug.push_str("instance");
    }
    slug.push_str(&suffix);
    // Only `[a-z0-9_-]` are left, the first a letter or digit: this always parses.
    ModelName::parse(&slug).expect("a slug of [a-z0-9_-] starting with a letter or digit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_become_valid_ids() {
        assert_eq!(instance_id("web-7f9c", 42).as_str(), "web-7f9c-42");
        assert_eq!(
            instance_id("Pod.Example.COM", 1).as_str(),
            "pod-example-com-1"
        );
        assert_eq!(instance_id("", 7).as_str(), "instance-7");
        assert_eq!(instance_id("__x", 7).as_str(), "x-7");
        let long = instance_id(&"h".repeat(300), 123456);
        assert_eq!(long.as_str().len(), 128);
        assert!(long.as_str().ends_with("-123456"));
    }
}
