//! What every command on a manifest opens with and ends with, written once: load the manifest
//! (printing its diagnostics once), apply the command line's `execution` settings, find its
//! run files and identify its items ([`Session::open`]); open the connection for the length of
//! the command, under the manifest's lock when the command changes anything (closing both, and
//! the in-process sandbox behind the connection, on every path out: [`Session::connect`]);
//! and, for `run` and `download`, what the command came to ([`Session::finish`]). With them,
//! the checks of what the command line names in the manifest (`--item`, `--relaunch`), made
//! before anything reaches VIP.

use std::path::Path;

use crate::error::Error;
use crate::files::write_atomically;
use crate::manifest::{self, Validated};
use crate::report::junit::junit;
use crate::report::summary::{Finished, Summary};

use super::access::explain_error;
use super::exclusive::Exclusive;
use super::paths::Paths;
use super::runner::Tracker;
use super::runner::sink::Sink;
use super::{Connection, Settings};

/// How a command uses a manifest's run files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads them only: no lock, nothing kept (`status`, `plan`, `logs`).
    Read,
    /// Changes executions and the state under the manifest's lock, one command at a time
    /// (`cancel`).
    Exclusive,
    /// As [`Access::Exclusive`], and keeps the project key and the inputs' hashes for the next
    /// command (`run`, `download`).
    Record,
}

/// A manifest opened for a command: checked offline, with the command line's `execution`
/// settings applied, its run files found and its items identified.
#[derive(Debug)]
pub struct Session<'s> {
    settings: &'s Settings,
    access: Access,
    /// The manifest.
    pub manifest: Validated,
    /// Its run files.
    pub paths: Paths,
}

impl<'s> Session<'s> {
    /// Loads and checks `path` (as [`load`]), applies the command line's `execution`
    /// settings, finds its run files and identifies its items by content under the project
    /// key (`identity`), keeping the key and the hashes when `access` is
    /// [`Access::Record`].
    pub fn open(settings: &'s Settings, path: &Path, access: Access) -> Result<Self, Error> {
        let mut v = load(settings, path)?;
        settings.overrides.apply(&mut v.execution);
        let paths = Paths::new(&v, settings.state.state_dir.as_deref(), settings.sandbox());
        super::identity::identify(&mut v, &paths, access == Access::Record)?;
        say_what_is_looked_at(settings, &v, &paths);
        Ok(Self {
            settings,
            access,
            manifest: v,
            paths,
        })
    }

    /// Runs `f` with a connection for the manifest, holding the manifest's lock unless the
    /// command only reads; the lock is released and the connection closed whatever `f`
    /// returned. The connection is opened first, so a missing key is said before a lock
    /// held by another run.
    pub async fn connect<T>(
        &self,
        f: impl AsyncFnOnce(&Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        with_connection(self.settings, Some(&self.manifest), async |conn| {
            let _held = match self.access {
                Access::Read => None,
                Access::Exclusive | Access::Record => Some(Exclusive::acquire(
                    &self.paths.exclusive,
                    self.settings.state.lock_wait,
                )?),
            };
            f(conn).await
        })
        .await
    }

    /// The manifest's tracker, reading only, brought up to date with what is on VIP: the
    /// state taken up (adoptions, superseded items) and, with `refresh`, the active
    /// executions' statuses read again (`status`, `plan`, `logs`, `clean`).
    pub async fn look<'c>(
        &'c self,
        conn: &'c Connection,
        refresh: bool,
    ) -> Result<Tracker<'c>, Error> {
        let mut tracker = Tracker::read(&self.manifest, conn, self.paths.clone())?
            .with_relaunch(&self.settings.relaunch);
        tracker
            .prepare(&mut Sink::none())
            .await
            .map_err(|e| explain_error(e, conn))?;
        if refresh {
            tracker.refresh(&mut Sink::none()).await?;
        }
        Ok(tracker)
    }

    /// What `command` (`run` or `download`) came to, with the `JUnit` report written when
    /// `--junit` asks for one and, under `-v`, the calls it cost VIP.
    pub fn finish(
        &self,
        command: &'static str,
        conn: &Connection,
        summary: Summary,
    ) -> Result<Finished, Error> {
        let v = &self.manifest;
        let mut finished = Finished {
            command,
            manifest: v.file.display.clone(),
            state: self.paths.state.clone(),
            record: self.paths.record.clone(),
            report: None,
            sandbox: conn.sandbox.is_some(),
            summary,
            interrupt_exit_code: super::interrupt::exit_code(),
        };
        if let Some(file) = &self.settings.junit {
            write_atomically(file, junit(&v.name, &finished.summary.junit).as_bytes())?;
        }
        finished.report = self.write_report(&finished);
        if command == "run" {
            self.record_end(&finished);
        }
        if self.settings.verbose {
            // What the command cost VIP, by kind (each retry counts): stderr, after the bars.
            let _ =
                crate::report::progress::render_calls(&mut std::io::stderr(), &conn.client.calls());
        }
        Ok(finished)
    }
}

