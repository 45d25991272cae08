//! `clean MANIFEST [--inputs] [--results] [--executions] [--yes]`, and `results.clean`: delete
//! on VIP what this manifest put there, and nothing else (what `VipSession.finish` does, made
//! safe).
//!
//! What counts as the manifest's own, by construction rather than by listing: its project's
//! inputs folder `/vip/Home/vip-run/<name>/<key>/inputs` (vip-run uploads nowhere else;
//! docs/vip.md#names), the results folders of executions it superseded, and each item's
//! results folder `<results.location>/<execution name>` (vip-run launches every execution
//! with its own folder, named after the execution, and the name carries the manifest's name,
//! the item's key and its fingerprint). A results folder is deleted only when the state says
//! every output of it was downloaded, each local file still has VIP's size, and every output
//! lies inside that folder. An execution is deleted only when VIP still has it under the
//! item's name and the manifest's pipeline, Finished, and its results are safely home.
//!
//! Executions are deleted with `deleteFiles: false`: their results folders are this
//! module's to delete, under the rule above, so VIP never removes results not yet home.
//! VIP deletes paths asynchronously (docs/vip.md#delete): every deletion is waited out with
//! `exists`, as the Python client does (every 2 s, here from 100 ms up, for up to 300 s).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::manifest::Validated;
use crate::report::clean::{CleanPlan, Cleaned, Target, TargetKind};
use crate::vip::Client;
use crate::vip::wire::ExecutionStatus;

use super::Connection;
use super::Settings;
use super::access::explain_error;
use super::paths::Paths;
use super::remote::{inputs_root, results_dir};
use super::session::{Access, Session};
use super::state::State;

/// How long VIP is given to really delete a path.
const DELETE_WAIT: Duration = Duration::from_secs(300);

/// What to clean. No flag means inputs and results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct What {
    /// The uploaded inputs folder.
    pub inputs: bool,
    /// The results folders of items safely home.
    pub results: bool,
    /// The items' finished executions.
    pub executions: bool,
}

impl What {
    /// From the command line's flags: none given means inputs and results.
    pub fn from_flags(inputs: bool, results: bool, executions: bool) -> Self {
        if inputs || results || executions {
            Self {
                inputs,
                results,
                executions,
            }
        } else {
            Self {
                inputs: true,
                results: true,
                executions: false,
            }
        }
    }
}

/// Files and bytes below `path` on VIP (`None`: it does not exist).
async fn measure(client: &Client, path: &str) -> Result<Option<(u64, u64)>, Error> {
    let props = client.properties(path).await?;
    if !props.exists {
        return Ok(None);
    }
    if props.is_directory != Some(true) {
        return Ok(Some((1, props.size.unwrap_or(0))));
    }
    let (mut files, mut bytes) = (0, 0);
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in client.list(&dir).await? {
            if entry.is_directory == Some(true) {
                pending.push(entry.path);
            } else {
                files += 1;
                bytes += entry.size.unwrap_or(0);
            }
        }
    }
    Ok(Some((files, bytes)))
}

/// Why item `key`'s results are not safely home (`None`: they are).
fn not_home(state: &State, key: &str, folder: &str, execution: &str) -> Option<String> {
    let Some(s) = state.items().get(key) else {
        return Some("never launched".into());
    };
    // Only the current execution's outputs count (earlier ones were moved aside).
    let outputs: Vec<_> = s
        .outputs
        .iter()
        .filter(|o| o.execution.as_deref() == Some(execution))
        .collect();
    if outputs.is_empty() {
        return Some("nothing downloaded".into());
    }
    for o in outputs {
        if !o.remote.starts_with(&format!("{folder}/")) {
            return Some(format!("{} is not in its own results folder", o.remote));
        }
        if let Some(p) = &o.problem {
            return Some(format!("{} was not downloaded: {p}", o.remote));
        }
        let Some(local) = o.local.as_ref().filter(|_| o.done) else {
            return Some(format!("{} was not downloaded", o.remote));
        };
        let size = std::fs::metadata(local)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len());
        if size.is_none() || size != o.size {
            return Some(format!(
                "{} is missing or not the size VIP has",
                local.display()
            ));
        }
    }
    None
}

