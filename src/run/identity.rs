//! A project's identity on VIP, decided before anything is looked up there: a project key,
//! and each item's fingerprint with the content of its local files folded in.
//!
//! Offline, an item's fingerprint counts a local file by the path it is uploaded to (hashing
//! imaging data at every `validate` would cost minutes). That is not enough once something
//! is looked up on VIP by name: two projects with the same `name` and other data at the same
//! relative paths would take each other's executions for their own, and a file changed in
//! place would keep its old results. So every command that reaches VIP first:
//!
//! - gives the project a key: the one its state folder records (`project`), else one drawn
//!   from the manifest's folder's absolute path, recorded there on the first run. The key
//!   names the project's inputs folder on VIP (`/vip/Home/vip-run/<name>/<key>/inputs`) and
//!   enters every fingerprint, so two projects never share uploads, executions or results
//!   folders (see docs/vip.md#names);
//! - hashes each local input (SHA-256), cached in `hashes.json` by size and modification
//!   time, so an unchanged file is never read twice;
//! - refingerprints each item over (key, offline fingerprint, each local file's content) and
//!   renames its execution to match: other data is another execution.
//!
//! A state written before this (formats 1 and 2) named its items by the offline fingerprint:
//! [`migrate`] carries each of its items over when its local files still hold the content
//! that was uploaded for it, so upgrading costs no grid time.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::files::{FileError, write_atomically};
use crate::manifest::expand::hex;
use crate::manifest::identity::execution_name;
use crate::manifest::{InputWire, Validated, ValueKind};

use super::paths::Paths;
use super::state::State;

/// What `hashes.json` records of one local file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Hashed {
    size: u64,
    mtime: Option<i64>,
    sha256: String,
}

/// The key of a project with no key recorded: drawn from the manifest's folder's absolute
/// path (so a lost state folder rebuilt in place finds its executions by name again).
fn drawn_key(v: &Validated) -> String {
    let dir = std::fs::canonicalize(&v.dir).unwrap_or_else(|_| v.dir.clone());
    let digest = Sha256::digest(format!("{}\n{}", dir.display(), v.name).as_bytes());
    hex(&digest)[..8].to_owned()
}

/// The project key for `v`: recorded in its state folder, else drawn (and recorded when
/// `record` is set: by the commands that write state).
pub fn project_key(v: &Validated, paths: &Paths, record: bool) -> Result<String, Error> {
    if let Ok(text) = std::fs::read_to_string(&paths.project) {
        let key = text.trim();
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(key.to_owned());
        }
    }
    let key = drawn_key(v);
    if record {
        write_atomically(&paths.project, format!("{key}\n").as_bytes())?;
    }
    Ok(key)
}

/// Hashes every local input of `v` (cached in `paths.hashes` by size and modification time)
/// and refingerprints its items under the project key (see the module's comment).
pub fn identify(v: &mut Validated, paths: &Paths, record: bool) -> Result<(), Error> {
    let project = project_key(v, paths, record)?;
    let mut cache: BTreeMap<String, Hashed> = std::fs::read(&paths.hashes)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut changed = false;
    let mut content: HashMap<String, String> = HashMap::new();
    let mut by_path: HashMap<PathBuf, String> = HashMap::new();
    for item in &v.items {
        for value in item.inputs.values().flat_map(InputWire::values) {
            let ValueKind::LocalFile { path, upload, .. } = &value.kind else {
                continue;
            };
            if content.contains_key(upload) {
                continue;
            }
            let sha = if let Some(sha) = by_path.get(path) {
                sha.clone()
            } else {
                let sha = hash_cached(path, &mut cache, &mut changed)?;
                by_path.insert(path.clone(), sha.clone());
                sha
            };
            content.insert(upload.clone(), sha);
        }
    }
    if changed && record {
        // A cache: failing to keep it costs a re-read next time, never a wrong answer.
        if let Ok(bytes) = serde_json::to_vec(&cache) {
            let _ = write_atomically(&paths.hashes, &bytes);
        }
    }
    for item in &mut v.items {
        let mut uploads: Vec<(&str, &str)> = item
            .inputs
            .values()
            .flat_map(InputWire::values)
            .filter_map(|value| match &value.kind {
                ValueKind::LocalFile { upload, .. } => content
                    .get(upload)
                    .map(|sha| (upload.as_str(), sha.as_str())),
                _ => None,
            })
            .collect();
        uploads.sort_unstable();
        uploads.dedup();
        let mut h = Sha256::new();
        h.update(b"vip-run item identity 2\n");
        h.update(project.as_bytes());
        h.update(b"\n");
        h.update(item.path_fingerprint.as_bytes());
        h.update(b"\n");
        for (upload, sha) in uploads {
            h.update(upload.as_bytes());
            h.update(b"=");
            h.update(sha.as_bytes());
            h.update(b"\n");
        }
        item.fingerprint = hex(&h.finalize());
        item.execution_name = execution_name(&v.name, &item.key, &item.fingerprint);
    }
    v.project = project;
    v.content = content;
    Ok(())
}

