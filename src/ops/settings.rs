//! What the command line decided, validated before any work starts (the high-level half of
//! ripgrep's two-stage arguments: clap parses in `cli`, which builds these). Each value is
//! decided once, when the settings are built (the command line over the environment over the
//! manifest over the default), and read as it is from then on: nothing patches a setting
//! later. The manifest's `execution` settings are the one part decided with the manifest in
//! hand: see [`ExecutionOverrides`].

use std::path::PathBuf;
use std::time::Duration;

use crate::manifest::LoadOptions;
use crate::report::OutputFormat;
use crate::report::diagnostics::Printer;
use crate::report::progress::{Progress, Reporter};

use super::ConnectOptions;
use super::registry::Registry;

/// Settings every command shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where VIP is and how to reach it.
    pub connect: ConnectOptions,
    /// Human text or JSON lines on stdout.
    pub output: OutputFormat,
    /// Progress on stderr.
    pub progress: Progress,
    /// Errors only.
    pub quiet: bool,
    /// Also write a `JUnit` report here.
    pub junit: Option<PathBuf>,
    /// `-v`: also the calls made, by kind, at the end of a run.
    pub verbose: bool,
    /// What the command line says of the run itself, over the manifest's `execution`.
    pub overrides: ExecutionOverrides,
    /// Loading manifests (`--max-items`).
    pub load: LoadOptions,
    /// Run state: where it lives and how long to wait for the lock.
    pub state: StateOptions,
    /// `run --detach`: return once everything that can be launched now is launched.
    pub detach: bool,
    /// What `run` does with `vip-run.lock` (`--locked`, `--update-lock`).
    pub lock_policy: LockPolicy,
    /// `run` and `plan --relaunch`: item keys, or `failed`, to launch again once.
    pub relaunch: Vec<String>,
    /// The registry the runs of this machine share (`ops::registry`): the account's slots
    /// and the recipes' records. `None` for a `run` told `--no-account-registry`, a
    /// `--sandbox` try-out (its simulator's quota is its own), or with no state folder.
    pub registry: Option<Registry>,
    /// `run --account-limit`: the account's executions queued or running at once over the
    /// runs of this machine, over the account's `limit` file and what VIP's refusals showed.
    pub account_limit: Option<usize>,
    /// `run`: which channels are told (`--notify`, `--no-notify`, else the manifest's).
    pub notify: NotifyChoice,
}

/// Which channels a run tells: the command line's, when it names any, replace the manifest's
/// (as every other setting it gives), so an ad hoc run can be pointed elsewhere or silenced.
#[derive(Debug, Clone, Default)]
pub enum NotifyChoice {
    /// The manifest's `notify:`.
    #[default]
    Manifest,
    /// `--no-notify`: none (what earlier runs could not send waits for a later run).
    Off,
    /// `--notify KIND=TARGET`: these.
    Given(Vec<crate::manifest::notify::ChannelSpec>),
}

impl NotifyChoice {
    /// The channels a run of `v` tells.
    pub fn channels(
        &self,
        v: &crate::manifest::Validated,
    ) -> Vec<crate::manifest::notify::ChannelSpec> {
        match self {
            Self::Manifest => v.notify.clone(),
            Self::Off => Vec::new(),
            Self::Given(channels) => channels.clone(),
        }
    }
}

/// What `run` does with `vip-run.lock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockPolicy {
    /// Write it when missing; stop when the pipeline changed in a way that matters.
    #[default]
    Write,
    /// `--update-lock`: accept VIP's current descriptor.
    Update,
    /// `--locked`: a missing or stale lock is an error; never write it.
    Locked,
}

/// The command line's word on a manifest's `execution` settings (`run` and `download`): each
/// value given wins over the manifest's, which wins over the default. Applied once, when the
/// manifest is opened (before its items are identified), so every part of the run reads one
/// effective value and nothing overrides it later.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecutionOverrides {
    /// `--transfers` (over `execution.transfers`).
    pub transfers: Option<u32>,
    /// `--max-outage` (over `execution.max_outage`).
    pub max_outage: Option<Duration>,
}

impl ExecutionOverrides {
    /// `execution` with the command line's values put in.
    pub fn apply(&self, execution: &mut crate::manifest::ExecutionSettings) {
        if let Some(n) = self.transfers {
            execution.transfers = n;
        }
        if let Some(d) = self.max_outage {
            execution.max_outage = d;
        }
    }
}

/// Where a manifest's run state lives, and the lock's patience.
#[derive(Debug, Clone, Default)]
pub struct StateOptions {
    /// `--state-dir` (default: `.vip-run` next to the manifest).
    pub state_dir: Option<PathBuf>,
    /// `--lock-wait`.
    pub lock_wait: Duration,
    /// What a `run` or `download` does when another vip-run holds the manifest after
    /// `lock_wait` (`--if-running`).
    pub if_running: IfRunning,
}

/// What a `run` or `download` does when another vip-run is running the same manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum IfRunning {
    /// Do nothing: one line, exit 0. Cron's next tick comes back; the run in progress is
    /// doing the work meanwhile, so nothing failed.
    #[default]
    Skip,
    /// Stop with exit 7 (busy), which a wrapper can tell from a failed item (exit 1).
    Fail,
}

impl Settings {
    /// Whether the run goes to the in-process sandbox.
    pub fn sandbox(&self) -> bool {
        self.connect.sandbox
    }

    /// The diagnostics printer these settings ask for.
    pub fn printer(&self) -> Printer {
        Printer::new(self.quiet)
    }

    /// A reporter for a run of `total` items.
    pub fn reporter(&self, total: usize) -> Reporter {
        Reporter::new(self.output, self.progress, total)
    }
}
