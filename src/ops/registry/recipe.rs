//! Each manifest's last run, kept in the registry for `vip-run recipes` and `status` over
//! several manifests: written when a run starts (under the manifest's own lock, so a run
//! refused by that lock never touches it) and when it ends, by the process that started it.
//! While the run goes on it holds `recipes/<recipe>.lock`: a record without an end whose
//! lock is free is a run that was killed. (Trying that lock, rather than the manifest's own,
//! can never make a run starting at that instant fail: a run waits for it an instant.)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::files::{FileError, write_atomically};
use crate::manifest::expand::hex;
use crate::report::recipes::{Counts, Line, State};

use super::{Registry, try_lock};

/// A manifest's last run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeRecord {
    /// The manifest, absolute.
    pub manifest: PathBuf,
    /// Its `name`.
    pub name: String,
    /// The server the run went to.
    pub server: String,
    /// The pipeline.
    pub pipeline: String,
    /// The account's folder in the registry.
    pub account: String,
    /// The process that ran it.
    pub pid: u32,
    /// When it started and ended (epoch ms).
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    /// Its exit code, once it ended.
    pub exit_code: Option<i32>,
    /// Its items as it left them, once it ended.
    pub counts: Option<Counts>,
}

impl RecipeRecord {
    /// Where the recipe is: `running` when the lock of its run is held now.
    fn state(&self, running: bool) -> State {
        match (running, self.ended_ms, self.exit_code) {
            (true, _, _) => State::Running,
            (false, None, _) => State::Stopped,
            (false, Some(_), Some(0)) if self.counts.is_some_and(|c| c.running > 0) => {
                State::Detached
            }
            (false, Some(_), Some(0)) => State::Finished,
            (false, Some(_), Some(130 | 143)) => State::Interrupted,
            (false, Some(_), _) => State::Failed,
        }
    }

    /// Its line, as `recipes` shows it.
    pub fn line(&self, running: bool) -> Line {
        Line {
            name: self.name.clone(),
            manifest: self.manifest.display().to_string(),
            state: self.state(running),
            server: Some(self.server.clone()),
            pipeline: Some(self.pipeline.clone()),
            started: Some(self.started_ms),
            ended: self.ended_ms,
            exit_code: self.exit_code,
            counts: self.counts,
        }
    }
}

/// A run's hold on its recipe's lock, for as long as it runs.
#[derive(Debug)]
pub struct RecipeRun {
    _lock: Option<std::fs::File>,
}

/// The manifest at `path`, absolute (as recorded, whatever folder the run was started in).
pub fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
    })
}

/// The record's file name (without extension): a short hash of the absolute manifest path.
fn recipe_id(manifest: &Path) -> String {
    hex(&Sha256::digest(manifest.as_os_str().as_encoded_bytes()))[..16].to_owned()
}

impl Registry {
    fn recipe_file(&self, manifest: &Path, ext: &str) -> PathBuf {
        self.recipes_dir()
            .join(format!("{}.{ext}", recipe_id(manifest)))
    }

    /// Records that `record`'s run starts, and holds its lock while the run goes on.
    pub fn recipe_started(&self, record: &RecipeRecord) -> Result<RecipeRun, FileError> {
        let dir = self.recipes_dir();
        std::fs::create_dir_all(&dir).map_err(FileError::on("create", &dir))?;
        let lock_path = self.recipe_file(&record.manifest, "lock");
        // Free but for an instant (`recipes` trying it), since the manifest's own lock is
        // held: a run that still finds it taken after a second goes on without it.
        let deadline = Instant::now() + Duration::from_secs(1);
        let lock = loop {
            match try_lock(&lock_path).map_err(FileError::on("lock", &lock_path))? {
                Some(file) => break Some(file),
                None if Instant::now() >= deadline => break None,
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        self.write_recipe(record)?;
        Ok(RecipeRun { _lock: lock })
    }

    /// Records the end of the run of `manifest` this process started: `exit_code`, and its
    /// items as it left them when it got that far. A record another process started (this
    /// one stopped before its own start was recorded) is left alone.
    pub fn recipe_ended(
        &self,
        manifest: &Path,
        exit_code: i32,
        counts: Option<Counts>,
    ) -> Result<(), FileError> {
        let Some(mut record) = self.recipe(manifest) else {
            return Ok(());
        };
        if record.pid != std::process::id() || record.ended_ms.is_some() {
            return Ok(());
        }
        record.ended_ms = Some(crate::time::now_ms());
        record.exit_code = Some(exit_code);
        record.counts = counts;
        self.write_recipe(&record)
    }

    /// The record of `manifest` (absolute), if any.
    pub fn recipe(&self, manifest: &Path) -> Option<RecipeRecord> {
        read(&self.recipe_file(manifest, "json"))
    }

    /// Whether a run of `manifest` (absolute) holds its recipe's lock now.
    pub fn recipe_running(&self, manifest: &Path) -> bool {
        let path = self.recipe_file(manifest, "lock");
        // Tried, and let go at once: free means nobody runs it.
        path.exists() && matches!(try_lock(&path), Ok(None))
    }

    /// Every recipe recorded, the latest run first.
    pub fn recipes(&self) -> Result<Vec<RecipeRecord>, FileError> {
        let dir = self.recipes_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(FileError::on("read", &dir)(e)),
        };
        let mut records: Vec<RecipeRecord> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|p| read(&p))
            .collect();
        records.sort_by(|a, b| {
            b.started_ms
                .cmp(&a.started_ms)
                .then_with(|| a.manifest.cmp(&b.manifest))
        });
        Ok(records)
    }