/// `path`'s SHA-256: from the cache while its size and modification time are unchanged,
/// else read (and cached).
fn hash_cached(
    path: &Path,
    cache: &mut BTreeMap<String, Hashed>,
    changed: &mut bool,
) -> Result<String, Error> {
    // One `stat` for both: a re-run of a large cohort pays it per file.
    let meta = std::fs::metadata(path).map_err(FileError::on("read", path))?;
    let mtime = crate::files::mtime_ms(&meta);
    let key = path.display().to_string();
    if let Some(h) = cache.get(&key)
        && h.size == meta.len()
        && h.mtime.is_some()
        && h.mtime == mtime
    {
        return Ok(h.sha256.clone());
    }
    let sha = sha256_file(path).map_err(FileError::on("read", path))?;
    cache.insert(
        key,
        Hashed {
            size: meta.len(),
            mtime,
            sha256: sha.clone(),
        },
    );
    *changed = true;
    Ok(sha)
}

/// The SHA-256 (hex) of a file, read 1 MiB at a time.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The inputs folder of a state written before project keys (formats 1 and 2).
fn legacy_inputs_root(v: &Validated) -> String {
    format!("/vip/Home/vip-run/{}/inputs", v.name)
}

/// Carries a state written before content counted (formats 1 and 2) over to `v`'s
/// identities: an item recorded under its offline fingerprint keeps its executions when
/// every local file it uses still holds the content that state uploaded for it (else the
/// data changed, and the item is launched again, as it should be). Outputs recorded without
/// their execution are given the one whose results folder holds them. Returns how many items
/// were carried over.
pub fn migrate(state: &mut State, v: &Validated) -> usize {
    if state.store.loaded_format.is_none_or(|f| f >= 3) {
        return 0;
    }
    let legacy_root = legacy_inputs_root(v);
    let uploads = state.uploads().clone();
    let mut carried = 0;
    for item in &v.items {
        let same_content =
            item.inputs
                .values()
                .flat_map(InputWire::values)
                .all(|value| match &value.kind {
                    ValueKind::LocalFile { upload, .. } => {
                        let remote = format!("{legacy_root}/{upload}");
                        uploads
                            .get(&remote)
                            .zip(v.content.get(upload))
                            .is_some_and(|(u, sha)| &u.sha256 == sha)
                    }
                    _ => true,
                });
        let Some(s) = state.item_mut(&item.key) else {
            continue;
        };
        if s.fingerprint != item.path_fingerprint || !same_content {
            continue;
        }
        s.fingerprint.clone_from(&item.fingerprint);
        let attempts = s.attempts.clone();
        for output in &mut s.outputs {
            if output.execution.is_none() {
                output.execution = attempts
                    .iter()
                    .find(|a| {
                        output
                            .remote
                            .strip_prefix(&super::runner::results_dir(item, &a.name))
                            .is_some_and(|rest| rest.starts_with('/'))
                    })
                    .map(|a| a.execution_id.clone());
            }
        }
        carried += 1;
    }
    if state.project.is_empty() {
        state.project.clone_from(&v.project);
    }
    carried
}
