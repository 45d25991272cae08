//! Why the exclusive lock on `.vip-run/<name>/lock` (`ops::exclusive`) was not taken.

use crate::files::FileError;

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ExclusiveError {
    /// Another run holds it.
    #[error(
        "another vip-run is running this manifest ({holder}); wait for it, or pass --lock-wait to wait longer"
    )]
    Held {
        /// Who holds it (`pid N since T`), as the holder wrote it.
        holder: String,
    },
    /// The lock file cannot be made or locked.
    #[error(transparent)]
    File(#[from] FileError),
}
