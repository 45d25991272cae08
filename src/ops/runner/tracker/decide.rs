//! What the run does next with each item, decided in one place: `run` acts on it and `plan`
//! shows it, so the two cannot drift apart. Launches (first, or a retry of a failure within
//! `execution.retries`), downloads (a finished execution whose outputs are not all on disk),
//! and each item's outcome.

use crate::manifest::Item;
use crate::vip::wire::ExecutionStatus;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::error::Error;
use crate::files::FileError;
use crate::manifest::{InputWire, ValueKind};
use crate::report::progress::Event;
use crate::report::summary::{Failure, Outcome};
use crate::vip::wire::PathProperties;

use super::lifecycle::{HomeProof, Lifecycle, Phase};
use super::{Purpose, Tracker};
use crate::ops::runner::sink::Sink;
use crate::ops::runner::transfers::folders::{Listing, listing_of, parent_of};
use crate::ops::runner::trouble::Trouble;
use crate::ops::runner::{UNKNOWN_GRACE, inputs_root};
use crate::ops::state::Attempt;
use crate::vip::failure::FailureClass;

/// Whether `status` means VIP lost track: `Unknown`, or a status vip-run does not know,
/// which is treated the same (waited out for a grace period, then a failure).
pub(crate) fn is_lost(status: &ExecutionStatus) -> bool {
    matches!(status, ExecutionStatus::Unknown | ExecutionStatus::Other(_))
}

/// The names under the inputs folder of `item`'s local inputs, as VIP stores them.
pub(crate) fn local_uploads(item: &crate::manifest::Item) -> impl Iterator<Item = &str> {
    item.inputs
        .values()
        .flat_map(crate::manifest::InputWire::values)
        .filter_map(|v| match &v.kind {
            ValueKind::LocalFile { upload, .. } => Some(upload.as_str()),
            _ => None,
        })
}

/// What a run does next with an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Launch it: `attempt` 0 is the first launch, more is a retry of a failure.
    Launch {
        /// The attempt (0-based), also the count of executions launched so far.
        attempt: usize,
    },
    /// Download the outputs of its finished execution.
    Download,
    /// Keep its current execution: watch it, or nothing (finished, failed for good…).
    Keep,
}

/// What a run does with a local input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadNeed {
    /// Nothing: no item that uses inputs is waiting to be launched.
    NotNeeded,
    /// It is on VIP with the same size and content as recorded.
    Keep,
    /// Send it; `replace` when a different (or partial) file is at its path.
    Upload {
        /// Whether something is at the path already (deleted first).
        replace: bool,
    },
}

