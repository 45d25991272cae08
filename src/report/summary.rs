//! The summary at the end of `run` and `download`: a count of outcomes and a line per item
//! that needs attention (human, on stdout), or one `summary` object (`--output json`).

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::exit_code;
use crate::time;

use super::OutputFormat;
use super::junit::JunitCase;

/// How each item ended (or stands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Finished and downloaded (or nothing to download).
    Done,
    /// Finished, with outputs that could not be downloaded.
    DoneWithProblems(String),
    /// Finished on VIP, but its outputs are not home: they could not be written here (a full
    /// disk, a folder that cannot be written) or were not fetched yet. The next `run` or
    /// `download` fetches them.
    NotDownloaded(String),
    /// `ExecutionFailed` / `Killed` / refused launch.
    Failed(Failure),
    /// Took longer than `timeout`.
    TimedOut,
    /// Still queued or running (detached or interrupted).
    InProgress,
    /// Not launched (interrupted before, or detached while waiting for the quota).
    NotLaunched,
    /// Its calls kept failing (its upload, launch, download…) and the run gave up on it for
    /// now, once nothing else could progress; the next run tries it again.
    Blocked {
        /// What failed.
        why: String,
        /// Whether VIP was failing or unreachable (exit 5) rather than refusing (exit 1).
        unreachable: bool,
    },
}

/// Why an item failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// VIP refused the launch: its words, and what to do about them.
    Refused(String),
    /// The execution ended with `status` (`ExecutionFailed`, `Killed`…).
    Ended {
        /// VIP's status.
        status: String,
        /// Where its logs were kept, when they were.
        logs: Option<std::path::PathBuf>,
        /// The end of its standard error, when VIP had one.
        tail: Option<String>,
        /// Why, as vip-run judged it (its class), when it did.
        verdict: Option<Box<crate::vip::failure::Verdict>>,
        /// Why it is not launched again ("not retried", "retries used up"), when it is not.
        retry: Option<String>,
    },
    /// VIP lost track of the execution for longer than the grace period.
    Lost {
        /// The status VIP last showed.
        status: String,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(why) => f.write_str(why),
            Self::Ended {
                status,
                logs,
                tail,
                verdict,
                retry,
            } => {
                if let Some(v) = verdict {
                    {
                        write!(f, "{}", v.headline())?;
                        if let Some(r) = retry {
                            write!(f, ", {r}")?;
                        }
                        write!(f, " ({status}")?;
                        let more = v.explain();
                        if !more.is_empty() {
                            write!(f, "; {more}")?;
                        }
                        write!(f, "; {})", v.class.advice())?;
                    }
                } else {
                    f.write_str(status)?;
                    if let Some(r) = retry {
                        write!(f, ", {r}")?;
                    }
                }
                if let Some(logs) = logs {
                    write!(f, " (logs in {})", logs.display())?;
                }
                if let Some(tail) = tail {
                    write!(f, "\n{tail}")?;
                }
                Ok(())
            }
            Self::Lost { status } => write!(
                f,
                "stalled: VIP lost track of the execution ({status} for longer than the grace period)"
            ),
        }
    }
}

impl Outcome {
    /// Its failure class and the wrapper's exit code that decided it, when it failed with
    /// one (the summary's JSON, notifications).
    pub fn class(&self) -> (Option<crate::vip::failure::FailureClass>, Option<i64>) {
        use crate::vip::failure::FailureClass;
        match self {
            Self::Failed(Failure::Ended {
                verdict: Some(v), ..
            }) => (Some(v.class), v.exit_code),
            Self::TimedOut => (Some(FailureClass::TimedOut), None),
            Self::Failed(Failure::Lost { .. }) => (Some(FailureClass::Stalled), None),
            _ => (None, None),
        }
    }

    /// Whether this counts as a failure for the exit code.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Self::Failed(_) | Self::TimedOut | Self::Blocked { .. } | Self::NotDownloaded(_)
        )
    }
}

/// A run's result.
#[derive(Debug)]
pub struct Summary {
    /// Item key → outcome.
    pub outcomes: Vec<(String, Outcome)>,
    /// `JUnit` cases.
    pub junit: Vec<JunitCase>,
    /// Whether the run was interrupted.
    pub interrupted: bool,
    /// Why the run stopped early on a local storage problem (exit 6), if it did.
    pub disk: Option<String>,
    /// Item key → "retried 2× after input download failures", for items relaunched after
    /// failures.
    pub retried: std::collections::HashMap<String, String>,
}

impl Summary {
    /// Whether any item failed or timed out.
    pub fn any_failed(&self) -> bool {
        self.outcomes.iter().any(|(_, o)| o.is_failure())
    }
}

