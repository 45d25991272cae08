//! Where a manifest's run files live: `.vip-run/<name>/` next to the manifest (or under
//! `--state-dir`), with the state, the lock and the run record.

use std::path::{Path, PathBuf};

use crate::manifest::Validated;

/// Where a manifest's run files live.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `.vip-run/<name>`.
    pub dir: PathBuf,
    /// `state.json`.
    pub state: PathBuf,
    /// `lock`: held by one command at a time (`ops::exclusive`).
    pub exclusive: PathBuf,
    /// `run.json`.
    pub record: PathBuf,
    /// `project`: the project key (see `identity`).
    pub project: PathBuf,
    /// `hashes.json`: local inputs' SHA-256 by size and modification time.
    pub hashes: PathBuf,
    /// `superseded/`: outputs of an item's earlier execution, moved aside when a later
    /// execution's outputs come home.
    pub superseded: PathBuf,
}

impl Paths {
    /// The paths for `v`, under `state_dir` (default: `.vip-run` next to the manifest). Runs
    /// against the in-process sandbox keep their own state (`.vip-run/sandbox/<name>`): a
    /// try-out never touches the state of real runs.
    pub fn new(v: &Validated, state_dir: Option<&Path>, sandbox: bool) -> Self {
        let root = state_dir.map_or_else(
            || {
                if v.dir == Path::new(".") {
                    PathBuf::from(".vip-run")
                } else {
                    v.dir.join(".vip-run")
                }
            },
            Path::to_path_buf,
        );
        let dir = if sandbox {
            root.join("sandbox").join(&v.name)
        } else {
            root.join(&v.name)
        };
        Self {
            state: dir.join("state.json"),
            exclusive: dir.join("lock"),
            record: dir.join("run.json"),
            project: dir.join("project"),
            hashes: dir.join("hashes.json"),
            superseded: dir.join("superseded"),
            dir,
        }
    }
}
