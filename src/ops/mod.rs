//! Orchestration: every command's flow, from validated [`Settings`] and a manifest to a typed
//! outcome that `report` renders and `cli` turns into an exit code.
//!
//! - the commands, each in a file named after it: [`validate()`], [`plan()`], [`run()`],
//!   [`download()`],
//!   [`status()`], [`cancel()`], [`logs()`], [`clean()`], [`collect()`], [`whoami()`],
//!   [`pipelines()`], [`pipeline()`], [`init()`], [`lock()`] and [`recipes()`];
//! - [`Checked`]: a manifest checked offline and online, the only way to a launching runner;
//! - `runner`: the run itself (adopt, decide, launch, monitor, transfers, record), `state`,
//!   `exclusive` (the OS lock: one run of a manifest at a time), `paths`, `interrupt`, `extract`;
//! - `notify`: a run's notifications (its channels' queues, retries and spool);
//! - `registry`: what the runs of this machine share (the account's slots and limit, each
//!   recipe's last run);
//! - what every command on a manifest opens with and ends with (`session`), reaching VIP
//!   (`connect`), pre-flight, and the one explanation of access problems (`access`).

pub mod access;
pub mod against;
pub mod cancel;
pub mod checked;
pub mod clean;
pub mod collect;
pub mod connect;
pub mod disk;
pub mod download;
pub mod exclusive;
pub mod extract;
pub mod finish;
pub(crate) mod glob;
pub mod identity;
pub mod init;
pub mod interrupt;
pub mod journal;
pub mod lock;
pub mod logs;
pub mod notify;
pub mod paths;
pub mod pipeline;
pub mod pipelines;
pub mod plan;
pub mod preflight;
pub mod provenance;
pub mod recipes;
pub mod registry;
pub mod remote;
pub mod report;
pub mod run;
pub mod runner;
pub mod session;
pub mod settings;
pub mod state;
pub mod status;
pub mod systemd;
pub mod validate;
pub mod whoami;

pub use cancel::cancel;
pub use clean::clean;
pub use collect::collect;
pub use connect::{ConnectOptions, Connection};
pub use download::download;
pub use init::init;
pub use lock::lock;
pub use logs::logs;
pub use pipeline::pipeline;
pub use pipelines::pipelines;
pub use plan::plan;
pub use recipes::recipes;
pub use report::report;
pub use run::run;
pub use session::{RELAUNCH_FAILED, check_relaunch};
pub use settings::{
    ExecutionOverrides, IfRunning, LockPolicy, NotifyChoice, Settings, StateOptions,
};
pub use status::{status, status_lines};
pub use systemd::{SystemdOptions, systemd};
pub use validate::validate;
pub use whoami::whoami;
