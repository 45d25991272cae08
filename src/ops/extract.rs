//! Unpacking tarball outputs safely: nothing a server sends may write outside the folder.
//!
//! Every entry's path is checked before anything is written: absolute paths, `..`,
//! and anything but plain files and folders (links, devices, fifos) are refused and
//! reported; the archive is unpacked into a temporary sibling folder and renamed into
//! place only when complete, so an interrupted extraction leaves nothing half-done.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::files::FileError;

/// Why an archive was not unpacked (the archive itself stays as downloaded).
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// A local file operation failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// The archive cannot be read as a tarball.
    #[error("{} is not a readable tarball: {reason}", archive.display())]
    Unreadable {
        /// The archive.
        archive: PathBuf,
        /// What the reader said.
        reason: std::io::Error,
    },
    /// An entry cannot be read.
    #[error("{} is damaged: {reason}", archive.display())]
    Damaged {
        /// The archive.
        archive: PathBuf,
        /// What the reader said.
        reason: std::io::Error,
    },
    /// An entry's name cannot be read.
    #[error("bad entry name: {0}")]
    EntryName(std::io::Error),
}

/// What an extraction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The folder the archive was unpacked into.
    pub folder: PathBuf,
    /// Files written.
    pub files: usize,
    /// Entries refused, with why.
    pub refused: Vec<String>,
}

/// Whether `name` is a tarball vip-run unpacks.
pub fn is_tarball(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".tgz", ".tar.gz", ".tar"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// The folder a tarball unpacks into: its name without the archive extension.
pub fn target_folder(archive: &Path) -> PathBuf {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let stem_len = [".tar.gz", ".tgz", ".tar"]
        .iter()
        .find(|ext| lower.ends_with(*ext))
        .map_or(name.len(), |ext| name.len() - ext.len());
    let stem = if stem_len == 0 {
        "archive"
    } else {
        &name[..stem_len]
    };
    archive.with_file_name(stem)
}

/// The safe relative path for an entry, or why it is refused.
fn safe_relative(path: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("it climbs out with `..`"),
            Component::RootDir | Component::Prefix(_) => {
                return Err("it is an absolute path");
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err("it has an empty name");
    }
    Ok(out)
}

/// Unpacks `archive` into [`target_folder`], refusing unsafe entries. An existing folder
/// of that name is replaced only once the new one is complete.
pub fn extract(archive: &Path) -> Result<Extracted, ExtractError> {
    let target = target_folder(archive);
    let parent = target.parent().unwrap_or(Path::new("."));
    let staging = parent.join(format!(
        ".{}.extracting",
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(FileError::on("clear", &staging))?;
    }
    fs::create_dir_all(&staging).map_err(FileError::on("create", &staging))?;
    let result = unpack_into(archive, &staging);
    match result {
        Ok((files, refused)) => {
            if target.exists() {
                fs::remove_dir_all(&target).map_err(FileError::on("replace", &target))?;
            }
            fs::rename(&staging, &target).map_err(FileError::on("move into", &target))?;
            Ok(Extracted {
                folder: target,
                files,
                refused,
            })
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn unpack_into(archive: &Path, into: &Path) -> Result<(usize, Vec<String>), ExtractError> {
    let file = fs::File::open(archive).map_err(FileError::on("open", archive))?;
    let name = archive.to_string_lossy().to_ascii_lowercase();
    let reader: Box<dyn Read> = if Path::new(&name).extension().is_some_and(|e| e == "tar") {
        Box::new(file)
    } else {
        Box::new(GzDecoder::new(file))
    };
    let mut tar = tar::Archive::new(reader);
    let mut files = 0;
    let mut refused = Vec::new();
    let entries = tar.entries().map_err(|reason| ExtractError::Unreadable {
        archive: archive.to_path_buf(),
        reason,
    })?;
    for entry in entries {
        let mut entry = entry.map_err(|reason| ExtractError::Damaged {
            archive: archive.to_path_buf(),
            reason,
        })?;
        let raw = entry.path().map_err(ExtractError::EntryName)?.into_owned();
        let shown = raw.display().to_string();
        let kind = entry.header().entry_type();
        let relative = match safe_relative(&raw) {
            Ok(r) => r,
            Err(why) => {
                refused.push(format!("{shown}: {why}"));
                continue;
            }
        };
        let dest = into.join(&relative);
        if kind.is_dir() {
            fs::create_dir_all(&dest).map_err(FileError::on("create", &dest))?;
        } else if kind.is_file() {
            // A folder on the way may not be a link planted by an earlier entry: links are
            // never created, so every existing component is a real folder.
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent).map_err(FileError::on("create", parent))?;
            }
            let mut out = fs::File::create(&dest).map_err(FileError::on("write", &dest))?;
            std::io::copy(&mut entry, &mut out).map_err(FileError::on("write", &dest))?;
            files += 1;
        } else {
            let what = if kind.is_symlink() || kind.is_hard_link() {
                "a link"
            } else {
                "not a plain file"
            };
            refused.push(format!("{shown}: it is {what}"));
        }
    }
    Ok((files, refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(dir: &Path, entries: &[(&str, &[u8])], links: &[(&str, &str)]) -> PathBuf {
        let path = dir.join("results.tgz");
        let file = fs::File::create(&path).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // Write the raw name, bypassing the builder's own checks, as a hostile server would.
            let bytes = name.as_bytes();
            header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        for (name, target) in links {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, name, target).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
        path
    }

    #[test]
    fn plain_archives_unpack_next_to_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let archive = tarball(
            dir.path(),
            &[("a/fit.txt", b"fit"), ("quantification.csv", b"1,2")],
            &[],
        );
        let done = extract(&archive).unwrap();
        assert_eq!(done.folder, dir.path().join("results"));
        assert_eq!(done.files, 2);
        assert!(done.refused.is_empty());
        assert_eq!(
            fs::read(dir.path().join("results/a/fit.txt")).unwrap(),
            b"fit"
        );
    }

    #[test]
    fn hostile_entries_are_refused_and_nothing_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner");
        fs::create_dir(&inner).unwrap();
        let archive = tarball(
            &inner,
            &[
                ("../escape.txt", b"x"),
                ("/tmp/vip-run-absolute-escape.txt", b"x"),
                ("ok.txt", b"ok"),
            ],
            &[("link", "/etc/passwd")],
        );
        let done = extract(&archive).unwrap();
        assert_eq!(done.files, 1);
        assert_eq!(done.refused.len(), 3, "{:?}", done.refused);
        assert!(!dir.path().join("escape.txt").exists());
        assert!(!Path::new("/tmp/vip-run-absolute-escape.txt").exists());
        assert!(!inner.join("results/link").exists());
        assert!(inner.join("results/ok.txt").exists());
    }

    #[test]
    fn names() {
        assert!(is_tarball("results.tgz") && is_tarball("x.TAR.GZ") && is_tarball("a.tar"));
        assert!(!is_tarball("volume.nii.gz"));
        assert_eq!(
            target_folder(Path::new("/x/results.tar.gz")),
            PathBuf::from("/x/results")
        );
    }
}
