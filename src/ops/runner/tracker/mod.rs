//! The tracker: what is on disk and on VIP for one manifest, each item's phase, and what comes
//! next. It owns the state (and saves it), takes up what is on VIP (`adopt`), decides what
//! happens to each item and what it came to (`decide`), refreshes executions from VIP and
//! kills them (`monitor`), and holds the lifecycle (`lifecycle`).
//!
//! `status`, `logs`, `plan` and `clean` use a tracker alone ([`Tracker::read`]: nothing
//! saved); `cancel` and the run's loop use one that saves ([`Tracker::tend`],
//! [`Tracker::launch`]). A tracker makes no transfer and launches nothing: the loop does, and
//! tells it what came of it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use crate::error::Error;
use crate::manifest::{Item, Validated};
use crate::ops::Connection;
use crate::ops::paths::Paths;
use crate::ops::state::{Attempt, ItemState, State};
use crate::vip::wire::{Execution, ExecutionStatus};

mod adopt;
mod decide;
pub(crate) mod lifecycle;
mod monitor;
pub(crate) mod verdict;

pub use adopt::{FirstLook, first_look};
pub(crate) use decide::local_uploads;
pub use decide::{Next, UploadNeed};
pub(crate) use monitor::fetch_logs;

use lifecycle::Lifecycle;

/// What the command using the tracker does with items that have no execution yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// `run`: launches them; saves the state.
    Launch,
    /// `download`, `cancel`: tends executions already launched, never launches; saves.
    Tend,
    /// `status`, `plan`, `logs`, `clean`: reads; nothing saved, nothing killed.
    Read,
}

/// One manifest's state, on disk and on VIP (see the module's comment).
pub struct Tracker<'a> {
    v: &'a Validated,
    conn: &'a Connection,
    purpose: Purpose,
    paths: Paths,
    /// The state as on disk.
    state: State,
    dirty: bool,
    /// Each item's phase, and the indexes the loop reads.
    life: Lifecycle,
    /// Execution id → when VIP was first seen to have lost track of it.
    unknown_since: HashMap<String, Instant>,
    /// Item key → why VIP refused its launch.
    launch_error: HashMap<String, String>,
    /// `--relaunch`: item keys, or `failed` (failed, killed or timed-out items).
    relaunch: Vec<String>,
    /// Items launched in this run (a relaunch asked for happens once).
    relaunched: HashSet<String>,
    /// Item key → why its outputs could not be written here, in this run.
    not_home: HashMap<String, String>,
    /// VIP's list of executions, read before the tracker was built (see `first_look`).
    listed: Option<Result<Vec<Execution>, crate::vip::VipError>>,
    /// Execution id → the files VIP returned, read by the poll that saw it end: its download
    /// need not ask again.
    returned: HashMap<String, indexmap::IndexMap<String, Vec<String>>>,
    /// The (done, failed) jobs last reported for each item whose execution has several jobs,
    /// so progress within `Running` is reported when it moves (see `monitor`).
    jobs_seen: HashMap<String, (usize, usize)>,
    /// The calls the last poll cost (list calls, single calls), said under `-v` on change.
    poll_cost: Option<(usize, usize)>,
    /// Local input → its path on VIP.
    remote_inputs: HashMap<PathBuf, String>,
    /// The descriptor's non-optional output ids, when the run knows the descriptor: a
    /// `Finished` execution without one of them failed (`outputs_missing`).
    required_outputs: Vec<String>,
    /// The pipeline's descriptor, when the run knows it (which inputs a job iterates over).
    descriptor: Option<crate::vip::wire::Descriptor>,
    /// Execution id → when its jobs were last read for the watchdog (see `monitor`).
    jobs_read: HashMap<String, Instant>,
    /// When the watchdog's last round of reads was (see `monitor`).
    watch_round: Option<Instant>,
    /// When this command started (epoch ms): no launch could come before.
    started_ms: i64,
}

impl<'a> Tracker<'a> {
    /// A tracker that reads (`status`, `plan`, `logs`, `clean`): the state is brought up to
    /// date in memory only; nothing is saved, reported or killed.
    pub fn read(v: &'a Validated, conn: &'a Connection, paths: Paths) -> Result<Self, Error> {
        Self::build(v, conn, Purpose::Read, paths)
    }

