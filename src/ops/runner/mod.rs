//! The runner: one manifest's items over one connection, with the state that makes re-runs
//! idempotent.
//!
//! Idempotency rests on two things: every item's execution has a deterministic name
//! (`<name>-<key>-<fp6>`, `-r<N>` for retries), and the state file records what was done.
//! A run reads the state, then asks VIP for executions by name for items the state does not
//! know (a lost state file, or a crash between a launch and the save), so a re-run adopts
//! executions instead of launching duplicates.
//!
//! The run's loop composes owned parts, after nextest's runner: a [`Tracker`] (the state,
//! what is on VIP, each item's phase, what comes next), [`transfers`] (uploads and
//! downloads as tasks: jobs in, finished transfers out), a [`launcher`] (launches, the
//! quota's waits, lost answers), its [`share`] of the account's quota on this machine (the
//! slots it holds) and the run's [`trouble`] (parked items, outages). Each part
//! tells what happened to a [`sink::Sink`] (the bar, plain lines, JSON events); `run.json` and
//! the `JUnit` cases are written once, at the end, from the final state (`record`).
//!
//! What the loop may do is fixed when it is built: only a [`Checked`] manifest gives a
//! loop that uploads and launches; `download` gets one that tends executions already
//! launched. `status`, `plan`, `logs`, `clean` and `cancel` use a tracker alone.
//!
//! The files: `drive` (the loop), `steps` (what the loop does with the parts: uploads
//! decided and queued, transfers recorded, finished items fetched), `launcher`, `share`,
//! `transfers/`, `tracker/`, `trouble`, `record`, `sink`.

use std::time::Duration;

use crate::error::Error;
use crate::manifest::Validated;
use crate::report::progress::Reporter;
pub use crate::report::summary::{Outcome, Summary};
use crate::vip::wire::{Execution, JobClass};

mod drive;
mod launcher;
mod record;
mod share;
pub(crate) mod sink;
mod steps;
pub(crate) mod tracker;
pub(crate) mod transfers;
mod trouble;

pub use tracker::{FirstLook, Next, Tracker, UploadNeed, first_look};

use super::Connection;
use super::checked::Checked;
use super::interrupt::Interrupt;
use super::paths::Paths;
pub use super::remote::{attempt_name, inputs_root, results_dir};
use launcher::Launcher;
use share::AccountShare;
use sink::Sink;
use transfers::Transfers;
use trouble::Trouble;

/// How long `Unknown` is waited out before it counts as a failure (docs/vip.md#statuses).
const UNKNOWN_GRACE: Duration = Duration::from_secs(300);
/// The first poll comes quickly; later ones back off to `poll_interval`.
const FIRST_POLL: Duration = Duration::from_millis(250);
/// With more active executions than this, one list call beats one call per execution.
const LIST_THRESHOLD: usize = 2;
/// How long to wait before trying again after VIP's quota refused a launch.
const QUOTA_WAIT: Duration = Duration::from_secs(5);

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

/// The run of one manifest over one connection: the parts, and the loop's policy.
pub struct Runner<'a> {
    tracker: Tracker<'a>,
    transfers: Transfers,
    launcher: Launcher,
    /// The account's slots on this machine that this run holds (off for `download`).
    share: AccountShare,
    trouble: Trouble,
    sink: Sink<'a>,
    interrupt: Interrupt,
    /// Whether the loop uploads and launches (`run`), or only fetches what is finished now
    /// (`download`). A `run` waits out trouble; `download` stops at the first call that
    /// fails after its retries.
    launches: bool,
    /// How long an outage is waited out (`run` only).
    max_outage: Duration,
    /// This machine refused to store something (a full disk, a folder that cannot be
    /// written): the run launches nothing more and stops (exit 6).
    disk: Option<String>,
}

impl<'a> Runner<'a> {
    /// A loop that uploads and launches: only from a [`Checked`] manifest.
    pub fn launching(
        plan: &'a Checked<'a>,
        paths: Paths,
        reporter: &'a mut Reporter,
        interrupt: Interrupt,
    ) -> Result<Self, Error> {
        let (v, conn) = (plan.manifest(), plan.connection());
        let tracker =
            Tracker::launch(v, conn, paths)?.with_descriptor(&plan.preflight().descriptor);
        // A run waits out outages itself: calls stop retrying once VIP has been failing for
        // a while, so the outage is told and waited out here (see `trouble`).
        conn.client.health().wait_out_after(trouble::HAND_OVER);
        Ok(Self::build(
            tracker,
            plan.download_cap(),
            reporter,
            interrupt,
            true,
        ))
    }

    /// A loop for executions already launched (`download`): it adopts, watches, downloads,
    /// and saves the state, but never uploads or launches.
    pub fn tending(
        v: &'a Validated,
        conn: &'a Connection,
        paths: Paths,
        reporter: &'a mut Reporter,
        interrupt: Interrupt,
        cap: Option<u64>,
    ) -> Result<Self, Error> {
        let tracker = Tracker::tend(v, conn, paths)?;
        Ok(Self::build(tracker, cap, reporter, interrupt, false))
    }

    fn build(
        tracker: Tracker<'a>,
        cap: Option<u64>,
        reporter: &'a mut Reporter,
        interrupt: Interrupt,
        launches: bool,
    ) -> Self {
        let v = tracker.manifest();
        let owner = crate::ops::disk::Owner::of(v, tracker.connection().sandbox.is_some());
        Self {
            transfers: Transfers::new(v.execution.transfers as usize, cap, v.extract, owner),
            launcher: Launcher::default(),
            share: AccountShare::default(),
            trouble: Trouble::default(),
            sink: Sink::to(reporter),
            interrupt,
            launches,
            max_outage: if launches {
                v.execution.max_outage
            } else {
                Duration::ZERO
            },
            disk: None,
            tracker,
        }
    }

    /// Hands over what a first run read alongside pre-flight ([`first_look`]), so that
    /// taking up what is on VIP and making the first folders do not ask for it again.
    #[must_use]
    pub fn with_first_look(mut self, look: Option<FirstLook>) -> Self {
        if let Some(look) = look {
            self.tracker.take_listed(look.executions);
            for (root, listing) in look.roots {
                if let Ok(entries) = listing {
                    self.transfers
                        .folders
                        .prime(&root, transfers::folders::listing_of(entries));
                }
            }
        }
        self
    }

    /// Also tells `listener` the loop's events (notifications).
    #[must_use]
    pub(crate) fn with_listener(
        mut self,
        listener: &'a mut (dyn sink::Listener + 'static),
    ) -> Self {
        self.sink.also(listener);
        self
    }

    /// Shares the account's quota with the other runs of this machine through `registry`
    /// (none: not shared), `limit` being `--account-limit` (see `ops::registry`).
    pub fn with_account_share(
        mut self,
        registry: Option<&super::registry::Registry>,
        limit: Option<usize>,
    ) -> Result<Self, Error> {
        if self.launches {
            let account = &self.tracker.connection().account;
            self.share = AccountShare::open(registry, account, limit)?;
        }
        Ok(self)
    }

    /// `--relaunch`: launches again, once, the items named (or, with `failed`, every item
    /// whose execution failed, was killed or timed out), whatever `execution.retries` says.
    #[must_use]
    pub fn with_relaunch(mut self, selectors: &[String]) -> Self {
        self.tracker = self.tracker.with_relaunch(selectors);
        self
    }
}
