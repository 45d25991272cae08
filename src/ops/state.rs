//! The run's memory: `.vip-run/<name>/state.json` and its journal, format-versioned, never
//! holding the key. How it is written (a snapshot plus an append-only journal, so an event
//! costs the size of the event) is `journal`'s concern; this file holds what it records.
//!
//! It records what was uploaded (size and SHA-256, so unchanged files are not sent again),
//! and per item every launched execution with its statuses and when they were seen, and
//! every output downloaded. It is a cache of the truth on VIP: when it is lost, a run
//! rebuilds it from the execution names on the server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::vip::failure::{FailedJob, Verdict};

pub use crate::error::StateError;

/// The state file format this vip-run writes: 3 ties each output to its execution (see
/// `identity`); 2 has a journal beside the snapshot; 1 (the snapshot
/// alone) and 2 are read and migrated on the first save (`identity::migrate`).
pub const FORMAT: u32 = 3;

/// The whole state of one manifest's runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// [`FORMAT`].
    pub format: u32,
    /// The manifest's `name`.
    pub name: String,
    /// The pipeline.
    pub pipeline: String,
    /// The server the executions live on.
    pub server: String,
    /// When the state was last written.
    pub updated_at: String,
    /// Remote path → what was uploaded there.
    #[serde(default)]
    uploads: BTreeMap<String, Upload>,
    /// Item key → its executions and downloads.
    #[serde(default)]
    items: BTreeMap<String, ItemState>,
    /// Compactions so far: journal lines of another generation are stale.
    #[serde(default)]
    pub generation: u64,
    /// What changed since the last save, and the journal's size.
    #[serde(skip)]
    pub(super) store: Store,
}

/// What changed in memory since the last save, and how big the files on disk are.
#[derive(Debug, Clone, Default)]
pub(super) struct Store {
    /// Items changed or added.
    pub items: BTreeSet<String>,
    /// Items removed.
    pub removed: BTreeSet<String>,
    /// Uploads recorded.
    pub uploads: BTreeSet<String>,
    /// Uploads forgotten (deleted on VIP).
    pub removed_uploads: BTreeSet<String>,
    /// Whether the snapshot on disk is of an older format (or absent): the next save rewrites it.
    pub rewrite: bool,
    /// The format the snapshot on disk had when it was read (`None`: a new state).
    pub loaded_format: Option<u32>,
    /// Bytes in the snapshot and in the journal, for deciding when to compact.
    pub snapshot_bytes: u64,
    /// See `snapshot_bytes`.
    pub journal_bytes: u64,
}

/// One uploaded file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// The local file.
    pub local: PathBuf,
    /// Its size.
    pub size: u64,
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// Its modification time when hashed (epoch ms): unchanged size and time skip re-hashing.
    #[serde(default)]
    pub mtime: Option<i64>,
    /// When it was uploaded.
    pub at: String,
    /// When its sending began and ended (epoch ms), for the report's timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<(i64, i64)>,
}

/// One item's executions and outputs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ItemState {
    /// The fingerprint the executions were launched for.
    pub fingerprint: String,
    /// Executions launched for this item, oldest first (retries add more).
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Outputs downloaded (or refused), each with the execution it came from: only those of
    /// the current execution count (see `runner::decide`).
    #[serde(default)]
    pub outputs: Vec<Output>,
    /// Executions launched for earlier inputs of this item (its fingerprint changed): not
    /// watched or downloaded any more, but `clean` may delete their results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<Superseded>,
}

/// An execution launched for an item's earlier inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Superseded {
    /// VIP's identifier.
    pub execution_id: String,
    /// The execution name.
    pub name: String,
    /// Its results folder on VIP.
    pub results_dir: String,
    /// The last status seen.
    pub status: String,
}

/// One execution launched for an item.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Attempt {
    /// VIP's identifier (`workflow-…`).
    pub execution_id: String,
    /// The execution name.
    pub name: String,
    /// When it was launched (epoch ms).
    pub launched_at: i64,
    /// The latest status seen.
    pub status: String,
    /// Each status change, with when it was first seen (epoch ms).
    #[serde(default)]
    pub history: Vec<(String, i64)>,
    /// Whether vip-run gave up on it for taking longer than `timeout`.
    #[serde(default)]
    pub timed_out: bool,
    /// The last lines of its standard error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
    /// Where its logs were saved, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<PathBuf>,
    /// Why it failed, as vip-run judged it (its class decides a relaunch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Verdict>,
    /// A digest of its `jobs` map when last read, and since when (epoch ms) it has not
    /// changed: what the watchdog measures a stall by, across runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs_seen: Option<(String, i64)>,
    /// When it could have been launched (epoch ms): its inputs on VIP, the run started, or
    /// its earlier execution seen ended, whichever came last. From here to `launched_at` it
    /// waited for a slot (the quota or `max_parallel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<i64>,
    /// Its jobs when last seen: (done, failed, total), recorded when they change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<(usize, usize, usize)>,
    /// When its outputs' download began and ended (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<(i64, i64)>,
}

