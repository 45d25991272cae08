//! What `status` found, and what it prints: the items and their executions (a table, or one
//! JSON object per item).

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use serde_json::json;

use crate::report::batch::BatchAttempt;
use crate::time;
use crate::vip::failure::Verdict;
use crate::vip::wire::ExecutionStatus;

use super::OutputFormat;

/// The manifest's items and their current executions, as `status` shows them.
#[derive(Debug)]
pub struct Status {
    /// One row per item, in manifest order.
    pub rows: Vec<Row>,
}

impl Status {
    /// Whether any item's current execution failed, was killed or timed out: `status`'s
    /// exit code, so a script can ask "did anything go wrong?" without parsing the table.
    pub fn any_failed(&self) -> bool {
        self.rows.iter().any(|r| {
            r.timed_out
                || r.failure.is_some()
                || r.status.as_deref().is_some_and(|s| {
                    matches!(
                        ExecutionStatus::from(s),
                        ExecutionStatus::ExecutionFailed
                            | ExecutionStatus::InitializationFailed
                            | ExecutionStatus::Killed
                    )
                })
        })
    }
}

/// One item and its current execution.
#[derive(Debug, Clone)]
pub struct Row {
    /// The item key.
    pub item: String,
    /// Its execution's name (the one it would get, when not launched).
    pub execution_name: String,
    /// VIP's execution id, when launched.
    pub execution: Option<String>,
    /// The latest status seen, when launched.
    pub status: Option<String>,
    /// Whether vip-run gave up on it for taking too long.
    pub timed_out: bool,
    /// When it was launched (epoch ms).
    pub launched_at: Option<i64>,
    /// For a finished execution whose outputs are downloaded: whether every one of them is
    /// home (see the README's guarantees); `None` otherwise. Not home is said, not counted
    /// as a failure: a detached run's outputs are not home until `download` or a run.
    pub home: Option<bool>,
    /// Why its execution failed, when it did.
    pub failure: Option<Verdict>,
    /// "retried 2× after input download failures", when it was relaunched after failures.
    pub retried: Option<String>,
    /// Why a failed execution is not launched again ("not retried", "retries used up").
    pub not_retried: Option<String>,
    /// The times vip-run observed of its current execution (as the report shows them).
    pub observed: Option<BatchAttempt>,
}

impl Row {
    /// Where the item is, in the report's words: `not launched`, `queued on VIP`,
    /// `running`, `downloaded`, `not downloaded`, `finished`, `failed`, `timed out`.
    pub fn phase(&self) -> &'static str {
        let Some(status) = &self.status else {
            return "not launched";
        };
        if self.timed_out {
            return "timed out";
        }
        if self.failure.is_some() {
            return "failed";
        }
        match ExecutionStatus::from(status.as_str()) {
            ExecutionStatus::Finished => match self.home {
                Some(true) => "downloaded",
                Some(false) => "not downloaded",
                None => "finished",
            },
            ExecutionStatus::Running => "running",
            s if s.is_terminal() => "failed",
            _ => "queued on VIP",
        }
    }

    /// How long it waited in VIP's queue, and how long it ran (so far, `now`, while it
    /// does), as observed.
    fn waited_and_ran(&self, now: i64) -> (Option<Duration>, Option<Duration>) {
        let Some(o) = &self.observed else {
            return (None, None);
        };
        let so_far = |from: i64| Duration::from_millis(u64::try_from(now - from).unwrap_or(0));
        let queued = o
            .queue_wait()
            .or_else(|| (o.ended.is_none()).then(|| so_far(o.submitted)));
        let ran = o
            .run_time()
            .or_else(|| o.started.filter(|_| o.ended.is_none()).map(so_far));
        (queued, ran)
    }

    /// What the row says of its failure and relaunches, in one line (empty: nothing).
    fn note(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.failure {
            let mut failed = format!("failed: {}", v.headline());
            if let Some(n) = &self.not_retried {
                let _ = write!(failed, ", {n}");
            }
            let explain = v.explain();
            if !explain.is_empty() {
                let _ = write!(failed, " ({explain})");
            }
            parts.push(failed);
        }
        if let Some(r) = &self.retried {
            parts.push(r.clone());
        }
        parts.join("; ")
    }
}

