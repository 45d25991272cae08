//! `run`: checks a manifest, then uploads, launches, monitors and downloads to the end under
//! the manifest's lock, and leaves a summary, the run record, the RO-Crate and (with
//! `--junit`) a report; with `results.clean: true`, a run in which every item came home
//! cleans up on VIP. Its channels (`notify:`) are told of its start, its stalls and its end.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::manifest::Validated;
use crate::report::progress::Event;
use crate::report::summary::{Finished, Outcome};

use super::checked::Checked;
use super::interrupt::Interrupt;
use super::lock;
use super::notify::Notifier;
use super::provenance;
use super::registry::Registry;
use super::registry::recipe::{self, RecipeRecord, RecipeRun};
use super::runner::{Runner, first_look};
use super::session::{Access, Session, check_relaunch};
use super::state::State;
use super::{Connection, Settings};

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
        let finished = match execute_one(settings, path, &interrupt).await {
            Ok(finished) => finished,
            Err(e) => {
                // Its record says how it ended (a run stopped before its start was recorded,
                // by another run's lock say, leaves that run's record alone).
                if let Some(registry) = &settings.registry {
                    let _ = registry.recipe_ended(&recipe::absolute(path), e.exit_code(), None);
                }
                return Err(e);
            }
        };
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
            // Listed for `vip-run recipes`, under the manifest's lock, for as long as it runs.
            let _listed = settings
                .registry
                .as_ref()
                .and_then(|r| listed(settings, r, v, conn));
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
                .with_listener(&mut notifier)
                .with_account_share(settings.registry.as_ref(), settings.account_limit)?;
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

/// Records in `registry` that the run of `v` over `conn` starts; its hold on the recipe's
/// lock, while the run goes on. A registry that cannot be written is said and left out:
/// the list of recipes is for people, and the run does not depend on it.
fn listed(
    settings: &Settings,
    registry: &Registry,
    v: &Validated,
    conn: &Connection,
) -> Option<RecipeRun> {
    let record = RecipeRecord {
        manifest: recipe::absolute(&v.file.path),
        name: v.name.clone(),
        server: conn.account.server.clone(),
        pipeline: v.pipeline_id.clone(),
        account: conn.account.id.clone(),
        pid: std::process::id(),
        started_ms: crate::time::now_ms(),
        ended_ms: None,
        exit_code: None,
        counts: None,
    };
    registry
        .recipe_started(&record)
        .map_err(|e| {
            if !settings.quiet {
                crate::report::to_stderr(&format!(
                    "warning: this run is not listed in `vip-run recipes`: {e}"
                ));
            }
        })
        .ok()
}