impl Attempt {
    /// An attempt for `execution` as VIP shows it now, named `name`, launched at
    /// `launched_at` (epoch ms): its status the first one seen.
    pub fn of(execution: &crate::vip::wire::Execution, name: String, launched_at: i64) -> Self {
        let status = execution.status.to_string();
        Self {
            execution_id: execution.identifier.clone(),
            name,
            launched_at,
            history: vec![(status.clone(), crate::time::now_ms())],
            status,
            ..Self::default()
        }
    }

    /// Records `status` if it is new.
    pub fn observe(&mut self, status: &str, at: i64) -> bool {
        if self.status == status {
            return false;
        }
        status.clone_into(&mut self.status);
        self.history.push((status.to_owned(), at));
        true
    }
}

/// One output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// The execution it came from (`workflow-…`); absent in a state written before it was
    /// recorded (then told by the remote path, which lies in that execution's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// Its VIP path.
    pub remote: String,
    /// Its size on VIP.
    pub size: Option<u64>,
    /// Where it goes locally (absent when it cannot be downloaded).
    pub local: Option<PathBuf>,
    /// Whether it is on disk, complete.
    pub done: bool,
    /// Why it is not, when it cannot be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The SHA-256 (hex) of what was written, hashed as it was (for provenance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The local file's modification time then (epoch ms): while size and time are
    /// unchanged, the hash stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
}

impl State {
    /// A fresh state.
    pub fn new(name: &str, pipeline: &str, server: &str) -> Self {
        Self {
            format: FORMAT,
            name: name.to_owned(),
            pipeline: pipeline.to_owned(),
            server: server.to_owned(),
            store: Store {
                rewrite: true,
                ..Store::default()
            },
            ..Self::default()
        }
    }

    /// Every item's state, by key.
    pub fn items(&self) -> &BTreeMap<String, ItemState> {
        &self.items
    }

    /// One item's state, to change (the change is saved with the next [`State::save`]).
    pub fn item_mut(&mut self, key: &str) -> Option<&mut ItemState> {
        let item = self.items.get_mut(key)?;
        if !self.store.items.contains(key) {
            self.store.items.insert(key.to_owned());
        }
        Some(item)
    }

    /// Adds `key` with `make()` unless it is there.
    pub fn ensure_item(&mut self, key: &str, make: impl FnOnce() -> ItemState) {
        if !self.items.contains_key(key) {
            self.items.insert(key.to_owned(), make());
            self.store.removed.remove(key);
            self.store.items.insert(key.to_owned());
        }
    }

    /// Keeps only the items `keep` says yes to.
    pub fn retain_items(&mut self, mut keep: impl FnMut(&str, &ItemState) -> bool) {
        let store = &mut self.store;
        self.items.retain(|k, s| {
            let kept = keep(k, s);
            if !kept {
                store.items.remove(k);
                store.removed.insert(k.clone());
            }
            kept
        });
    }

    /// What was uploaded where.
    pub fn uploads(&self) -> &BTreeMap<String, Upload> {
        &self.uploads
    }

    /// Records an upload to `remote`.
    pub fn record_upload(&mut self, remote: &str, upload: Upload) {
        self.uploads.insert(remote.to_owned(), upload);
        self.store.removed_uploads.remove(remote);
        self.store.uploads.insert(remote.to_owned());
    }

    /// Keeps only the uploads `keep` says yes to (the others were deleted on VIP).
    pub fn retain_uploads(&mut self, mut keep: impl FnMut(&str, &Upload) -> bool) {
        let store = &mut self.store;
        self.uploads.retain(|remote, u| {
            let kept = keep(remote, u);
            if !kept {
                store.uploads.remove(remote);
                store.removed_uploads.insert(remote.clone());
            }
            kept
        });
    }

    /// Replaces the items wholesale (the journal's replay and tests).
    pub(super) fn items_raw(&mut self) -> &mut BTreeMap<String, ItemState> {
        &mut self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_formats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/state.json");
        assert!(State::load(&path).unwrap().is_none());
        let mut state = State::new("study", "Hello/1.0", "http://127.0.0.1:1/rest");
        state.ensure_item("main", || ItemState {
            fingerprint: "ab".into(),
            attempts: vec![Attempt {
                execution_id: "workflow-1".into(),
                name: "study-main-ab".into(),
                ..Attempt::default()
            }],
            outputs: Vec::new(),
            superseded: Vec::new(),
        });
        state.save(&path).unwrap();
        let back = State::load(&path).unwrap().unwrap();
        assert_eq!(back.items()["main"].attempts[0].execution_id, "workflow-1");
        std::fs::write(&path, r#"{"format": 99}"#).unwrap();
        assert!(
            State::load(&path)
                .unwrap_err()
                .to_string()
                .contains("format 99")
        );
        std::fs::write(&path, "{").unwrap();
        assert!(
            State::load(&path)
                .unwrap_err()
                .to_string()
                .contains("damaged")
        );
    }
}
