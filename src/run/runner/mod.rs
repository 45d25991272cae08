//! The runner: one manifest's items over one connection, with the state that makes re-runs
//! idempotent.
//!
//! Idempotency rests on two things: every item's execution has a deterministic name
//! (`<name>-<key>-<fp6>`, `-r<N>` for retries), and the state file records what was done.
//! A run reads the state, then asks VIP for executions by name for items the state does not
//! know (a lost state file, or a crash between a launch and the save), so a re-run adopts
//! executions instead of launching duplicates.
//!
//! What a runner may do is fixed when it is built: only a [`Plan`] (checked offline and
//! online) gives a launching runner; `download` and `cancel` get one that tends executions
//! already launched; `status` and `plan` get a read-only one that saves and reports nothing.
//!
//! The files: `adopt` (state ↔ VIP by name), `decide` (what to do next with each item, shared
//! with `plan`), `launch`, `monitor` (polling, time limits, cancel), `upload`, `fetch`
//! (downloads), `pool` (the transfers in flight, `execution.transfers` at once), `folders`
//! (each folder on VIP made and listed once per run), `lifecycle` (each item's phase, and the
//! indexes a cycle looks at instead of every item), `failure_logs` (a
//! failed item's logs kept locally), `drive` (the loop),
//! `record` (`run.json` and `JUnit` cases), `trouble` (one item's failures park that item;
//! outages are waited out up to `execution.max_outage`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::manifest::{Item, Validated};
use crate::report::run::{Event, Reporter};
pub use crate::report::summary::{Outcome, Summary};
use crate::vip::wire::{Execution, ExecutionStatus, JobClass};

mod adopt;
mod decide;
mod drive;
mod failure_logs;
mod fetch;
mod folders;
mod launch;
mod lifecycle;
mod monitor;
mod pool;
mod record;
mod trouble;
mod upload;

pub use adopt::{FirstLook, first_look};
pub use decide::{Next, UploadNeed};
pub use fetch::{RefusedPath, local_output_path};

use super::Connection;
use super::interrupt::Interrupt;
use super::paths::Paths;
use super::plan::Plan;
use super::state::{Attempt, ItemState, State};

/// How long `Unknown` is waited out before it counts as a failure (docs/vip.md#statuses).
const UNKNOWN_GRACE: Duration = Duration::from_secs(300);
/// The first poll comes quickly; later ones back off to `poll_interval`.
const FIRST_POLL: Duration = Duration::from_millis(250);
/// With more active executions than this, one list call beats one call per execution.
const LIST_THRESHOLD: usize = 2;
/// How long to wait before trying again after VIP's quota refused a launch.
const QUOTA_WAIT: Duration = Duration::from_secs(5);

/// What a runner may do, fixed when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Upload, launch, watch, download: built from a [`Plan`].
    Launch,
    /// Watch, download and kill executions already launched; saves the state.
    Tend,
    /// Read only: nothing saved, nothing reported.
    ReadOnly,
}

/// The execution name of an item's `attempt` (0-based): retries get `-r<N>`.
pub fn attempt_name(item: &Item, attempt: usize) -> String {
    if attempt == 0 {
        item.execution_name.clone()
    } else {
        format!("{}-r{attempt}", item.execution_name)
    }
}

