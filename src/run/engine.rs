//! The run: uploads, launches within the quota, monitoring, downloads, the run record.
//!
//! Idempotency rests on two things: every item's execution has a deterministic name
//! (`<name>-<key>-<fp6>`, `-r<N>` for retries), and the state file records what was done.
//! A run reads the state, then asks VIP for executions by name for items the state does not
//! know (a lost state file, or a crash between a launch and the save), so a re-run adopts
//! executions instead of launching duplicates. A launch (`POST /executions`) is never
//! repeated blindly: after an ambiguous failure the execution is looked up by name first.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::error::Error;
use crate::manifest::expand::hex;
use crate::manifest::{InputWire, Item, Validated, ValueKind};
use crate::report::run::{Event, JunitCase, Reporter};
use crate::vip::wire::{CreateExecution, Execution, ExecutionStatus, JobClass};
use crate::vip::{LogStream, Meaning, VipError};

use super::Connection;
use super::extract;
use super::state::{Attempt, ItemState, Output, State, Upload, write_atomically};
use super::time;

/// How long `Unknown` is waited out before it counts as a failure (vip-api.md §5.1).
const UNKNOWN_GRACE: Duration = Duration::from_secs(300);
/// The first poll comes quickly; later ones back off to `poll_interval`.
const FIRST_POLL: Duration = Duration::from_millis(250);
/// With more active executions than this, one list call beats one call per execution.
const LIST_THRESHOLD: usize = 2;
/// How long to wait before trying again after VIP's quota refused a launch.
const QUOTA_WAIT: Duration = Duration::from_secs(5);

/// Where a manifest's run files live.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `.vip-run/<name>`.
    pub dir: PathBuf,
    /// `state.json`.
    pub state: PathBuf,
    /// `lock`.
    pub lock: PathBuf,
    /// `run.json`.
    pub record: PathBuf,
}

impl Paths {
    /// The paths for `v`, under `state_dir` (default: `.vip-run` next to the manifest).
    pub fn new(v: &Validated, state_dir: Option<&Path>) -> Self {
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
        let dir = root.join(&v.name);
        Self {
            state: dir.join("state.json"),
            lock: dir.join("lock"),
            record: dir.join("run.json"),
            dir,
        }
    }
}

/// What the command asked of the run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Return once everything that can be launched now is launched.
    pub detach: bool,
    /// Only download outputs of finished items (no uploads, no launches).
    pub download_only: bool,
}

/// How each item ended (or stands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Finished and downloaded (or nothing to download).
    Done,
    /// Finished, with outputs that could not be downloaded.
    DoneWithProblems(String),
    /// `ExecutionFailed` / `Killed` / refused launch.
    Failed(String),
    /// Took longer than `timeout`.
    TimedOut,
    /// Still queued or running (detached or interrupted).
    InProgress,
    /// Not launched (interrupted before, or detached while waiting for the quota).
    NotLaunched,
}

impl Outcome {
    fn is_failure(&self) -> bool {
        matches!(self, Self::Failed(_) | Self::TimedOut)
    }
}

/// A run's result.
#[derive(Debug)]
pub struct Summary {
    /// Item key → outcome.
    pub outcomes: Vec<(String, Outcome)>,
    /// `JUnit` cases.
    pub junit: Vec<JunitCase>,
    /// Whether the run was interrupted.
    pub interrupted: bool,
}

impl Summary {
    /// Whether any item failed or timed out.
    pub fn any_failed(&self) -> bool {
        self.outcomes.iter().any(|(_, o)| o.is_failure())
    }
}

/// Ctrl-C, as seen by the run loop.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// Whether Ctrl-C was pressed.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Marks the run interrupted.
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Sleeps `d`, waking early on Ctrl-C.
    pub async fn sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        while !self.is_set() && Instant::now() < deadline {
            tokio::time::sleep((deadline - Instant::now()).min(Duration::from_millis(100))).await;
        }
    }
}

/// The execution name of an item's `attempt` (0-based): retries get `-r<N>`.
pub fn attempt_name(item: &Item, attempt: usize) -> String {
    if attempt == 0 {
        item.execution_name.clone()
    } else {
        format!("{}-r{attempt}", item.execution_name)
    }
}

/// The remote folder for uploads.
pub fn inputs_root(v: &Validated) -> String {
    format!("/vip/Home/vip-run/{}/inputs", v.name)
}

/// The results folder of one execution: its own folder under `results.location`, so runs
/// launched in the same second never share VIP's timestamped folder.
pub fn results_dir(item: &Item, name: &str) -> String {
    format!("{}/{name}", item.results_location.trim_end_matches('/'))
}

/// SHA-256 of a local file, streamed.
pub async fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The local path for an output, or why it is refused: the output's path below the
/// execution's results folder, without VIP's timestamp folder; nothing may climb out.
pub fn local_output_path(
    download: &Path,
    results_dir: &str,
    remote: &str,
) -> Result<PathBuf, String> {
    let rel = remote
        .strip_prefix(results_dir)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| {
            format!("`{remote}` is outside the execution's results folder {results_dir}")
        })?;
    let mut parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() > 1 && is_vip_timestamp(parts[0]) {
        parts.remove(0);
    }
    let mut out = download.to_path_buf();
    for part in &parts {
        let component = Path::new(part).components().next();
        if parts.is_empty()
            || *part == "."
            || *part == ".."
            || part.contains('\\')
            || part.contains('\0')
            || !matches!(component, Some(Component::Normal(_)))
        {
            return Err(format!("`{remote}` has an unsafe path segment `{part}`"));
        }
        out.push(part);
    }
    if parts.is_empty() {
        return Err(format!("`{remote}` names the results folder itself"));
    }
    Ok(out)
}

