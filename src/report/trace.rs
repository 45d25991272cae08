//! `trace.tsv`: one row per execution (an item's every attempt), in the spirit of
//! Nextflow's trace file, for spreadsheets and scripts. Times are RFC 3339 (UTC, as vip-run
//! observed them: see `batch`), durations in seconds, sizes in bytes; an unknown value is an
//! empty cell. The columns are documented in the README.

use std::fmt::Write as _;
use std::time::Duration;

use super::batch::Batch;

/// The columns, in order.
pub const COLUMNS: [&str; 21] = [
    "item",
    "attempt",
    "execution_id",
    "name",
    "status",
    "result",
    "class",
    "exit_code",
    "ready",
    "submitted",
    "started",
    "ended",
    "launch_wait",
    "wait",
    "run_time",
    "download_time",
    "bytes_up",
    "bytes_down",
    "jobs_done",
    "jobs_failed",
    "jobs_total",
];

/// The trace of `batch`: a header, then a row per execution in the manifest's order of
/// items, oldest execution first.
pub fn render(batch: &Batch) -> String {
    let mut out = COLUMNS.join("\t");
    out.push('\n');
    let time = |t: Option<i64>| t.map(crate::time::rfc3339_ms).unwrap_or_default();
    let secs = |d: Option<Duration>| {
        d.map(|d| format!("{:.3}", d.as_secs_f64()))
            .unwrap_or_default()
    };
    for item in &batch.items {
        let last = item.attempts.len().saturating_sub(1);
        for (n, a) in item.attempts.iter().enumerate() {
            // The item's result belongs to its current execution; an earlier one was
            // followed by a relaunch.
            let result = if n == last {
                item.result.words()
            } else {
                "relaunched"
            };
            let (done, failed, total) = a
                .jobs
                .map(|(d, f, t)| (d.to_string(), f.to_string(), t.to_string()))
                .unwrap_or_default();
            let cells = [
                clean(&item.key),
                (n + 1).to_string(),
                clean(&a.execution),
                clean(&a.name),
                clean(&a.status),
                result.to_owned(),
                a.class.map(|c| c.name().to_owned()).unwrap_or_default(),
                a.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                time(a.ready),
                time(Some(a.submitted)),
                time(a.started),
                time(a.ended),
                secs(a.launch_wait()),
                secs(a.queue_wait()),
                secs(a.run_time()),
                secs(a.download.map(super::batch::Span::length)),
                // Inputs are sent once, before the first execution.
                if n == 0 { item.bytes_up } else { 0 }.to_string(),
                a.bytes_down.to_string(),
                done,
                failed,
                total,
            ];
            let _ = writeln!(out, "{}", cells.join("\t"));
        }
    }
    out
}

/// A cell's text without the tabs and line ends that would break the table.
fn clean(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}