/// What cleaning `v` would delete now, given its `state`.
pub async fn survey(
    conn: &Connection,
    v: &Validated,
    state: &State,
    what: What,
) -> Result<CleanPlan, Error> {
    let client = &conn.client;
    let mut plan = CleanPlan {
        manifest: v.file.display.clone(),
        ..CleanPlan::default()
    };
    if what.inputs {
        let root = inputs_root(v);
        if let Some((files, bytes)) = measure(client, &root).await? {
            plan.targets.push(Target {
                kind: TargetKind::Inputs,
                path: root,
                files,
                bytes,
            });
        }
    }
    if !(what.results || what.executions) {
        return Ok(plan);
    }
    for item in &v.items {
        // Results of executions this manifest launched for an item's earlier inputs: no
        // longer the item's, offered with the rest (their outputs, if they came home, were
        // moved aside when the new execution's did).
        if what.results {
            for old in state
                .items()
                .get(&item.key)
                .map(|s| s.superseded.as_slice())
                .unwrap_or_default()
            {
                if !old.results_dir.starts_with("/vip/") {
                    continue;
                }
                if let Some((files, bytes)) = measure(client, &old.results_dir).await? {
                    plan.targets.push(Target {
                        kind: TargetKind::Results {
                            item: format!("{} (superseded {})", item.key, old.execution_id),
                        },
                        path: old.results_dir.clone(),
                        files,
                        bytes,
                    });
                }
            }
        }
        let Some(attempt) = state.items().get(&item.key).and_then(|s| s.attempts.last()) else {
            continue;
        };
        if attempt.status != ExecutionStatus::Finished.as_str() {
            if what.results {
                plan.kept.push((
                    item.key.clone(),
                    format!("its execution did not finish ({})", attempt.status),
                ));
            }
            continue;
        }
        let folder = results_dir(item, &attempt.name);
        let why = if item.download.is_none() {
            Some("`results.download` is false: they live only on VIP".to_owned())
        } else if !folder.starts_with("/vip/") {
            Some("they are not in VIP's data namespace".to_owned())
        } else {
            not_home(state, &item.key, &folder, &attempt.execution_id)
        };
        if let Some(why) = why {
            plan.kept.push((item.key.clone(), why));
            continue;
        }
        if what.results
            && let Some((files, bytes)) = measure(client, &folder).await?
        {
            plan.targets.push(Target {
                kind: TargetKind::Results {
                    item: item.key.clone(),
                },
                path: folder,
                files,
                bytes,
            });
        }
        if what.executions {
            // VIP's word, not the state's: the same id, the item's name, the manifest's pipeline.
            match client.execution(&attempt.execution_id).await {
                Ok(e)
                    if e.name == attempt.name
                        && e.pipeline_identifier == v.pipeline_id
                        && e.status == ExecutionStatus::Finished =>
                {
                    plan.targets.push(Target {
                        kind: TargetKind::Execution {
                            item: item.key.clone(),
                        },
                        path: e.identifier,
                        files: 0,
                        bytes: 0,
                    });
                }
                Ok(_) => {}
                // Already deleted.
                Err(e) if e.meaning() == crate::vip::Meaning::Gone => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(plan)
}

/// Deletes `plan`'s targets and waits until VIP has really deleted them.
pub async fn apply(conn: &Connection, plan: &CleanPlan) -> Result<(), Error> {
    let client = &conn.client;
    for t in &plan.targets {
        if let TargetKind::Execution { .. } = t.kind {
            match client.delete_execution(&t.path, false).await {
                Ok(()) => {}
                Err(e) if e.meaning() == crate::vip::Meaning::Gone => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    for t in &plan.targets {
        if let TargetKind::Execution { .. } = t.kind {
            continue;
        }
        if let Err(e) = client.delete_path(&t.path).await {
            // A missing path is an 8000: done, if `exists` agrees (docs/vip.md#delete).
            if e.code() != Some(8000) || client.exists(&t.path).await? {
                return Err(e.into());
            }
        }
    }
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    for t in &plan.targets {
        if let TargetKind::Execution { .. } = t.kind {
            continue;
        }
        while client.exists(&t.path).await? {
            if started.elapsed() > DELETE_WAIT {
                return Err(Error::Usage(format!(
                    "VIP accepted the deletion of {} but still shows it after {} s: run `vip-run clean` again later",
                    t.path,
                    DELETE_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
    Ok(())
}

/// Makes the state true again after `plan` was applied: uploads under the inputs folder are
/// gone, so the next run sends them again.
pub fn forget(state: &mut State, plan: &CleanPlan) {
    for t in &plan.targets {
        if t.kind == TargetKind::Inputs {
            let prefix = format!("{}/", t.path);
            state.retain_uploads(|remote, _| !remote.starts_with(&prefix));
        }
    }
}

/// Asks the person at the terminal whether to go ahead; off a terminal, `yes` must say so.
pub fn confirm(plan: &CleanPlan, yes: bool) -> Result<bool, Error> {
    if plan.targets.is_empty() || yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(format!(
            "`clean` deletes on VIP and asks first, but this is not a terminal: add `--yes` to delete {}",
            plan.describe()
        )));
    }
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "delete {} on VIP? [y/N] ", plan.describe());
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}

/// `clean MANIFEST`: survey, `ask` (which shows the plan, even an empty one), delete, wait,
/// save the state.
pub async fn clean(
    settings: &Settings,
    path: &Path,
    what: What,
    ask: &mut dyn FnMut(&CleanPlan) -> Result<bool, Error>,
) -> Result<Cleaned, Error> {
    let session = Session::open(settings, path, Access::Record)?;
    let (v, paths) = (&session.manifest, &session.paths);
    session
        .connect(async |conn| {
            let mut state = session.look(conn, false).await?.state().clone();
            let plan = survey(conn, v, &state, what)
                .await
                .map_err(|e| explain_error(e, conn))?;
            if !ask(&plan)? || plan.targets.is_empty() {
                return Ok(Cleaned {
                    plan,
                    deleted: false,
                });
            }
            apply(conn, &plan)
                .await
                .map_err(|e| explain_error(e, conn))?;
            forget(&mut state, &plan);
            state.save(&paths.state)?;
            Ok(Cleaned {
                plan,
                deleted: true,
            })
        })
        .await
}

/// `results.clean: true`: after a run in which every item finished and came home, clean
/// its inputs and results. Best effort: a failure is reported, the run stays a success.
pub async fn after_run(
    conn: &Connection,
    v: &Validated,
    paths: &Paths,
) -> Result<Option<CleanPlan>, Error> {
    let Some(mut state) = State::load(&paths.state)? else {
        return Ok(None);
    };
    let plan = survey(conn, v, &state, What::from_flags(false, false, false)).await?;
    if plan.targets.is_empty() {
        return Ok(Some(plan));
    }
    apply(conn, &plan).await?;
    forget(&mut state, &plan);
    state.save(&paths.state)?;
    Ok(Some(plan))
}

/// Tells the person what `results.clean` did (or why it could not).
pub fn report_after_run(
    reporter: &mut crate::report::progress::Reporter,
    result: Result<Option<CleanPlan>, Error>,
) {
    use crate::report::progress::Event;
    match result {
        Ok(Some(plan)) if !plan.targets.is_empty() => {
            reporter.note(&format!(
                "results.clean: deleted {} on VIP",
                plan.describe()
            ));
        }
        Ok(_) => {}
        Err(e) => reporter.event(&Event::Warning {
            message: format!(
                "results.clean: could not clean up on VIP ({e}); run `vip-run clean` later"
            ),
        }),
    }
}
