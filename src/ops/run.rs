//! `run`: checks a manifest, then uploads, launches, monitors and downloads to the end under
//! the manifest's lock, and leaves a summary, the run record, the RO-Crate and (with
//! `--junit`) a report; with `results.clean: true`, a run in which every item came home
//! cleans up on VIP. Its channels (`notify:`) are told of its start, its stalls and its end.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::report::progress::Event;
use crate::report::summary::{Finished, Outcome};

use super::Settings;
use super::checked::Checked;
use super::interrupt::Interrupt;
use super::lock;
use super::notify::Notifier;
use super::provenance;
use super::runner::{Runner, first_look};
use super::session::{Access, Session, check_relaunch};
use super::state::State;

/// `run MANIFEST…`: each manifest in turn, `each` told what it came to as soon as it is known
/// (so its summary is printed before the next one starts); a manifest whose run was stopped
/// by a signal is the last.
pub async fn run(
    settings: &Settings,
    manifests: &[PathBuf],
    each: &mut dyn FnMut(&Path, &Finished) -> Result<(), Error>,
) -> Result<(), Error> {
    let interrupt = Interrupt::on_ctrl_c();
    for path in manifests {
        let finished = execute_one(settings, path, &interrupt).await?;
        each(path, &finished)?;
        if finished.summary.interrupted {
            break;
        }
    }
    Ok(())
}

/// One manifest's run: check (pre-flight, then the live descriptor against `vip-run.lock` by
/// the settings' lock policy), upload, launch, monitor, download; with `--detach`, return once
/// everything that can be launched now is launched. `--max-outage` and `--transfers` are in
/// the manifest's `execution` already (applied when it was opened).
async fn execute_one(
    settings: &Settings,
    path: &Path,
    interrupt: &Interrupt,
) -> Result<Finished, Error> {
    let relaunch = &settings.relaunch;
    let session = Session::open(settings, path, Access::Record)?;
    let (v, paths) = (&session.manifest, &session.paths);
    check_relaunch(v, relaunch)?;
    let server = settings.connect.server.as_deref().or(v.server.as_deref());
    let mut notifier = Notifier::new(
        v,
        paths,
        settings.notify.channels(v),
        server.unwrap_or(crate::manifest::DEFAULT_SERVER),
    );
    let ended = session
        .connect(async |conn| {
            notifier.begin(&conn.server);
            // A first run's reads of what is on VIP go alongside pre-flight (reads only:
            // nothing is done on VIP before the checks pass).
            let printer = settings.printer();
            let (plan, first) = tokio::join!(
                Checked::check(v, conn, &printer),
                first_look(conn, v, paths)
            );
            let plan = plan?;
            // The sandbox's pipelines are not VIP's: a try-out neither writes the recipe's lock
            // nor is held to it (as its state is kept apart), else the real run after it would
            // stop on a "changed" descriptor.
            if !settings.sandbox() {
                lock::check_run(&plan, settings.lock_policy, printer)?;
            }
            // Before any launch: a result that cannot be stored is grid time lost.
            super::disk::check_before(v, &paths.dir, settings.sandbox())?;
            let mut reporter = settings.reporter(v.items.len());
            let runner = Runner::launching(&plan, paths.clone(), &mut reporter, interrupt.clone())?
                .with_relaunch(relaunch)
                .with_first_look(first)
                .with_listener(&mut notifier);
            let summary = runner.drive(settings.detach).await?;
            if v.clean
                && !summary.interrupted
                && summary.outcomes.iter().all(|(_, o)| *o == Outcome::Done)
            {
                super::clean::report_after_run(
                    &mut reporter,
                    super::clean::after_run(conn, v, paths).await,
                );
            }
            // Provenance of everything the state records, for readers of the results.
            match State::load(&paths.state)
                .map_err(Error::from)
                .and_then(|state| match state {
                    Some(state) => provenance::write(v, &state, &plan.preflight().descriptor),
                    None => Ok(None),
                }) {
                Ok(Some(path)) => reporter.note(&format!("provenance: {}", path.display())),
                Ok(None) => {}
                Err(e) => reporter.event(&Event::Warning {
                    message: format!("could not write the RO-Crate: {e}"),
                }),
            }
            reporter.finish();
            super::finish::finish(&session, "run", conn, summary)
        })
        .await;
    // Told before a skip is made of it: a run that finds its manifest held tells nothing
    // (the run holding it does the telling).
    notifier.end(&ended).await;
    super::finish::or_skip(&session, "run", ended)
}
