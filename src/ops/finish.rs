//! How a `run` or `download` ends, once its loop is over: the `JUnit` report, the study
//! tables (`collect`), `report.html` and `trace.tsv`, the calls it cost under `-v`, and what
//! the command came to ([`Finished`]); or, when another vip-run holds the manifest, the skip.
//! Apart from `session` so that what a command opens with does not depend on what a run
//! leaves (`collect` and `report` open sessions themselves).

use crate::error::Error;
use crate::files::write_atomically;
use crate::report::junit::junit;
use crate::report::summary::{Finished, Summary};

use super::Connection;
use super::session::Session;

/// What `command` (`run` or `download`) came to, with the `JUnit` report written when
/// `--junit` asks for one and, under `-v`, the calls it cost VIP.
pub fn finish(
    session: &Session<'_>,
    command: &'static str,
    conn: &Connection,
    summary: Summary,
) -> Result<Finished, Error> {
    let v = &session.manifest;
    let mut finished = Finished {
        command,
        manifest: v.file.display.clone(),
        state: session.paths.state.clone(),
        record: session.paths.record.clone(),
        report: None,
        collected: Vec::new(),
        collect_error: None,
        skipped: None,
        sandbox: conn.sandbox.is_some(),
        summary,
        interrupt_exit_code: super::interrupt::exit_code(),
    };
    if let Some(file) = &session.settings().junit {
        write_atomically(file, junit(&v.name, &finished.summary.junit).as_bytes())?;
    }
    collect(session, &mut finished);
    finished.report = write_report(session, &finished);
    if command == "run" {
        record_end(session, &finished);
    }
    if session.settings().verbose {
        // What the command cost VIP, by kind (each retry counts): stderr, after the bars.
        let mut text = Vec::new();
        let _ = crate::report::progress::render_calls(&mut text, &conn.client.calls());
        crate::report::write_stderr(&String::from_utf8_lossy(&text));
    }
    Ok(finished)
}

/// Records how the run ended in the registry's list of recipes (`ops::registry`), when the
/// run is listed there; a failure is said as a warning, as for the report.
fn record_end(session: &Session<'_>, finished: &Finished) {
    let Some(registry) = &session.settings().registry else {
        return;
    };
    let counts = crate::report::recipes::Counts::of_outcomes(&finished.summary.outcomes);
    let manifest = super::registry::recipe::absolute(&session.manifest.file.path);
    if let Err(e) = registry.recipe_ended(&manifest, finished.exit_code(), Some(counts)) {
        crate::report::to_stderr(&format!(
            "warning: could not record the run's end for `vip-run recipes`: {e}"
        ));
    }
}

/// What `command` (`run` or `download`) came to when `ended` says another vip-run holds
/// the manifest and `--if-running skip` says to leave it to that one: a skip, exit 0.
pub fn or_skip(
    session: &Session<'_>,
    command: &'static str,
    ended: Result<Finished, Error>,
) -> Result<Finished, Error> {
    match ended {
        Err(Error::Exclusive(super::exclusive::ExclusiveError::Held { holder }))
            if session.settings().state.if_running == super::IfRunning::Skip =>
        {
            Ok(Finished {
                command,
                manifest: session.manifest.file.display.clone(),
                state: session.paths.state.clone(),
                record: session.paths.record.clone(),
                report: None,
                collected: Vec::new(),
                collect_error: None,
                skipped: Some(holder),
                sandbox: session.settings().sandbox(),
                summary: crate::report::summary::Summary {
                    outcomes: Vec::new(),
                    junit: Vec::new(),
                    interrupted: false,
                    disk: None,
                    retried: std::collections::HashMap::new(),
                },
                interrupt_exit_code: super::interrupt::exit_code(),
            })
        }
        other => other,
    }
}

/// Merges the study tables `collect:` names from the items this run saw finished and
/// home (an item whose outputs VIP could not all send counts: what came is merged).
fn collect(session: &Session<'_>, finished: &mut Finished) {
    if session.manifest.collect.is_empty() || finished.summary.interrupted {
        return;
    }
    let done: std::collections::HashSet<&str> = finished
        .summary
        .outcomes
        .iter()
        .filter(|(_, o)| {
            matches!(
                o,
                crate::report::summary::Outcome::Done
                    | crate::report::summary::Outcome::DoneWithProblems(_)
            )
        })
        .map(|(k, _)| k.as_str())
        .collect();
    match super::collect::merge(&session.manifest, &|item| done.contains(item.key.as_str())) {
        Ok(tables) => finished.collected = tables,
        Err(e) => finished.collect_error = Some(e.to_string()),
    }
}

/// Writes the run's `report.html` and `trace.tsv` from the state it saved, with its
/// outcomes and exit code; the report's path, or `None` (said as a warning: the run's
/// results and record do not depend on it) when it could not be written.
fn write_report(session: &Session<'_>, finished: &Finished) -> Option<std::path::PathBuf> {
    let origin = super::report::Origin {
        command: finished.command,
        outcomes: Some(&finished.summary.outcomes),
        exit_code: Some(finished.exit_code()),
        sandbox: finished.sandbox,
        junit: session.settings().junit.as_deref(),
    };
    let written = super::state::State::load(&session.paths.state)
        .map_err(Error::from)
        .and_then(|state| {
            let state = state.unwrap_or_default();
            let batch = super::report::batch(&session.manifest, &state, &session.paths, &origin);
            super::report::write(&batch, &session.paths)
        });
    match written {
        Ok(w) => Some(w.report),
        Err(e) => {
            crate::report::to_stderr(&format!("warning: could not write the report: {e}"));
            None
        }
    }
}
