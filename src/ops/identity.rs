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
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::files::{FileError, write_atomically};
use crate::manifest::expand::hex;
use crate::manifest::identity::execution_name;
use crate::manifest::{Content, InputWire, Validated, ValueKind};

use super::paths::Paths;
use super::state::State;

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
    let mut cache: BTreeMap<String, Content> = std::fs::read(&paths.hashes)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // Each local file once, whichever items and upload paths name it.
    let mut uploads: Vec<(&str, &Path)> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for item in &v.items {
        for value in item.inputs.values().flat_map(InputWire::values) {
            if let ValueKind::LocalFile { path, upload, .. } = &value.kind
                && seen.insert(upload)
            {
                uploads.push((upload, path));
            }
        }
    }
    let mut files: Vec<&Path> = uploads.iter().map(|(_, p)| *p).collect();
    files.sort_unstable();
    files.dedup();
    let hashed = hash_all(&files, &mut cache)?;
    let changed = hashed.iter().any(|(_, fresh)| *fresh);
    let by_path: HashMap<&Path, Content> = files
        .iter()
        .zip(hashed)
        .map(|(p, (c, _))| (*p, c))
        .collect();
    let content: HashMap<String, Content> = uploads
        .iter()
        .map(|(upload, path)| ((*upload).to_owned(), by_path[path].clone()))
        .collect();
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
                    .map(|c| (upload.as_str(), c.sha256.as_str())),
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

/// Each of `files`' content, with whether it was read now: from the cache while its size and
/// modification time are unchanged (one `stat`), else read and hashed, on as many threads as
/// the machine has cores (a first run of a cohort hashes every file before anything is sent).
fn hash_all(
    files: &[&Path],
    cache: &mut BTreeMap<String, Content>,
) -> Result<Vec<(Content, bool)>, Error> {
    let mut out: Vec<Option<(Content, bool)>> = Vec::with_capacity(files.len());
    let mut misses: Vec<(usize, u64, Option<i64>)> = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let meta = std::fs::metadata(path).map_err(FileError::on("read", path))?;
        let mtime = crate::files::mtime_ms(&meta);
        match cache.get(&path.display().to_string()) {
            Some(c) if c.size == meta.len() && c.mtime.is_some() && c.mtime == mtime => {
                out.push(Some((c.clone(), false)));
            }
            _ => {
                out.push(None);
                misses.push((i, meta.len(), mtime));
            }
        }
    }
    if !misses.is_empty() {
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(misses.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let read: Vec<Vec<(usize, std::io::Result<String>)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&(i, _, _)) = misses.get(n) else {
                                break;
                            };
                            done.push((n, crate::files::sha256(files[i]).map(|(_, sha)| sha)));
                        }
                        done
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a hashing thread does not panic"))
                .collect()
        });
        for (n, sha) in read.into_iter().flatten() {
            let (i, size, mtime) = misses[n];
            let content = Content {
                size,
                mtime,
                sha256: sha.map_err(FileError::on("read", files[i]))?,
            };
            cache.insert(files[i].display().to_string(), content.clone());
            out[i] = Some((content, true));
        }
    }
    Ok(out
        .into_iter()
        .map(|c| c.expect("every file hashed"))
        .collect())
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
                            .is_some_and(|(u, c)| u.sha256 == c.sha256)
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
                            .strip_prefix(&super::remote::results_dir(item, &a.name))
                            .is_some_and(|rest| rest.starts_with('/'))
                    })
                    .map(|a| a.execution_id.clone());
            }
        }
        carried += 1;
    }
    carried
}
