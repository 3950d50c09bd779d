//! Which Capstan name each MLflow model gets: its own when Capstan can hold it, the one
//! `--rename` gives, and never one two models would share. Names are refused with the
//! reason, never mangled. Pure.

use std::collections::BTreeMap;

use crate::names::ModelName;

/// The Capstan name of each MLflow model: its own name when Capstan can hold it, else
/// the one `--rename` gives; a name two MLflow models would share is refused for both.
pub fn choose_names(
    sources: &[String],
    renames: &BTreeMap<String, ModelName>,
) -> Vec<(String, Result<ModelName, String>)> {
    let mut chosen: Vec<(String, Result<ModelName, String>)> = sources
        .iter()
        .map(|source| {
            let name = match renames.get(source) {
                Some(name) => Ok(name.clone()),
                None => ModelName::parse(source).map_err(|error| {
                    format!(
                        "Capstan cannot hold this name ({error}); import it under another with --rename '{source}=NEW'"
                    )
                }),
            };
            (source.clone(), name)
        })
        .collect();
    let mut users: BTreeMap<ModelName, Vec<String>> = BTreeMap::new();
    for (source, name) in &chosen {
        if let Ok(name) = name {
            users.entry(name.clone()).or_default().push(source.clone());
        }
    }
    for (source, name) in &mut chosen {
        let shared = match name {
            Ok(target) if users[&*target].len() > 1 => target.clone(),
            _ => continue,
        };
        let others: Vec<&str> = users[&shared]
            .iter()
            .map(String::as_str)
            .filter(|other| *other != source.as_str())
            .collect();
        *name = Err(format!(
            "MLflow model {} would also be imported as {shared}; give one of them another name with --rename",
            others.join(", ")
        ));
    }
    chosen
}
