//! The run: uploads, launches within the quota, monitoring, downloads, the run record.
//!
//! Idempotency rests on two things: every item's execution has a deterministic name
//! (`<name>-<key>-<fp6>`, `-r<N>` for retries), and the state file records what was done.
//! A run reads the state, then asks VIP for executions by name for items the state does not
//! know (a lost state file, or a crash between a launch and the save), so a re-run adopts
//! executions instead of launching duplicates. A launch (`POST /executions`) is never
//! repeated blindly: after an ambiguous failure the execution is looked up by name first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde_json::{Value as Json, json};

use crate::error::Error;
use crate::manifest::{InputWire, Item, Validated, ValueKind};
use crate::report::run::{Event, JunitCase, Reporter};
use crate::vip::wire::{CreateExecution, Execution, ExecutionStatus, JobClass};
use crate::vip::{LogStream, Meaning, VipError};

mod record;
mod transfer;

use transfer::file_size;
pub use transfer::{file_sha256, local_output_path};

use super::Connection;
use super::state::{Attempt, ItemState, State};
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
}
