//! One run of a manifest at a time: an OS file lock on `.vip-run/<name>/lock`.
//!
//! Cron may start a run while the last one is still going; the second waits up to
//! `--lock-wait`, then stops with a message naming the holder. The OS releases the lock
//! when the holder dies (even by `kill -9`), so a stale lock cannot block anyone.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

pub use crate::error::ExclusiveError;
use crate::files::FileError;
use crate::time;

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Exclusive {
    file: File,
}

impl Exclusive {
    /// Takes the lock at `path`, waiting up to `wait` for another holder to finish.
    pub fn acquire(path: &Path, wait: Duration) -> Result<Self, ExclusiveError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(FileError::on("create", parent))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(FileError::on("open the lock", path))?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        let mut holder = String::new();
                        let _ = file.read_to_string(&mut holder);
                        let holder = holder.trim();
                        return Err(ExclusiveError::Held {
                            holder: if holder.is_empty() {
                                "holder unknown".to_owned()
                            } else {
                                holder.to_owned()
                            },
                        });
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(FileError::on("lock", path)(e).into());
                }
            }
        }
        let holder = format!(
            "pid {} since {}",
            std::process::id(),
            time::rfc3339(time::now_ms())
        );
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = file.write_all(holder.as_bytes());
        let _ = file.flush();
        Ok(Self { file })
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x/lock");
        let first = Exclusive::acquire(&path, Duration::ZERO).unwrap();
        let err = Exclusive::acquire(&path, Duration::from_millis(300)).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        Exclusive::acquire(&path, Duration::ZERO).unwrap();
    }
}
