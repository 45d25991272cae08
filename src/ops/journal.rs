//! How the state is kept on disk so that an event costs the size of the event, not of the
//! state: a snapshot (`state.json`, written atomically: temporary file, fsync, rename) and an
//! append-only journal beside it (`state.journal`, one JSON line per changed item or upload,
//! appended in one write and fsynced). Loading replays the journal over the snapshot.
//!
//! Crash safety: a save is one `write` then `fsync`, so a crash leaves whole lines and perhaps
//! one torn last line, which replay ignores (that change was not yet durable, so nothing that
//! followed it was sent). Compaction writes a new snapshot with the next generation number,
//! then truncates the journal; lines of an older generation (a crash between the two) are
//! skipped, since the snapshot already holds them. Compaction happens when the journal
//! outgrows the snapshot several times over (and a small floor), so the bytes written grow
//! linearly with the events.
//!
//! `state` holds what the state records; this file holds how a [`State`] is loaded and saved
//! ([`State::load`], [`State::save`]), so that the records never reach back for their I/O.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::StateError;
use crate::files::{FileError, write_atomically_with};
use crate::time;

use super::state::{FORMAT, ItemState, State, Store, Upload};

/// A journal smaller than this is never compacted (a tiny state gains nothing from it). Kept
/// small: a floor that a 1,000-item run never reaches but a 10,000-item run passes makes the
/// large run pay for compactions the small one does not, so bytes written stop growing
/// linearly.
const COMPACT_FLOOR: u64 = 64 << 10;
/// The journal is compacted when it holds this many times the snapshot's bytes: each
/// compaction then writes at most a quarter of what the journal took, so the bytes written
/// stay a constant multiple of the events' (and a reload replays at most this much).
const COMPACT_RATIO: u64 = 4;

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    /// The snapshot generation this line follows.
    #[serde(rename = "gen")]
    generation: u64,
    /// An item's whole new state, or its removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    item: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<ItemState>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    removed: bool,
    /// An upload recorded at this remote path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uploaded: Option<Upload>,
    /// When the line was written.
    at: String,
}

impl Line {
    fn new(generation: u64, at: &str) -> Self {
        Self {
            generation,
            item: None,
            state: None,
            removed: false,
            upload: None,
            uploaded: None,
            at: at.to_owned(),
        }
    }
}

/// A snapshot's format, read before the rest.
#[derive(Deserialize)]
struct Head {
    format: Option<serde_json::Value>,
}

/// The journal beside the snapshot at `path`.
pub fn journal_path(path: &Path) -> PathBuf {
    path.with_extension("journal")
}

impl State {
    /// Reads the state at `path` (the snapshot, then its journal): `Ok(None)` when there is
    /// none.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        load(path)
    }

    /// Makes what changed since the last save durable at `path` (one append and one fsync;
    /// now and then a compaction into a new snapshot).
    pub fn save(&mut self, path: &Path) -> Result<(), StateError> {
        self.updated_at = time::rfc3339(time::now_ms());
        save(self, path)
    }
}

/// Reads the snapshot at `path` and replays its journal: `Ok(None)` when there is no state.
fn load(path: &Path) -> Result<Option<State>, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StateError::Read(FileError::on("read", path)(e))),
    };
    let damaged = |path: &Path, e: &dyn std::fmt::Display| StateError::Damaged {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    // The format first, read without building the file's JSON tree (for 10,000 items that
    // tree costs several times the file), so another format is named as such.
    let head: Head = serde_json::from_str(&text).map_err(|e| damaged(path, &e))?;
    let format = head.format.as_ref().and_then(serde_json::Value::as_u64);
    // Format 1 is the same snapshot without a journal: read it, rewrite it on the next save.
    if !matches!(format, Some(1..=3)) {
        return Err(StateError::Format {
            path: path.to_path_buf(),
            found: format.map_or_else(|| "unknown".to_owned(), |f| f.to_string()),
            reads: FORMAT,
        });
    }
    let mut state: State = serde_json::from_str(&text).map_err(|e| damaged(path, &e))?;
    state.store.snapshot_bytes = text.len() as u64;
    state.store.rewrite = format != Some(u64::from(FORMAT));
    state.store.loaded_format = format.and_then(|f| u32::try_from(f).ok());
    let journal = journal_path(path);
    let bytes = match std::fs::read(&journal) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(StateError::Read(FileError::on("read", &journal)(e))),
    };
    state.store.journal_bytes = bytes.len() as u64;
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let last = lines.len().saturating_sub(1);
    for (i, raw) in lines.into_iter().enumerate() {
        if raw.is_empty() {
            continue;
        }
        let line: Line = match serde_json::from_slice(raw) {
            Ok(l) => l,
            // A torn last line: that save never completed.
            Err(_) if i == last => break,
            Err(e) => return Err(damaged(&journal, &e)),
        };
        if line.generation != state.generation {
            continue;
        }
        apply(&mut state, line);
    }
    // A torn tail is cut off before the next append, so it never sits mid-journal.
    if bytes.last().is_some_and(|b| *b != b'\n') {
        state.store.rewrite = true;
    }
    Ok(Some(state))
}

