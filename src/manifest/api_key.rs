//! Where the API key comes from, and reading it.
//!
//! The key is a [`SecretString`] from the moment it is read: `Debug` prints `(redacted)`,
//! nothing in the program formats it, and every description of a source names the source
//! (a variable, a file, "the manifest") and never the key.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

/// The variable read when the manifest says nothing about the key.
pub const DEFAULT_KEY_VARIABLE: &str = "VIP_API_KEY";

/// A source of the API key.
pub enum KeySource {
    /// An environment variable.
    Env(String),
    /// A file (`~` expanded), as written and as resolved.
    File { written: String, path: PathBuf },
    /// Written in the manifest.
    Literal(SecretString),
    /// A bare string: `VipSession`'s meaning (file, then variable, then the key itself).
    Bare {
        text: SecretString,
        manifest_dir: PathBuf,
    },
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Why the key could not be read. Never contains the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The variable is not set (or empty).
    #[error("the API key variable {0} is not set")]
    EnvUnset(String),
    /// The file cannot be read.
    #[error("cannot read the API key file {path}: {reason}")]
    File { path: String, reason: String },
    /// The source holds nothing but white space.
    #[error("the API key from {0} is empty")]
    Empty(String),
    /// A bare string that names a variable that is not set: never sent as a key.
    #[error(
        "api_key `{0}` looks like the name of an environment variable, but no variable {0} is set"
    )]
    BareLooksLikeVariable(String),
    /// The file can be read (or changed) by other users of this machine: refused, as OpenSSH
    /// refuses a private key others can read.
    #[error(
        "the API key file {path} is open to other users of this machine (mode {mode:04o}): vip-run does not use a key others can read or change"
    )]
    Exposed { path: String, mode: u32 },
    /// The key holds characters an HTTP header cannot carry.
    #[error("the API key from {0} contains characters that cannot be sent in a header")]
    NotHeaderSafe(String),
}

/// Expands a leading `~` to the home directory.
pub fn expand_tilde(path: &str) -> PathBuf {
    if let Some(rest) = path
        .strip_prefix("~/")
        .or(if path == "~" { Some("") } else { None })
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    PathBuf::from(path)
}

fn looks_like_variable(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

impl KeySource {
    /// A file source, relative paths taken from the manifest's folder.
    pub fn file(written: &str, manifest_dir: &Path) -> Self {
        Self::File {
            written: written.to_owned(),
            path: path_from(written, manifest_dir),
        }
    }

    /// How the source is named in messages: never the key.
    pub fn describe(&self) -> String {
        match self {
            Self::Env(name) => format!("environment variable {name}"),
            Self::File { written, .. } => format!("file {written}"),
            Self::Literal(_) => "the manifest (api_key.literal)".into(),
            Self::Bare { text, manifest_dir } => match Self::bare_kind(text, manifest_dir) {
                BareKind::File(path) => format!("file {}", path.display()),
                BareKind::Env(name) | BareKind::UnsetVariable(name) => {
                    format!("environment variable {name}")
                }
                BareKind::Literal => "the manifest (api_key)".into(),
            },
        }
    }

    fn bare_kind(text: &SecretString, manifest_dir: &Path) -> BareKind {
        let text = text.expose_secret().trim();
        let expanded = expand_tilde(text);
        let path = if expanded.is_absolute() {
            expanded
        } else {
            manifest_dir.join(expanded)
        };
        if !text.is_empty() && path.is_file() {
            BareKind::File(path)
        } else if std::env::var_os(text).is_some_and(|v| !v.is_empty()) && !text.is_empty() {
            BareKind::Env(text.to_owned())
        } else if looks_like_variable(text) {
            BareKind::UnsetVariable(text.to_owned())
        } else {
            BareKind::Literal
        }
    }

    /// Whether the key is written in the manifest itself.
    pub fn is_in_manifest(&self) -> bool {
        match self {
            Self::Literal(_) => true,
            Self::Bare { text, manifest_dir } => {
                matches!(Self::bare_kind(text, manifest_dir), BareKind::Literal)
            }
            _ => false,
        }
    }

    /// Reads the key, trimmed.
    pub fn resolve(&self) -> Result<SecretString, KeyError> {
        let raw: SecretString = match self {
            Self::Env(name) => read_env(name)?,
            Self::File { written, path } => read_file(written, path)?,
            Self::Literal(key) => key.clone(),
            Self::Bare { text, manifest_dir } => match Self::bare_kind(text, manifest_dir) {
                BareKind::File(path) => read_file(&path.display().to_string(), &path)?,
                BareKind::Env(name) => read_env(&name)?,
                BareKind::UnsetVariable(name) => return Err(KeyError::BareLooksLikeVariable(name)),
                BareKind::Literal => text.clone(),
            },
        };
        let trimmed = raw.expose_secret().trim();
        if trimmed.is_empty() {
            return Err(KeyError::Empty(self.describe()));
        }
        if !trimmed.chars().all(|c| c.is_ascii_graphic()) {
            return Err(KeyError::NotHeaderSafe(self.describe()));
        }
        Ok(SecretString::from(trimmed))
    }
}

enum BareKind {
    File(PathBuf),
    Env(String),
    UnsetVariable(String),
    Literal,
}

impl KeySource {
    /// For a key file: that it exists and is private (as reading it would check), without
    /// reading it. Other sources pass.
    pub fn check_file(&self) -> Result<(), KeyError> {
        if let Self::File { written, path } = self {
            refuse_exposed(written, path)?;
            if !path.is_file() {
                return Err(KeyError::File {
                    path: written.clone(),
                    reason: "no such file".into(),
                });
            }
        }
        Ok(())
    }
}

fn read_env(name: &str) -> Result<SecretString, KeyError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v)),
        Ok(_) => Err(KeyError::Empty(format!("environment variable {name}"))),
        Err(_) => Err(KeyError::EnvUnset(name.to_owned())),
    }
}