    /// A tracker for executions already launched (`download`, `cancel`): it saves the state.
    pub fn tend(v: &'a Validated, conn: &'a Connection, paths: Paths) -> Result<Self, Error> {
        Self::build(v, conn, Purpose::Tend, paths)
    }

    /// A tracker for a `run`, which launches (built by the loop, from a checked manifest).
    pub(crate) fn launch(
        v: &'a Validated,
        conn: &'a Connection,
        paths: Paths,
    ) -> Result<Self, Error> {
        Self::build(v, conn, Purpose::Launch, paths)
    }

    fn build(
        v: &'a Validated,
        conn: &'a Connection,
        purpose: Purpose,
        paths: Paths,
    ) -> Result<Self, Error> {
        let mut state = match State::load(&paths.state)? {
            Some(s) if s.server == conn.server => s,
            Some(s) if conn.sandbox.is_some() => {
                // A fresh sandbox knows nothing of earlier ones: start over.
                drop(s);
                State::new(&v.name, &v.pipeline_id, &conn.server)
            }
            Some(s) => {
                return Err(crate::ops::state::StateError::OtherServer {
                    path: paths.state.clone(),
                    recorded: s.server,
                    server: conn.server.clone(),
                }
                .into());
            }
            None => State::new(&v.name, &v.pipeline_id, &conn.server),
        };
        // A state written before outputs and inputs were identified by content: its
        // items are carried over where their data is unchanged (no grid time lost).
        let carried = crate::ops::identity::migrate(&mut state, v);
        if carried > 0 {
            tracing::info!("carried {carried} item(s) over from an earlier state format");
        }
        Ok(Self {
            v,
            conn,
            purpose,
            paths,
            state,
            dirty: false,
            life: Lifecycle::default(),
            unknown_since: HashMap::new(),
            launch_error: HashMap::new(),
            relaunch: Vec::new(),
            relaunched: HashSet::new(),
            not_home: HashMap::new(),
            listed: None,
            returned: HashMap::new(),
            jobs_seen: HashMap::new(),
            poll_cost: None,
            remote_inputs: HashMap::new(),
            required_outputs: Vec::new(),
            descriptor: None,
            jobs_read: HashMap::new(),
            watch_round: None,
            started_ms: crate::time::now_ms(),
        })
    }

    /// `--relaunch`: launches again, once, the items named (or, with `failed`, every item
    /// whose execution failed, was killed or timed out), whatever `execution.retries` says.
    #[must_use]
    pub fn with_relaunch(mut self, selectors: &[String]) -> Self {
        self.relaunch = selectors.to_vec();
        self
    }

    /// Judges `Finished` executions against `descriptor`'s non-optional outputs.
    #[must_use]
    pub fn with_descriptor(mut self, descriptor: &crate::vip::wire::Descriptor) -> Self {
        self.required_outputs = descriptor
            .output_files
            .iter()
            .filter(|o| !o.is_optional())
            .map(|o| o.id.clone())
            .collect();
        self.descriptor = Some(descriptor.clone());
        self
    }

