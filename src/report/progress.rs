//! What a run tells as it goes: one JSON event per line on stdout (`--output json`), or for
//! people one plain line per change on stderr, or a progress bar when stderr is an
//! interactive terminal (`--progress auto`).
//!
//! A bar is redrawn in place, so it must never be wider than the terminal (a wrapped line
//! leaves debris at every redraw) and must be gone before the summary: it is sized to the
//! width at start, its message is truncated to what is left, a terminal too narrow for it
//! gets plain lines, and it is cleared on every way out, errors included.

use std::fmt::Write as _;
use std::io::Write as _;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::{Value, json};

use super::OutputFormat;

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// A bar on an interactive terminal, plain lines otherwise.
    Auto,
    /// Always a bar.
    Bar,
    /// One line per change.
    Plain,
    /// Nothing.
    None,
}

/// Whether to draw a bar: a pure function of the setting and the terminal, so it can be tested.
pub fn draws_bar(progress: Progress, fancy_stderr: bool) -> bool {
    match progress {
        Progress::Bar => true,
        Progress::Auto => fancy_stderr,
        Progress::Plain | Progress::None => false,
    }
}

/// Below this room for the bar and its message, plain lines read better than a squeezed bar.
const MIN_BAR: usize = 10;
const MIN_MSG: usize = "1 running".len();
/// The widest bar, and the room it leaves for the message before growing to that.
const MAX_BAR: usize = 30;
const MSG_ROOM: usize = 12;

/// The items bar's width in a terminal `width` columns wide, for `total` items; `None` when
/// the terminal is too narrow for a bar. Pure, so it can be tested.
pub fn bar_width(width: u16, total: usize) -> Option<usize> {
    let digits = total.max(1).to_string().len();
    // "⠁ [00:00:03] " + bar + " 12/12 items done  " + message, and one column spare: a line
    // that fills the last column makes some terminals wrap early.
    let fixed = "⠁ [00:00:03] ".chars().count() + " / items done  ".len() + 2 * digits;
    let room = usize::from(width).checked_sub(fixed + 1)?;
    (room >= MIN_BAR + MIN_MSG).then(|| room.saturating_sub(MSG_ROOM).clamp(MIN_BAR, MAX_BAR))
}

/// The bars being drawn, if any, so that lines from elsewhere (logs) go above them instead
/// of through them.
static DRAWING: std::sync::Mutex<Option<MultiProgress>> = std::sync::Mutex::new(None);

/// stderr for log lines: printed above the bars while they are drawn.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// A [`LogWriter`], for `tracing_subscriber::fmt().with_writer(..)`.
pub fn log_writer() -> LogWriter {
    LogWriter
}

/// A closed stderr (`vip-run … 2>&1 | head -1`) swallows the line: reporting the failure would
/// only be another write to it, and tracing's own report of it would panic.
impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Each write is drawn whole above the bars, which are redrawn after it: callers write
        // whole lines at once (tracing's fmt layer writes each event in one call).
        let drawing = DRAWING.lock().ok().and_then(|d| d.clone());
        match drawing {
            Some(multi) => multi.suspend(|| super::write_stderr_bytes(buf)),
            None => super::write_stderr_bytes(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Prints `text` and a newline on stderr, above the bars while they are drawn: for lines
/// from outside the [`Reporter`] (the Ctrl-C notice), which would otherwise leave the bar
/// frozen above them.
pub fn eprintln_above_bars(text: &str) {
    // One write, so the bars are not redrawn between the text and its newline.
    let _ = LogWriter.write_all(format!("{text}\n").as_bytes());
}

/// Why launching waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The user's quota of running executions is full (VIP error 2001).
    QuotaFull,
    /// VIP's platform-wide limit is reached (VIP error 2000).
    PlatformFull,
    /// VIP's execution engine is saturated (VIP error 2003).
    EngineSaturated,
    /// The runs of this machine hold every slot of the account's limit (`held` of `limit`,
    /// `ours` of them this run's), so the next launch would be refused (2001).
    AccountFull {
        held: usize,
        limit: usize,
        ours: usize,
    },
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::QuotaFull => f.write_str("your quota of running executions on VIP is full"),
            Self::PlatformFull => {
                f.write_str("VIP's platform-wide limit of running executions is reached")
            }
            Self::EngineSaturated => f.write_str(
                "VIP's execution engine is saturated (VIP error 2003); launching again shortly",
            ),
            Self::AccountFull { held, limit, ours } if ours < held => write!(
                f,
                "another recipe of this account holds the quota's slots ({held} of {limit})"
            ),
            Self::AccountFull { held, limit, .. } => write!(
                f,
                "the account's quota is full ({held} of {limit} slots, all this run's)"
            ),
        }
    }
}

