//! Property tests (proptest) of the client crate's parsers of outside input: model and
//! alias names, refs, digests, tree paths and manifests, and `capstan.lock` (server-sent
//! event frames: in `live/sse_frames.rs`, whose parser is private). For each: any input is answered without a panic; a value that parses
//! prints back to text that parses to the same value; a refusal names what was wrong.
// Helpers outside #[test] fns unwrap too; clippy.toml only covers the test fns.
#![allow(clippy::unwrap_used)]

use capstan_client::manifest::{Manifest, ManifestEntry, TreePath};
use capstan_client::{AliasName, Digest, ModelName, ModelRef, VersionRef};
use proptest::prelude::*;

/// Text that is mostly near the grammar (slugs, `@`, dots, digits, stage words) with
/// anything at all mixed in, so both branches of every check are reached.
fn near_names() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9._@-]{0,20}",
        "(latest|staging|production|[0-9]{1,21}|[a-zA-Z0-9._%/-]{0,12})",
        "[a-z0-9][a-z0-9._-]{0,140}(@[a-z0-9._-]{0,70})?",
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn names_round_trip_or_say_what_is_wrong(text in near_names()) {
        match ModelName::parse(&text) {
            Ok(name) => {
                prop_assert_eq!(name.as_str(), text.as_str());
                let printed = name.to_string();
                prop_assert_eq!(ModelName::parse(&printed).unwrap(), name);
                prop_assert!(!text.contains("..") && text.len() <= 128);
            }
            Err(error) => prop_assert!(error.to_string().contains("model name"), "{}", error),
        }
        match AliasName::parse(&text) {
            Ok(alias) => {
                prop_assert_eq!(alias.as_str(), text.as_str());
                prop_assert!(!matches!(text.as_str(), "latest" | "staging" | "production"));
                prop_assert!(text.parse::<i64>().is_err(), "a number is not an alias");
            }
            Err(error) => {
                let message = error.to_string();
                prop_assert!(message.contains("alias"), "{}", message);
            }
        }
    }

    #[test]
    fn refs_round_trip_or_say_what_is_wrong(text in near_names()) {
        match ModelRef::parse(&text) {
            Ok(reference) => {
                let printed = reference.to_string();
                prop_assert_eq!(ModelRef::parse(&printed).unwrap(), reference.clone());
                prop_assert!(printed.starts_with(reference.model.as_str()));
            }
            Err(error) => {
                let message = error.to_string();
                prop_assert!(
                    ["model", "ref", "version", "stage"].iter().any(|w| message.contains(w)),
                    "{}", message
                );
            }
        }
        if let Ok(version) = VersionRef::parse(&text) {
            prop_assert_eq!(VersionRef::parse(&version.to_string()).unwrap(), version);
        }
    }

    #[test]
    fn digests_round_trip_and_refuse_anything_else(
        bytes in any::<[u8; 32]>(),
        text in prop_oneof!["(sha256:)?[0-9a-fA-F]{60,68}", any::<String>()],
    ) {
        let digest = Digest::from_bytes(bytes);
        prop_assert_eq!(Digest::parse(&digest.to_string()).unwrap(), digest);
        prop_assert_eq!(Digest::parse(&digest.hex()).unwrap(), digest);
        prop_assert!(Digest::parse(&digest.hex().to_uppercase()).is_err() || !digest.hex().bytes().any(|b| b.is_ascii_alphabetic()));
        match Digest::parse(&text) {
            Ok(parsed) => {
                let hex = text.strip_prefix("sha256:").unwrap_or(&text);
                prop_assert_eq!(parsed.hex(), hex);
            }
            Err(error) => prop_assert!(error.to_string().contains("sha256"), "{}", error),
        }
    }

    #[test]
    fn tree_paths_stay_inside_the_tree(
        text in prop_oneof![
            "[a-zA-Z0-9 ._/\\\\%-]{0,40}",
            "(\\.\\./|/|\\./)?[a-z]{1,5}(/[a-z.]{0,4}){0,4}",
            any::<String>(),
        ],
    ) {
        match TreePath::parse(&text) {
            Ok(path) => {
                prop_assert_eq!(path.as_str(), text.as_str());
                prop_assert!(!text.starts_with('/') && !text.contains('\\'));
                prop_assert!(text.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
            }
            Err(error) => prop_assert!(error.to_string().contains("path"), "{}", error),
        }
    }

    #[test]
    fn manifests_round_trip_and_any_bytes_are_answered(
        files in prop::collection::btree_map("[a-z]{1,6}(/[a-z]{1,6}){0,2}", (any::<[u8; 32]>(), any::<u64>(), any::<bool>()), 1..12),
        junk in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let entries: Vec<ManifestEntry> = files
            .iter()
            .map(|(path, (digest, size, executable))| ManifestEntry {
                path: TreePath::parse(path).unwrap(),
                digest: Digest::from_bytes(*digest),
                size: *size,
                executable: *executable,
            })
            .collect();
        match Manifest::new(entries) {
            Ok(manifest) => {
                let again = Manifest::parse(&manifest.to_bytes()).unwrap();
                prop_assert_eq!(again.digest(), manifest.digest());
                prop_assert_eq!(again.files(), manifest.files());
            }
            // `a` and `a/b` in one tree: a file cannot also be a directory.
            Err(error) => prop_assert!(error.to_string().contains("directory"), "{}", error),
        }
        if let Err(error) = Manifest::parse(&junk) {
            prop_assert!(!error.to_string().is_empty());
        }
    }
}

#[cfg(feature = "fetch")]
mod lockfile {
    use capstan_client::lock::{LockEntry, Lockfile};
    use capstan_client::types::ArtifactLayout;
    use capstan_client::{Digest, ModelRef};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn written_lockfiles_read_back_and_any_text_is_answered(
            pins in prop::collection::btree_map(
                "[a-z][a-z0-9-]{0,10}@(production|staging|latest|[1-9][0-9]{0,3}|[a-z]{1,8})",
                (1i64..10_000, any::<[u8; 32]>(), any::<u64>(), "[a-z0-9.+-]{1,12}", any::<bool>()),
                0..6,
            ),
            text in prop_oneof![
                "version = [0-9]\n(\\[\\[model\\]\\]\nref = \"[a-z@0-9]{0,12}\"\n(version|digest|size|format) = [\"a-z0-9:]{0,70}\n){0,3}",
                any::<String>(),
            ],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("capstan.lock");
            let mut lockfile = Lockfile::load(&path).unwrap();
            for (reference, (version, digest, size, format, tree)) in &pins {
                lockfile.set(LockEntry {
                    reference: ModelRef::parse(reference).unwrap(),
                    version: *version,
                    digest: Digest::from_bytes(*digest),
                    size: *size,
                    format: format.clone(),
                    layout: if *tree { ArtifactLayout::Tree } else { ArtifactLayout::Blob },
                });
            }
            lockfile.save().unwrap();
            let again = Lockfile::load(&path).unwrap();
            prop_assert_eq!(again.entries(), lockfile.entries());

            std::fs::write(&path, &text).unwrap();
            if let Err(error) = Lockfile::load(&path) {
                let message = error.to_string();
                prop_assert!(message.contains("capstan.lock"), "{}", message);
            }
        }
    }
}
