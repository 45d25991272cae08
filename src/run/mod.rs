//! Orchestration: every command's flow, from validated [`Settings`] and a manifest to a typed
//! outcome that `report` renders and `cli` turns into an exit code.
//!
//! - the commands: [`execute`] (`run`), [`download`], [`plan()`], [`status`], [`cancel`],
//!   [`logs()`], [`clean()`],
//!   [`validate`], and the discovery ones ([`whoami`], [`pipelines`], [`pipeline`], `init`'s
//!   [`discover::starter_inputs`]);
//! - [`Plan`]: a manifest checked offline and online, the only way to a launching runner;
//! - `runner`: the run itself (adopt, decide, launch, monitor, transfers, record), `state`,
//!   `lock`, `paths`, `interrupt`, `extract`;
//! - reaching VIP (`connect`, `session`), pre-flight, and the one explanation of access
//!   problems (`access`).

pub mod access;
pub mod against;
pub mod clean;
pub mod connect;
pub mod discover;
pub mod disk;
pub mod execute;
pub mod extract;
pub mod identity;
pub mod inspect;
pub mod interrupt;
pub mod journal;
pub mod lock;
pub mod lockfile;
pub mod logs;
pub mod paths;
pub mod plan;
pub mod preflight;
pub mod provenance;
pub mod runner;
pub mod session;
pub mod settings;
pub mod state;
pub mod verify;

pub use clean::clean;
pub use connect::{ConnectOptions, Connection};
pub use discover::{pipeline, pipelines, whoami};
pub use execute::{download, execute};
pub use inspect::{cancel, status};
pub use interrupt::Interrupt;
pub use logs::logs;
pub use plan::{Plan, plan};
pub use settings::{ExecutionOverrides, Settings, StateOptions};
pub use verify::validate;

/// `--relaunch failed`: every item whose execution failed, was killed or timed out.
pub const RELAUNCH_FAILED: &str = "failed";

/// Refuses `--relaunch` selectors that are neither `failed` nor one of `v`'s items.
pub fn check_relaunch(
    v: &crate::manifest::Validated,
    selectors: &[String],
) -> Result<(), crate::error::Error> {
    for s in selectors.iter().filter(|s| *s != RELAUNCH_FAILED) {
        session::check_item(v, Some(s)).map_err(|e| {
            crate::error::Error::Usage(format!("--relaunch {s}: {e}; or `--relaunch failed`"))
        })?;
    }
    Ok(())
}
