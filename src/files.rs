//! Local files as every layer writes them: errors that name the file and what was being done
//! to it, and the atomic write (temporary sibling, fsync, rename, fsync of the folder) that the
//! state, the run record and the `JUnit` report all rely on, so a reader or a crash sees the
//! old content or the new, never a mix.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A local file operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct FileError {
    /// What was being done: `read`, `write`, `create`…
    pub action: &'static str,
    /// The file or folder.
    pub path: PathBuf,
    /// Why it failed.
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    /// A `map_err` adapter: `.map_err(FileError::on("read", path))`.
    pub fn on(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self {
            action,
            path,
            source,
        }
    }
}

/// Writes `bytes` to `path` atomically, creating its folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_atomically_with(path, |w| w.write_all(bytes)).map(|_| ())
}

/// Writes what `write` writes to `path` atomically (buffered: a large file is streamed, never
/// held whole in memory), creating its folder; returns how many bytes that was.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<u64, FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(FileError::on("create", dir))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let written = {
        let file = std::fs::File::create(&tmp).map_err(FileError::on("write", path))?;
        let mut out = Counted {
            inner: std::io::BufWriter::with_capacity(1 << 16, file),
            bytes: 0,
        };
        write(&mut out).map_err(FileError::on("write", path))?;
        let file = out
            .inner
            .into_inner()
            .map_err(|e| FileError::on("write", path)(e.into_error()))?;
        file.sync_all().map_err(FileError::on("write", path))?;
        out.bytes
    };
    std::fs::rename(&tmp, path).map_err(FileError::on("write", path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(written)
}

/// A writer that counts what passes through it.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A file's modification time, in epoch milliseconds (with its size, what says a recorded
/// hash of it still stands).
pub fn modified_ms(path: &Path) -> Option<i64> {
    mtime_ms(&std::fs::metadata(path).ok()?)
}

/// A file's SHA-256 (lower-case hex) and how many bytes were hashed, read 1 MiB at a time:
/// the one way vip-run hashes a local file (its identity, a kept output, the RO-Crate).
pub fn sha256(path: &Path) -> std::io::Result<(u64, String)> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, format!("{:x}", hasher.finalize())))
}

/// [`modified_ms`] from metadata already read (one `stat` where the size is wanted too).
pub fn mtime_ms(meta: &std::fs::Metadata) -> Option<i64> {
    let since = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    i64::try_from(since.as_millis()).ok()
}

/// `path` made absolute against the current folder, without touching the disk (symbolic
/// links are kept): for paths written where they are read from elsewhere (a unit file, a
/// notice, a link in a report). As it is, when the current folder cannot be told.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
