//! What this machine must be able to store before a run spends grid time: every item's
//! download folder (or the folder it will be made in) and the state folder can be written.
//! A full disk met later is reported as such (`Error::Disk`, exit 6), never as VIP failing.
//!
//! It also keeps one owner per results folder: each download folder gets a marker,
//! [`OWNER_FILE`], naming the manifest whose outputs it holds; a folder marked by another
//! manifest is refused before anything is launched or written, so two recipes never mix
//! their results (or take each other's for their own).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::manifest::Validated;

/// The marker in each download folder: which manifest's outputs it holds.
pub const OWNER_FILE: &str = ".vip-run-owner";

/// Who owns a results folder: a manifest (its absolute path and `name`), and whether its
/// outputs came from a `--sandbox` try-out (simulated, not VIP's).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    /// The manifest's absolute path.
    pub manifest: String,
    /// Its `name`.
    pub name: String,
    /// Whether the outputs are a sandbox try-out's.
    #[serde(default)]
    pub sandbox: bool,
}

impl Owner {
    /// The owner `v`'s runs write as.
    pub fn of(v: &Validated, sandbox: bool) -> Self {
        let path = std::fs::canonicalize(&v.file.path).unwrap_or_else(|_| v.file.path.clone());
        Self {
            manifest: path.display().to_string(),
            name: v.name.clone(),
            sandbox,
        }
    }

    /// Whether a folder marked by `other` is this manifest's (a try-out's folder is: its
    /// files are then moved aside by the real run, never mixed).
    fn same(&self, other: &Self) -> bool {
        self.manifest == other.manifest && self.name == other.name
    }

    /// Refuses `folder` when another manifest owns it; else marks it as ours (made if
    /// needed). Called before the first output is written into it.
    pub fn claim(&self, folder: &Path) -> Result<(), Error> {
        let marker = folder.join(OWNER_FILE);
        match read_owner(&marker) {
            Some(other) if !self.same(&other) => Err(foreign(folder, &other)),
            Some(other) if other == *self => Ok(()),
            _ => {
                let text = serde_json::to_string_pretty(self).unwrap_or_default();
                crate::files::write_atomically(&marker, text.as_bytes())
                    .map_err(|e| Error::disk(e.action, &e.path, &e.source))
            }
        }
    }
}

fn read_owner(marker: &Path) -> Option<Owner> {
    serde_json::from_slice(&std::fs::read(marker).ok()?).ok()
}

fn foreign(folder: &Path, other: &Owner) -> Error {
    Error::Usage(format!(
        "{} holds the results of another manifest ({}, name `{}`): set results.download to a folder of this manifest's own, or move that folder away",
        folder.display(),
        other.manifest,
        other.name
    ))
}

/// What `run` and `download` check before they start: every folder they will write into can
/// be written, and no download folder belongs to another manifest.
pub fn check_before(v: &Validated, state_dir: &Path, sandbox: bool) -> Result<(), Error> {
    check_writable(v, state_dir)?;
    check_owners(v, &Owner::of(v, sandbox))
}

/// Refuses the run when any item's download folder is owned by another manifest.
fn check_owners(v: &Validated, owner: &Owner) -> Result<(), Error> {
    for folder in v.items.iter().filter_map(|i| i.download.as_deref()) {
        if let Some(other) = read_owner(&folder.join(OWNER_FILE))
            && !owner.same(&other)
        {
            return Err(foreign(folder, &other));
        }
    }
    Ok(())
}

/// Checks that each folder the run will write into can be written: the nearest existing
/// folder of each item's download folder and of the state folder gets a probe file, made
/// and removed (once per distinct folder, so a 10,000-item cohort costs a few probes).
fn check_writable(v: &Validated, state_dir: &Path) -> Result<(), Error> {
    let mut probed: BTreeSet<PathBuf> = BTreeSet::new();
    let folders = v
        .items
        .iter()
        .filter_map(|i| i.download.as_deref())
        .chain(std::iter::once(state_dir));
    for folder in folders {
        let existing = nearest_existing(folder)?;
        if probed.insert(existing.clone()) {
            probe(&existing, folder)?;
        }
    }
    Ok(())
}

/// `folder`, or the closest of its parents that exists; a file in the way is an error.
fn nearest_existing(folder: &Path) -> Result<PathBuf, Error> {
    let mut at = folder.to_path_buf();
    loop {
        match std::fs::metadata(&at) {
            Ok(m) if m.is_dir() => return Ok(at),
            Ok(_) => {
                return Err(Error::Disk {
                    path: at.clone(),
                    detail: format!(
                        "it is a file, and {} is to be a folder of results",
                        folder.display()
                    ),
                });
            }
            Err(_) => {
                let Some(parent) = at.parent() else {
                    return Ok(PathBuf::from("."));
                };
                at = if parent.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    parent.to_path_buf()
                };
            }
        }
    }
}

/// Makes and removes a probe file in `dir` (on the way to `wanted`).
fn probe(dir: &Path, wanted: &Path) -> Result<(), Error> {
    let file = dir.join(format!(".vip-run-probe-{}", std::process::id()));
    match std::fs::File::create(&file) {
        Ok(_) => {
            let _ = std::fs::remove_file(&file);
            Ok(())
        }
        Err(e) => Err(Error::Disk {
            path: dir.to_path_buf(),
            detail: format!(
                "it cannot be written ({e}), and {} must be; nothing was launched",
                wanted.display()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_existing_folder_is_found_and_a_file_in_the_way_refused() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        assert_eq!(nearest_existing(&deep).unwrap(), dir.path());
        std::fs::write(dir.path().join("a"), "x").unwrap();
        assert!(nearest_existing(&deep).is_err());
        assert!(probe(dir.path(), &deep).is_ok());
    }
}