    /// The manifest tracked.
    pub(crate) fn manifest(&self) -> &'a Validated {
        self.v
    }

    /// The run's files.
    pub(crate) fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The connection the tracker reads VIP through.
    pub(crate) fn connection(&self) -> &'a Connection {
        self.conn
    }

    /// The state as the tracker knows it now.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Each item's phase, and the loop's indexes.
    pub(crate) fn lifecycle(&self) -> &Lifecycle {
        &self.life
    }

    /// The items' current executions, for items launched.
    pub fn current_executions(&self) -> Vec<(String, Attempt)> {
        self.v
            .items
            .iter()
            .filter_map(|i| self.current(&i.key).map(|a| (i.key.clone(), a.clone())))
            .collect()
    }

    /// Saves the state (not for a tracker that reads).
    pub(crate) fn save(&mut self) -> Result<(), Error> {
        if self.purpose == Purpose::Read {
            return Ok(());
        }
        self.state.save(&self.paths.state)?;
        self.dirty = false;
        Ok(())
    }

    /// Saves the state if it changed since it was last saved.
    pub(crate) fn save_if_dirty(&mut self) -> Result<(), Error> {
        if self.dirty { self.save() } else { Ok(()) }
    }

    fn item_state(&self, key: &str) -> &ItemState {
        &self.state.items()[key]
    }

    /// `key`'s current execution, once launched.
    pub(crate) fn current(&self, key: &str) -> Option<&Attempt> {
        self.state.items().get(key).and_then(|s| s.attempts.last())
    }

    fn status_of(attempt: &Attempt) -> ExecutionStatus {
        ExecutionStatus::from(attempt.status.as_str())
    }

    /// The item whose key is `key`.
    pub(crate) fn item_of(&self, key: &str) -> Option<&'a Item> {
        let v = self.v;
        self.life.position(key).and_then(|i| v.items.get(i))
    }

    /// The files VIP returned for `execution`, when a poll read them (taken: asked once).
    pub(crate) fn take_returned(
        &mut self,
        execution: &str,
    ) -> Option<indexmap::IndexMap<String, Vec<String>>> {
        self.returned.remove(execution)
    }

    /// Records an upload that completed, and saves.
    pub(crate) fn record_upload(
        &mut self,
        remote: &str,
        upload: crate::ops::state::Upload,
    ) -> Result<(), Error> {
        self.state.record_upload(remote, upload);
        self.dirty = true;
        self.save()
    }

    /// Records `key`'s outputs, fetched from `execution` over `span` (epoch ms), and saves.
    pub(crate) fn record_outputs(
        &mut self,
        key: &str,
        outputs: Vec<crate::ops::state::Output>,
        fetched: Option<(&str, (i64, i64))>,
    ) -> Result<(), Error> {
        let state = self.state.item_mut(key).expect("reconciled");
        state.outputs = outputs;
        if let Some((execution, span)) = fetched
            && let Some(a) = state
                .attempts
                .iter_mut()
                .rev()
                .find(|a| a.execution_id == execution)
        {
            a.download = Some(span);
        }
        self.dirty = true;
        self.save()
    }

    /// Records that this machine refused to store `key`'s outputs (`why`).
    pub(crate) fn record_not_home(&mut self, key: &str, why: String) {
        self.not_home.insert(key.to_owned(), why);
    }

    /// Records that VIP refused `key`'s launch (`why`).
    pub(crate) fn record_refusal(&mut self, key: &str, why: String) {
        self.launch_error.insert(key.to_owned(), why);
    }

    /// Records `execution` as `key`'s new attempt, named `name`, submitted at `submitted`
    /// (epoch ms), and saves.
    pub(crate) fn record_launch(
        &mut self,
        key: &str,
        name: String,
        submitted: i64,
        execution: &Execution,
    ) -> Result<(), Error> {
        let ready_at = self.ready_at(key, submitted);
        let state = self.state.item_mut(key).expect("reconciled");
        let mut attempt = Attempt::of(execution, name, submitted);
        attempt.ready_at = ready_at;
        state.attempts.push(attempt);
        // The earlier execution's outputs stay recorded (as that execution's): they never
        // count for this one, and are moved aside when this one's come home.
        self.relaunched.insert(key.to_owned());
        self.save()
    }

    /// When `key` could have been launched, for a launch at `submitted`: the latest of this
    /// run's start, its inputs' uploads ending, and its earlier execution seen ended. Not
    /// known for an execution taken up from VIP (none is recorded then).
    fn ready_at(&self, key: &str, submitted: i64) -> Option<i64> {
        let item = self.item_of(key)?;
        let uploaded = self
            .item_uploads(item)
            .iter()
            .filter_map(|r| self.state.uploads().get(r).and_then(|u| u.span))
            .map(|(_, ended)| ended)
            .max();
        let earlier = self
            .current(key)
            .and_then(|a| a.history.last().map(|(_, at)| *at));
        let ready = [Some(self.started_ms), uploaded, earlier]
            .into_iter()
            .flatten()
            .max()?;
        Some(ready.min(submitted))
    }

    /// Where each local input goes on VIP, known before anything is sent (for adoption).
    pub(crate) fn note_remote_inputs(&mut self) {
        for (remote, (local, _)) in self.local_inputs() {
            self.remote_inputs.insert(local, remote);
        }
    }
}