/// How an item ended in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Finished on VIP and its outputs are home; `problems` names the outputs VIP could not
    /// send.
    Finished {
        /// What could not be downloaded, if anything.
        problems: Option<String>,
    },
    /// VIP refused the launch, in its own words.
    Refused {
        /// VIP's answer.
        vip: String,
    },
    /// Over `execution.timeout`, and killed or left running on VIP.
    TimedOut {
        /// The limit.
        after: std::time::Duration,
        /// Whether it was killed (`execution.kill_on_timeout`).
        killed: bool,
        /// What comes of it: "to be relaunched", "not retried"…
        retry: &'static str,
    },
    /// The execution failed (or finished without all its results): its class.
    Failed {
        /// `application (exit 50)`.
        headline: String,
        /// What comes of it: "to be relaunched", "not retried", "retries used up".
        retry: String,
        /// What showed it (failed jobs, missing outputs…), when more than the class.
        explain: String,
    },
    /// Killed on purpose (`cancel`).
    Killed,
}

impl End {
    /// Why VIP refused a launch, said with what to do about it when VIP's engine refused the
    /// workflow's job count ("Too many jobs (max:N, got:M)", docs/vip.md#lists).
    pub fn refusal(vip: &str) -> String {
        format!(
            "VIP refused the launch: {vip}{}",
            too_many_jobs_help(vip).unwrap_or_default()
        )
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Finished { problems: None } => f.write_str("finished"),
            Self::Finished { problems: Some(p) } => {
                write!(f, "finished; not all outputs downloaded: {p}")
            }
            Self::Refused { vip } => write!(f, "failed: {}", Self::refusal(vip)),
            Self::TimedOut {
                after,
                killed,
                retry,
            } => write!(
                f,
                "timed out after {}{}, {retry}",
                crate::duration::format(*after),
                if *killed {
                    ", killed"
                } else {
                    ", left running on VIP"
                }
            ),
            Self::Failed {
                headline,
                retry,
                explain,
            } => {
                write!(f, "failed: {headline}, {retry}")?;
                if !explain.is_empty() {
                    write!(f, " ({explain})")?;
                }
                Ok(())
            }
            Self::Killed => f.write_str("killed"),
        }
    }
}