impl Tracker<'_> {
    /// What the run does next with `item`: the rule `run` follows and `plan` shows.
    pub fn next(&self, item: &Item) -> Next {
        if self.needs_launch(item) {
            return Next::Launch {
                attempt: self.attempt_count(&item.key),
            };
        }
        if self.needs_download(item) {
            return Next::Download;
        }
        Next::Keep
    }

    /// Whether `item`'s execution finished and some of its outputs are not home (see
    /// [`Self::outputs_complete`]); `download` looks at every finished item, and checks
    /// what is on disk byte for byte.
    pub(crate) fn needs_download(&self, item: &Item) -> bool {
        item.download.is_some()
            && self.current(&item.key).is_some_and(|a| {
                Self::status_of(a) == ExecutionStatus::Finished && a.failure.is_none()
            })
            && (self.purpose == Purpose::Tend || !self.outputs_complete(item))
    }

    /// Whether any item waits for a launch (first, or a retry).
    pub(crate) fn launches_pending(&self) -> bool {
        self.life
            .indexes()
            .queue
            .iter()
            .any(|&i| self.needs_launch(&self.v.items[i]))
    }

    /// Whether `item` needs a (new) launch: never launched, or failed with retries left.
    pub(crate) fn needs_launch(&self, item: &Item) -> bool {
        if self.purpose == Purpose::Tend {
            return false;
        }
        if self.launch_error.contains_key(&item.key) {
            return false;
        }
        if self.relaunch_pending(item) {
            return true;
        }
        let state = self.item_state(&item.key);
        match state.attempts.last() {
            None => true,
            Some(a) => {
                // A timed-out execution left running on VIP keeps its slot: not launched
                // again beside it.
                let left_running = a.timed_out && !self.v.execution.kill_on_timeout;
                self.failure_class(a)
                    .is_some_and(|class| self.v.execution.retry_on.contains(&class))
                    && !left_running
                    && state.attempts.len() <= self.v.execution.retries as usize
            }
        }
    }

    /// Why `a` failed, as a class, once it has: its verdict, else what its status says (a
    /// state written before verdicts, or an execution VIP lost track of past the grace
    /// period); `None` while it runs or when it finished whole.
    pub(crate) fn failure_class(&self, a: &Attempt) -> Option<FailureClass> {
        if let Some(v) = &a.failure {
            return Some(v.class);
        }
        if a.timed_out {
            return Some(FailureClass::TimedOut);
        }
        match Self::status_of(a) {
            ExecutionStatus::ExecutionFailed | ExecutionStatus::InitializationFailed => {
                Some(FailureClass::Unknown)
            }
            ExecutionStatus::Killed => Some(FailureClass::Killed),
            s if is_lost(&s) && self.unknown_expired(&a.execution_id) => {
                Some(FailureClass::Stalled)
            }
            _ => None,
        }
    }

    /// What became of `key`'s relaunches: "retried 2× after input download failures", when
    /// it was relaunched after failures.
    pub fn retry_note(&self, key: &str) -> Option<String> {
        let attempts = &self.state.items().get(key)?.attempts;
        let earlier = attempts.split_last()?.1;
        let classes: Vec<FailureClass> = earlier
            .iter()
            .filter_map(|a| self.failure_class(a))
            .collect();
        retry_note(&classes)
    }

    /// Whether `key`'s failed execution will not be relaunched, and why: "not retried"
    /// (its class is not in `retry_on`) or "retries used up".
    pub fn not_retried(&self, key: &str) -> Option<&'static str> {
        let state = self.state.items().get(key)?;
        let a = state.attempts.last()?;
        let class = self.failure_class(a)?;
        if !self.v.execution.retry_on.contains(&class) || self.v.execution.retries == 0 {
            Some("not retried")
        } else if state.attempts.len() > self.v.execution.retries as usize {
            Some("retries used up")
        } else if a.timed_out && !self.v.execution.kill_on_timeout {
            Some("not retried: left running on VIP")
        } else {
            None
        }
    }

    /// Whether `--relaunch` asks for `item` to be launched again and it has not been yet
    /// in this run: an item named, once its execution ended (or timed out); with `failed`,
    /// an item whose execution failed, was killed or timed out.
    pub fn relaunch_pending(&self, item: &Item) -> bool {
        if self.relaunch.is_empty() || self.relaunched.contains(&item.key) {
            return false;
        }
        let Some(a) = self.current(&item.key) else {
            return false;
        };
        let status = Self::status_of(a);
        let ended = a.timed_out || a.failure.is_some() || status.is_terminal();
        let failed = self.failure_class(a).is_some();
        self.relaunch
            .iter()
            .any(|s| (s == &item.key && ended) || (s == crate::ops::RELAUNCH_FAILED && failed))
    }

    pub(crate) fn unknown_expired(&self, id: &str) -> bool {
        self.unknown_since
            .get(id)
            .is_some_and(|t| t.elapsed() >= UNKNOWN_GRACE)
    }

    pub(crate) fn is_active(a: &Attempt) -> bool {
        !a.timed_out && a.failure.is_none() && !Self::status_of(a).is_terminal()
    }

    /// Whether every output of `item`'s current execution is home (see [`HomeProof`]).
    pub(crate) fn outputs_complete(&self, item: &Item) -> bool {
        self.home_proof(item).is_some()
    }

    /// That `item`'s outputs are home, when they are: recorded for its current execution, at
    /// the place `results.download` gives now, with their SHA-256, and the files there still
    /// of that size and modification time (a file whose time moved is hashed again by the
    /// download, and fetched again if it differs); or reported as ones VIP cannot send.
    /// Outputs of another execution never count.
    pub(crate) fn home_proof(&self, item: &Item) -> Option<HomeProof> {
        let current = self.current(&item.key)?;
        HomeProof::check(
            self.state.items().get(&item.key)?,
            &current.execution_id,
            item.download.as_deref(),
        )
    }

    /// For `item` finished on VIP with outputs to download: whether they are all home
    /// (`status`); `None` when it is not finished or downloads nothing.
    pub fn home(&self, item: &Item) -> Option<bool> {
        let finished = self
            .current(&item.key)
            .is_some_and(|a| Self::status_of(a) == ExecutionStatus::Finished);
        (finished && item.download.is_some()).then(|| self.outputs_complete(item))
    }

    /// Whether `item`'s outputs count as home for its outcome: as the lifecycle settled it in
    /// this run (`Home` came with its proof, `NotDownloaded` without), else as the disk shows
    /// now (an item not handled in this run, or a tracker that only reads).
    fn outputs_home(&self, item: &Item) -> bool {
        match self.life.position(&item.key).map(|i| self.life.phase(i)) {
            Some(Phase::Home(_)) => true,
            Some(Phase::NotDownloaded) => false,
            _ => self.home(item) != Some(false),
        }
    }

    /// How many executions were launched for `key`.
    pub(crate) fn attempt_count(&self, key: &str) -> usize {
        self.state.items().get(key).map_or(0, |s| s.attempts.len())
    }

    /// Each item's outcome now (O(N): at the end of a run).
    pub(crate) fn outcomes(&self, trouble: &Trouble) -> Vec<(String, Outcome)> {
        self.v
            .items
            .iter()
            .map(|item| (item.key.clone(), self.outcome_of(item, trouble)))
            .collect()
    }

    /// `item`'s outcome now, `trouble` holding what this run gave up on.
    pub(crate) fn outcome_of(&self, item: &Item, trouble: &Trouble) -> Outcome {
        if let Some(e) = self.launch_error.get(&item.key) {
            return Outcome::Failed(Failure::Refused(e.clone()));
        }
        if let Some((why, unreachable)) = trouble.blocked(&item.key, &self.item_uploads(item)) {
            return Outcome::Blocked { why, unreachable };
        }
        let state = self.item_state(&item.key);
        match state.attempts.last() {
            None => Outcome::NotLaunched,
            Some(a) if a.timed_out => Outcome::TimedOut,
            Some(a)
                if a.failure.is_some()
                    || Self::status_of(a).is_terminal()
                        && Self::status_of(a) != ExecutionStatus::Finished =>
            {
                Outcome::Failed(Failure::Ended {
                    status: a.status.clone(),
                    logs: a.logs.clone(),
                    tail: a.stderr_tail.clone(),
                    verdict: a.failure.clone().map(Box::new),
                    retry: self.not_retried(&item.key).map(str::to_owned),
                })
            }
            Some(a) => match Self::status_of(a) {
                ExecutionStatus::Finished if !self.outputs_home(item) => {
                    Outcome::NotDownloaded(self.not_home.get(&item.key).cloned().unwrap_or_else(
                        || "its outputs are not on disk yet (or changed there)".to_owned(),
                    ))
                }
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
                s if is_lost(&s) && self.unknown_expired(&a.execution_id) => {
                    Outcome::Failed(Failure::Lost {
                        status: s.to_string(),
                    })
                }
                _ => Outcome::InProgress,
            },
        }
    }
}