/// Whether `segment` is VIP's per-run folder name, `dd-MM-yyyy_HH:mm:ss`.
fn is_vip_timestamp(segment: &str) -> bool {
    let b = segment.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            2 | 5 => *c == b'-',
            10 => *c == b'_',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

fn jobs_counts(e: &Execution) -> (usize, usize, usize) {
    let total = e.jobs.len();
    let done = e
        .jobs
        .values()
        .filter(|j| j.class() == JobClass::Done)
        .count();
    let failed = e
        .jobs
        .values()
        .filter(|j| j.class() == JobClass::Failed)
        .count();
    (done, failed, total)
}

fn stderr_tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// The run of one manifest over one connection.
pub struct Runner<'a> {
    v: &'a Validated,
    conn: &'a Connection,
    paths: Paths,
    /// The state as on disk.
    pub state: State,
    reporter: &'a mut Reporter,
    interrupt: Interrupt,
    cap: Option<u64>,
    remote_inputs: HashMap<PathBuf, String>,
    dirty: bool,
    unknown_since: HashMap<String, Instant>,
    quota_until: Option<Instant>,
    launch_error: HashMap<String, String>,
    read_only: bool,
    waiting_reported: bool,
    /// Folders known to exist on VIP (so each launch costs one mkdir, not a walk).
    known_dirs: std::collections::HashSet<String>,
}

impl<'a> Runner<'a> {
    fn emit(&mut self, event: &Event) {
        if !self.read_only {
            self.reporter.event(event);
        }
    }

    /// Brings the state up to date in memory only, saving nothing and reporting nothing
    /// (for `status` and `plan`).
    pub async fn prepare_read_only(&mut self) -> Result<(), Error> {
        self.read_only = true;
        self.prepare().await
    }

    /// Refreshes statuses in memory only.
    pub async fn refresh_read_only(&mut self) -> Result<(), Error> {
        self.read_only = true;
        self.poll().await.map(drop)
    }

    /// How many executions were launched for `key`.
    pub fn attempt_count(&self, key: &str) -> usize {
        self.state.items.get(key).map_or(0, |s| s.attempts.len())
    }

    /// Whether every output of `key`'s finished execution is on disk (or cannot be).
    pub fn outputs_complete(&self, key: &str) -> bool {
        self.state.items.get(key).is_some_and(|s| {
            !s.outputs.is_empty()
                && s.outputs.iter().all(|o| {
                    o.problem.is_some()
                        || (o.done && o.local.as_ref().is_some_and(|l| file_size(l) == o.size))
                })
        })
    }

    /// A runner; loads the state (or starts one).
    pub fn new(
        v: &'a Validated,
        conn: &'a Connection,
        paths: Paths,
        reporter: &'a mut Reporter,
        interrupt: Interrupt,
        cap: Option<u64>,
    ) -> Result<Self, Error> {
        let state = match State::load(&paths.state).map_err(Error::State)? {
            Some(s) if s.server == conn.server => s,
            Some(s) if conn.sandbox.is_some() => {
                // A fresh sandbox knows nothing of earlier ones: start over.
                drop(s);
                State::new(&v.name, &v.pipeline_id, &conn.server)
            }
            Some(s) => {
                return Err(Error::State(format!(
                    "{} records runs on {}, not {}: use --state-dir to keep runs on different servers apart",
                    paths.state.display(),
                    s.server,
                    conn.server
                )));
            }
            None => State::new(&v.name, &v.pipeline_id, &conn.server),
        };
        Ok(Self {
            v,
            conn,
            paths,
            state,
            reporter,
            interrupt,
            cap,
            remote_inputs: HashMap::new(),
            dirty: false,
            unknown_since: HashMap::new(),
            quota_until: None,
            launch_error: HashMap::new(),
            read_only: false,
            waiting_reported: false,
            known_dirs: std::collections::HashSet::new(),
        })
    }

    fn save(&mut self) -> Result<(), Error> {
        if self.read_only {
            return Ok(());
        }
        self.state.save(&self.paths.state).map_err(Error::State)?;
        self.dirty = false;
        Ok(())
    }

    fn save_if_dirty(&mut self) -> Result<(), Error> {
        if self.dirty { self.save() } else { Ok(()) }
    }

    /// Forgets items whose inputs changed (their executions stay on VIP), and items no
    /// longer in the manifest.
    fn reconcile_fingerprints(&mut self) {
        let keys: HashMap<&str, &Item> = self.v.items.iter().map(|i| (i.key.as_str(), i)).collect();
        let before = self.state.items.len();
        self.state.items.retain(|k, s| {
            keys.get(k.as_str())
                .is_some_and(|i| i.fingerprint == s.fingerprint)
        });
        for item in &self.v.items {
            self.state
                .items
                .entry(item.key.clone())
                .or_insert_with(|| ItemState {
                    fingerprint: item.fingerprint.clone(),
                    ..ItemState::default()
                });
        }
        if self.state.items.len() != before {
            self.dirty = true;
        }
    }

