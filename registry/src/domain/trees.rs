//! Which file of a tree serving loads, and why a tree is not servable: an MLflow model
//! whose `MLmodel` has an `onnx` flavor is served from the file that flavor names; a tree
//! holding exactly one `.onnx` file is served from it; anything else is stored and fetched
//! but not served. Pure: the caller reads `MLmodel` and loads the chosen file.

use capstan_client::manifest::{Manifest, ManifestEntry, TreePath};
use yaml_rust2::{Yaml, YamlLoader};

/// The file name MLflow gives a model's description.
pub const MLMODEL: &str = "MLmodel";
/// Largest `MLmodel` read.
pub const MAX_MLMODEL_BYTES: u64 = 1024 * 1024;

/// Where the MLflow model of a tree is described: `MLmodel` at the root, else the only
/// `MLmodel` in a subdirectory (a run's `model/` folder copied whole).
pub fn mlmodel_entry(manifest: &Manifest) -> Option<&ManifestEntry> {
    if let Some(root) = manifest.get(MLMODEL) {
        return Some(root);
    }
    let mut nested = manifest
        .files()
        .iter()
        .filter(|f| f.path.file_name() == MLMODEL);
    match (nested.next(), nested.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// The format a tree is recorded as when none is given: `mlflow` for an MLflow model,
/// `onnx` for a tree holding exactly one `.onnx` file, `files` otherwise.
pub fn detected_format(manifest: &Manifest) -> &'static str {
    if mlmodel_entry(manifest).is_some() {
        return "mlflow";
    }
    let onnx = manifest
        .files()
        .iter()
        .filter(|f| {
            f.path
                .file_name()
                .rsplit_once('.')
                .is_some_and(|(stem, ext)| !stem.is_empty() && ext.eq_ignore_ascii_case("onnx"))
        })
        .count();
    if onnx == 1 {
        "onnx"
    } else {
        "files"
    }
}

/// Chooses the file serving loads. `mlmodel` is the text of [`mlmodel_entry`]'s file when
/// there is one. `Err` is the reason the tree is not servable, for users to read.
pub fn served_entry<'a>(
    manifest: &'a Manifest,
    mlmodel: Option<(&TreePath, &str)>,
) -> Result<&'a ManifestEntry, String> {
    if let Some((path, text)) = mlmodel {
        let flavors = mlflow_flavors(text)
            .map_err(|e| format!("{path} is not a readable MLflow model description: {e}"))?;
        let Some(data) = flavors.onnx_data else {
            let names = if flavors.names.is_empty() {
                "none".to_owned()
            } else {
                flavors.names.join(", ")
            };
            return Err(format!(
                "the MLflow model has no `onnx` flavor (flavors: {names}); Capstan serves ONNX models and stores the others"
            ));
        };
        let file = path.sibling(&data).ok_or_else(|| {
            format!("the `onnx` flavor of {path} names {data:?}, which leaves the tree")
        })?;
        return manifest.get(file.as_str()).ok_or_else(|| {
            format!("the `onnx` flavor of {path} names {file}, which the tree does not hold")
        });
    }
    let mut onnx = manifest
        .files()
        .iter()
        .filter(|f| f.path.as_str().to_ascii_lowercase().ends_with(".onnx"));
    match (onnx.next(), onnx.next()) {
        (Some(only), None) => Ok(only),
        (Some(_), Some(_)) => Err(
            "the tree holds several .onnx files and no MLmodel naming the one to serve".to_owned(),
        ),
        (None, _) => Err(
            "the tree holds no MLmodel with an `onnx` flavor and no .onnx file; it is stored, not served"
                .to_owned(),
        ),
    }
}

/// The flavors an `MLmodel` declares, and the data file of its `onnx` flavor.
#[derive(Debug, PartialEq)]
pub struct Flavors {
    pub names: Vec<String>,
    pub onnx_data: Option<String>,
}

pub fn mlflow_flavors(text: &str) -> Result<Flavors, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let doc = docs.first().ok_or("the file is empty")?;
    let flavors = match &doc["flavors"] {
        Yaml::Hash(flavors) => flavors,
        Yaml::BadValue => return Err("it has no `flavors`".to_owned()),
        _ => return Err("`flavors` is not a mapping".to_owned()),
    };
    let names = flavors
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    let onnx_data = doc["flavors"]["onnx"]["data"].as_str().map(str::to_owned);
    Ok(Flavors { names, onnx_data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_client::manifest::ManifestEntry;
    use capstan_client::Digest;

    const MLFLOW_ONNX: &str = "flavors:\n  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: 1.23.2\n  python_function:\n    data: model.onnx\n    loader_module: mlflow.onnx\nmlflow_version: 3.17.2\n";
    const MLFLOW_SKLEARN: &str = "flavors:\n  python_function:\n    model_path: model.pkl\n  sklearn:\n    pickled_model: model.pkl\n";

    fn manifest(paths: &[&str]) -> Manifest {
        Manifest::new(
            paths
                .iter()
                .map(|p| ManifestEntry {
                    path: TreePath::parse(p).unwrap(),
                    digest: Digest::of(p.as_bytes()),
                    size: 1,
                    executable: false,
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn an_onnx_flavor_names_the_served_file() {
        let tree = manifest(&["MLmodel", "model.onnx", "requirements.txt"]);
        let mlmodel = tree.get("MLmodel").unwrap().path.clone();
        let served = served_entry(&tree, Some((&mlmodel, MLFLOW_ONNX))).unwrap();
        assert_eq!(served.path.as_str(), "model.onnx");

        let nested = manifest(&["model/MLmodel", "model/model.onnx"]);
        let entry = mlmodel_entry(&nested).unwrap().path.clone();
        let served = served_entry(&nested, Some((&entry, MLFLOW_ONNX))).unwrap();
        assert_eq!(served.path.as_str(), "model/model.onnx");
    }

    #[test]
    fn other_flavors_and_missing_files_say_why() {
        let tree = manifest(&["MLmodel", "model.pkl"]);
        let mlmodel = tree.get("MLmodel").unwrap().path.clone();
        let reason = served_entry(&tree, Some((&mlmodel, MLFLOW_SKLEARN))).unwrap_err();
        assert!(reason.contains("no `onnx` flavor"), "{reason}");
        assert!(reason.contains("sklearn"), "{reason}");

        let missing = manifest(&["MLmodel"]);
        let reason = served_entry(&missing, Some((&mlmodel, MLFLOW_ONNX))).unwrap_err();
        assert!(reason.contains("does not hold"), "{reason}");

        let escape = "flavors:\n  onnx:\n    data: ../../etc/passwd\n";
        let reason = served_entry(&tree, Some((&mlmodel, escape))).unwrap_err();
        assert!(reason.contains("leaves the tree"), "{reason}");

        let reason = served_entry(&tree, Some((&mlmodel, "flavors: [unclosed"))).unwrap_err();
        assert!(reason.contains("not a readable"), "{reason}");
    }

    #[test]
    fn a_lone_onnx_file_is_served_and_two_are_ambiguous() {
        let one = manifest(&["README.md", "net.ONNX"]);
        assert_eq!(served_entry(&one, None).unwrap().path.as_str(), "net.ONNX");
        let two = manifest(&["a.onnx", "b.onnx"]);
        assert!(served_entry(&two, None).unwrap_err().contains("several"));
        let none = manifest(&["weights.bin"]);
        assert!(served_entry(&none, None)
            .unwrap_err()
            .contains("no MLmodel"));
    }
}