/// The remote folder for uploads: the project's own (see `identity`), so two projects
/// with the same `name` never write over each other's inputs.
pub fn inputs_root(v: &Validated) -> String {
    if v.project.is_empty() {
        format!("/vip/Home/vip-run/{}/inputs", v.name)
    } else {
        format!("/vip/Home/vip-run/{}/{}/inputs", v.name, v.project)
    }
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
    mode: Mode,
    paths: Paths,
    /// The state as on disk.
    state: State,
    /// Where events go; `None` for a read-only runner.
    reporter: Option<&'a mut Reporter>,
    interrupt: Interrupt,
    cap: Option<u64>,
    remote_inputs: HashMap<PathBuf, String>,
    dirty: bool,
    unknown_since: HashMap<String, Instant>,
    quota_until: Option<Instant>,
    launch_error: HashMap<String, String>,
    waiting_reported: bool,
    /// How many of this run's executions were running when VIP last refused a launch for a
    /// full quota (or platform): batches of launches stay under it (see `launch`).
    quota_cap: Option<usize>,
    /// Folders known on VIP, and their listings (each folder made once per run).
    folders: std::sync::Arc<folders::Folders>,
    /// The uploads and downloads queued and in flight.
    pool: pool::Pool,
    /// Parked items and inputs, and the outage under way.
    trouble: trouble::Trouble,
    /// How long an outage is waited out (`run` only; other commands stop at once).
    max_outage: Duration,
    /// Item key → (execution name, when submitted) of a launch whose answer was lost and
    /// whose look-up by name failed too: looked up again before any new launch.
    unresolved: HashMap<String, (String, i64)>,
    /// Each item's phase, and the indexes the loop reads (see `lifecycle`).
    life: lifecycle::Lifecycle,
    /// The calls the last poll cost (list calls, single calls), said under `-v` on change.
    poll_cost: Option<(usize, usize)>,
    /// The (done, failed) jobs last reported for each item whose execution has several jobs,
    /// so progress within `Running` is reported when it moves (see `monitor`).
    jobs_seen: HashMap<String, (usize, usize)>,
    /// Execution id → the files VIP returned, read by the poll that saw it end: its download
    /// need not ask again.
    returned: HashMap<String, indexmap::IndexMap<String, Vec<String>>>,
    /// VIP's list of executions, read before the runner was built (`with_first_look`),
    /// for `adopt` to use instead of asking again.
    listed: Option<Result<Vec<Execution>, crate::vip::VipError>>,
    /// Results folders being made ahead of their launches (see `prepare_results`), and
    /// those asked for so far.
    preparing: tokio::task::JoinSet<()>,
    prepared: std::collections::HashSet<String>,
    /// This machine refused to store something (a full disk, a folder that cannot be
    /// written): the run launches nothing more and stops (exit 6).
    disk: Option<String>,
    /// Item key → why its outputs could not be written here, in this run.
    not_home: HashMap<String, String>,
    /// The marker written in each download folder (see `disk`).
    owner: std::sync::Arc<crate::run::disk::Owner>,
    /// `--relaunch`: item keys, or `failed` (failed, killed or timed-out items).
    relaunch: Vec<String>,
    /// Items launched in this run (a relaunch asked for happens once).
    relaunched: std::collections::HashSet<String>,
}

impl<'a> Runner<'a> {
    /// A runner that uploads and launches: only from a [`Plan`].
    pub fn launching(
        plan: &'a Plan<'a>,
        paths: Paths,
        reporter: &'a mut Reporter,
        interrupt: Interrupt,
    ) -> Result<Self, Error> {
        let cap = plan.download_cap();
        Self::build(
            plan.manifest(),
            plan.connection(),
            Mode::Launch,
            paths,
            Some(reporter),
            interrupt,
            cap,
        )
    }

    /// A runner for executions already launched (`download`, `cancel`): it adopts, watches,
    /// downloads and kills, and saves the state, but never uploads or launches.
    pub fn tending(
        v: &'a Validated,
        conn: &'a Connection,
        paths: Paths,
        reporter: &'a mut Reporter,
        interrupt: Interrupt,
        cap: Option<u64>,
    ) -> Result<Self, Error> {
        Self::build(v, conn, Mode::Tend, paths, Some(reporter), interrupt, cap)
    }

    /// A runner that reads (`status`, `plan`): the state is brought up to date in memory
    /// only; nothing is saved, reported, uploaded, launched or killed.
    pub fn read_only(v: &'a Validated, conn: &'a Connection, paths: Paths) -> Result<Self, Error> {
        Self::build(
            v,
            conn,
            Mode::ReadOnly,
            paths,
            None,
            Interrupt::default(),
            None,
        )
    }