    /// Adopts executions found on VIP by name for items the state knows nothing of.
    async fn adopt_by_name(&mut self) -> Result<(), Error> {
        let unknown: Vec<&Item> = self
            .v
            .items
            .iter()
            .filter(|i| {
                self.state
                    .items
                    .get(&i.key)
                    .is_none_or(|s| s.attempts.is_empty())
            })
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let listed = self
            .conn
            .client
            .executions(crate::vip::client::MAX_LIST_LIMIT)
            .await?;
        let by_name: HashMap<&str, &Execution> = {
            let mut m: HashMap<&str, &Execution> = HashMap::new();
            // Most recent first: keep the first seen of each name.
            for e in &listed {
                m.entry(e.name.as_str()).or_insert(e);
            }
            m
        };
        let mut adopted = Vec::new();
        for item in unknown {
            // The highest attempt found wins (a retry supersedes the failed original).
            let mut found = Vec::new();
            for n in 0..=self.v.execution.retries as usize {
                if let Some(e) = by_name.get(attempt_name(item, n).as_str()) {
                    found.push((n, (*e).clone()));
                }
            }
            if found.is_empty() {
                continue;
            }
            adopted.push((item.key.clone(), found));
        }
        for (key, found) in adopted {
            for (_, e) in found {
                let state = self.state.items.get_mut(&key).expect("reconciled");
                state.attempts.push(Attempt {
                    execution_id: e.identifier.clone(),
                    name: e.name.clone(),
                    launched_at: e.start_date.unwrap_or_else(time::now_ms),
                    status: e.status.to_string(),
                    history: vec![(e.status.to_string(), time::now_ms())],
                    ..Attempt::default()
                });
                self.emit(&Event::Reused {
                    item: key.clone(),
                    execution: e.identifier.clone(),
                    name: e.name.clone(),
                    status: e.status.to_string(),
                });
            }
            self.dirty = true;
        }
        self.save_if_dirty()
    }

    /// Uploads the local files the items need, skipping those already on VIP unchanged.
    async fn upload_inputs(&mut self) -> Result<(), Error> {
        let root = inputs_root(self.v);
        let mut files: BTreeMap<String, (PathBuf, u64)> = BTreeMap::new();
        for item in &self.v.items {
            for wire in item.inputs.values() {
                for value in wire.values() {
                    if let ValueKind::LocalFile { path, size, upload } = &value.kind {
                        files
                            .entry(format!("{root}/{upload}"))
                            .or_insert((path.clone(), *size));
                    }
                }
            }
        }
        // Items that are all launched already need no uploads.
        let pending = self.v.items.iter().any(|i| self.needs_launch(i));
        for (remote, (local, size)) in files {
            self.remote_inputs.insert(local.clone(), remote.clone());
            if self.interrupt.is_set() {
                continue;
            }
            let mtime = modified_ms(&local);
            let recorded = self.state.uploads.get(&remote).cloned();
            // Unchanged size and time: the recorded hash stands (no re-read of big files).
            let sha = match &recorded {
                Some(u) if u.size == size && u.mtime.is_some() && u.mtime == mtime => {
                    u.sha256.clone()
                }
                _ => file_sha256(&local)
                    .await
                    .map_err(|e| Error::State(format!("cannot read {}: {e}", local.display())))?,
            };
            if let Some(u) = recorded.as_ref().filter(|u| u.sha256 != sha) {
                self.warn_changed_input(&local, &u.at);
            }
            if !pending {
                continue;
            }
            let known = self
                .state
                .uploads
                .get(&remote)
                .is_some_and(|u| u.size == size && u.sha256 == sha);
            let on_vip = self.conn.client.properties(&remote).await?;
            let shown = local.display().to_string();
            if known && on_vip.exists && on_vip.size == Some(size) {
                self.emit(&Event::UploadSkipped {
                    local: shown,
                    remote,
                });
                continue;
            }
            if on_vip.exists {
                // Different content (or a partial upload): VIP does not overwrite reliably.
                self.conn.client.delete_path(&remote).await?;
            }
            let parent = remote
                .rsplit_once('/')
                .map_or(root.as_str(), |(p, _)| p)
                .to_owned();
            self.conn.client.mkdir_p(&parent).await?;
            let bar = self.reporter.transfer(&format!("uploading {shown}"), size);
            let on_bytes = bar.as_ref().map(|(_, f)| f.clone());
            let sent = self
                .conn
                .client
                .upload_with_progress(&local, &remote, on_bytes)
                .await;
            if let Some((bar, _)) = bar {
                bar.finish_and_clear();
            }
            sent?;
            let check = self.conn.client.properties(&remote).await?;
            if check.size != Some(size) {
                return Err(Error::State(format!(
                    "VIP stored {} bytes of {shown} ({size} bytes) at {remote}; run again to re-upload",
                    check.size.unwrap_or(0)
                )));
            }
            self.state.uploads.insert(
                remote.clone(),
                Upload {
                    local: local.clone(),
                    size,
                    sha256: sha,
                    mtime,
                    at: time::rfc3339(time::now_ms()),
                },
            );
            self.dirty = true;
            self.save()?;
            self.emit(&Event::Uploaded {
                local: shown,
                remote,
                size,
            });
        }
        Ok(())
    }

    /// Says which items keep executions launched with an earlier content of `local`.
    fn warn_changed_input(&mut self, local: &Path, uploaded_at: &str) {
        let affected: Vec<String> = self
            .v
            .items
            .iter()
            .filter(|i| {
                i.inputs.values().any(|w| {
                    w.values().iter().any(
                        |v| matches!(&v.kind, ValueKind::LocalFile { path, .. } if path == local),
                    )
                })
            })
            .filter(|i| {
                self.state
                    .items
                    .get(&i.key)
                    .is_some_and(|s| !s.attempts.is_empty())
            })
            .map(|i| i.key.clone())
            .collect();
        if !affected.is_empty() {
            self.emit(&Event::Warning {
                message: format!(
                    "{} changed since it was uploaded ({uploaded_at}); items {} keep their executions, which used the earlier content (inputs are identified by path): rename the file to run them again",
                    local.display(),
                    affected.join(", ")
                ),
            });
        }
    }

    fn item_state(&self, key: &str) -> &ItemState {
        &self.state.items[key]
    }

    fn current(&self, key: &str) -> Option<&Attempt> {
        self.state.items.get(key).and_then(|s| s.attempts.last())
    }