impl Session<'_> {
    /// Records how the run ended in the registry's list of recipes (`ops::registry`), when
    /// the run is listed there; a failure is said as a warning, as for the report.
    fn record_end(&self, finished: &Finished) {
        let Some(registry) = &self.settings.registry else {
            return;
        };
        let counts = crate::report::recipes::Counts::of_outcomes(&finished.summary.outcomes);
        let manifest = super::registry::recipe::absolute(&self.manifest.file.path);
        if let Err(e) = registry.recipe_ended(&manifest, finished.exit_code(), Some(counts)) {
            crate::report::to_stderr(&format!(
                "warning: could not record the run's end for `vip-run recipes`: {e}"
            ));
        }
    }

    /// Writes the run's `report.html` and `trace.tsv` from the state it saved, with its
    /// outcomes and exit code; the report's path, or `None` (said as a warning: the run's
    /// results and record do not depend on it) when it could not be written.
    fn write_report(&self, finished: &Finished) -> Option<std::path::PathBuf> {
        let origin = super::report::Origin {
            command: finished.command,
            outcomes: Some(&finished.summary.outcomes),
            exit_code: Some(finished.exit_code()),
            sandbox: finished.sandbox,
            junit: self.settings.junit.as_deref(),
        };
        let written = super::state::State::load(&self.paths.state)
            .map_err(Error::from)
            .and_then(|state| {
                let state = state.unwrap_or_default();
                let batch = super::report::batch(&self.manifest, &state, &self.paths, &origin);
                super::report::write(&batch, &self.paths)
            });
        match written {
            Ok(w) => Some(w.report),
            Err(e) => {
                crate::report::to_stderr(&format!("warning: could not write the report: {e}"));
                None
            }
        }
    }
}

/// Loads and checks `path` offline, printing warnings (or every diagnostic when invalid).
pub fn load(settings: &Settings, path: &Path) -> Result<Validated, Error> {
    let printer = settings.printer();
    match manifest::load(path, &settings.load) {
        Ok(v) => {
            printer.print(&v.warnings, &v.secrets);
            Ok(v)
        }
        Err(errors) => {
            printer.print(&errors.diagnostics, &secrets_of(path));
            Err(Error::InvalidManifests(errors.to_string()))
        }
    }
}

/// A real command on a manifest that only a `--sandbox` try-out has run says so: its state
/// (and the simulated outputs it downloaded) are the try-out's, not VIP's, so this command
/// finds nothing launched.
fn say_what_is_looked_at(settings: &Settings, v: &Validated, paths: &Paths) {
    if settings.sandbox() || settings.quiet || paths.state.exists() {
        return;
    }
    let Some(root) = paths.dir.parent() else {
        return;
    };
    let tryout = root.join("sandbox").join(&v.name);
    if tryout.join("state.json").exists() {
        crate::report::to_stderr(&format!(
            "note: {} has no run on VIP yet ({} does not exist); {} is a --sandbox try-out's, whose executions were simulated and are gone, and whose outputs (marked sandbox in each results folder's {}) a real run moves aside",
            v.file.display,
            paths.state.display(),
            tryout.display(),
            super::disk::OWNER_FILE
        ));
    }
}

/// Refuses `key` unless it names one of `v`'s items, with a did-you-mean.
pub fn check_item(v: &Validated, key: Option<&str>) -> Result<(), Error> {
    let Some(key) = key else {
        return Ok(());
    };
    if v.items.iter().any(|i| i.key == key) {
        return Ok(());
    }
    let keys: Vec<&str> = v.items.iter().map(|i| i.key.as_str()).collect();
    let hint = manifest::suggest::did_you_mean(key, keys.iter().copied()).map_or_else(
        || format!("the items are: {}", keys.join(", ")),
        |s| format!("did you mean `{s}`?"),
    );
    Err(Error::Usage(format!(
        "{} has no item `{key}`; {hint}",
        v.file.display
    )))
}

/// `--relaunch failed`: every item whose execution failed, was killed or timed out.
pub const RELAUNCH_FAILED: &str = "failed";

/// Refuses `--relaunch` selectors that are neither `failed` nor one of `v`'s items.
pub fn check_relaunch(v: &Validated, selectors: &[String]) -> Result<(), Error> {
    for s in selectors.iter().filter(|s| *s != RELAUNCH_FAILED) {
        check_item(v, Some(s))
            .map_err(|e| Error::Usage(format!("--relaunch {s}: {e}; or `--relaunch failed`")))?;
    }
    Ok(())
}

/// Secrets to scrub from an invalid manifest's diagnostics (its text is read again: the load
/// failed, and may have failed before the secrets were known).
pub fn secrets_of(path: &Path) -> Vec<String> {
    std::fs::read(path)
        .map(|b| manifest::secrets::mask(&String::from_utf8_lossy(&b)).1)
        .unwrap_or_default()
}

/// Runs `f` with a connection for `manifest` (or none), closing it afterwards whatever `f`
/// returned.
pub async fn with_connection<T>(
    settings: &Settings,
    manifest: Option<&Validated>,
    f: impl AsyncFnOnce(&Connection) -> Result<T, Error>,
) -> Result<T, Error> {
    let conn = Connection::open(&settings.connect, manifest).await?;
    let result = f(&conn).await;
    conn.close().await;
    result
}