fn apply(state: &mut State, line: Line) {
    if let Some(key) = &line.item {
        let key = key.clone();
        if line.removed {
            state.items_raw().remove(&key);
        } else if let Some(s) = line.state {
            state.items_raw().insert(key, s);
        }
    }
    match (line.upload, line.uploaded) {
        (Some(remote), _) if line.removed => state.retain_uploads(|r, _| r != remote),
        (Some(remote), Some(u)) => state.record_upload(&remote, u),
        _ => {}
    }
    // Replayed changes are already on disk.
    state.store.uploads.clear();
    state.store.removed_uploads.clear();
    state.updated_at = line.at;
}

/// Makes `state`'s changes durable at `path`: appended to the journal, or (for a new state,
/// an old format, or a journal grown past the snapshot) written as a new snapshot.
fn save(state: &mut State, path: &Path) -> Result<(), StateError> {
    let journal = journal_path(path);
    let grown = state.store.journal_bytes > COMPACT_FLOOR
        && state.store.journal_bytes > COMPACT_RATIO * state.store.snapshot_bytes;
    if state.store.rewrite || grown {
        return compact(state, path, &journal);
    }
    let mut text = String::new();
    let at = state.updated_at.clone();
    let store = std::mem::take(&mut state.store);
    let line = || Line::new(state.generation, &at);
    let items = store.items.iter().filter_map(|key| {
        let s = state.items().get(key)?;
        Some(Line {
            item: Some(key.clone()),
            state: Some(s.clone()),
            ..line()
        })
    });
    let removed = store.removed.iter().map(|key| Line {
        item: Some(key.clone()),
        removed: true,
        ..line()
    });
    let uploads = store.uploads.iter().filter_map(|remote| {
        let u = state.uploads().get(remote)?;
        Some(Line {
            upload: Some(remote.clone()),
            uploaded: Some(u.clone()),
            ..line()
        })
    });
    let forgotten = store.removed_uploads.iter().map(|remote| Line {
        upload: Some(remote.clone()),
        removed: true,
        ..line()
    });
    for l in items.chain(removed).chain(uploads).chain(forgotten) {
        push(&mut text, &l);
    }
    state.store.snapshot_bytes = store.snapshot_bytes;
    state.store.journal_bytes = store.journal_bytes;
    if text.is_empty() {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&journal)
        .map_err(FileError::on("write", &journal))?;
    file.write_all(text.as_bytes())
        .map_err(FileError::on("write", &journal))?;
    file.sync_data().map_err(FileError::on("write", &journal))?;
    state.store.journal_bytes += text.len() as u64;
    Ok(())
}

fn push(text: &mut String, line: &Line) {
    text.push_str(&serde_json::to_string(line).expect("journal lines serialise"));
    text.push('\n');
}

