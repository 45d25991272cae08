//! The top-level error: what ends a command, and the exit code it means.

use crate::exit_code;

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more manifests are invalid; their diagnostics have been printed already.
    #[error("{0}")]
    InvalidManifests(String),
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// Writing output failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::InvalidManifests(_) => exit_code::INVALID_MANIFEST,
            Self::Usage(_) => exit_code::USAGE,
            Self::Output(_) => exit_code::FAILED,
        }
    }
}
