//! `report`, and the end of `run` and `download`: the batch as the state records it
//! (`report::batch`), written as `report.html` and `trace.tsv` beside `run.json`. Built from
//! the manifest and the state alone, so `vip-run report` needs no key and no network, and
//! works on the state a killed run left.

use std::fmt::Write as _;
use std::path::{Component, Path};

use crate::error::Error;
use crate::files::write_atomically;
use crate::manifest::{Item, Validated};
use crate::report::batch::{Batch, BatchAttempt, BatchItem, ItemResult, Link, Span, Written};
use crate::report::summary::{Failure, Outcome};
use crate::time;
use crate::vip::failure::FailureClass;
use crate::vip::wire::ExecutionStatus;

use super::Settings;
use super::paths::Paths;
use super::runner::tracker::lifecycle::HomeProof;
use super::session::{Access, Session};
use super::state::{Attempt, ItemState, State};

/// The report's file name, beside `run.json`.
pub const REPORT: &str = "report.html";
/// The trace's file name, beside `run.json`.
pub const TRACE: &str = "trace.tsv";
/// Outputs linked per item (the item's folder is linked too): a folder of thousands of
/// unpacked files would otherwise swell a 10,000-item report past use.
const OUTPUT_LINKS: usize = 12;

/// How a batch came to be written: by a run (with its outcomes and exit code) or rebuilt
/// from the state.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// `run`, `download` or `report`.
    pub command: &'a str,
    /// The run's outcomes, when a run writes the report (else judged from the state).
    pub outcomes: Option<&'a [(String, Outcome)]>,
    /// The run's exit code.
    pub exit_code: Option<i32>,
    /// Whether the executions were the sandbox's.
    pub sandbox: bool,
    /// The `JUnit` file the run wrote, if any.
    pub junit: Option<&'a Path>,
}

/// `vip-run report MANIFEST`: rebuilds the report and the trace from the state, offline.
pub fn report(settings: &Settings, path: &Path) -> Result<Written, Error> {
    let session = Session::open(settings, path, Access::Read)?;
    let (v, paths) = (&session.manifest, &session.paths);
    let Some(state) = read_state(v, paths)? else {
        return Err(Error::Usage(format!(
            "{} has no run recorded yet ({} does not exist): `vip-run run {}` first{}",
            v.file.display,
            paths.state.display(),
            v.file.display,
            if settings.sandbox() {
                ""
            } else {
                " (a --sandbox try-out's report: `vip-run report --sandbox …`)"
            }
        )));
    };
    let origin = Origin {
        command: "report",
        outcomes: None,
        exit_code: None,
        sandbox: settings.sandbox(),
        junit: settings.junit.as_deref(),
    };
    write(&batch(v, &state, paths, &origin), paths)
}

/// `v`'s state as a run would read it (an older format's items carried over), when there is
/// one: what the commands that read it offline (`report`, `collect`) judge items by.
pub(crate) fn read_state(v: &Validated, paths: &Paths) -> Result<Option<State>, Error> {
    let mut state = State::load(&paths.state)?;
    if let Some(state) = &mut state {
        super::identity::migrate(state, v);
    }
    Ok(state)
}

/// Writes `batch` as `report.html` and `trace.tsv` in the run's folder.
pub fn write(batch: &Batch, paths: &Paths) -> Result<Written, Error> {
    let written = Written {
        report: paths.dir.join(REPORT),
        trace: paths.dir.join(TRACE),
    };
    write_atomically(
        &written.trace,
        crate::report::trace::render(batch).as_bytes(),
    )?;
    write_atomically(
        &written.report,
        crate::report::html::render(batch).as_bytes(),
    )?;
    Ok(written)
}