impl Tracker<'_> {
    /// `item`'s phase as its state says now: at the start, and after VIP told something of it
    /// (a launch, a status, a time limit) or the run decided something (a refused launch, a
    /// grace period run out). What the run did with a finished item's outputs is not in the
    /// state's attempts: [`Self::touch`] keeps those phases.
    fn phase_now(&self, item: &Item) -> Phase {
        if self.launch_error.contains_key(&item.key) {
            return Phase::Refused;
        }
        let current = self.current(&item.key);
        if self.needs_launch(item) {
            return match current.filter(|a| Self::is_active(a)) {
                // Lost for longer than the grace period, with a retry left.
                Some(a) => Phase::LostGivenUp {
                    execution: a.execution_id.clone(),
                    retry: true,
                },
                None => Phase::Pending,
            };
        }
        let Some(a) = current else {
            return Phase::NotLaunched;
        };
        if a.timed_out {
            return Phase::TimedOut;
        }
        if a.failure.is_some() {
            return Phase::Failed;
        }
        let execution = a.execution_id.clone();
        match Self::status_of(a) {
            ExecutionStatus::Finished => Phase::Finished,
            s if s.is_terminal() => Phase::Failed,
            s if is_lost(&s) && self.unknown_expired(&execution) => Phase::LostGivenUp {
                execution,
                retry: false,
            },
            s if is_lost(&s) => Phase::Lost { execution },
            _ => Phase::Active { execution },
        }
    }

    /// Starts every item's phase from the state: O(N), once the state holds every item.
    pub(crate) fn start_lifecycle(&mut self) {
        let v = self.v;
        let keys = v.items.iter().map(|i| i.key.clone()).collect();
        self.life = Lifecycle::start(keys, |i| self.phase_now(&v.items[i]));
    }

    /// Moves the item at `i` to `to` (see [`Lifecycle::go`]). A transition the lifecycle does
    /// not have is a bug: it stops a debug build, and is logged and refused otherwise.
    pub(crate) fn advance(&mut self, i: usize, to: Phase) {
        if let Err(e) = self.life.go(i, to) {
            debug_assert!(false, "{e}");
            tracing::error!("{e}");
        }
    }

    /// Brings `key`'s phase up to date after its state changed.
    pub(crate) fn touch(&mut self, key: &str) {
        // An item not in the lifecycle yet (before `prepare`) has no phase.
        let Some(i) = self.life.position(key) else {
            return;
        };
        let now = self.phase_now(&self.v.items[i]);
        if now == Phase::Finished
            && matches!(
                self.life.phase(i),
                Phase::Downloading | Phase::Home(_) | Phase::NotDownloaded
            )
        {
            return;
        }
        self.advance(i, now);
    }

    /// Looks again at the items VIP lost track of: their grace period runs out with no
    /// event, and then they take no slot and may be launched again.
    pub(crate) fn touch_lost(&mut self) {
        let lost: Vec<String> = self.life.indexes().lost.iter().cloned().collect();
        for key in lost {
            self.touch(&key);
        }
    }

    /// Executions taking a slot of `max_parallel` (an `Unknown` one given up on does not).
    pub(crate) fn running_count(&self) -> usize {
        self.life.indexes().running()
    }

    /// (item key, execution id) of the queued and running executions (of `only`, if given).
    pub(crate) fn active(&self, only: Option<&str>) -> Vec<(String, String)> {
        let active = &self.life.indexes().active;
        match only {
            Some(k) => active
                .get_key_value(k)
                .map(|(k, id)| (k.clone(), id.clone()))
                .into_iter()
                .collect(),
            None => active
                .iter()
                .map(|(k, id)| (k.clone(), id.clone()))
                .collect(),
        }
    }
}