fn read_file(written: &str, path: &Path) -> Result<SecretString, KeyError> {
    refuse_exposed(written, path)?;
    read_secret_text(path)
        .map(SecretString::from)
        .map_err(|reason| KeyError::File {
            path: written.to_owned(),
            reason,
        })
}

/// A secret's file as written in a manifest (`~` expanded), relative paths taken from `dir`.
pub(crate) fn path_from(written: &str, dir: &Path) -> PathBuf {
    let expanded = expand_tilde(written);
    if expanded.is_absolute() {
        expanded
    } else {
        dir.join(expanded)
    }
}

/// The text of a secret's file, or why it cannot be read, in words (never its content).
pub(crate) fn read_secret_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        _ => e.to_string(),
    })
}

/// Refuses a key file that other users may read or change (any group or other permission
/// bit, as OpenSSH checks private keys). A warning would scroll by in a cron mail while the
/// key, which launches executions and deletes data in the owner's name, stayed readable by
/// every account on a shared lab machine; `chmod 600` is the whole fix, and systemd's
/// `LoadCredential=` hands a service its copy with mode 0400. A file that cannot be looked
/// at is left to the read that follows, which names the problem.
fn refuse_exposed(written: &str, path: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_file() && mode & 0o077 != 0 {
                return Err(KeyError::Exposed {
                    path: written.to_owned(),
                    mode,
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (written, path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn private(path: &Path) {
        chmod(path, 0o600);
    }

    #[test]
    fn key_files_open_to_others_are_refused_as_ssh_refuses_private_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "abc-123\n").unwrap();
        let source = KeySource::file("key", dir.path());
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660] {
            chmod(&path, mode);
            assert_eq!(
                source.resolve().unwrap_err(),
                KeyError::Exposed {
                    path: "key".into(),
                    mode
                },
                "{mode:o}"
            );
        }
        let text = source.resolve().unwrap_err().to_string();
        assert!(
            text.contains("mode 0660") && !text.contains("abc"),
            "{text}"
        );
        for mode in [0o600, 0o400] {
            chmod(&path, mode);
            assert_eq!(source.resolve().unwrap().expose_secret(), "abc-123");
        }
    }

    #[test]
    fn files_are_trimmed_and_described_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "  abc-123\n").unwrap();
        private(&dir.path().join("key"));
        let source = KeySource::file("key", dir.path());
        assert_eq!(source.resolve().unwrap().expose_secret(), "abc-123");
        assert_eq!(source.describe(), "file key");
        assert!(!format!("{source:?}").contains("abc"));
    }

    #[test]
    fn bare_strings_follow_vipsession_but_never_send_a_variable_name() {
        let dir = tempfile::tempdir().unwrap();
        let bare = |t: &str| KeySource::Bare {
            text: SecretString::from(t),
            manifest_dir: dir.path().to_path_buf(),
        };
        assert_eq!(
            bare("VIP_RUN_SURELY_UNSET_VAR").resolve().unwrap_err(),
            KeyError::BareLooksLikeVariable("VIP_RUN_SURELY_UNSET_VAR".into())
        );
        assert_eq!(
            bare("k3y-abcdef").resolve().unwrap().expose_secret(),
            "k3y-abcdef"
        );
        assert_eq!(bare("k3y-abcdef").describe(), "the manifest (api_key)");
        std::fs::write(dir.path().join("keyfile"), "from-file\n").unwrap();
        private(&dir.path().join("keyfile"));
        assert_eq!(
            bare("keyfile").resolve().unwrap().expose_secret(),
            "from-file"
        );
        assert!(
            bare("PATH")
                .describe()
                .contains("environment variable PATH")
        );
    }

    #[test]
    fn missing_sources_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = KeySource::file("nope", dir.path()).resolve().unwrap_err();
        assert!(err.to_string().contains("nope"));
        let err = KeySource::Env("VIP_RUN_SURELY_UNSET_VAR".into())
            .resolve()
            .unwrap_err();
        assert_eq!(err, KeyError::EnvUnset("VIP_RUN_SURELY_UNSET_VAR".into()));
    }
}