/// The batch `v`'s `state` records, as `origin` wrote it.
pub fn batch(v: &Validated, state: &State, paths: &Paths, origin: &Origin<'_>) -> Batch {
    let base = crate::files::absolute(&paths.dir);
    let link = |label: &str, target: &Path| Link {
        label: label.to_owned(),
        href: href(&base, target),
    };
    let outcomes = origin.outcomes.map(|o| {
        o.iter()
            .map(|(k, o)| (k.as_str(), o))
            .collect::<std::collections::HashMap<_, _>>()
    });
    let items = v
        .items
        .iter()
        .map(|item| {
            let empty = ItemState::default();
            let s = state.items().get(&item.key).unwrap_or(&empty);
            let outcome = outcomes.as_ref().and_then(|o| o.get(item.key.as_str()));
            batch_item(item, s, state, v, outcome.copied(), &link)
        })
        .collect();
    let mut links = Vec::new();
    if paths.record.exists() {
        links.push(link("run record (run.json)", &paths.record));
    }
    if let Some(root) = super::provenance::results_root(v) {
        let crate_file = root.join(super::provenance::METADATA);
        if crate_file.exists() {
            links.push(link("provenance (RO-Crate)", &crate_file));
        }
    }
    if let Some(junit) = origin.junit.filter(|j| j.exists()) {
        links.push(link("JUnit report", junit));
    }
    links.push(link("trace (trace.tsv)", &paths.dir.join(TRACE)));
    // `to` is from the manifest's folder, as the run's other paths are.
    for table in v.collect.iter().filter(|t| t.to.exists()) {
        let label = format!(
            "study table {}",
            table.name.as_deref().map_or_else(
                || table.to.display().to_string(),
                |n| format!("{n} ({})", table.to.display())
            )
        );
        links.push(link(&label, &table.to));
    }
    Batch {
        name: v.name.clone(),
        manifest: v.file.display.clone(),
        pipeline: v.pipeline_id.clone(),
        server: state.server.clone(),
        sandbox: origin.sandbox,
        vip_run_version: env!("CARGO_PKG_VERSION").to_owned(),
        written_at: time::now_ms(),
        command: origin.command.to_owned(),
        exit_code: origin.exit_code,
        precision: v.execution.poll_interval,
        variables: v
            .items
            .first()
            .map(|i| i.variables.keys().cloned().collect())
            .unwrap_or_default(),
        items,
        bytes_up: state
            .uploads()
            .values()
            .filter(|u| u.span.is_some())
            .map(|u| u.size)
            .sum(),
        links,
    }
}

fn batch_item(
    item: &Item,
    s: &ItemState,
    state: &State,
    v: &Validated,
    outcome: Option<&Outcome>,
    link: &impl Fn(&str, &Path) -> Link,
) -> BatchItem {
    let (result, detail) = match outcome {
        Some(o) => of_outcome(o),
        None => of_state(item, s),
    };
    let current = s.attempts.last();
    let class = current.and_then(|a| {
        a.failure
            .as_ref()
            .map(|f| f.class)
            .or(a.timed_out.then_some(FailureClass::TimedOut))
    });
    let root = super::remote::inputs_root(v);
    let uploads: Vec<_> = super::runner::tracker::local_uploads(item)
        .filter_map(|u| state.uploads().get(&format!("{root}/{u}")))
        .collect();
    let upload = uploads
        .iter()
        .filter_map(|u| u.span)
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
        .map(|(from, to)| Span { from, to });
    let done = |execution: String| {
        s.outputs
            .iter()
            .filter(move |o| o.done && o.execution.as_deref() == Some(execution.as_str()))
    };
    let mut outputs = Vec::new();
    if let (Some(a), Some(folder)) = (current, &item.download) {
        if done(a.execution_id.clone()).next().is_some() {
            outputs.push(link("folder", folder));
        }
        for o in done(a.execution_id.clone()).take(OUTPUT_LINKS) {
            if let Some(local) = &o.local {
                let name = local.file_name().map_or_else(
                    || local.display().to_string(),
                    |n| n.to_string_lossy().into(),
                );
                outputs.push(link(&name, local));
            }
        }
    }
    let attempts: Vec<BatchAttempt> = s
        .attempts
        .iter()
        .map(|a| batch_attempt(a, done(a.execution_id.clone()).filter_map(|o| o.size).sum()))
        .collect();
    let failed = matches!(result, ItemResult::Failed | ItemResult::TimedOut);
    BatchItem {
        key: item.key.clone(),
        variables: item
            .variables
            .values()
            .map(|s| crate::manifest::expand::scalar_text(s).unwrap_or_default())
            .collect(),
        result,
        detail,
        class: class.filter(|_| failed),
        exit_code: current
            .and_then(|a| a.failure.as_ref())
            .and_then(|f| f.exit_code)
            .filter(|_| failed),
        upload,
        bytes_up: uploads.iter().map(|u| u.size).sum(),
        bytes_down: attempts.iter().map(|a| a.bytes_down).sum(),
        attempts,
        outputs,
        stderr_tail: current
            .and_then(|a| a.stderr_tail.clone())
            .filter(|_| failed),
        logs: current
            .and_then(|a| a.logs.as_ref())
            .filter(|_| failed)
            .map(|l| link("logs", l)),
    }
}

