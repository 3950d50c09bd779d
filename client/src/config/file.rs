//! The client config file: `url` and `token` for a developer's machine, so a token need
//! not sit in the shell's environment or history. TOML, at `$CAPSTAN_CLIENT_CONFIG` or the
//! user's config directory + `capstan/config.toml`; a missing default file is no error,
//! a missing `$CAPSTAN_CLIENT_CONFIG` file is. Errors name the file and key, never a value.

use std::path::PathBuf;

use serde::Deserialize;

use super::{env, non_empty_var, FileSettings};
use crate::error::Error;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    url: Option<String>,
    token: Option<String>,
}

/// `$XDG_CONFIG_HOME/capstan/config.toml` or `~/.config/capstan/config.toml`
/// (`%APPDATA%\capstan\config.toml` on Windows).
pub fn default_config_path() -> Option<PathBuf> {
    let var = |name: &str| non_empty_var(name).map(PathBuf::from);
    let base = if cfg!(windows) {
        var("APPDATA")
    } else {
        var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|home| home.join(".config")))
    };
    base.map(|dir| dir.join("capstan").join("config.toml"))
}

/// The settings of the file `CAPSTAN_CLIENT_CONFIG` names (which must exist), else of the
/// default file if it exists.
pub(super) fn read_from_env() -> Result<FileSettings, Error> {
    let (path, required) = match non_empty_var(env::CONFIG) {
        Some(path) => (PathBuf::from(path), true),
        None => match default_config_path() {
            Some(path) => (path, false),
            None => return Ok(FileSettings::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FileSettings::default())
        }
        Err(source) => return Err(Error::Io { path, source }),
    };
    parse(&text).map_err(|message| {
        Error::Invalid(format!("client config file {}: {message}", path.display()))
    })
}

/// The settings in `text`. The message of a parse error never quotes the file: it may
/// hold a token.
fn parse(text: &str) -> Result<FileSettings, String> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                format!(" (line {line})")
            })
            .unwrap_or_default();
        format!("not valid: expected only the keys `url` and `token`, as strings{at}")
    })?;
    let clean =
        |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    Ok(FileSettings {
        url: clean(file.url),
        token: clean(file.token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_token_are_read() {
        let settings =
            parse("url = \"https://r.example.com\"\ntoken = \" capstan_abc \"\n").unwrap();
        assert_eq!(settings.url.as_deref(), Some("https://r.example.com"));
        assert_eq!(settings.token.as_deref(), Some("capstan_abc"));
        assert!(parse("").unwrap() == FileSettings::default());
    }

    #[test]
    fn errors_do_not_quote_the_file() {
        let Err(error) = parse("token = capstan_secretvalue\n") else {
            panic!("accepted")
        };
        assert!(!error.contains("secretvalue"), "{error}");
        assert!(error.contains("line 1"), "{error}");
        let Err(error) = parse("tokn = \"capstan_secretvalue\"\n") else {
            panic!("accepted")
        };
        assert!(!error.contains("secretvalue"), "{error}");
    }
}
