//! The MLflow artifact proxy's rules: which paths name a version's files and which name
//! uploaded files, what a listing of a directory shows, and which `source` of
//! `mlflow.register_model` Capstan can read.
//!
//! Paths are the proxy's: relative, `/`-separated, checked like a tree's paths (no `..`,
//! no empty segments). `models/{name}/versions/{n}/…` is a read-only view of version `n`'s
//! files; every other path is a file an MLflow client uploaded (an MLflow 3 logged model
//! uploads to `…/models/m-…/artifacts/`, which is not that shape).

use capstan_client::manifest::TreePath;
use capstan_client::ModelName;

use super::error::{DomainError, DomainResult};

/// The read-only namespace of versions' files.
pub const VERSIONS_ROOT: &str = "models";

/// Where a proxy path points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyLocation {
    /// A version's files: its whole tree (`path: None`) or a file or directory in it.
    Version {
        model: ModelName,
        version: i64,
        path: Option<String>,
    },
    /// Files uploaded through the proxy: this path, a file or a directory.
    Uploaded(String),
    /// The root of the uploads (a listing without `path`).
    Root,
}

fn invalid(path: &str, why: impl std::fmt::Display) -> DomainError {
    DomainError::InvalidArtifactPath {
        path: path.chars().take(200).collect(),
        reason: why.to_string(),
    }
}

impl ProxyLocation {
    /// Parses a proxy path (already percent-decoded). A trailing `/` is ignored.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let trimmed = raw.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(ProxyLocation::Root);
        }
        let path = TreePath::parse(trimmed).map_err(|e| invalid(raw, e))?;
        let segments: Vec<&str> = path.as_str().split('/').collect();
        if segments.len() < 4 || segments[0] != VERSIONS_ROOT || segments[2] != "versions" {
            return Ok(ProxyLocation::Uploaded(path.as_str().to_owned()));
        }
        let shape = || {
            invalid(
                raw,
                "models/{name}/versions/{number}/… names a version's files: a model name and a version number",
            )
        };
        let model = ModelName::parse(segments[1]).map_err(|e| invalid(raw, e))?;
        let version = segments[3]
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(shape)?;
        let rest = segments[4..].join("/");
        Ok(ProxyLocation::Version {
            model,
            version,
            path: (!rest.is_empty()).then_some(rest),
        })
    }

    /// The path an upload writes: an uploaded file's, never a version's.
    pub fn upload_path(raw: &str) -> DomainResult<String> {
        match Self::parse(raw)? {
            ProxyLocation::Uploaded(path) => Ok(path),
            ProxyLocation::Root => Err(invalid(raw, "an upload names a file")),
            ProxyLocation::Version { .. } => Err(invalid(
                raw,
                "models/… holds registered versions' files, which are read-only; \
                 upload elsewhere and register that path",
            )),
        }
    }
}

/// One entry of a directory listing, as MLflow lists them: a name relative to the
/// directory, whether it is a directory, and a file's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub is_dir: bool,
    pub size: Option<u64>,
}

/// The entries directly inside `dir` (`""`: the root) of the files `paths` (sorted, with
/// sizes). A path equal to `dir` itself is a file: it lists as itself, as MLflow's stores
/// do.
pub fn children<'a>(dir: &str, files: impl IntoIterator<Item = (&'a str, u64)>) -> Vec<Listed> {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut listed: Vec<Listed> = Vec::new();
    for (path, size) in files {
        if path == dir {
            let name = path.rsplit('/').next().unwrap_or(path).to_owned();
            listed.push(Listed {
                name,
                is_dir: false,
                size: Some(size),
            });
            continue;
        }
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        match rest.split_once('/') {
            Some((directory, _)) => {
                if listed.last().is_none_or(|last| last.name != directory) {
                    listed.push(Listed {
                        name: directory.to_owned(),
                        is_dir: true,
                        size: None,
                    });
                }
            }
            None => listed.push(Listed {
                name: rest.to_owned(),
                is_dir: false,
                size: Some(size),
            }),
        }
    }
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    listed.dedup_by(|a, b| a.name == b.name && a.is_dir && b.is_dir);
    listed
}