    fn status_of(attempt: &Attempt) -> ExecutionStatus {
        serde_json::from_value(json!(attempt.status))
            .unwrap_or(ExecutionStatus::Other(attempt.status.clone()))
    }

    /// Whether `item` needs a (new) launch: never launched, or failed with retries left.
    fn needs_launch(&self, item: &Item) -> bool {
        if self.launch_error.contains_key(&item.key) {
            return false;
        }
        let state = self.item_state(&item.key);
        match state.attempts.last() {
            None => true,
            Some(a) if a.timed_out => false,
            Some(a) => {
                let status = Self::status_of(a);
                let failed = matches!(
                    status,
                    ExecutionStatus::ExecutionFailed | ExecutionStatus::InitializationFailed
                ) || (status == ExecutionStatus::Unknown
                    && self.unknown_expired(&a.execution_id));
                failed && state.attempts.len() <= self.v.execution.retries as usize
            }
        }
    }

    fn unknown_expired(&self, id: &str) -> bool {
        self.unknown_since
            .get(id)
            .is_some_and(|t| t.elapsed() >= UNKNOWN_GRACE)
    }

    fn is_active(a: &Attempt) -> bool {
        !a.timed_out && !Self::status_of(a).is_terminal()
    }

    /// The longest wait between polls: a tenth of the age of the oldest active execution,
    /// within `FIRST_POLL..poll_interval`. Hours-long VIP runs are polled every
    /// `poll_interval`; a short run's end is noticed within 10% of its duration.
    fn poll_ceiling(&self) -> Duration {
        let interval = self.v.execution.poll_interval.max(FIRST_POLL);
        let now = time::now_ms();
        let oldest = self
            .state
            .items
            .values()
            .filter_map(|s| s.attempts.last())
            .filter(|a| Self::is_active(a))
            .map(|a| now - a.launched_at)
            .max()
            .unwrap_or(0);
        (Duration::from_millis(u64::try_from(oldest).unwrap_or(0)) / 10).clamp(FIRST_POLL, interval)
    }

    /// Creates `path` on VIP unless it is known to exist.
    async fn ensure_dir(&mut self, path: &str) -> Result<(), Error> {
        if self.known_dirs.contains(path) {
            return Ok(());
        }
        match path.rsplit_once('/') {
            Some((parent, _)) if self.known_dirs.contains(parent) => {
                // Whether mkdir on an existing folder fails on VIP is open: look first.
                if !self.conn.client.exists(path).await? {
                    self.conn.client.mkdir(path).await?;
                }
            }
            _ => self.conn.client.mkdir_p(path).await?,
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.known_dirs.insert(parent.to_owned());
        }
        self.known_dirs.insert(path.to_owned());
        Ok(())
    }

    /// (item key, execution id) of the queued and running executions (of `only`, if given).
    fn active(&self, only: Option<&str>) -> Vec<(String, String)> {
        self.state
            .items
            .iter()
            .filter(|(k, _)| only.is_none_or(|o| o == k.as_str()))
            .filter_map(|(k, s)| {
                s.attempts
                    .last()
                    .filter(|a| Self::is_active(a))
                    .map(|a| (k.clone(), a.execution_id.clone()))
            })
            .collect()
    }

    /// Executions taking a slot of `max_parallel` (an `Unknown` one given up on does not).
    fn running_count(&self) -> usize {
        self.state
            .items
            .values()
            .filter_map(|s| s.attempts.last())
            .filter(|a| Self::is_active(a) && !self.unknown_expired(&a.execution_id))
            .count()
    }

    /// The inputs as VIP receives them: local files replaced by their uploaded paths.
    fn wire_inputs(&self, item: &Item) -> IndexMap<String, Json> {
        let one = |v: &crate::manifest::Value| -> Json {
            match &v.kind {
                ValueKind::LocalFile { path, .. } => Json::String(
                    self.remote_inputs
                        .get(path)
                        .cloned()
                        .unwrap_or_else(|| v.text.clone()),
                ),
                _ => Json::String(v.text.clone()),
            }
        };
        item.inputs
            .iter()
            .map(|(k, w)| {
                let value = match w {
                    InputWire::One(v) => one(v),
                    InputWire::List(vs) => Json::Array(vs.iter().map(one).collect()),
                };
                (k.clone(), value)
            })
            .collect()
    }

    /// Launches `item`; returns false when the quota says to wait.
    async fn launch(&mut self, item: &Item) -> Result<bool, Error> {
        let attempt = self.item_state(&item.key).attempts.len();
        let name = attempt_name(item, attempt);
        let results = results_dir(item, &name);
        self.ensure_dir(&results).await?;
        let body = CreateExecution {
            name: Some(name.clone()),
            pipeline_identifier: Some(self.v.pipeline_id.clone()),
            input_values: Some(self.wire_inputs(item)),
            results_location: Some(results),
        };
        let submitted = time::now_ms();
        let execution = match self.conn.client.create_execution(&body).await {
            Ok(e) => Some(e),
            Err(e) if matches!(e.meaning(), Meaning::QuotaFull | Meaning::PlatformFull) => {
                self.quota_until = Some(Instant::now() + QUOTA_WAIT);
                if self.waiting_reported {
                    return Ok(false);
                }
                self.waiting_reported = true;
                self.emit(&Event::Waiting {
                    item: item.key.clone(),
                    reason: if e.meaning() == Meaning::QuotaFull {
                        "your quota of running executions on VIP is full".into()
                    } else {
                        "VIP's platform-wide limit of running executions is reached".into()
                    },
                });
                return Ok(false);
            }
            Err(e) if e.is_unreachable() => {
                // Ambiguous: the execution may exist. Look it up by name before anything else.
                self.find_by_name(&name, submitted).await?
            }
            Err(e) => {
                let message = format!("VIP refused the launch: {e}");
                self.launch_error.insert(item.key.clone(), message.clone());
                self.emit(&Event::ItemFinished {
                    item: item.key.clone(),
                    result: format!("failed: {message}"),
                    execution: None,
                });
                return Ok(true);
            }
        };
        let Some(execution) = execution else {
            // Not created: the next cycle launches again.
            self.reporter.note(&format!(
                "{}: the launch did not reach VIP; trying again",
                item.key
            ));
            return Ok(true);
        };
        let status = execution.status.to_string();
        let state = self.state.items.get_mut(&item.key).expect("reconciled");
        state.attempts.push(Attempt {
            execution_id: execution.identifier.clone(),
            name: name.clone(),
            launched_at: submitted,
            status: status.clone(),
            history: vec![(status, time::now_ms())],
            ..Attempt::default()
        });
        state.outputs.clear();
        self.waiting_reported = false;
        self.save()?;
        self.emit(&Event::Launched {
            item: item.key.clone(),
            execution: execution.identifier,
            name,
        });
        Ok(true)
    }

