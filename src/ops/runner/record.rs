//! What a run leaves for people and tools: `run.json` (what was run, with what, and what came
//! of it) and the `JUnit` cases (one per item).

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::files::write_atomically_with;
use crate::manifest::expand::hex;
use crate::report::junit::JunitCase;
use crate::time;

use super::Outcome;
use super::tracker::Tracker;
use crate::ops::state::{Attempt, Output};

/// One `JUnit` case per item, from each item's `outcomes`.
pub(crate) fn junit_cases(t: &Tracker<'_>, outcomes: &[(String, Outcome)]) -> Vec<JunitCase> {
    outcomes
        .iter()
        .map(|(key, o)| {
            let seconds = t.current(key).map_or(0.0, |a| {
                let end = a.history.last().map_or(a.launched_at, |h| h.1);
                #[allow(clippy::cast_precision_loss)]
                let s = (end - a.launched_at).max(0) as f64 / 1000.0;
                s
            });
            let failure = match o {
                Outcome::Failed(why) => {
                    let why = why.to_string();
                    Some((why.lines().next().unwrap_or("failed").to_owned(), why))
                }
                Outcome::TimedOut => Some((
                    "timed out".to_owned(),
                    format!(
                        "took longer than {}",
                        crate::duration::format(t.manifest().execution.timeout)
                    ),
                )),
                Outcome::DoneWithProblems(p) => {
                    Some(("outputs not downloaded".to_owned(), p.clone()))
                }
                Outcome::NotDownloaded(why) => {
                    Some(("finished on VIP, not downloaded".to_owned(), why.clone()))
                }
                Outcome::InProgress => Some((
                    "not finished".to_owned(),
                    "still queued or running on VIP".to_owned(),
                )),
                Outcome::NotLaunched => Some((
                    "not launched".to_owned(),
                    "the run stopped before launching it".to_owned(),
                )),
                Outcome::Blocked { why, .. } => Some(("blocked".to_owned(), why.clone())),
                Outcome::Done => None,
            };
            JunitCase {
                name: key.clone(),
                seconds,
                failure,
            }
        })
        .collect()
}

/// `run.json`: what was run, with what, and what came of it. Streamed to disk item by
/// item (a 10,000-item record held as one `serde_json::Value` tree cost tens of MiB at
/// the run's end); the bytes are those of that tree printed pretty, field for
/// field in the same order, so the same run gives the same record.
pub(crate) fn write_record(t: &Tracker<'_>, outcomes: &[(String, Outcome)]) -> Result<(), Error> {
    let manifest_sha = hex(&Sha256::digest(
        std::fs::read(&t.manifest().file.path).unwrap_or_default(),
    ));
    let record = Record {
        manifest: &t.manifest().file.display,
        manifest_sha256: manifest_sha,
        vip_run_version: env!("CARGO_PKG_VERSION"),
        server: &t.connection().server,
        pipeline: &t.manifest().pipeline_id,
        written_at: time::rfc3339(time::now_ms()),
        items: RecordItems {
            tracker: t,
            outcomes,
        },
    };
    write_atomically_with(&t.paths().record, |w| {
        serde_json::to_writer_pretty(w, &record).map_err(std::io::Error::from)
    })?;
    Ok(())
}

/// `run.json`'s top level, in its field order.
#[derive(Serialize)]
struct Record<'a> {
    manifest: &'a str,
    manifest_sha256: String,
    vip_run_version: &'a str,
    server: &'a str,
    pipeline: &'a str,
    written_at: String,
    items: RecordItems<'a>,
}

/// The items, each built as it is written.
struct RecordItems<'a> {
    tracker: &'a Tracker<'a>,
    outcomes: &'a [(String, Outcome)],
}

impl Serialize for RecordItems<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.tracker;
        let items = r.state().items();
        s.collect_seq(
            r.manifest()
                .items
                .iter()
                .zip(self.outcomes)
                .map(|(item, (_, outcome))| RecordItem {
                    key: &item.key,
                    fingerprint: &item.fingerprint,
                    inputs: r.wire_inputs(item),
                    result: crate::report::batch::ItemResult::of(outcome).words(),
                    class: items[&item.key]
                        .attempts
                        .last()
                        .and_then(|a| r.failure_class(a)),
                    retried: r.retry_note(&item.key),
                    executions: Executions(&items[&item.key].attempts),
                    outputs: Outputs(&items[&item.key].outputs),
                }),
        )
    }
}

/// One item of `run.json`, in its field order.
#[derive(Serialize)]
struct RecordItem<'a> {
    key: &'a str,
    fingerprint: &'a str,
    inputs: IndexMap<String, Json>,
    result: &'static str,
    /// The failure class of its current execution, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<crate::vip::failure::FailureClass>,
    /// "retried 2× after …", when it was relaunched after failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    retried: Option<String>,
    executions: Executions<'a>,
    outputs: Outputs<'a>,
}

struct Executions<'a>(&'a [Attempt]);

impl Serialize for Executions<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Execution<'a> {
            id: &'a str,
            name: &'a str,
            launched_at: String,
            statuses: Statuses<'a>,
            timed_out: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            failure: &'a Option<crate::ops::state::Verdict>,
        }
        s.collect_seq(self.0.iter().map(|a| Execution {
            id: &a.execution_id,
            name: &a.name,
            launched_at: time::rfc3339(a.launched_at),
            statuses: Statuses(&a.history),
            timed_out: a.timed_out,
            failure: &a.failure,
        }))
    }
}

struct Statuses<'a>(&'a [(String, i64)]);

impl Serialize for Statuses<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Seen<'a> {
            status: &'a str,
            seen_at: String,
        }
        s.collect_seq(self.0.iter().map(|(status, t)| Seen {
            status,
            seen_at: time::rfc3339(*t),
        }))
    }
}

struct Outputs<'a>(&'a [Output]);

impl Serialize for Outputs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct One<'a> {
            execution: &'a Option<String>,
            remote: &'a str,
            local: &'a Option<PathBuf>,
            size: Option<u64>,
            sha256: &'a Option<String>,
            downloaded: bool,
            problem: &'a Option<String>,
        }
        s.collect_seq(self.0.iter().map(|o| One {
            execution: &o.execution,
            sha256: &o.sha256,
            remote: &o.remote,
            local: &o.local,
            size: o.size,
            downloaded: o.done,
            problem: &o.problem,
        }))
    }
}