    fn build(
        v: &'a Validated,
        conn: &'a Connection,
        mode: Mode,
        paths: Paths,
        reporter: Option<&'a mut Reporter>,
        interrupt: Interrupt,
        cap: Option<u64>,
    ) -> Result<Self, Error> {
        let mut state = match State::load(&paths.state)? {
            Some(s) if s.server == conn.server => s,
            Some(s) if conn.sandbox.is_some() => {
                // A fresh sandbox knows nothing of earlier ones: start over.
                drop(s);
                State::new(&v.name, &v.pipeline_id, &conn.server)
            }
            Some(s) => {
                return Err(super::state::StateError::OtherServer {
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
        let carried = crate::run::identity::migrate(&mut state, v);
        if carried > 0 {
            tracing::info!("carried {carried} item(s) over from an earlier state format");
        }
        let runner = Self {
            v,
            conn,
            mode,
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
            waiting_reported: false,
            quota_cap: None,
            folders: std::sync::Arc::default(),
            pool: pool::Pool::new(v.execution.transfers as usize),
            trouble: trouble::Trouble::default(),
            max_outage: if mode == Mode::Launch {
                v.execution.max_outage
            } else {
                Duration::ZERO
            },
            unresolved: HashMap::new(),
            life: lifecycle::Lifecycle::default(),
            poll_cost: None,
            jobs_seen: HashMap::new(),
            returned: HashMap::new(),
            listed: None,
            preparing: tokio::task::JoinSet::new(),
            prepared: std::collections::HashSet::new(),
            disk: None,
            not_home: HashMap::new(),
            owner: std::sync::Arc::new(crate::run::disk::Owner::of(v, conn.sandbox.is_some())),
            relaunch: Vec::new(),
            relaunched: std::collections::HashSet::new(),
        };
        if mode == Mode::Launch {
            // A run waits out outages itself: calls stop retrying once VIP has been failing
            // for a while, so the outage is told and waited out here (see `trouble`).
            runner
                .conn
                .client
                .health()
                .wait_out_after(trouble::HAND_OVER);
        }
        // Built by `prepare`, once the state holds every item of the manifest.
        Ok(runner)
    }

    /// Hands over what a first run read alongside pre-flight ([`first_look`]), so that
    /// taking up what is on VIP and making the first folders do not ask for it again.
    #[must_use]
    pub fn with_first_look(mut self, look: Option<FirstLook>) -> Self {
        if let Some(look) = look {
            self.take_first_look(look);
        }
        self
    }

    /// `--relaunch`: launches again, once, the items named (or, with `failed`, every item
    /// whose execution failed, was killed or timed out), whatever `execution.retries` says.
    #[must_use]
    pub fn with_relaunch(mut self, selectors: &[String]) -> Self {
        self.relaunch = selectors.to_vec();
        self
    }

    fn emit(&mut self, event: &Event) {
        if let Some(r) = self.reporter.as_deref_mut() {
            r.event(event);
        }
    }

    /// Says something to the person at the terminal (not an event).
    fn note(&self, text: &str) {
        if let Some(r) = self.reporter.as_deref() {
            r.note(text);
        }
    }

    fn status_line(&self, text: &str) {
        if let Some(r) = self.reporter.as_deref() {
            r.status_line(text);
        }
    }

    fn save(&mut self) -> Result<(), Error> {
        if self.mode == Mode::ReadOnly {
            return Ok(());
        }
        self.state.save(&self.paths.state)?;
        self.dirty = false;
        Ok(())
    }

    fn save_if_dirty(&mut self) -> Result<(), Error> {
        if self.dirty { self.save() } else { Ok(()) }
    }

    fn item_state(&self, key: &str) -> &ItemState {
        &self.state.items()[key]
    }

    fn current(&self, key: &str) -> Option<&Attempt> {
        self.state.items().get(key).and_then(|s| s.attempts.last())
    }

    fn status_of(attempt: &Attempt) -> ExecutionStatus {
        ExecutionStatus::from(attempt.status.as_str())
    }

    /// The state as the runner knows it now.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The items' current executions, for items launched.
    pub fn current_executions(&self) -> Vec<(String, Attempt)> {
        self.v
            .items
            .iter()
            .filter_map(|i| self.current(&i.key).map(|a| (i.key.clone(), a.clone())))
            .collect()
    }
}