/// What a run or a download of one manifest came to.
#[derive(Debug)]
pub struct Finished {
    /// `run` or `download`.
    pub command: &'static str,
    /// The manifest, as the user named it.
    pub manifest: String,
    /// Its state file.
    pub state: PathBuf,
    /// Its run record.
    pub record: PathBuf,
    /// Its HTML report (with `trace.tsv` beside it), when it could be written.
    pub report: Option<PathBuf>,
    /// The study tables `collect:` merged at the end (none without `collect:`).
    pub collected: Vec<super::collect::Collected>,
    /// Why the study tables could not be merged (their files' columns disagree…): nothing
    /// of them was written.
    pub collect_error: Option<String>,
    /// Why nothing was done, when another vip-run was running the manifest and this one
    /// skipped it (`--if-running skip`): who holds it.
    pub skipped: Option<String>,
    /// Whether it ran against the in-process sandbox (gone with the command).
    pub sandbox: bool,
    /// Each item's outcome.
    pub summary: Summary,
    /// The exit code a stop by a signal means, when the run was stopped by one:
    /// [`exit_code::INTERRUPTED`] for Ctrl-C, [`exit_code::TERMINATED`] for SIGTERM.
    pub interrupt_exit_code: i32,
}

impl Finished {
    /// The exit code this outcome means: the one place it is decided.
    pub fn exit_code(&self) -> i32 {
        if self.skipped.is_some() {
            return exit_code::SUCCESS;
        }
        let unreachable = self.summary.outcomes.iter().any(|(_, o)| {
            matches!(
                o,
                Outcome::Blocked {
                    unreachable: true,
                    ..
                }
            )
        });
        let tables_incomplete = self.collect_error.is_some()
            || self
                .collected
                .iter()
                .any(super::collect::Collected::incomplete);
        if self.summary.interrupted {
            self.interrupt_exit_code
        } else if self.summary.disk.is_some() {
            exit_code::LOCAL
        } else if unreachable {
            exit_code::UNREACHABLE
        } else if self.summary.any_failed()
            && (self.command == "run"
                || self
                    .summary
                    .outcomes
                    .iter()
                    .any(|(_, o)| matches!(o, Outcome::NotDownloaded(_))))
        {
            exit_code::FAILED
        } else if tables_incomplete {
            // A finished item whose table is not in the study's: said, never dropped.
            exit_code::FAILED
        } else {
            exit_code::SUCCESS
        }
    }
}