impl Tracker<'_> {
    /// Remote path → (local file, size) of every local input, in path order.
    pub(crate) fn local_inputs(&self) -> BTreeMap<String, (PathBuf, u64)> {
        let root = inputs_root(self.v);
        let mut files = BTreeMap::new();
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
        files
    }

    /// The remote paths of `item`'s local inputs.
    pub(crate) fn item_uploads(&self, item: &crate::manifest::Item) -> Vec<String> {
        let root = inputs_root(self.v);
        local_uploads(item)
            .map(|upload| format!("{root}/{upload}"))
            .collect()
    }

    /// What is known of `local`'s content without sending it, and its modification time:
    /// the hash recorded at `remote` when the state's record has the file's size and time
    /// (no re-read of big files); the file hashed when the size matches but the time does not
    /// (a touched file may be unchanged); `None` when the file must be sent anyway (no record,
    /// or another size), to be hashed while it is sent.
    pub(crate) async fn known_sha(
        &self,
        remote: &str,
        local: &Path,
        size: u64,
    ) -> Result<(Option<String>, Option<i64>), Error> {
        let mtime = crate::files::modified_ms(local);
        // Hashed when the manifest was identified, and unchanged since: no read.
        if let Some(c) = self
            .identified(remote)
            .filter(|c| c.size == size && c.mtime.is_some() && c.mtime == mtime)
        {
            return Ok((Some(c.sha256.clone()), mtime));
        }
        let sha = match self.state.uploads().get(remote) {
            Some(u) if u.size == size && u.mtime.is_some() && u.mtime == mtime => {
                Some(u.sha256.clone())
            }
            // Off the runtime's threads: a big file takes a while.
            Some(u) if u.size == size => {
                let path = local.to_path_buf();
                let hashed = tokio::task::spawn_blocking(move || crate::files::sha256(&path))
                    .await
                    .expect("hashing a file does not panic");
                Some(hashed.map_err(FileError::on("read", local))?.1)
            }
            _ => None,
        };
        Ok((sha, mtime))
    }

    /// What identifying the manifest learnt of the file uploaded to `remote`.
    pub(crate) fn identified(&self, remote: &str) -> Option<&crate::manifest::Content> {
        let rel = remote
            .strip_prefix(&inputs_root(self.v))?
            .strip_prefix('/')?;
        self.v.content.get(rel)
    }

    /// The remote paths of the inputs of items still to launch: after a `clean`, the inputs
    /// of items already home are not sent again.
    pub(crate) fn launch_inputs(&self) -> HashSet<String> {
        let mut needed = HashSet::new();
        if !self.launches_pending() {
            return needed;
        }
        for item in self.v.items.iter().filter(|i| self.needs_launch(i)) {
            needed.extend(self.item_uploads(item));
        }
        needed
    }

    /// Whether the file with `size` (and `sha`, when known) must be sent to `remote`, where
    /// VIP has `on_vip`: the one rule `run` follows and `plan` shows. Inputs are needed only
    /// by items still to launch.
    pub(crate) fn upload_need(
        &self,
        needed: &HashSet<String>,
        remote: &str,
        size: u64,
        sha: Option<&str>,
        on_vip: Option<&PathProperties>,
    ) -> UploadNeed {
        if !needed.contains(remote) {
            return UploadNeed::NotNeeded;
        }
        let known = sha.is_some_and(|sha| {
            self.state
                .uploads()
                .get(remote)
                .is_some_and(|u| u.size == size && u.sha256 == sha)
        });
        let on_vip = on_vip.filter(|p| p.exists);
        if known && on_vip.is_some_and(|p| p.size == Some(size)) {
            UploadNeed::Keep
        } else {
            UploadNeed::Upload {
                replace: on_vip.is_some(),
            }
        }
    }

    /// What a run would do with each local input: (local file, remote path, need). Read
    /// only: one listing per folder of inputs that exists; nothing is created.
    pub async fn planned_uploads(&self) -> Result<Vec<(PathBuf, String, UploadNeed)>, Error> {
        let mut planned = Vec::new();
        let needed = self.launch_inputs();
        let mut listings: HashMap<String, Option<Listing>> = HashMap::new();
        for (remote, (local, size)) in self.local_inputs() {
            let (sha, _) = self.known_sha(&remote, &local, size).await?;
            let dir = parent_of(&remote).to_owned();
            if needed.contains(&remote) && !listings.contains_key(&dir) {
                let client = &self.conn.client;
                let listing = if client.exists(&dir).await? {
                    Some(listing_of(client.list(&dir).await?))
                } else {
                    None
                };
                listings.insert(dir.clone(), listing);
            }
            let entry = listings
                .get(&dir)
                .and_then(Option::as_ref)
                .and_then(|l| l.get(&remote));
            let need = self.upload_need(&needed, &remote, size, sha.as_deref(), entry);
            planned.push((local, remote, need));
        }
        Ok(planned)
    }

    /// The local inputs in the order the items use them (manifest order), each once: the
    /// first item's inputs are sent first, so it is launched first.
    pub(crate) fn inputs_in_item_order(&self) -> Vec<(String, PathBuf, u64)> {
        let files = self.local_inputs();
        let mut seen = HashSet::new();
        self.v
            .items
            .iter()
            .flat_map(|item| self.item_uploads(item))
            .filter(|remote| seen.insert(remote.clone()))
            .filter_map(|remote| {
                let (local, size) = files.get(&remote)?.clone();
                Some((remote, local, size))
            })
            .collect()
    }

    /// What is known of `local`'s content (see [`Self::known_sha`]); a file that changed
    /// since it was uploaded to `remote` is named with the items that used it.
    pub(crate) async fn check_changed(
        &mut self,
        sink: &mut Sink<'_>,
        remote: &str,
        local: &Path,
        size: u64,
    ) -> Result<(Option<String>, Option<i64>), Error> {
        let (sha, mtime) = self.known_sha(remote, local, size).await?;
        if let Some(u) = self
            .state
            .uploads()
            .get(remote)
            .filter(|u| u.size != size || sha.as_ref().is_some_and(|s| *s != u.sha256))
        {
            let at = u.at.clone();
            self.warn_changed_input(sink, local, &at);
        }
        Ok((sha, mtime))
    }

    /// Says which items keep executions launched with an earlier content of `local`.
    fn warn_changed_input(&self, sink: &mut Sink<'_>, local: &Path, uploaded_at: &str) {
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
                    .items()
                    .get(&i.key)
                    .is_some_and(|s| !s.attempts.is_empty())
            })
            .map(|i| i.key.clone())
            .collect();
        if !affected.is_empty() {
            sink.emit(&Event::Warning {
                message: format!(
                    "{} changed since it was uploaded ({uploaded_at}); items {} keep their executions, which used the earlier content (inputs are identified by path): rename the file to run them again",
                    local.display(),
                    affected.join(", ")
                ),
            });
        }
    }
    /// The inputs as VIP receives them: local files replaced by their uploaded paths.
    pub(crate) fn wire_inputs(&self, item: &Item) -> IndexMap<String, Json> {
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
}

/// "retried 2× after input download failures" for earlier attempts that failed with
/// `classes`; `None` without any.
pub(crate) fn retry_note(classes: &[FailureClass]) -> Option<String> {
    if classes.is_empty() {
        return None;
    }
    let mut kinds: Vec<FailureClass> = classes.to_vec();
    kinds.sort();
    kinds.dedup();
    let words: Vec<&str> = kinds.iter().map(|c| c.words()).collect();
    let n = classes.len();
    Some(format!(
        "retried {n}× after {} failure{}",
        words.join(" and "),
        if n == 1 { "" } else { "s" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_vip_run_does_not_know_is_treated_like_unknown() {
        for (text, lost) in [
            ("Unknown", true),
            ("Paused", true),
            ("", true),
            ("Running", false),
            ("Ready", false),
            ("Finished", false),
            ("ExecutionFailed", false),
        ] {
            let status = ExecutionStatus::from(text);
            assert_eq!(is_lost(&status), lost, "{text}");
        }
    }
}