/// The JSON events carry the same words as the lines.
impl Serialize for End {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for Wait {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What to do when VIP's engine refused the workflow's job count, said after VIP's own words.
fn too_many_jobs_help(message: &str) -> Option<String> {
    let rest = &message[message.find("Too many jobs")?..];
    let max = rest
        .split_once("max:")
        .and_then(|(_, r)| r.split(|c: char| !c.is_ascii_digit()).next())
        .filter(|n| !n.is_empty());
    Some(format!(
        "; move one of the lists to `matrix` (one execution per value, each with fewer jobs){}",
        max.map(|n| format!(
            ", and set `execution.max_jobs: {n}` so that `vip-run validate` catches it before a launch"
        ))
        .unwrap_or_default()
    ))
}

/// Something that happened during a run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A local file was uploaded.
    Uploaded {
        local: String,
        remote: String,
        size: u64,
    },
    /// A local file was already on VIP with the same content.
    UploadSkipped { local: String, remote: String },
    /// An execution was launched for an item.
    Launched {
        item: String,
        execution: String,
        name: String,
    },
    /// An execution already on VIP was taken up for an item.
    Reused {
        item: String,
        execution: String,
        name: String,
        status: String,
    },
    /// VIP's quota is full: launching waits.
    Waiting { item: String, reason: Wait },
    /// An execution's status changed.
    Status {
        item: String,
        execution: String,
        status: String,
        jobs_done: usize,
        jobs_failed: usize,
        jobs_total: usize,
    },
    /// An output was downloaded.
    Downloaded {
        item: String,
        remote: String,
        local: String,
        size: u64,
    },
    /// An output cannot be downloaded (too large for VIP's direct transfer…).
    NotDownloaded {
        item: String,
        remote: String,
        reason: String,
    },
    /// A tarball was unpacked.
    Extracted {
        item: String,
        archive: String,
        folder: String,
        files: usize,
        refused: Vec<String>,
    },
    /// An item reached its end.
    ItemFinished {
        item: String,
        #[serde(rename = "result")]
        end: End,
        execution: Option<String>,
        /// The failure class, when it failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        class: Option<crate::vip::failure::FailureClass>,
        /// The wrapper's exit code that decided the class, when there was one.
        #[serde(skip_serializing_if = "Option::is_none")]
        exit_code: Option<i64>,
    },
    /// A warning.
    Warning { message: String },
}

impl Event {
    /// For the bar's message: an item's jobs when its execution has more than one (a list
    /// given to a parameter, docs/vip.md#lists), e.g. `main: Running 12/40 jobs done`.
    fn jobs_progress(&self) -> Option<String> {
        let Self::Status {
            item,
            status,
            jobs_done,
            jobs_failed,
            jobs_total,
            ..
        } = self
        else {
            return None;
        };
        (*jobs_total > 1).then(|| {
            let failed = if *jobs_failed > 0 {
                format!(", {jobs_failed} failed")
            } else {
                String::new()
            };
            format!("{item}: {status} {jobs_done}/{jobs_total} jobs done{failed}")
        })
    }

    fn line(&self) -> String {
        match self {
            Self::Uploaded {
                local,
                remote,
                size,
            } => format!(
                "uploaded {local} → {remote} ({})",
                super::text::human_bytes(*size)
            ),
            Self::UploadSkipped { local, .. } => format!("already on VIP: {local}"),
            Self::Launched {
                item,
                execution,
                name,
            } => format!("{item}: launched {name} ({execution})"),
            Self::Reused {
                item,
                execution,
                status,
                ..
            } => format!("{item}: found {execution} on VIP ({status})"),
            Self::Waiting { item, reason } => format!("{item}: waiting, {reason}"),
            Self::Status {
                item,
                status,
                jobs_done,
                jobs_failed,
                jobs_total,
                ..
            } => {
                if *jobs_total == 0 {
                    format!("{item}: {status}")
                } else if *jobs_failed > 0 {
                    format!(
                        "{item}: {status} (jobs {jobs_done}/{jobs_total} done, {jobs_failed} failed)"
                    )
                } else {
                    format!("{item}: {status} (jobs {jobs_done}/{jobs_total} done)")
                }
            }
            Self::Downloaded {
                item, local, size, ..
            } => format!(
                "{item}: downloaded {local} ({})",
                super::text::human_bytes(*size)
            ),
            Self::NotDownloaded {
                item,
                remote,
                reason,
            } => format!("{item}: NOT downloaded {remote}: {reason}"),
            Self::Extracted {
                item,
                folder,
                files,
                refused,
                ..
            } => {
                let mut line = format!(
                    "{item}: unpacked {files} file{} into {folder}",
                    if *files == 1 { "" } else { "s" }
                );
                for r in refused {
                    let _ = write!(line, "\n{item}: refused archive entry {r}");
                }
                line
            }
            Self::ItemFinished { item, end, .. } => format!("{item}: {end}"),
            Self::Warning { message } => format!("warning: {message}"),
        }
    }
}

/// Prints events as the format and progress setting say.
pub struct Reporter {
    format: OutputFormat,
    progress: Progress,
    bar: Option<ProgressBar>,
    multi: Option<MultiProgress>,
    /// Columns for transfer bars, when bars are drawn.
    width: u16,
    /// The byte bar of the transfers in flight, while there are some.
    bytes: Option<ProgressBar>,
}

/// The byte bar of the transfers in flight: each transfer adds its size when it knows it and
/// its bytes as they go (from its own task: the bar is shared).
#[derive(Debug, Clone)]
pub struct ByteBar(ProgressBar);

impl ByteBar {
    /// Adds `bytes` to the total.
    pub fn grow(&self, bytes: u64) {
        self.0.inc_length(bytes);
    }