/// One execution's observed times: first seen running, first seen in its final status.
pub(crate) fn batch_attempt(a: &Attempt, bytes_down: u64) -> BatchAttempt {
    let started = a
        .history
        .iter()
        .find(|(s, _)| ExecutionStatus::from(s.as_str()) == ExecutionStatus::Running)
        .map(|(_, at)| *at);
    let ended = a
        .history
        .iter()
        .find(|(s, _)| is_final(s))
        .map(|(_, at)| *at);
    BatchAttempt {
        execution: a.execution_id.clone(),
        name: a.name.clone(),
        status: a.status.clone(),
        class: a.failure.as_ref().map(|f| f.class),
        exit_code: a.failure.as_ref().and_then(|f| f.exit_code),
        ready: a.ready_at,
        submitted: a.launched_at,
        started,
        ended,
        download: a.download.map(|(from, to)| Span { from, to }),
        jobs: a.jobs,
        bytes_down,
    }
}

/// Whether VIP will not change `status` any more (`Cleaned`: deleted, as vip-run records
/// VIP's 8015).
fn is_final(status: &str) -> bool {
    status == "Cleaned" || ExecutionStatus::from(status).is_terminal()
}

/// An item's result as the run's outcome says it.
fn of_outcome(o: &Outcome) -> (ItemResult, Option<String>) {
    let detail = match o {
        Outcome::DoneWithProblems(why)
        | Outcome::NotDownloaded(why)
        | Outcome::Blocked { why, .. } => Some(why.clone()),
        Outcome::Failed(f) => f.to_string().lines().next().map(str::to_owned),
        Outcome::Done | Outcome::TimedOut | Outcome::InProgress | Outcome::NotLaunched => None,
    };
    (ItemResult::of(o), detail)
}

/// An item's result as its state shows it (a report rebuilt offline, `collect`: VIP not
/// asked). Executions recorded for the item's earlier inputs are not its own any more: the
/// next run launches it again.
pub(crate) fn of_state(item: &Item, s: &ItemState) -> (ItemResult, Option<String>) {
    let Some(a) = s.attempts.last() else {
        return (ItemResult::NotLaunched, None);
    };
    if s.fingerprint != item.fingerprint {
        return (
            ItemResult::NotLaunched,
            Some("its inputs changed since its last execution: the next run launches it".into()),
        );
    }
    if a.timed_out {
        return (
            ItemResult::TimedOut,
            a.failure.as_ref().and_then(|f| f.detail.clone()),
        );
    }
    if let Some(f) = &a.failure {
        return (ItemResult::Failed, Some(f.headline()));
    }
    if is_final(&a.status) && a.status != ExecutionStatus::Finished.to_string() {
        let failure = Failure::Ended {
            status: a.status.clone(),
            logs: None,
            tail: None,
            verdict: None,
            retry: None,
        };
        return (ItemResult::Failed, Some(failure.to_string()));
    }
    if a.status != ExecutionStatus::Finished.to_string() {
        return (
            ItemResult::InProgress,
            Some(format!("{} when last seen", a.status)),
        );
    }
    if HomeProof::check(s, &a.execution_id, item.download.as_deref()).is_none() {
        return (
            ItemResult::NotDownloaded,
            Some("finished on VIP; its outputs are not all home".to_owned()),
        );
    }
    match s
        .outputs
        .iter()
        .find(|o| o.execution.as_deref() == Some(&a.execution_id) && o.problem.is_some())
    {
        Some(o) => (
            ItemResult::OutputsMissing,
            Some(format!(
                "{}: {}",
                o.remote,
                o.problem.as_deref().unwrap_or_default()
            )),
        ),
        None => (ItemResult::Finished, None),
    }
}

/// `target` as a link from a page in `base`: relative when both are on one root (so the
/// run's folder can be moved or shared with its results), percent-encoded.
fn href(base: &Path, target: &Path) -> String {
    let target = crate::files::absolute(target);
    let (b, t): (Vec<Component>, Vec<Component>) =
        (base.components().collect(), target.components().collect());
    if b.first() != t.first() {
        return format!("file://{}", encode(&target.to_string_lossy()));
    }
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); b.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| encode(&c.as_os_str().to_string_lossy())),
    );
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// Percent-encodes what a URL path cannot hold as it is.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_the_report_and_encoded() {
        let base = Path::new("/w/study/.vip-run/sandbox/demo");
        assert_eq!(
            href(base, Path::new("/w/study/results/demo/sub 01/out#1.txt")),
            "../../../results/demo/sub%2001/out%231.txt"
        );
        assert_eq!(
            href(base, Path::new("/w/study/.vip-run/sandbox/demo/run.json")),
            "run.json"
        );
    }
}
