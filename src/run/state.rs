//! The run's memory: `.vip-run/<name>/state.json`, format-versioned, written atomically
//! (temporary file, fsync, rename, fsync of the folder), never holding the key.
//!
//! It records what was uploaded (size and SHA-256, so unchanged files are not sent again),
//! and per item every launched execution with its statuses and when they were seen, and
//! every output downloaded. It is a cache of the truth on VIP: when it is lost, a run
//! rebuilds it from the execution names on the server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::{FileError, write_atomically};
use crate::time;

/// The state file format this vip-run writes.
pub const FORMAT: u32 = 1;

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
    #[error("{} has state format {found}, this vip-run reads format {FORMAT}: upgrade vip-run, or move the file away to rebuild it from VIP", path.display())]
    Format {
        /// The state file.
        path: PathBuf,
        /// The format it says it has.
        found: String,
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
    pub uploads: BTreeMap<String, Upload>,
    /// Item key → its executions and downloads.
    #[serde(default)]
    pub items: BTreeMap<String, ItemState>,
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
}

/// One item's executions and outputs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ItemState {
    /// The fingerprint the executions were launched for.
    pub fingerprint: String,
    /// Executions launched for this item, oldest first (retries add more).
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Outputs of the finished execution.
    #[serde(default)]
    pub outputs: Vec<Output>,
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
}

impl Attempt {
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
}

impl State {
    /// A fresh state.
    pub fn new(name: &str, pipeline: &str, server: &str) -> Self {
        Self {
            format: FORMAT,
            name: name.to_owned(),
            pipeline: pipeline.to_owned(),
            server: server.to_owned(),
            ..Self::default()
        }
    }

    /// Reads the state at `path`: `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::Read(FileError::on("read", path)(e))),
        };
        let damaged = |e: serde_json::Error| StateError::Damaged {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(damaged)?;
        let format = value.get("format").and_then(serde_json::Value::as_u64);
        if format != Some(u64::from(FORMAT)) {
            return Err(StateError::Format {
                path: path.to_path_buf(),
                found: format.map_or_else(|| "unknown".to_owned(), |f| f.to_string()),
            });
        }
        serde_json::from_value(value).map(Some).map_err(damaged)
    }

    /// Writes the state to `path` atomically.
    pub fn save(&mut self, path: &Path) -> Result<(), StateError> {
        self.updated_at = time::rfc3339(time::now_ms());
        let text = serde_json::to_string_pretty(self).expect("the state serialises");
        Ok(write_atomically(path, text.as_bytes())?)
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
        state.items.insert(
            "main".into(),
            ItemState {
                fingerprint: "ab".into(),
                attempts: vec![Attempt {
                    execution_id: "workflow-1".into(),
                    name: "study-main-ab".into(),
                    ..Attempt::default()
                }],
                outputs: Vec::new(),
            },
        );
        state.save(&path).unwrap();
        let back = State::load(&path).unwrap().unwrap();
        assert_eq!(back.items["main"].attempts[0].execution_id, "workflow-1");
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