/// Writes `status`'s table (or JSON lines) to `out`.
pub fn render(out: &mut dyn Write, s: &Status, format: OutputFormat) -> std::io::Result<()> {
    render_at(out, s, format, time::now_ms())
}

/// [`render`] as of `now` (epoch ms): how long a running execution has run so far.
pub fn render_at(
    out: &mut dyn Write,
    s: &Status,
    format: OutputFormat,
    now: i64,
) -> std::io::Result<()> {
    let secs = |d: Option<Duration>| {
        d.map_or_else(
            || "-".to_owned(),
            |d| crate::duration::format(Duration::from_secs(d.as_secs())),
        )
    };
    match format {
        OutputFormat::Json => {
            for r in &s.rows {
                let record = json!({
                    "item": r.item,
                    "execution_name": r.execution_name,
                    "execution": r.execution,
                    "status": match (&r.status, r.timed_out) {
                        (None, _) => "NotLaunched",
                        (Some(_), true) => "TimedOut",
                        (Some(status), false) => status.as_str(),
                    },
                    "launched_at": r.launched_at.map(time::rfc3339),
                    "downloaded": r.home,
                    "class": r.failure.as_ref().map(|v| v.class),
                    "exit_code": r.failure.as_ref().and_then(|v| v.exit_code),
                    "failure": r.failure,
                    "retry": r.not_retried,
                    "retried": r.retried,
                    "phase": r.phase(),
                    "times": r.observed.as_ref().map(|o| {
                        let (queued, ran) = r.waited_and_ran(now);
                        json!({
                            "ready_at": o.ready.map(time::rfc3339),
                            "submitted_at": time::rfc3339(o.submitted),
                            "started_at": o.started.map(time::rfc3339),
                            "ended_at": o.ended.map(time::rfc3339),
                            "launch_wait_s": o.launch_wait().map(|d| d.as_secs()),
                            "queue_wait_s": queued.map(|d| d.as_secs()),
                            "run_time_s": ran.map(|d| d.as_secs()),
                            "download_s": o.download.map(|s| s.length().as_secs()),
                            "jobs": o.jobs.map(|(d, f, t)| json!({"done": d, "failed": f, "total": t})),
                        })
                    }),
                });
                writeln!(out, "{record}")?;
            }
        }
        OutputFormat::Human => {
            let w = s
                .rows
                .iter()
                .map(|r| r.item.chars().count())
                .max()
                .unwrap_or(4)
                .max(4);
            let cells: Vec<(String, String, String)> = s
                .rows
                .iter()
                .map(|r| match (&r.status, &r.execution) {
                    (Some(status), Some(id)) => (
                        if r.timed_out {
                            format!("{status} (timed out)")
                        } else if r.home == Some(false) {
                            format!("{status}, not downloaded")
                        } else {
                            status.clone()
                        },
                        id.clone(),
                        r.launched_at.map(time::rfc3339).unwrap_or_default(),
                    ),
                    _ => ("not launched".to_owned(), "-".to_owned(), "-".to_owned()),
                })
                .collect();
            let ws = cells
                .iter()
                .map(|c| c.0.chars().count())
                .max()
                .unwrap_or(0)
                .max(16);
            let mut text = format!(
                "{:w$}  {:ws$}  {:24}  {:20}  {:9}  RAN\n",
                "ITEM", "STATUS", "EXECUTION", "LAUNCHED", "QUEUED"
            );
            for (r, (status, id, at)) in s.rows.iter().zip(&cells) {
                let (queued, ran) = r.waited_and_ran(now);
                let _ = writeln!(
                    text,
                    "{:w$}  {status:ws$}  {id:24}  {at:20}  {:9}  {}",
                    r.item,
                    secs(queued),
                    secs(ran)
                );
            }
            // Why items failed, and what was relaunched: under the table, one line each.
            for r in &s.rows {
                let note = r.note();
                if !note.is_empty() {
                    let _ = writeln!(text, "  {}: {note}", r.item);
                }
            }
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()
}