    /// After an ambiguous launch: the execution named `name` created since `since`, if any.
    async fn find_by_name(&self, name: &str, since: i64) -> Result<Option<Execution>, Error> {
        // Allow for clock skew between this machine and VIP.
        let skew = 10 * 60 * 1000;
        for _ in 0..3 {
            match self.conn.client.executions(50).await {
                Ok(list) => {
                    return Ok(list.into_iter().find(|e| {
                        e.name == name
                            && e.pipeline_identifier == self.v.pipeline_id
                            && e.start_date.is_none_or(|d| d >= since - skew)
                    }));
                }
                Err(e) if e.is_unreachable() => tokio::time::sleep(Duration::from_secs(1)).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Vip(VipError::Transport {
            operation: "GET /executions".into(),
            kind: crate::vip::error::TransportKind::Broken(
                "cannot tell whether the last launch reached VIP".into(),
            ),
        }))
    }

    /// Refreshes every active execution's status; returns whether anything changed.
    async fn poll(&mut self) -> Result<bool, Error> {
        let active = self.active(None);
        if active.is_empty() {
            return Ok(false);
        }
        let mut fresh: HashMap<String, Execution> = HashMap::new();
        if active.len() > LIST_THRESHOLD {
            // One call for up to 500 executions (VIP's list is most recent first).
            for e in self
                .conn
                .client
                .executions(crate::vip::client::MAX_LIST_LIMIT)
                .await?
            {
                fresh.insert(e.identifier.clone(), e);
            }
        }
        let mut changed = false;
        for (key, id) in active {
            let summary = match fresh.remove(&id) {
                Some(e) => e,
                None => match self.conn.client.execution(&id).await {
                    Ok(e) => e,
                    Err(e) if e.meaning() == Meaning::Gone => {
                        self.mark(&key, "Killed");
                        self.emit(&Event::Warning {
                            message: format!("{key}: execution {id} was deleted on VIP"),
                        });
                        changed = true;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                },
            };
            let status = summary.status.clone();
            if status == ExecutionStatus::Unknown {
                self.unknown_since
                    .entry(id.clone())
                    .or_insert_with(Instant::now);
            }
            let terminal = status.is_terminal();
            // Job counts come with the full execution; the list's summaries have none.
            let full = if summary.jobs.is_empty()
                && (terminal
                    || self
                        .current(&key)
                        .is_some_and(|a| a.status != status.as_str()))
            {
                self.conn.client.execution(&id).await.unwrap_or(summary)
            } else {
                summary
            };
            let now = time::now_ms();
            let state = self.state.items.get_mut(&key).expect("reconciled");
            let attempt = state.attempts.last_mut().expect("active");
            if attempt.observe(status.as_str(), now) {
                changed = true;
                self.dirty = true;
                let (done, failed, total) = jobs_counts(&full);
                self.emit(&Event::Status {
                    item: key.clone(),
                    execution: id.clone(),
                    status: status.to_string(),
                    jobs_done: done,
                    jobs_failed: failed,
                    jobs_total: total,
                });
                if matches!(
                    status,
                    ExecutionStatus::ExecutionFailed
                        | ExecutionStatus::InitializationFailed
                        | ExecutionStatus::Killed
                ) {
                    let tail = self.failure_log(&id, &full).await;
                    let state = self.state.items.get_mut(&key).expect("reconciled");
                    state.attempts.last_mut().expect("active").stderr_tail = tail;
                }
            }
            // The time limit.
            let timeout = i64::try_from(self.v.execution.timeout.as_millis()).unwrap_or(i64::MAX);
            let state = self.state.items.get_mut(&key).expect("reconciled");
            let attempt = state.attempts.last_mut().expect("active");
            if !attempt.status.is_empty()
                && !Self::status_of(attempt).is_terminal()
                && now - attempt.launched_at > timeout
            {
                attempt.timed_out = true;
                self.dirty = true;
                changed = true;
                if self.v.execution.kill_on_timeout
                    && let Err(e) = self.conn.client.kill(&id).await
                {
                    self.emit(&Event::Warning {
                        message: format!("{key}: could not kill {id}: {e}"),
                    });
                }
                self.emit(&Event::ItemFinished {
                    item: key.clone(),
                    result: format!(
                        "timed out after {}{}",
                        crate::manifest::duration::format(self.v.execution.timeout),
                        if self.v.execution.kill_on_timeout {
                            ", killed"
                        } else {
                            ", left running on VIP"
                        }
                    ),
                    execution: Some(id.clone()),
                });
            }
        }
        self.save_if_dirty()?;
        Ok(changed)
    }

    fn mark(&mut self, key: &str, status: &str) {
        if let Some(a) = self
            .state
            .items
            .get_mut(key)
            .and_then(|s| s.attempts.last_mut())
        {
            a.observe(status, time::now_ms());
            self.dirty = true;
        }
    }

    /// The end of the failed jobs' standard error.
    async fn failure_log(&self, id: &str, e: &Execution) -> Option<String> {
        let failed: Vec<u64> = e
            .jobs
            .iter()
            .filter(|(_, j)| j.class() == JobClass::Failed)
            .filter_map(|(k, _)| k.parse().ok())
            .collect();
        if let Some(first) = failed.first()
            && let Ok(Some(text)) = self
                .conn
                .client
                .job_log(id, *first, LogStream::Stderr)
                .await
        {
            return Some(stderr_tail(&text));
        }
        match self.conn.client.log(id, LogStream::Stderr).await {
            Ok(Some(text)) => Some(stderr_tail(&text)),
            _ => None,
        }
    }

    /// Downloads the outputs of `item`'s finished execution that are not on disk yet.
    async fn download(&mut self, item: &Item) -> Result<(), Error> {
        let Some(folder) = item.download.clone() else {
            return Ok(());
        };
        let Some(attempt) = self.current(&item.key).cloned() else {
            return Ok(());
        };
        if Self::status_of(&attempt) != ExecutionStatus::Finished {
            return Ok(());
        }
        let state = self.item_state(&item.key);
        if !state.outputs.is_empty() && state.outputs.iter().all(|o| o.done || o.problem.is_some())
        {
            // Re-check the disk: a deleted local file is fetched again.
            if state
                .outputs
                .iter()
                .all(|o| !o.done || o.local.as_ref().is_some_and(|l| file_size(l) == o.size))
            {
                return Ok(());
            }
        }
        let execution = self.conn.client.execution(&attempt.execution_id).await?;
        let results = results_dir(item, &attempt.name);
        let mut outputs = Vec::new();
        for paths in execution.returned_files.unwrap_or_default().values() {
            for remote in paths {
                outputs.push(self.fetch_output(item, &folder, &results, remote).await?);
                if self.interrupt.is_set() {
                    break;
                }
            }
        }
        let state = self.state.items.get_mut(&item.key).expect("reconciled");
        state.outputs = outputs;
        self.dirty = true;
        self.save()
    }

    /// Reports an output that stays on VIP, and records why.
    fn not_downloaded(
        &mut self,
        key: &str,
        remote: &str,
        local: Option<PathBuf>,
        size: Option<u64>,
        shown: String,
        why: String,
    ) -> Output {
        self.emit(&Event::NotDownloaded {
            item: key.to_owned(),
            remote: remote.to_owned(),
            reason: shown,
        });
        Output {
            remote: remote.to_owned(),
            size,
            local,
            done: false,
            problem: Some(why),
        }
    }

    async fn fetch_output(
        &mut self,
        item: &Item,
        folder: &Path,
        results: &str,
        remote: &str,
    ) -> Result<Output, Error> {
        let key = item.key.clone();
        let local = match local_output_path(folder, results, remote) {
            Ok(p) => p,
            Err(why) => {
                let shown = format!("refused: {why}");
                return Ok(self.not_downloaded(&key, remote, None, None, shown, why));
            }
        };
        let props = self.conn.client.properties(remote).await?;
        if props.is_directory == Some(true) {
            let why = "a folder: VIP cannot send folders; list it in the VIP portal".to_owned();
            return Ok(self.not_downloaded(&key, remote, Some(local), None, why.clone(), why));
        }
        let size = props.size;
        if let (Some(size), Some(cap)) = (size, self.cap)
            && size > cap
        {
            let why = format!(
                "{} is over VIP's direct-transfer limit of {}: download it from the VIP portal",
                crate::report::validate::human_bytes(size),
                crate::report::validate::human_bytes(cap)
            );
            return Ok(self.not_downloaded(
                &key,
                remote,
                Some(local),
                Some(size),
                why.clone(),
                why,
            ));
        }
        if size.is_some() && file_size(&local) == size {
            return Ok(Output {
                remote: remote.to_owned(),
                size,
                local: Some(local),
                done: true,
                problem: None,
            });
        }
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::State(format!("cannot create {}: {e}", parent.display())))?;
        }
        let part = local.with_file_name(format!(
            "{}.part",
            local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let bar = self.reporter.transfer(
            &format!("downloading {}", local.display()),
            size.unwrap_or(0),
        );
        let on_bytes = bar.as_ref().map(|(_, f)| f.clone());
        let received = self
            .conn
            .client
            .download_with_progress(remote, &part, on_bytes)
            .await;
        if let Some((bar, _)) = bar {
            bar.finish_and_clear();
        }
        let written = received?;
        if size.is_some_and(|s| s != written) {
            let _ = std::fs::remove_file(&part);
            let why = format!(
                "received {written} bytes of {}: run again to retry",
                size.unwrap_or(0)
            );
            return Ok(self.not_downloaded(&key, remote, Some(local), size, why.clone(), why));
        }
        std::fs::rename(&part, &local)
            .map_err(|e| Error::State(format!("cannot write {}: {e}", local.display())))?;
        self.emit(&Event::Downloaded {
            item: key.clone(),
            remote: remote.to_owned(),
            local: local.display().to_string(),
            size: written,
        });
        if self.v.extract && extract::is_tarball(&local.to_string_lossy()) {
            match extract::extract(&local) {
                Ok(done) => self.emit(&Event::Extracted {
                    item: key,
                    archive: local.display().to_string(),
                    folder: done.folder.display().to_string(),
                    files: done.files,
                    refused: done.refused,
                }),
                Err(why) => self.emit(&Event::Warning {
                    message: format!("{key}: {why}"),
                }),
            }
        }
        Ok(Output {
            remote: remote.to_owned(),
            size: Some(written),
            local: Some(local),
            done: true,
            problem: None,
        })
    }

    /// Each item's outcome now.
    fn outcomes(&self) -> Vec<(String, Outcome)> {
        self.v
            .items
            .iter()
            .map(|item| {
                if let Some(e) = self.launch_error.get(&item.key) {
                    return (item.key.clone(), Outcome::Failed(e.clone()));
                }
                let state = self.item_state(&item.key);
                let outcome = match state.attempts.last() {
                    None => Outcome::NotLaunched,
                    Some(a) if a.timed_out => Outcome::TimedOut,
                    Some(a) => match Self::status_of(a) {
                        ExecutionStatus::Finished => {
                            let problems: Vec<&str> = state
                                .outputs
                                .iter()
                                .filter_map(|o| o.problem.as_deref())
                                .collect();
                            if problems.is_empty() {
                                Outcome::Done
                            } else {
                                Outcome::DoneWithProblems(problems.join("; "))
                            }
                        }
                        s if s.is_terminal() => Outcome::Failed(format!(
                            "{s}{}",
                            a.stderr_tail
                                .as_deref()
                                .map(|t| format!("\n{t}"))
                                .unwrap_or_default()
                        )),
                        ExecutionStatus::Unknown if self.unknown_expired(&a.execution_id) => {
                            Outcome::Failed("VIP lost track of the execution (Unknown)".into())
                        }
                        _ => Outcome::InProgress,
                    },
                };
                (item.key.clone(), outcome)
            })
            .collect()
    }

    /// Brings the state up to date with the manifest and with VIP's execution names.
    pub async fn prepare(&mut self) -> Result<(), Error> {
        self.reconcile_fingerprints();
        self.adopt_by_name().await
    }

    /// The items' current executions: key → (execution id, name, status), for items launched.
    pub fn current_executions(&self) -> Vec<(String, Attempt)> {
        self.v
            .items
            .iter()
            .filter_map(|i| self.current(&i.key).map(|a| (i.key.clone(), a.clone())))
            .collect()
    }

    /// Kills the active executions (of `only` when given); returns what was killed.
    pub async fn cancel(&mut self, only: Option<&str>) -> Result<Vec<(String, String)>, Error> {
        let targets = self.active(only);
        for (key, id) in &targets {
            self.conn.client.kill(id).await?;
            self.mark(key, "Killed");
            self.emit(&Event::ItemFinished {
                item: key.clone(),
                result: "killed".into(),
                execution: Some(id.clone()),
            });
        }
        self.save()?;
        Ok(targets)
    }

    /// Refreshes the statuses of the active executions (for `status`).
    pub async fn refresh(&mut self) -> Result<(), Error> {
        self.poll().await.map(drop)
    }

    /// Runs to the end (or to detach, or to Ctrl-C).
    pub async fn run(mut self, options: &RunOptions) -> Result<Summary, Error> {
        self.prepare().await?;
        if !options.download_only {
            self.upload_inputs().await?;
        }
        let mut delay = FIRST_POLL;
        let mut downloaded: HashMap<String, bool> = HashMap::new();
        loop {
            if self.interrupt.is_set() {
                break;
            }
            // Launch what may be launched.
            if !options.download_only && self.quota_until.is_none_or(|t| Instant::now() >= t) {
                self.quota_until = None;
                let items: Vec<&Item> = self
                    .v
                    .items
                    .iter()
                    .filter(|i| self.needs_launch(i))
                    .collect();
                for item in items {
                    if self.interrupt.is_set()
                        || self.running_count() >= self.v.execution.max_parallel as usize
                    {
                        break;
                    }
                    if !self.launch(item).await? {
                        break;
                    }
                }
            }
            let waiting_to_launch =
                !options.download_only && self.v.items.iter().any(|i| self.needs_launch(i));
            if options.detach
                && (!waiting_to_launch
                    || self.quota_until.is_some()
                    || self.running_count() >= self.v.execution.max_parallel as usize)
            {
                break;
            }
            let running_before = self.running_count();
            let changed = self.poll().await?;
            if self.running_count() < running_before {
                // A slot freed up: the quota may allow a launch now.
                self.quota_until = None;
            }
            // Download what finished.
            for item in &self.v.items {
                if self.interrupt.is_set() {
                    break;
                }
                let finished = self
                    .current(&item.key)
                    .is_some_and(|a| Self::status_of(a) == ExecutionStatus::Finished);
                if finished && !downloaded.get(&item.key).copied().unwrap_or(false) {
                    self.download(item).await?;
                    downloaded.insert(item.key.clone(), true);
                    let outcome = self
                        .outcomes()
                        .into_iter()
                        .find(|(k, _)| k == &item.key)
                        .map(|(_, o)| o);
                    let result = match outcome {
                        Some(Outcome::DoneWithProblems(p)) => {
                            format!("finished; not all outputs downloaded: {p}")
                        }
                        _ => "finished".to_owned(),
                    };
                    self.emit(&Event::ItemFinished {
                        item: item.key.clone(),
                        result,
                        execution: self.current(&item.key).map(|a| a.execution_id.clone()),
                    });
                }
            }
            let outcomes = self.outcomes();
            let done = outcomes.iter().all(|(k, o)| {
                let item = self
                    .v
                    .items
                    .iter()
                    .find(|i| &i.key == k)
                    .expect("same items");
                match o {
                    Outcome::InProgress => false,
                    Outcome::NotLaunched => options.download_only,
                    Outcome::Failed(_) => !self.needs_launch(item),
                    _ => true,
                }
            });
            if done {
                break;
            }
            // `download` fetches what is finished now; it does not wait for the rest.
            if options.download_only {
                break;
            }
            let running = self.running_count();
            self.reporter.status_line(&format!("{running} running"));
            let ceiling = self.poll_ceiling();
            delay = if changed {
                FIRST_POLL
            } else {
                (delay * 3 / 2).min(ceiling)
            };
            let wait = match self.quota_until {
                Some(t) => delay.min(
                    t.saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(100)),
                ),
                None => delay,
            };
            self.interrupt.sleep(wait).await;
        }
        self.save()?;
        let interrupted = self.interrupt.is_set();
        let outcomes = self.outcomes();
        self.write_record(&outcomes)?;
        let junit = self.junit_cases(&outcomes);
        Ok(Summary {
            outcomes,
            junit,
            interrupted,
        })
    }

    fn junit_cases(&self, outcomes: &[(String, Outcome)]) -> Vec<JunitCase> {
        outcomes
            .iter()
            .map(|(key, o)| {
                let seconds = self.current(key).map_or(0.0, |a| {
                    let end = a.history.last().map_or(a.launched_at, |h| h.1);
                    #[allow(clippy::cast_precision_loss)]
                    let s = (end - a.launched_at).max(0) as f64 / 1000.0;
                    s
                });
                let failure = match o {
                    Outcome::Failed(why) => Some((
                        why.lines().next().unwrap_or("failed").to_owned(),
                        why.clone(),
                    )),
                    Outcome::TimedOut => Some((
                        "timed out".to_owned(),
                        format!(
                            "took longer than {}",
                            crate::manifest::duration::format(self.v.execution.timeout)
                        ),
                    )),
                    Outcome::DoneWithProblems(p) => {
                        Some(("outputs not downloaded".to_owned(), p.clone()))
                    }
                    Outcome::InProgress => Some((
                        "not finished".to_owned(),
                        "still queued or running on VIP".to_owned(),
                    )),
                    Outcome::NotLaunched => Some((
                        "not launched".to_owned(),
                        "the run stopped before launching it".to_owned(),
                    )),
                    Outcome::Done => None,
                };
                JunitCase {
                    name: key.clone(),
                    seconds,
                    failure,
                }
            })
            .collect()
    }

    /// `run.json`: what was run, with what, and what came of it.
    fn write_record(&self, outcomes: &[(String, Outcome)]) -> Result<(), Error> {
        let manifest_sha = hex(&Sha256::digest(
            std::fs::read(&self.v.file.path).unwrap_or_default(),
        ));
        let items: Vec<Json> = self
            .v
            .items
            .iter()
            .zip(outcomes)
            .map(|(item, (_, outcome))| {
                let state = self.item_state(&item.key);
                json!({
                    "key": item.key,
                    "fingerprint": item.fingerprint,
                    "inputs": self.wire_inputs(item),
                    "result": match outcome {
                        Outcome::Done => "finished".to_owned(),
                        Outcome::DoneWithProblems(_) => "finished, outputs missing".to_owned(),
                        Outcome::Failed(_) => "failed".to_owned(),
                        Outcome::TimedOut => "timed out".to_owned(),
                        Outcome::InProgress => "in progress".to_owned(),
                        Outcome::NotLaunched => "not launched".to_owned(),
                    },
                    "executions": state.attempts.iter().map(|a| json!({
                        "id": a.execution_id,
                        "name": a.name,
                        "launched_at": time::rfc3339(a.launched_at),
                        "statuses": a.history.iter().map(|(s, t)| json!({"status": s, "seen_at": time::rfc3339(*t)})).collect::<Vec<_>>(),
                        "timed_out": a.timed_out,
                    })).collect::<Vec<_>>(),
                    "outputs": state.outputs.iter().map(|o| json!({
                        "remote": o.remote,
                        "local": o.local,
                        "size": o.size,
                        "downloaded": o.done,
                        "problem": o.problem,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let record = json!({
            "manifest": self.v.file.display,
            "manifest_sha256": manifest_sha,
            "vip_run_version": env!("CARGO_PKG_VERSION"),
            "server": self.conn.server,
            "pipeline": self.v.pipeline_id,
            "written_at": time::rfc3339(time::now_ms()),
            "items": items,
        });
        let text = serde_json::to_string_pretty(&record).expect("records serialise");
        write_atomically(&self.paths.record, text.as_bytes()).map_err(Error::State)
    }
}

/// A file's modification time, in epoch milliseconds.
fn modified_ms(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_land_below_the_download_folder_or_nowhere() {
        let dl = Path::new("/d");
        let r = "/vip/Home/vip-run/s/s-main-abc";
        assert_eq!(
            local_output_path(
                dl,
                r,
                "/vip/Home/vip-run/s/s-main-abc/28-11-2026_06:17:02/hello.txt"
            )
            .unwrap(),
            PathBuf::from("/d/hello.txt")
        );
        assert_eq!(
            local_output_path(
                dl,
                r,
                "/vip/Home/vip-run/s/s-main-abc/28-11-2026_06:17:02/001/results.tgz"
            )
            .unwrap(),
            PathBuf::from("/d/001/results.tgz")
        );
        assert!(local_output_path(dl, r, "/vip/Home/elsewhere/x").is_err());
        assert!(local_output_path(dl, r, "/vip/Home/vip-run/s/s-main-abc/../../x").is_err());
        assert!(local_output_path(dl, r, "/vip/Home/vip-run/s/s-main-abc/a/./b").is_err());
        assert!(local_output_path(dl, r, "/vip/Home/vip-run/s/s-main-abc-other/x").is_err());
    }

    #[test]
    fn vip_timestamps_are_recognised() {
        assert!(is_vip_timestamp("02-02-2026_09:21:23"));
        assert!(!is_vip_timestamp("001"));
        assert!(!is_vip_timestamp("02-02-2026-09:21:23"));
    }
}
