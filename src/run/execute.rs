//! `run` and `download`: the commands that act on a manifest's executions to the end, under
//! the manifest's lock, and leave a summary, the run record and (with `--junit`) a report.

use std::path::Path;

use crate::error::Error;
use crate::exit_code;
use crate::files::write_atomically;
use crate::report::junit::junit;

use super::Settings;
use super::access::explain;
use super::interrupt::Interrupt;
use super::lock::RunLock;
use super::paths::Paths;
use super::plan::Plan;
use super::runner::{Runner, Summary};
use super::session::{load, with_connection};

/// What a run or a download of one manifest came to.
#[derive(Debug)]
pub struct Finished {
    /// `run` or `download`.
    pub command: &'static str,
    /// The manifest, as the user named it.
    pub manifest: String,
    /// Where its state and record are.
    pub paths: Paths,
    /// Whether it ran against the in-process sandbox (gone with the command).
    pub sandbox: bool,
    /// Each item's outcome.
    pub summary: Summary,
}

impl Finished {
    /// The exit code this outcome means.
    pub fn exit_code(&self) -> i32 {
        if self.summary.interrupted {
            exit_code::INTERRUPTED
        } else if self.command == "run" && self.summary.any_failed() {
            exit_code::FAILED
        } else {
            exit_code::SUCCESS
        }
    }

    fn write_junit(&self, settings: &Settings, suite: &str) -> Result<(), Error> {
        if let Some(file) = &settings.junit {
            write_atomically(file, junit(suite, &self.summary.junit).as_bytes())?;
        }
        Ok(())
    }
}

/// `run MANIFEST`: check, upload, launch, monitor, download; with `detach`, return once
/// everything that can be launched now is launched.
pub async fn execute(
    settings: &Settings,
    path: &Path,
    detach: bool,
    interrupt: &Interrupt,
) -> Result<Finished, Error> {
    let v = load(settings, path)?;
    with_connection(settings, Some(&v), async |conn| {
        let paths = Paths::new(&v, settings.state.state_dir.as_deref(), settings.sandbox());
        let _lock = RunLock::acquire(&paths.lock, settings.state.lock_wait)?;
        let plan = Plan::check(&v, conn, &settings.printer()).await?;
        let mut reporter = settings.reporter(v.items.len());
        let runner = Runner::launching(&plan, paths.clone(), &mut reporter, interrupt.clone())?;
        let summary = runner.run(detach).await?;
        reporter.finish();
        let finished = Finished {
            command: "run",
            manifest: v.file.display.clone(),
            paths,
            sandbox: conn.sandbox.is_some(),
            summary,
        };
        finished.write_junit(settings, &v.name)?;
        Ok(finished)
    })
    .await
}

/// `download MANIFEST`: the outputs of finished items only; waits for nothing.
pub async fn download(settings: &Settings, path: &Path) -> Result<Finished, Error> {
    let v = load(settings, path)?;
    with_connection(settings, Some(&v), async |conn| {
        let paths = Paths::new(&v, settings.state.state_dir.as_deref(), settings.sandbox());
        let _lock = RunLock::acquire(&paths.lock, settings.state.lock_wait)?;
        let platform = conn.client.platform().await.map_err(|e| explain(e, conn))?;
        let interrupt = Interrupt::on_ctrl_c();
        let mut reporter = settings.reporter(v.items.len());
        let runner = Runner::tending(
            &v,
            conn,
            paths.clone(),
            &mut reporter,
            interrupt,
            platform.max_size_direct_transfer,
        )?;
        let summary = runner.run(false).await?;
        reporter.finish();
        let finished = Finished {
            command: "download",
            manifest: v.file.display.clone(),
            paths,
            sandbox: conn.sandbox.is_some(),
            summary,
        };
        finished.write_junit(settings, &v.name)?;
        Ok(finished)
    })
    .await
}
