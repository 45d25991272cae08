//! Where a notification channel's secret comes from (a webhook's or a ping's URL, an SMTP
//! password), and reading it.
//!
//! The same forms as the API key's (`env`, `file`, written in the manifest), read only when a
//! notice is sent, so a secret changed between two runs is the one used, and nothing secret
//! is ever written to the state or the spool: those name the source. Kept apart from
//! [`KeySource`](super::api_key::KeySource), whose reading has the key's own rules (a header
//! value, `VipSession`'s bare strings).

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use super::api_key::{path_from, read_secret_text};

/// A source of one secret.
#[derive(Clone)]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file (`~` expanded, relative to the manifest), as written and as resolved.
    File { written: String, path: PathBuf },
    /// Written where it was configured (the manifest, or the command line).
    Inline(SecretString),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Why a secret could not be read. Never contains the secret.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The variable is not set (or empty).
    #[error("the variable {0} is not set")]
    EnvUnset(String),
    /// The file cannot be read.
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    /// The file holds nothing but white space.
    #[error("{0} is empty")]
    Empty(String),
}

impl SecretSource {
    /// A file source, relative paths taken from `dir`.
    pub fn file(written: &str, dir: &Path) -> Self {
        Self::File {
            written: written.to_owned(),
            path: path_from(written, dir),
        }
    }

    /// How the source is named in messages and in the spool: never the secret.
    pub fn describe(&self) -> String {
        match self {
            Self::Env(name) => format!("${name}"),
            Self::File { written, .. } => format!("file {written}"),
            Self::Inline(_) => "as written".into(),
        }
    }

    /// Reads the secret, trimmed.
    pub fn read(&self) -> Result<SecretString, SecretError> {
        let raw = match self {
            Self::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => SecretString::from(v),
                _ => return Err(SecretError::EnvUnset(name.clone())),
            },
            Self::File { written, path } => read_secret_text(path)
                .map(SecretString::from)
                .map_err(|reason| SecretError::File {
                    path: written.clone(),
                    reason,
                })?,
            Self::Inline(secret) => secret.clone(),
        };
        let trimmed = raw.expose_secret().trim();
        if trimmed.is_empty() {
            return Err(SecretError::Empty(self.describe()));
        }
        Ok(SecretString::from(trimmed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_named_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hook"),
            " https://hooks.example/T0/B0/tok3n \n",
        )
        .unwrap();
        let file = SecretSource::file("hook", dir.path());
        assert_eq!(
            file.read().unwrap().expose_secret(),
            "https://hooks.example/T0/B0/tok3n"
        );
        assert_eq!(file.describe(), "file hook");
        let inline = SecretSource::Inline(SecretString::from("tok3n"));
        assert!(!format!("{inline:?}").contains("tok3n"));
        assert_eq!(
            SecretSource::Env("VIP_RUN_SURELY_UNSET_VAR".into())
                .read()
                .unwrap_err(),
            SecretError::EnvUnset("VIP_RUN_SURELY_UNSET_VAR".into())
        );
        std::fs::write(dir.path().join("blank"), "\n").unwrap();
        assert!(matches!(
            SecretSource::file("blank", dir.path()).read(),
            Err(SecretError::Empty(_))
        ));
    }
}
