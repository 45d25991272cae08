//! The registry under the user's state directory: what the runs on this machine share. For
//! each account (server and key), the slots of its quota of running executions and the limit
//! VIP's refusals revealed, so that recipes of one account stop launching into each other's
//! refusals (as Airflow pools or Prefect's global concurrency limits share one limit among
//! every run that draws on it); and for each manifest, its last run, for `vip-run recipes`
//! and `status` over several manifests.
//!
//! Where it lives is decided once, by `cli::resolve` through [`Registry::locate`]:
//! `$VIP_RUN_STATE_HOME`, else `$XDG_STATE_HOME/vip-run`, else `~/.local/state/vip-run`.
//!
//! ```text
//! accounts/<account>/account.json   the server and the key's fingerprint, for people
//!                    limit          the limit, when someone sets it (a whole number)
//!                    learned.json   the limit VIP's refusals revealed
//!                    slots.lock     held for an instant while slots are counted or taken
//!                    slot-<n>.lock  one per slot, locked by the run that holds it
//!                    wait-<n>.lock  one per run waiting for a slot, first come first served
//! recipes/<recipe>.json             a manifest's last run
//! recipes/<recipe>.lock             locked by the manifest's run while it runs
//! ```
//!
//! Every lock is an OS file lock (`File::try_lock`): the OS releases it when its holder dies,
//! even by `kill -9`, so a killed run's slots come back at once and nothing goes stale.
//! Nothing in it is needed for a run to be right: a registry that cannot be written is
//! said once, and the run goes on without it.

mod account;
mod limit;
pub mod recipe;
mod slots;

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use account::Account;
pub use slots::Slots;

/// The registry's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    root: PathBuf,
}

impl Registry {
    /// The registry at `root`.
    pub fn at(root: PathBuf) -> Self {
        Self { root }
    }

    /// Where the registry lives, from the environment's `VIP_RUN_STATE_HOME`,
    /// `XDG_STATE_HOME` and `HOME` (in that order; `cwd` makes a relative
    /// `VIP_RUN_STATE_HOME` absolute); `None` with none of them usable. A relative
    /// `XDG_STATE_HOME` is ignored, as the XDG specification says.
    pub fn locate(
        state_home: Option<OsString>,
        xdg_state_home: Option<OsString>,
        home: Option<OsString>,
        cwd: &Path,
    ) -> Option<Self> {
        let given = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(dir) = given(state_home) {
            return Some(Self::at(cwd.join(dir)));
        }
        if let Some(dir) = given(xdg_state_home).filter(|d| d.is_absolute()) {
            return Some(Self::at(dir.join("vip-run")));
        }
        given(home)
            .filter(|d| d.is_absolute())
            .map(|h| Self::at(h.join(".local/state/vip-run")))
    }

    /// Its folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of `account`'s slots and limit.
    pub fn account_dir(&self, account: &Account) -> PathBuf {
        self.root.join("accounts").join(&account.id)
    }

    /// The folder of the recipes' records.
    pub fn recipes_dir(&self) -> PathBuf {
        self.root.join("recipes")
    }
}

/// Tries to lock the file at `path` (made if missing): the open file, locked, or `None` when
/// another holder has it.
fn try_lock(path: &Path) -> std::io::Result<Option<File>> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Writes who holds `file` (locked) into it, for a person looking at the folder: the lock is
/// what counts, never this text.
fn write_holder(file: &mut File, extra: &str) {
    let _ = file.set_len(0);
    let _ = write!(
        file,
        "{}pid {} since {}",
        extra,
        std::process::id(),
        crate::time::rfc3339(crate::time::now_ms())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        s.parse().ok()
    }

    #[test]
    fn the_registry_is_found_as_documented() {
        let cwd = Path::new("/work");
        let root = |r: Option<Registry>| r.map(|r| r.root().display().to_string());
        assert_eq!(
            root(Registry::locate(os("/s"), os("/x"), os("/home/u"), cwd)),
            Some("/s".into())
        );
        assert_eq!(
            root(Registry::locate(os("rel"), None, None, cwd)),
            Some("/work/rel".into())
        );
        assert_eq!(
            root(Registry::locate(os(""), os("/x"), os("/home/u"), cwd)),
            Some("/x/vip-run".into())
        );
        assert_eq!(
            root(Registry::locate(None, os("relative"), os("/home/u"), cwd)),
            Some("/home/u/.local/state/vip-run".into())
        );
        assert_eq!(root(Registry::locate(None, None, None, cwd)), None);
    }
}