/// A `source` of `create_model_version` that Capstan can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Files in the proxy's namespace (uploaded, or another version's): `mlflow-artifacts:/…`
    /// or an `http(s)` URL of the proxy.
    Proxy(ProxyLocation),
    /// An MLflow 3 logged model (`models:/m-…`) whose files were uploaded through the
    /// proxy (`…/models/m-…/artifacts/`).
    LoggedModel(String),
    /// A registered version (`models:/{name}/{n}`), as MLflow's `copy_model_version` names one.
    Version { model: ModelName, version: i64 },
    /// Objects in the registry's own bucket or directory: `s3://…` or `file://…`.
    ObjectStore(String),
    /// A directory behind the artifact proxy of another MLflow server, one whose origin
    /// the registry was told to read from: the server's URL (origin and any path prefix,
    /// no trailing `/`) and the directory's path under the proxy.
    Remote { base: String, path: TreePath },
}

/// The marker in an `http(s)` URL of the artifact proxy.
const PROXY_MARKER: &str = "/mlflow-artifacts/artifacts";

fn unreadable(source: &str, why: &str) -> DomainError {
    DomainError::UnreadableSource {
        given: source.chars().take(200).collect(),
        reason: why.to_owned(),
    }
}

/// The origin of an `http(s)` URL as the registry compares them: `scheme://host[:port]`,
/// lower-case, without the scheme's default port; `None` when `url` is not an `http(s)`
/// URL with a host, or carries credentials.
pub fn http_origin(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://")?;
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.strip_suffix(default_port).unwrap_or(authority);
    let valid = !host.is_empty()
        && !host.starts_with(':')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    valid.then(|| format!("{scheme}://{host}"))
}

/// What `source` names, when it is something Capstan can read. An `http(s)` artifact-proxy
/// URL on one of `remote_origins` (see [`http_origin`]) names another MLflow server's
/// files; on any other origin, the registry's own proxy.
pub fn parse_source(source: &str, remote_origins: &[String]) -> DomainResult<Source> {
    let proxy_path = |path: &str| -> DomainResult<Source> {
        let path =
            percent_decode(path).ok_or_else(|| unreadable(source, "bad percent-encoding"))?;
        match ProxyLocation::parse(&path).map_err(|e| unreadable(source, &e.to_string()))? {
            ProxyLocation::Root => Err(unreadable(source, "it names the whole artifact store")),
            location => Ok(Source::Proxy(location)),
        }
    };
    if let Some(rest) = source.strip_prefix("mlflow-artifacts:") {
        // `mlflow-artifacts:/p`, `mlflow-artifacts:///p`, `mlflow-artifacts://host/p`.
        let path = match rest.strip_prefix("//") {
            Some(authority_and_path) => authority_and_path
                .split_once('/')
                .map(|(_, path)| path)
                .unwrap_or(""),
            None => rest.trim_start_matches('/'),
        };
        return proxy_path(path);
    }
    if source.starts_with("http://") || source.starts_with("https://") {
        let after_scheme = &source[source.find("://").map_or(0, |i| i + 3)..];
        let path = after_scheme.split_once('/').map_or("", |(_, path)| path);
        let path = path.split(['?', '#']).next().unwrap_or("");
        let Some(at) = path.find(&PROXY_MARKER[1..]) else {
            return Err(unreadable(
                source,
                "an http(s) source must be an MLflow artifact-proxy URL (…/api/2.0/mlflow-artifacts/artifacts/…)",
            ));
        };
        let directory = path[at + PROXY_MARKER.len() - 1..].trim_start_matches('/');
        let origin = http_origin(source).ok_or_else(|| {
            unreadable(
                source,
                "not an http(s) URL with a host (and no credentials)",
            )
        })?;
        if !remote_origins.contains(&origin) {
            return proxy_path(directory);
        }
        let decoded =
            percent_decode(directory).ok_or_else(|| unreadable(source, "bad percent-encoding"))?;
        let remote = TreePath::parse(decoded.trim_end_matches('/'))
            .map_err(|e| unreadable(source, &format!("the directory {decoded:?}: {e}")))?;
        // The server's URL is what comes before `api/2.0/mlflow-artifacts/artifacts`.
        let Some(prefix) = path[..at].strip_suffix("api/2.0/") else {
            return Err(unreadable(
                source,
                "another MLflow server's artifacts are read at …/api/2.0/mlflow-artifacts/artifacts/…",
            ));
        };
        let base = format!("{origin}/{prefix}")
            .trim_end_matches('/')
            .to_owned();
        return Ok(Source::Remote { base, path: remote });
    }
    if let Some(rest) = source.strip_prefix("models:/") {
        let rest = rest.trim_start_matches('/').trim_end_matches('/');
        if rest.starts_with("m-") && !rest.contains('/') {
            let ok = rest.len() > 2 && rest[2..].bytes().all(|b| b.is_ascii_alphanumeric());
            return if ok {
                Ok(Source::LoggedModel(rest.to_owned()))
            } else {
                Err(unreadable(
                    source,
                    "a logged model id is m- followed by letters and digits",
                ))
            };
        }
        if let Some((name, version)) = rest.split_once('/') {
            if let (Ok(model), Ok(version)) = (ModelName::parse(name), version.parse::<i64>()) {
                if version >= 1 {
                    return Ok(Source::Version { model, version });
                }
            }
        }
        return Err(unreadable(
            source,
            "a models:/ source is a logged model (models:/m-…) or a version (models:/{name}/{number})",
        ));
    }
    if source.starts_with("s3://") || source.starts_with("file://") {
        return Ok(Source::ObjectStore(source.to_owned()));
    }
    Err(unreadable(
        source,
        "Capstan reads files uploaded through its MLflow artifact proxy (mlflow-artifacts:/… or \
         an http(s) proxy URL), logged models uploaded there (models:/m-…), registered versions \
         (models:/{name}/{number}) and its own bucket (s3://…); runs:/ and local paths are not \
         readable by a remote registry",
    ))
}