    /// A callback that advances the bar by each chunk.
    pub fn on_bytes(&self) -> crate::vip::client::OnBytes {
        let bar = self.0.clone();
        std::sync::Arc::new(move |n| bar.inc(n))
    }
}

/// The calls a run made, by kind (`-v`): one line each on `out`, then the total.
pub fn render_calls(out: &mut impl std::io::Write, calls: &[(String, u64)]) -> std::io::Result<()> {
    let total: u64 = calls.iter().map(|(_, n)| n).sum();
    for (kind, n) in calls {
        writeln!(out, "calls: {n:>6}  {kind}")?;
    }
    writeln!(out, "calls: {total:>6}  in all")
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// A reporter; `total` items for the bar.
    pub fn new(format: OutputFormat, progress: Progress, total: usize) -> Self {
        let style = super::stderr_style();
        // `--progress bar` asks for a bar but cannot make one where the cursor cannot move
        // (a pipe, `TERM=dumb`): indicatif then hides it, and would swallow the lines printed
        // above it, so those places get plain lines whatever was asked.
        let layout = draws_bar(progress, style.bars)
            .then(|| {
                let width = style.width?;
                Some((width, bar_width(width, total)?))
            })
            .flatten();
        let multi = layout
            .map(|_| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
            .filter(|multi| !multi.is_hidden());
        if let (Some(multi), Ok(mut drawing)) = (&multi, DRAWING.lock()) {
            *drawing = Some(multi.clone());
        }
        let bar = multi.as_ref().zip(layout).map(|(multi, (_, bar_width))| {
            let bar = multi.add(ProgressBar::new(total as u64));
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{spinner}} [{{elapsed_precise}}] {{bar:{bar_width}}} {{pos}}/{{len}} items done  {{wide_msg}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            format,
            progress,
            bar,
            multi,
            width: layout.map_or(0, |(width, _)| width),
            bytes: None,
        }
    }

    /// Reports `event`.
    pub fn event(&mut self, event: &Event) {
        if self.format == OutputFormat::Json {
            let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert(
                    "at".into(),
                    json!(crate::time::rfc3339(crate::time::now_ms())),
                );
            }
            // One write per event (held with the rest under `--chronic`).
            let _ = super::chronic::HeldStdout.write_all(format!("{value}\n").as_bytes());
        }
        let line = event.line();
        match (&self.bar, self.progress) {
            (Some(bar), _) => {
                if matches!(event, Event::ItemFinished { .. }) {
                    bar.inc(1);
                }
                if let Some(jobs) = event.jobs_progress() {
                    bar.set_message(jobs);
                }
                bar.println(line);
            }
            (None, Progress::None) => {}
            (None, _) if self.format == OutputFormat::Json => {}
            (None, _) => super::to_stderr(&line),
        }
    }

    /// Says something to the person at the terminal (not an event).
    pub fn note(&self, text: &str) {
        if self.progress == Progress::None || self.format == OutputFormat::Json {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(text),
            None => super::to_stderr(text),
        }
    }

    /// The one byte bar for every transfer in flight, when bars are drawn: made when the
    /// first transfer starts, cleared by [`Reporter::transfers_in_flight`] when the last ends.
    pub fn byte_bar(&mut self) -> Option<ByteBar> {
        let multi = self.multi.as_ref()?;
        if self.bytes.is_none() {
            let bar = multi.add(ProgressBar::new(0));
            // The label takes what is left, truncated; narrow terminals drop the rate.
            let template = if self.width >= 80 {
                "  {wide_msg} {bar:20} {bytes}/{total_bytes} {bytes_per_sec}"
            } else {
                "  {wide_msg} {bar:10} {bytes}/{total_bytes}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            self.bytes = Some(bar);
        }
        self.bytes.clone().map(ByteBar)
    }

    /// Says how many transfers are in flight (`label`: what the latest one is); at none the
    /// byte bar goes, and the next transfer starts a new one from zero.
    pub fn transfers_in_flight(&mut self, count: usize, label: &str) {
        if count == 0 {
            if let Some(bar) = self.bytes.take() {
                bar.finish_and_clear();
            }
        } else if let Some(bar) = &self.bytes {
            bar.set_message(if count == 1 {
                label.to_owned()
            } else {
                format!("{count} transfers, {label}")
            });
        }
    }

    /// Sets the bar's message.
    pub fn status_line(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_owned());
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bytes {
            bar.finish_and_clear();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
            if let Ok(mut drawing) = DRAWING.lock() {
                *drawing = None;
            }
        }
    }
}

/// A run that ends in an error never reaches [`Reporter::finish`]; indicatif would leave the
/// bar drawn above the error message.
impl Drop for Reporter {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn too_many_jobs_is_explained_with_vips_limit() {
        let said = End::refusal(
            "POST /executions: Too many jobs (max:5, got:6) (Error code 8000) (HTTP 400, VIP error 8000)",
        );
        assert!(said.contains("`matrix`"), "{said}");
        assert!(said.contains("`execution.max_jobs: 5`"), "{said}");
        assert_eq!(too_many_jobs_help("Invalid pipeline identifier"), None);
    }

    use super::*;

    #[test]
    fn the_bar_shows_jobs_only_for_several() {
        let status = |done, failed, total| Event::Status {
            item: "main".into(),
            execution: "e1".into(),
            status: "Running".into(),
            jobs_done: done,
            jobs_failed: failed,
            jobs_total: total,
        };
        assert_eq!(status(0, 0, 1).jobs_progress(), None);
        assert_eq!(
            status(12, 0, 40).jobs_progress().as_deref(),
            Some("main: Running 12/40 jobs done")
        );
        assert_eq!(
            status(12, 1, 40).jobs_progress().as_deref(),
            Some("main: Running 12/40 jobs done, 1 failed")
        );
    }

    #[test]
    fn bars_only_where_asked_or_on_a_terminal() {
        assert!(draws_bar(Progress::Auto, true));
        assert!(!draws_bar(Progress::Auto, false));
        assert!(draws_bar(Progress::Bar, false));
        assert!(!draws_bar(Progress::Plain, true));
        assert!(!draws_bar(Progress::None, true));
    }

    #[test]
    fn the_bar_fits_the_terminal_or_gives_way_to_plain_lines() {
        // (columns, items) -> bar width
        let table = [
            ((200, 6), Some(MAX_BAR)),
            ((80, 6), Some(MAX_BAR)),
            ((50, 6), Some(MIN_BAR)),
            ((49, 6), None),
            ((48, 6), None),
            ((50, 120), None),
            ((20, 1), None),
            ((0, 0), None),
        ];
        for ((columns, items), expected) in table {
            assert_eq!(bar_width(columns, items), expected, "{columns} {items}");
            if let Some(bar) = expected {
                let digits = items.to_string().len();
                let line = 13 + bar + 15 + 2 * digits + MIN_MSG;
                assert!(line < usize::from(columns), "{columns} {items}: {line}");
            }
        }
    }
}
