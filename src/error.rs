//! The top-level error: what ends a command, and the exit code it means; and the errors of
//! the run's own files (its state, its lock), which it tells apart by exit code and help.
//!
//! A leaf: it names what fails below it (files, the key, VIP), never the commands above.

mod collect;
mod exclusive;
mod state;

pub use collect::CollectError;
pub use exclusive::ExclusiveError;
pub use state::StateError;

use crate::exit_code;
use crate::files::FileError;
use crate::manifest::api_key::KeyError;
use crate::vip::VipError;

/// What to do about a local storage problem (exit 6): said under the error, and by a run's
/// summary when it stopped on one.
pub const DISK_HELP: &str = "free space or fix the permissions there (or point results.download / --state-dir elsewhere), then run the same command again: what is on VIP is kept";

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more manifests are invalid; their diagnostics have been printed already.
    #[error("{0}")]
    InvalidManifests(String),
    /// Pre-flight found problems, printed already; `access` when any is about the key,
    /// a group or a permission.
    #[error("{message}")]
    Preflight {
        /// The summary line.
        message: String,
        /// Whether exit code 4 (access) rather than 3 (manifest) applies.
        access: bool,
    },
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// The key, a group or a permission is wrong or missing.
    #[error("{message}")]
    Access {
        /// What is wrong.
        message: String,
        /// What to do.
        help: Option<String>,
    },
    /// The API key cannot be read.
    #[error("{0}")]
    Key(#[from] KeyError),
    /// A call to VIP failed in a way the command did not handle itself.
    #[error("{0}")]
    Vip(#[from] VipError),
    /// The run's state cannot be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A local file cannot be read or written.
    #[error(transparent)]
    File(#[from] FileError),
    /// VIP kept fewer bytes of an upload than were sent.
    #[error(
        "VIP stored {stored} bytes of {local} ({size} bytes) at {remote}; run again to re-upload"
    )]
    UploadIncomplete {
        /// The local file.
        local: String,
        /// Its size.
        size: u64,
        /// What VIP holds.
        stored: u64,
        /// Where.
        remote: String,
    },
    /// Another run holds the manifest's lock (or it cannot be taken).
    #[error(transparent)]
    Exclusive(#[from] ExclusiveError),
    /// An error under `plan --detailed-exitcode`, where any error exits 1.
    #[error(transparent)]
    Detailed(Box<Error>),
    /// The in-process sandbox could not start.
    #[error("cannot start the sandbox: {0}")]
    Sandbox(String),
    /// `run` waited out an outage of VIP for as long as allowed; its state is saved.
    #[error("{message}; last error: {last}")]
    Outage {
        /// Since when, for how long, and the limit.
        message: String,
        /// The last failure seen.
        last: String,
    },
    /// Writing the results or the run's own files failed on this machine (a full disk, a
    /// folder that cannot be written, a read-only file system): nothing VIP can fix, and
    /// nothing worth waiting out.
    #[error("cannot write {}: {detail}", path.display())]
    Disk {
        /// The file or folder.
        path: std::path::PathBuf,
        /// What failed, and why.
        detail: String,
    },
    /// A study table of `collect:` cannot be merged; nothing of it was written. Boxed: its
    /// two headers would make every command's error that much larger.
    #[error(transparent)]
    Collect(Box<CollectError>),
    /// Writing output failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<CollectError> for Error {
    fn from(e: CollectError) -> Self {
        Self::Collect(Box::new(e))
    }
}

impl Error {
    /// This machine refusing to `action` `path` (see [`Error::Disk`]).
    pub fn disk(action: &str, path: &std::path::Path, e: &std::io::Error) -> Self {
        Self::Disk {
            path: path.to_path_buf(),
            detail: format!("cannot {action} it: {e}"),
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::InvalidManifests(_) | Self::Preflight { access: false, .. } => {
                exit_code::INVALID_MANIFEST
            }
            Self::Vip(e) if e.is_access_problem() => exit_code::AUTH,
            Self::Preflight { access: true, .. } | Self::Access { .. } | Self::Key(_) => {
                exit_code::AUTH
            }
            Self::Usage(_) | Self::Vip(VipError::Config(_)) => exit_code::USAGE,
            // An untrusted certificate is 5, "VIP unreachable", not 2 or 4: no trusted
            // connection to VIP could be made, which is what 5 says; the command line is
            // right (2 means it is wrong), and the key was never sent (4 is about the key,
            // a group or a permission). Its cause may be the server's (an expired
            // certificate, another name) as often as this machine's (a private authority
            // not trusted), so the help names both. Unlike other 5s it is never retried or
            // waited out: nothing changes by waiting.
            Self::Vip(e) if e.is_unreachable() || matches!(e, VipError::Certificate { .. }) => {
                exit_code::UNREACHABLE
            }
            Self::Disk { .. } => exit_code::LOCAL,
            Self::Exclusive(ExclusiveError::Held { .. }) => exit_code::BUSY,
            Self::File(e)
            | Self::State(StateError::Write(e))
            | Self::Exclusive(ExclusiveError::File(e))
                if is_disk_trouble(&e.source) =>
            {
                exit_code::LOCAL
            }
            Self::Vip(_)
            | Self::Output(_)
            | Self::State(_)
            | Self::File(_)
            | Self::UploadIncomplete { .. }
            | Self::Exclusive(_)
            | Self::Collect(_)
            | Self::Detailed(_) => exit_code::FAILED,
            Self::Sandbox(_) | Self::Outage { .. } => exit_code::UNREACHABLE,
        }
    }

    /// A `help:` line to print under the error, if there is one.
    pub fn help(&self) -> Option<String> {
        match self {
            Self::Disk { .. }
            | Self::File(_)
            | Self::State(StateError::Write(_))
            | Self::Exclusive(ExclusiveError::File(_))
                if self.exit_code() == exit_code::LOCAL =>
            {
                Some(DISK_HELP.into())
            }
            Self::Detailed(inner) => inner.help(),
            Self::Access { help, .. } => help.clone(),
            Self::Collect(e) => Some(e.help()),
            Self::Key(KeyError::EnvUnset(name)) => Some(format!(
                "export {name}=<your key> (VIP portal: My Account → API key), or name another source with --api-key-env / --api-key-file"
            )),
            Self::Key(KeyError::Exposed { path, .. }) => Some(format!(
                "chmod 600 {path} (readable and writable by you alone), then run again"
            )),
            Self::Key(KeyError::BareLooksLikeVariable(name)) => Some(format!(
                "set the variable {name}, or write `api_key: {{ env: {name} }}` to make the intent explicit"
            )),
            Self::Outage { .. } => Some(
                "the state is saved: run the same command again once VIP answers, and it resumes where this run stopped".into(),
            ),
            Self::Vip(VipError::Certificate { host, .. }) => Some(certificate_help(host)),
            Self::Vip(e) if e.is_unreachable() => Some(
                "check the server URL and your network; vip-run retried the calls that are safe to repeat".into(),
            ),
            _ => None,
        }
    }
}

/// What to do about an untrusted certificate of `host`: trust its authority (when the server
/// uses a private one), or have the server fixed, or check `--server`.
fn certificate_help(host: &str) -> String {
    format!(
        "if {host} uses a private certificate authority, trust it with SSL_CERT_FILE=/path/to/ca-bundle.pem (a PEM file of the authorities to trust, used instead of the system's list); if the certificate expired or names another server, check --server or tell the server's administrators"
    )
}

/// Whether `e` is this machine's storage refusing a write: full (`ENOSPC`, `EDQUOT`), not
/// writable (`EACCES`, `EPERM`), read-only (`EROFS`).
pub fn is_disk_trouble(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::StorageFull
            | ErrorKind::PermissionDenied
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(1 | 13 | 28 | 30 | 122))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_untrusted_certificate_exits_5_with_how_to_trust_an_authority() {
        let e = Error::Vip(VipError::Certificate {
            operation: "GET /pipelines".into(),
            host: "vip.example.org".into(),
            problem: "it is signed by an authority this machine does not trust".into(),
        });
        assert_eq!(e.exit_code(), exit_code::UNREACHABLE);
        let help = e.help().expect("a help line");
        assert!(help.contains("vip.example.org"), "{help}");
        assert!(
            help.contains("SSL_CERT_FILE=/path/to/ca-bundle.pem"),
            "{help}"
        );
    }
}
