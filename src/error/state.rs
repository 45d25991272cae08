//! Why the run's state (`.vip-run/<name>/state.json` and its journal, kept by `ops::state`
//! and `ops::journal`) cannot be used.

use std::path::PathBuf;

use crate::files::FileError;

/// Why the state cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but cannot be read.
    #[error(transparent)]
    Read(FileError),
    /// It is not a state file any more.
    #[error("{} is damaged ({reason}); move it away to rebuild it from VIP", path.display())]
    Damaged {
        /// The state file.
        path: PathBuf,
        /// What the JSON reader said.
        reason: String,
    },
    /// Another vip-run's format.
    #[error("{} has state format {found}, this vip-run reads format {reads}: upgrade vip-run, or move the file away to rebuild it from VIP", path.display())]
    Format {
        /// The state file.
        path: PathBuf,
        /// The format it says it has.
        found: String,
        /// The format this vip-run reads (and writes).
        reads: u32,
    },
    /// It records executions on another server.
    #[error("{} records runs on {recorded}, not {server}: use --state-dir to keep runs on different servers apart", path.display())]
    OtherServer {
        /// The state file.
        path: PathBuf,
        /// The server it names.
        recorded: String,
        /// The server of this run.
        server: String,
    },
    /// It cannot be written.
    #[error(transparent)]
    Write(#[from] FileError),
}