/// Decodes `%XX` escapes; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> ModelName {
        ModelName::parse(text).unwrap()
    }

    #[test]
    fn paths_under_models_name_versions_and_the_rest_uploads() {
        assert_eq!(
            ProxyLocation::parse("models/bc/versions/3/MLmodel").unwrap(),
            ProxyLocation::Version {
                model: name("bc"),
                version: 3,
                path: Some("MLmodel".into())
            }
        );
        assert_eq!(
            ProxyLocation::parse("models/bc/versions/3/").unwrap(),
            ProxyLocation::Version {
                model: name("bc"),
                version: 3,
                path: None
            }
        );
        assert_eq!(
            ProxyLocation::parse("1/models/m-ab12/artifacts/model.onnx").unwrap(),
            ProxyLocation::Uploaded("1/models/m-ab12/artifacts/model.onnx".into())
        );
        assert_eq!(ProxyLocation::parse("").unwrap(), ProxyLocation::Root);
        assert_eq!(
            ProxyLocation::parse("models/m-ab12/artifacts/MLmodel").unwrap(),
            ProxyLocation::Uploaded("models/m-ab12/artifacts/MLmodel".into())
        );
        for bad in [
            "models/BC/versions/1",
            "models/bc/versions/0",
            "models/bc/versions/x",
            "../etc/passwd",
            "a/../b",
            "a//b",
            "/abs",
            "a\\b",
        ] {
            assert!(ProxyLocation::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn uploads_never_write_into_versions() {
        assert_eq!(
            ProxyLocation::upload_path("exp/model/MLmodel").unwrap(),
            "exp/model/MLmodel"
        );
        let refused = ProxyLocation::upload_path("models/bc/versions/1/MLmodel").unwrap_err();
        assert!(refused.to_string().contains("read-only"), "{refused}");
        assert!(ProxyLocation::upload_path("").is_err());
    }

    #[test]
    fn a_listing_shows_direct_children_once() {
        let files = [
            ("m/MLmodel", 10),
            ("m/data/a.bin", 1),
            ("m/data/b.bin", 2),
            ("m/model.onnx", 30),
            ("m2/other", 5),
        ];
        let listed = children("m", files);
        let names: Vec<(&str, bool, Option<u64>)> = listed
            .iter()
            .map(|l| (l.name.as_str(), l.is_dir, l.size))
            .collect();
        assert_eq!(
            names,
            [
                ("MLmodel", false, Some(10)),
                ("data", true, None),
                ("model.onnx", false, Some(30))
            ]
        );
        let root: Vec<String> = children("", files).into_iter().map(|l| l.name).collect();
        assert_eq!(root, ["m", "m2"]);
        let file = children("m/MLmodel", files);
        assert_eq!(file.len(), 1);
        assert!(!file[0].is_dir && file[0].name == "MLmodel");
    }

    /// A source read by a registry that reads no other MLflow server.
    fn parse_source_here(source: &str) -> DomainResult<Source> {
        parse_source(source, &[])
    }

    #[test]
    fn origins_compare_without_default_ports_and_case() {
        assert_eq!(
            http_origin("HTTP://MLflow.Example:80/api").as_deref(),
            Some("http://mlflow.example")
        );
        assert_eq!(
            http_origin("https://m.example:443").as_deref(),
            Some("https://m.example")
        );
        assert_eq!(
            http_origin("http://127.0.0.1:5000/x?y").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        for bad in [
            "ftp://h/x",
            "http:///x",
            "http://user:pw@h/x",
            "http://:80/x",
            "h/x",
        ] {
            assert_eq!(http_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn proxy_urls_of_allowed_servers_are_remote() {
        let allowed = ["http://mlflow.internal:5000".to_owned()];
        assert_eq!(
            parse_source(
                "http://MLFLOW.internal:5000/team/api/2.0/mlflow-artifacts/artifacts/1/r%20x/model/",
                &allowed
            )
            .unwrap(),
            Source::Remote {
                base: "http://mlflow.internal:5000/team".into(),
                path: TreePath::parse("1/r x/model").unwrap(),
            }
        );
        assert_eq!(
            parse_source(
                "http://mlflow.internal:5000/api/2.0/mlflow-artifacts/artifacts/1/model",
                &allowed
            )
            .unwrap(),
            Source::Remote {
                base: "http://mlflow.internal:5000".into(),
                path: TreePath::parse("1/model").unwrap(),
            }
        );
        // Another port is another server: the registry's own proxy.
        assert_eq!(
            parse_source(
                "http://mlflow.internal:5001/api/2.0/mlflow-artifacts/artifacts/1/model",
                &allowed
            )
            .unwrap(),
            Source::Proxy(ProxyLocation::Uploaded("1/model".into()))
        );
        for bad in [
            "http://mlflow.internal:5000/api/2.0/mlflow-artifacts/artifacts/1/%2e%2e/x",
            "http://mlflow.internal:5000/api/2.0/mlflow-artifacts/artifacts/",
            "http://mlflow.internal:5000/api/2.0/mlflow-artifacts/artifacts/a//b",
            "http://mlflow.internal:5000/v1/mlflow-artifacts/artifacts/1/model",
            "http://u:p@mlflow.internal:5000/api/2.0/mlflow-artifacts/artifacts/1/model",
        ] {
            assert!(parse_source(bad, &allowed).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn sources_capstan_can_read() {
        let uploaded = |p: &str| Source::Proxy(ProxyLocation::Uploaded(p.into()));
        assert_eq!(
            parse_source_here("mlflow-artifacts:/exp/m").unwrap(),
            uploaded("exp/m")
        );
        assert_eq!(
            parse_source_here("mlflow-artifacts:///exp/m").unwrap(),
            uploaded("exp/m")
        );
        assert_eq!(
            parse_source_here("mlflow-artifacts://host:5000/exp/m").unwrap(),
            uploaded("exp/m")
        );
        assert_eq!(
            parse_source_here(
                "http://127.0.0.1:8080/api/2.0/mlflow-artifacts/artifacts/exp/m%20x/"
            )
            .unwrap(),
            uploaded("exp/m x")
        );
        assert_eq!(
            parse_source_here("models:/m-0123abcd").unwrap(),
            Source::LoggedModel("m-0123abcd".into())
        );
        assert_eq!(
            parse_source_here("models:/bc/4").unwrap(),
            Source::Version {
                model: name("bc"),
                version: 4
            }
        );
        assert_eq!(
            parse_source_here("s3://bucket/models/bc/").unwrap(),
            Source::ObjectStore("s3://bucket/models/bc/".into())
        );
        for bad in [
            "runs:/abc/model",
            "/tmp/model",
            "file:relative",
            "mlflow-artifacts:/",
            "mlflow-artifacts:/../x",
            "http://host/api/2.0/mlflow-artifacts/artifacts/%2e%2e/x",
            "http://host/somewhere/else",
            "models:/m-../x",
            "models:/Bc/1",
            "",
        ] {
            assert!(parse_source_here(bad).is_err(), "{bad} was accepted");
        }
    }
}
