//! What a run tells as it goes: one JSON event per line on stdout (`--output json`), or for
//! people one plain line per change on stderr, or a progress bar when stderr is an
//! interactive terminal (`--progress auto`).

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
    Waiting { item: String, reason: String },
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
        result: String,
        execution: Option<String>,
    },
    /// A warning.
    Warning { message: String },
}

impl Event {
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
            Self::ItemFinished { item, result, .. } => format!("{item}: {result}"),
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
        let multi = draws_bar(progress, super::stderr_is_fancy())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let bar = multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new(total as u64));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} items done  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            format,
            progress,
            bar,
            multi,
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
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{value}");
            let _ = out.flush();
        }
        let line = event.line();
        match (&self.bar, self.progress) {
            (Some(bar), _) => {
                if matches!(event, Event::ItemFinished { .. }) {
                    bar.inc(1);
                }
                bar.println(line);
            }
            (None, Progress::None) => {}
            (None, _) if self.format == OutputFormat::Json => {}
            (None, _) => eprintln!("{line}"),
        }
    }

    /// Says something to the person at the terminal (not an event).
    pub fn note(&self, text: &str) {
        if self.progress == Progress::None || self.format == OutputFormat::Json {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// A byte bar for one transfer, when bars are drawn; the callback advances it.
    pub fn transfer(
        &self,
        label: &str,
        total: u64,
    ) -> Option<(ProgressBar, crate::vip::client::OnBytes)> {
        let multi = self.multi.as_ref()?;
        let bar = multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template("  {msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(label.to_owned());
        let advance = bar.clone();
        Some((bar, std::sync::Arc::new(move |n| advance.inc(n))))
    }

    /// Sets the bar's message.
    pub fn status_line(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_owned());
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_only_where_asked_or_on_a_terminal() {
        assert!(draws_bar(Progress::Auto, true));
        assert!(!draws_bar(Progress::Auto, false));
        assert!(draws_bar(Progress::Bar, false));
        assert!(!draws_bar(Progress::Plain, true));
        assert!(!draws_bar(Progress::None, true));
    }
}