    fn write_recipe(&self, record: &RecipeRecord) -> Result<(), FileError> {
        let mut bytes = serde_json::to_vec_pretty(record).expect("a record serialises");
        bytes.push(b'\n');
        write_atomically(&self.recipe_file(&record.manifest, "json"), &bytes)
    }
}

/// A record file; `None` when it cannot be read (one broken file hides one recipe, not the
/// list).
fn read(path: &Path) -> Option<RecipeRecord> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(manifest: &Path) -> RecipeRecord {
        RecipeRecord {
            manifest: manifest.to_path_buf(),
            name: "hello".into(),
            server: "http://vip/rest".into(),
            pipeline: "Hello/1.0".into(),
            account: "0123456789abcdef".into(),
            pid: std::process::id(),
            started_ms: 1_765_000_000_000,
            ended_ms: None,
            exit_code: None,
            counts: None,
        }
    }

    #[test]
    fn a_run_is_running_while_it_holds_its_lock_and_stopped_without_an_end() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::at(dir.path().to_path_buf());
        let manifest = dir.path().join("hello.yaml");
        assert_eq!(registry.recipe(&manifest), None);
        let run = registry.recipe_started(&record(&manifest)).unwrap();
        assert!(registry.recipe_running(&manifest));
        let line = registry.recipe(&manifest).unwrap().line(true);
        assert_eq!(line.state, State::Running);
        drop(run);
        assert!(!registry.recipe_running(&manifest));
        // Killed: no end was recorded.
        assert_eq!(
            registry.recipe(&manifest).unwrap().line(false).state,
            State::Stopped
        );
    }

    #[test]
    fn the_end_is_recorded_by_the_process_that_started_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::at(dir.path().to_path_buf());
        let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
        let _run = registry.recipe_started(&record(&a)).unwrap();
        let counts = Counts {
            items: 2,
            finished: 2,
            ..Counts::default()
        };
        registry.recipe_ended(&a, 0, Some(counts)).unwrap();
        let ended = registry.recipe(&a).unwrap();
        assert_eq!((ended.exit_code, ended.counts), (Some(0), Some(counts)));
        assert_eq!(ended.line(false).state, State::Finished);
        // Another process's run is not this one's to end.
        let other = RecipeRecord {
            pid: std::process::id() + 1,
            started_ms: 1_765_000_100_000,
            ..record(&b)
        };
        registry.recipe_started(&other).unwrap();
        registry.recipe_ended(&b, 1, None).unwrap();
        assert_eq!(registry.recipe(&b).unwrap().ended_ms, None);
        let names: Vec<PathBuf> = registry
            .recipes()
            .unwrap()
            .into_iter()
            .map(|r| r.manifest)
            .collect();
        assert_eq!(names, [b, a]);
    }

    #[test]
    fn states_follow_the_exit_code() {
        let base = RecipeRecord {
            ended_ms: Some(1),
            ..record(Path::new("/x.yaml"))
        };
        let with = |code: i32, running: usize| RecipeRecord {
            exit_code: Some(code),
            counts: Some(Counts {
                running,
                ..Counts::default()
            }),
            ..base.clone()
        };
        assert_eq!(with(0, 0).line(false).state, State::Finished);
        assert_eq!(with(0, 2).line(false).state, State::Detached);
        assert_eq!(with(1, 0).line(false).state, State::Failed);
        assert_eq!(with(130, 1).line(false).state, State::Interrupted);
        assert_eq!(with(143, 1).line(false).state, State::Interrupted);
        assert_eq!(with(5, 0).line(false).state, State::Failed);
    }
}
