//! What `logs` prints: executions' standard output or error, one section per execution (or
//! per job, when an execution has several), under a header naming the item, the execution
//! and the job with its status; or one JSON object per section.
//!
//! Named after the command, as its flow (`ops/logs.rs`) is.

use std::io::Write;

use serde::Serialize;

use super::OutputFormat;

/// One log: an execution's, or one of its jobs'.
#[derive(Debug, Clone, Serialize)]
pub struct LogSection {
    /// The item key.
    pub item: String,
    /// VIP's execution id.
    pub execution: String,
    /// The execution's status.
    pub status: String,
    /// The job (invocation id), when the log is one job's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The job's task status, when the log is one job's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_status: Option<String>,
    /// The text, or `None` when VIP has no log (yet).
    pub text: Option<String>,
}

/// What `logs` found.
#[derive(Debug)]
pub struct Logs {
    /// The manifest, as the user named it.
    pub manifest: String,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// Whether the items were chosen for having failed (no `--item`).
    pub failed_only: bool,
    /// The logs, in manifest order.
    pub sections: Vec<LogSection>,
}

/// Writes the logs to `out`.
pub fn render(out: &mut dyn Write, logs: &Logs, format: OutputFormat) -> std::io::Result<()> {
    match format {
        OutputFormat::Json => {
            for s in &logs.sections {
                let mut v = serde_json::to_value(s).expect("sections serialise");
                v["stream"] = logs.stream.into();
                writeln!(out, "{v}")?;
            }
        }
        OutputFormat::Human => {
            if logs.sections.is_empty() {
                if logs.failed_only {
                    writeln!(
                        out,
                        "{}: no failed items; `--item KEY` shows any item's log",
                        logs.manifest
                    )?;
                } else {
                    writeln!(out, "{}: no log", logs.manifest)?;
                }
            }
            // One item's lone log is printed bare, so it can be piped; failed items (which
            // the user did not name) and several logs get headers.
            let bare =
                !logs.failed_only && logs.sections.len() == 1 && logs.sections[0].job.is_none();
            for s in &logs.sections {
                if !bare {
                    let job = match (&s.job, &s.job_status) {
                        (Some(j), Some(st)) => format!(", job {j} ({st})"),
                        (Some(j), None) => format!(", job {j}"),
                        _ => String::new(),
                    };
                    writeln!(
                        out,
                        "==> {}: {} ({}){job}, {} <==",
                        s.item, s.execution, s.status, logs.stream
                    )?;
                }
                match &s.text {
                    Some(t) => {
                        out.write_all(t.as_bytes())?;
                        if !t.ends_with('\n') {
                            writeln!(out)?;
                        }
                    }
                    None => writeln!(out, "(no {} log on VIP)", logs.stream)?,
                }
            }
        }
    }
    out.flush()
}