/// Writes the whole state as the next generation's snapshot, then empties the journal.
fn compact(state: &mut State, path: &Path, journal: &Path) -> Result<(), StateError> {
    state.format = FORMAT;
    // Unique across states at this path (a lost snapshot's journal never matches a new one).
    let now = u64::try_from(crate::time::now_ms()).unwrap_or(0);
    state.generation = (state.generation + 1).max(now);
    // Streamed: a 10,000-item snapshot is never held as one string.
    let snapshot_bytes = write_atomically_with(path, |w| {
        serde_json::to_writer_pretty(w, &*state).map_err(std::io::Error::from)
    })?;
    match std::fs::remove_file(journal) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(FileError::on("clear", journal)(e).into()),
    }
    state.store = Store::default();
    state.store.snapshot_bytes = snapshot_bytes;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::state::Attempt;

    fn item(id: &str) -> ItemState {
        ItemState {
            fingerprint: "ab".into(),
            attempts: vec![Attempt {
                execution_id: id.into(),
                name: format!("study-{id}"),
                ..Attempt::default()
            }],
            outputs: Vec::new(),
            superseded: Vec::new(),
        }
    }

    #[test]
    fn an_event_appends_a_line_and_a_reload_replays_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = State::new("study", "Hello/1.0", "http://127.0.0.1:1/rest");
        for k in ["a", "b", "c"] {
            state.ensure_item(k, || item(k));
        }
        state.save(&path).unwrap();
        let snapshot = std::fs::read(&path).unwrap();
        state.item_mut("b").unwrap().attempts[0].status = "Running".into();
        state.save(&path).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            snapshot,
            "the snapshot stays"
        );
        let journal = std::fs::read_to_string(journal_path(&path)).unwrap();
        assert_eq!(journal.lines().count(), 1, "{journal}");
        assert!(journal.contains("\"item\":\"b\""), "{journal}");
        state.retain_items(|k, _| k != "c");
        state.save(&path).unwrap();
        let back = State::load(&path).unwrap().unwrap();
        assert_eq!(back.items()["b"].attempts[0].status, "Running");
        assert!(!back.items().contains_key("c"));
        assert_eq!(back.items().len(), 2);
    }

    #[test]
    fn a_torn_last_line_is_a_save_that_never_happened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = State::new("study", "Hello/1.0", "http://127.0.0.1:1/rest");
        state.ensure_item("a", || item("a"));
        state.save(&path).unwrap();
        state.item_mut("a").unwrap().attempts[0].status = "Running".into();
        state.save(&path).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(journal_path(&path))
            .unwrap();
        f.write_all(b"{\"gen\":0,\"item\":\"a\",\"state\":{\"fingerp")
            .unwrap();
        drop(f);
        let mut back = State::load(&path).unwrap().unwrap();
        assert_eq!(back.items()["a"].attempts[0].status, "Running");
        // The next save starts clean: a new snapshot, no torn line left mid-journal.
        back.item_mut("a").unwrap().attempts[0].status = "Finished".into();
        back.save(&path).unwrap();
        let again = State::load(&path).unwrap().unwrap();
        assert_eq!(again.items()["a"].attempts[0].status, "Finished");
    }

    #[test]
    fn lines_of_an_older_generation_are_already_in_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = State::new("study", "Hello/1.0", "http://127.0.0.1:1/rest");
        state.ensure_item("a", || item("a"));
        state.save(&path).unwrap();
        state.item_mut("a").unwrap().attempts[0].status = "Running".into();
        state.save(&path).unwrap();
        let old_journal = std::fs::read(journal_path(&path)).unwrap();
        // A compaction whose journal truncation was lost to a crash.
        state.item_mut("a").unwrap().attempts[0].status = "Finished".into();
        state.store.rewrite = true;
        state.save(&path).unwrap();
        std::fs::write(journal_path(&path), old_journal).unwrap();
        let back = State::load(&path).unwrap().unwrap();
        assert_eq!(back.items()["a"].attempts[0].status, "Finished");
    }

    #[test]
    fn a_format_1_state_is_read_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(
            &path,
            r#"{"format":1,"name":"study","pipeline":"Hello/1.0","server":"http://x","updated_at":"",
               "uploads":{},"items":{"main":{"fingerprint":"ab","attempts":[{"execution_id":"workflow-1","name":"n","launched_at":0,"status":"Running"}]}}}"#,
        )
        .unwrap();
        let mut state = State::load(&path).unwrap().unwrap();
        assert_eq!(state.items()["main"].attempts[0].execution_id, "workflow-1");
        state.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"format\": 3"), "{text}");
    }

    #[test]
    fn bytes_written_grow_with_the_events_not_their_square() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = State::new("study", "Hello/1.0", "http://127.0.0.1:1/rest");
        let n = 2_000;
        for i in 0..n {
            state.ensure_item(&format!("k{i}"), || item(&format!("w{i}")));
        }
        state.save(&path).unwrap();
        let mut written = std::fs::metadata(&path).unwrap().len();
        let mut last_journal = 0;
        for i in 0..n {
            state.item_mut(&format!("k{i}")).unwrap().attempts[0].status = "Running".into();
            state.save(&path).unwrap();
            let j = std::fs::metadata(journal_path(&path)).map_or(0, |m| m.len());
            written += if j >= last_journal {
                j - last_journal
            } else {
                std::fs::metadata(&path).unwrap().len() + j
            };
            last_journal = j;
        }
        let snapshot = std::fs::metadata(&path).unwrap().len();
        // Rewriting the whole state per event would be n × snapshot; the journal is a few
        // snapshots' worth at most.
        assert!(
            written < 6 * snapshot,
            "{written} bytes written for a {snapshot}-byte state"
        );
    }
}