/// Writes the summary of `f` to `out`; `quiet` leaves out a human summary of a command that
/// succeeded. `again` is the command line that picks the run up (the hint, when it stopped
/// with executions left).
pub fn render(
    out: &mut dyn Write,
    f: &Finished,
    format: OutputFormat,
    quiet: bool,
    again: &str,
) -> std::io::Result<()> {
    if let Some(holder) = &f.skipped {
        return render_skipped(out, f, holder, format);
    }
    let summary = &f.summary;
    let count =
        |p: &dyn Fn(&Outcome) -> bool| summary.outcomes.iter().filter(|(_, o)| p(o)).count();
    let finished = count(&|o| matches!(o, Outcome::Done | Outcome::DoneWithProblems(_)));
    let failed = count(&|o| matches!(o, Outcome::Failed(_)));
    let timed_out = count(&|o| *o == Outcome::TimedOut);
    let in_progress = count(&|o| *o == Outcome::InProgress);
    let not_launched = count(&|o| *o == Outcome::NotLaunched);
    let blocked = count(&|o| matches!(o, Outcome::Blocked { .. }));
    let not_downloaded = count(&|o| matches!(o, Outcome::NotDownloaded(_)));
    match format {
        OutputFormat::Json => {
            let items: Vec<_> = summary
                .outcomes
                .iter()
                .map(|(k, o)| {
                    let (result, detail) = match o {
                        Outcome::Done => ("finished", None),
                        Outcome::DoneWithProblems(p) => ("finished", Some(p.clone())),
                        Outcome::NotDownloaded(why) => ("not_downloaded", Some(why.clone())),
                        Outcome::Failed(why) => ("failed", Some(why.to_string())),
                        Outcome::TimedOut => ("timed_out", None),
                        Outcome::InProgress => ("in_progress", None),
                        Outcome::NotLaunched => ("not_launched", None),
                        Outcome::Blocked { why, .. } => ("blocked", Some(why.clone())),
                    };
                    let (class, exit_code) = o.class();
                    let mut item = json!({"item": k, "result": result, "detail": detail});
                    if let Some(class) = class {
                        item["class"] = json!(class);
                        item["exit_code"] = json!(exit_code);
                    }
                    if let Some(r) = summary.retried.get(k) {
                        item["retried"] = json!(r);
                    }
                    item
                })
                .collect();
            let record = json!({
                "event": "summary",
                "command": f.command,
                "manifest": f.manifest,
                "items": summary.outcomes.len(),
                "finished": finished,
                "failed": failed,
                "timed_out": timed_out,
                "in_progress": in_progress,
                "not_launched": not_launched,
                "blocked": blocked,
                "not_downloaded": not_downloaded,
                "interrupted": summary.interrupted,
                "disk_error": summary.disk,
                "state": f.state.display().to_string(),
                "record": f.record.display().to_string(),
                "report": f.report.as_ref().map(|r| r.display().to_string()),
                "collected": f.collected,
                "collect_error": f.collect_error,
                "results": items,
                "at": time::rfc3339(time::now_ms()),
            });
            writeln!(out, "{record}")?;
        }
        // Quiet means silent when all went well, so an interrupted run still says so.
        OutputFormat::Human
            if quiet && !summary.any_failed() && f.exit_code() == exit_code::SUCCESS => {}
        OutputFormat::Human => {
            let mut text = format!(
                "{}: {} item{}: {finished} finished, {failed} failed, {timed_out} timed out, {in_progress} in progress, {not_launched} not launched\n",
                f.manifest,
                summary.outcomes.len(),
                if summary.outcomes.len() == 1 { "" } else { "s" }
            );
            if blocked > 0 {
                // Appended to the count line, so the line others parse stays as it was.
                text.insert_str(text.len() - 1, &format!(", {blocked} blocked"));
            }
            if not_downloaded > 0 {
                text.insert_str(
                    text.len() - 1,
                    &format!(", {not_downloaded} not downloaded"),
                );
            }
            if let Some(why) = &summary.disk {
                let _ = writeln!(text, "stopped: {why}\n  {}", crate::error::DISK_HELP);
            }
            for (key, outcome) in &summary.outcomes {
                match outcome {
                    Outcome::Failed(why) => {
                        let why = why.to_string();
                        let _ = writeln!(
                            text,
                            "  {key}: FAILED: {}",
                            why.lines().next().unwrap_or("")
                        );
                        for line in why.lines().skip(1) {
                            let _ = writeln!(text, "    | {line}");
                        }
                        if let Some(r) = summary.retried.get(key) {
                            let _ = writeln!(text, "    ({r})");
                        }
                    }
                    Outcome::TimedOut => {
                        let _ = writeln!(text, "  {key}: TIMED OUT");
                        if let Some(r) = summary.retried.get(key) {
                            let _ = writeln!(text, "    ({r})");
                        }
                    }
                    Outcome::Done if summary.retried.contains_key(key) => {
                        let _ = writeln!(text, "  {key}: finished, {}", summary.retried[key]);
                    }
                    Outcome::Blocked { why, .. } => {
                        let _ =
                            writeln!(text, "  {key}: BLOCKED: {why}; run again to try it again");
                    }
                    Outcome::DoneWithProblems(p) => {
                        let _ = writeln!(text, "  {key}: finished, but: {p}");
                    }
                    Outcome::NotDownloaded(why) => {
                        let _ = writeln!(
                            text,
                            "  {key}: finished on VIP, NOT DOWNLOADED: {why}; `vip-run download` (or the next run) fetches it"
                        );
                    }
                    _ => {}
                }
            }
            if f.sandbox && finished > 0 {
                let _ = writeln!(
                    text,
                    "these results are the sandbox's, simulated (a try-out, marked so in each results folder): a real run moves them aside"
                );
            }
            if (failed > 0 || timed_out > 0) && !f.sandbox {
                let _ = writeln!(
                    text,
                    "to launch the failed, killed or timed-out items again: `vip-run run {} --relaunch failed` (`plan --relaunch failed` shows it first)",
                    f.manifest
                );
            }
            if summary.interrupted || in_progress > 0 {
                let _ = writeln!(text, "{}", still_running(f, in_progress, again));
            }
            for line in super::collect::summary_lines(&f.collected) {
                let _ = writeln!(text, "{line}");
            }
            if let Some(e) = &f.collect_error {
                let _ = writeln!(text, "study tables not written: {e}");
            }
            let _ = writeln!(text, "run record: {}", f.record.display());
            if let Some(report) = &f.report {
                let _ = writeln!(text, "report: {}", report.display());
            }
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()
}

/// The one line of a run that skipped its manifest: another vip-run was running it.
fn render_skipped(
    out: &mut dyn Write,
    f: &Finished,
    holder: &str,
    format: OutputFormat,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Json => writeln!(
            out,
            "{}",
            json!({
                "event": "summary",
                "command": f.command,
                "manifest": f.manifest,
                "skipped": format!("another vip-run is running this manifest ({holder})"),
                "at": time::rfc3339(time::now_ms()),
            })
        )?,
        OutputFormat::Human => writeln!(
            out,
            "{}: skipped: another vip-run is running it ({holder}); --if-running fail makes this exit 7, --lock-wait waits for it",
            f.manifest
        )?,
    }
    out.flush()
}

/// What to say of executions left running when the run stopped; `again` is the command that
/// picks them up, with the options that say where they are (`--server`, `--state-dir`…).
fn still_running(f: &Finished, in_progress: usize, again: &str) -> String {
    if f.sandbox {
        // The in-process simulator stopped with this command: there is nothing left to pick
        // up, and the same command without `--sandbox` would go to VIP.
        return format!(
            "the sandbox stopped with this command{}; run `{again}` again to start over",
            match in_progress {
                0 => String::new(),
                1 => ", and its running execution with it".to_owned(),
                n => format!(", and its {n} running executions with it"),
            },
        );
    }
    format!(
        "{in_progress} execution{} still running on VIP; run `{again}` again to pick {} up",
        if in_progress == 1 { " is" } else { "s are" },
        if in_progress == 1 { "it" } else { "them" }
    )
}
