//! What `status` and `cancel` print: the items and their executions (a table, or one JSON
//! object per item), and what was killed.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;

use crate::run::state::Attempt;
use crate::run::{Cancelled, Status};
use crate::time;

use super::OutputFormat;

/// Writes `status`'s table (or JSON lines) to `out`.
pub fn render(out: &mut dyn Write, s: &Status, format: OutputFormat) -> std::io::Result<()> {
    let v = &s.manifest;
    let by_key: HashMap<&str, &Attempt> = s.current.iter().map(|(k, a)| (k.as_str(), a)).collect();
    match format {
        OutputFormat::Json => {
            for item in &v.items {
                let a = by_key.get(item.key.as_str());
                let record = json!({
                    "item": item.key,
                    "execution_name": a.map_or(item.execution_name.as_str(), |a| a.name.as_str()),
                    "execution": a.map(|a| a.execution_id.as_str()),
                    "status": a.map_or("NotLaunched", |a| if a.timed_out { "TimedOut" } else { a.status.as_str() }),
                    "launched_at": a.map(|a| time::rfc3339(a.launched_at)),
                });
                writeln!(out, "{record}")?;
            }
        }
        OutputFormat::Human => {
            let w = v
                .items
                .iter()
                .map(|i| i.key.chars().count())
                .max()
                .unwrap_or(4)
                .max(4);
            let mut text = format!(
                "{:w$}  {:16}  {:24}  LAUNCHED\n",
                "ITEM", "STATUS", "EXECUTION"
            );
            for item in &v.items {
                let (status, id, at) = by_key.get(item.key.as_str()).map_or(
                    ("not launched".to_owned(), "-".to_owned(), "-".to_owned()),
                    |a| {
                        (
                            if a.timed_out {
                                format!("{} (timed out)", a.status)
                            } else {
                                a.status.clone()
                            },
                            a.execution_id.clone(),
                            time::rfc3339(a.launched_at),
                        )
                    },
                );
                let _ = writeln!(text, "{:w$}  {status:16}  {id:24}  {at}", item.key);
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
    if format != OutputFormat::Human || quiet {
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
    out.flush()
}
