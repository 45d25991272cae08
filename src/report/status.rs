//! What `status` and `cancel` found, and what they print: the items and their executions (a table, or one JSON
//! object per item), and what was killed.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;

use crate::time;
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
}

/// What `cancel` did.
#[derive(Debug)]
pub struct Cancelled {
    /// The manifest, as the user named it.
    pub manifest: String,
    /// (item key, execution id) of each execution killed.
    pub killed: Vec<(String, String)>,
    /// Items never launched: `cancel` leaves them queued here, and the next `run` launches
    /// them (it says so rather than mark them cancelled: the manifest still asks for them).
    pub not_launched: Vec<String>,
}

/// Writes `status`'s table (or JSON lines) to `out`.
pub fn render(out: &mut dyn Write, s: &Status, format: OutputFormat) -> std::io::Result<()> {
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
                "{:w$}  {:ws$}  {:24}  LAUNCHED\n",
                "ITEM", "STATUS", "EXECUTION"
            );
            for (r, (status, id, at)) in s.rows.iter().zip(&cells) {
                let _ = writeln!(text, "{:w$}  {status:ws$}  {id:24}  {at}", r.item);
            }
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()
}

/// Writes what `cancel` did (human output only: JSON has had its events).
pub fn render_cancelled(
    out: &mut dyn Write,
    c: &Cancelled,
    format: OutputFormat,
    quiet: bool,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        let record = json!({
            "event": "summary",
            "command": "cancel",
            "manifest": c.manifest,
            "killed": c.killed.iter().map(|(k, id)| json!({"item": k, "execution": id})).collect::<Vec<_>>(),
            "not_launched": c.not_launched,
        });
        writeln!(out, "{record}")?;
        return out.flush();
    }
    if quiet {
        return Ok(());
    }
    if c.killed.is_empty() {
        writeln!(
            out,
            "nothing to cancel: no execution of {} is queued or running",
            c.manifest
        )?;
    } else {
        writeln!(
            out,
            "killed {} execution{}",
            c.killed.len(),
            if c.killed.len() == 1 { "" } else { "s" }
        )?;
    }
    if !c.not_launched.is_empty() {
        let n = c.not_launched.len();
        writeln!(
            out,
            "{n} item{} never launched stay{} queued here ({}): the next `vip-run run {}` launches {}; remove {} from the manifest to drop {}; killed items are not launched again unless you ask (`--relaunch failed`)",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
            shown_keys(&c.not_launched),
            c.manifest,
            if n == 1 { "it" } else { "them" },
            if n == 1 { "it" } else { "them" },
            if n == 1 { "it" } else { "them" },
        )?;
    }
    out.flush()
}

/// Up to five keys, then how many more.
fn shown_keys(keys: &[String]) -> String {
    let shown = keys.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if keys.len() > 5 {
        format!("{shown} and {} more", keys.len() - 5)
    } else {
        shown
    }
}
