//! A batch as the report and the trace see it: what ran, and for every item and every
//! execution the phases vip-run observed (upload, waiting to launch, queued on VIP, running,
//! download), with the bytes moved. Built from the state alone (`ops::report`), so a report
//! can be rebuilt offline; rendered by `html` and `trace`.
//!
//! VIP gives no per-job times and its `endDate` is always null (docs/vip.md#statuses): every
//! time here is when vip-run *saw* a change, so it is as precise as the polls were frequent
//! ([`Batch::precision`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::vip::failure::FailureClass;

/// One batch: a manifest's items as its state records them.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    /// The manifest's `name`.
    pub name: String,
    /// The manifest file, as the user named it.
    pub manifest: String,
    /// The pipeline.
    pub pipeline: String,
    /// The server the executions live on.
    pub server: String,
    /// Whether the executions were the in-process sandbox's (simulated).
    pub sandbox: bool,
    /// The vip-run that wrote the report.
    pub vip_run_version: String,
    /// When the report was written (epoch ms).
    pub written_at: i64,
    /// The command that wrote it: `run`, `download` or `report`.
    pub command: String,
    /// The run's exit code, when a run wrote the report (`None`: rebuilt from the state).
    pub exit_code: Option<i32>,
    /// How far apart the polls were at most: the precision of every time observed on VIP.
    pub precision: Duration,
    /// The matrix or cohort variables, in the manifest's order (the table's leading columns).
    pub variables: Vec<String>,
    /// Every item, in the manifest's order.
    pub items: Vec<BatchItem>,
    /// Bytes of every input this vip-run sent to VIP for the batch (each file once).
    pub bytes_up: u64,
    /// The files beside the report, as links relative to it: `run.json`, the crate, the
    /// `JUnit` file, the trace, the collected tables.
    pub links: Vec<Link>,
}

/// A link from the report: what it is, and where (relative to the report's folder when it
/// can be, else absolute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// What the link shows.
    pub label: String,
    /// The target, as a URL path (`../../results/x/out.nii.gz`, or `file:///…`).
    pub href: String,
}

/// What came of an item, in the words `run.json` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemResult {
    /// Finished on VIP, outputs home.
    Finished,
    /// Finished on VIP, some outputs not downloaded.
    OutputsMissing,
    /// Finished on VIP, not downloaded.
    NotDownloaded,
    /// Failed (or refused, or killed).
    Failed,
    /// Over its time limit.
    TimedOut,
    /// Still queued or running on VIP when last seen.
    InProgress,
    /// Never launched.
    NotLaunched,
    /// Given up on for the run (its calls kept failing).
    Blocked,
}

impl ItemResult {
    /// Every result, in the order counts are shown.
    pub const ALL: [Self; 8] = [
        Self::Finished,
        Self::OutputsMissing,
        Self::NotDownloaded,
        Self::Failed,
        Self::TimedOut,
        Self::InProgress,
        Self::NotLaunched,
        Self::Blocked,
    ];

    /// What `outcome` (a run's judgement of an item) comes to.
    pub fn of(outcome: &super::summary::Outcome) -> Self {
        use super::summary::Outcome;
        match outcome {
            Outcome::Done => Self::Finished,
            Outcome::DoneWithProblems(_) => Self::OutputsMissing,
            Outcome::NotDownloaded(_) => Self::NotDownloaded,
            Outcome::Failed(_) => Self::Failed,
            Outcome::TimedOut => Self::TimedOut,
            Outcome::InProgress => Self::InProgress,
            Outcome::NotLaunched => Self::NotLaunched,
            Outcome::Blocked { .. } => Self::Blocked,
        }
    }

    /// The words of `run.json` and the summary.
    pub fn words(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::OutputsMissing => "finished, outputs missing",
            Self::NotDownloaded => "not downloaded",
            Self::Failed => "failed",
            Self::TimedOut => "timed out",
            Self::InProgress => "in progress",
            Self::NotLaunched => "not launched",
            Self::Blocked => "blocked",
        }
    }

    /// Whether the item did not come to a good end (the report's "failed only" filter).
    pub fn is_bad(self) -> bool {
        !matches!(self, Self::Finished | Self::InProgress)
    }
}

/// One item of the batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchItem {
    /// Its key.
    pub key: String,
    /// Its variables' values, in [`Batch::variables`]' order.
    pub variables: Vec<String>,
    /// What came of it.
    pub result: ItemResult,
    /// Why, when it did not finish (VIP's refusal, the failure's headline…).
    pub detail: Option<String>,
    /// The failure class of its current execution, when it failed.
    pub class: Option<FailureClass>,
    /// The wrapper's exit code that decided the class.
    pub exit_code: Option<i64>,
    /// When its local inputs were sent (first upload started, last ended; epoch ms), when
    /// any was sent by this vip-run.
    pub upload: Option<Span>,
    /// Bytes of its local inputs on VIP (files shared by items count for each).
    pub bytes_up: u64,
    /// Bytes of its outputs downloaded.
    pub bytes_down: u64,
    /// Its executions, oldest first (retries add more).
    pub attempts: Vec<BatchAttempt>,
    /// Its downloaded outputs, linked.
    pub outputs: Vec<Link>,
    /// The last lines of the current execution's standard error, when it failed.
    pub stderr_tail: Option<String>,
    /// The current execution's saved logs, when it failed.
    pub logs: Option<Link>,
}

/// A span of time, in epoch ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// When it began.
    pub from: i64,
    /// When it ended.
    pub to: i64,
}

impl Span {
    /// Its length.
    pub fn length(self) -> Duration {
        Duration::from_millis(u64::try_from(self.to - self.from).unwrap_or(0))
    }
}

/// One execution of an item, with the times vip-run observed.
#[derive(Debug, Clone, Serialize)]
pub struct BatchAttempt {
    /// VIP's identifier (`workflow-…`).
    pub execution: String,
    /// The execution name.
    pub name: String,
    /// The last status seen.
    pub status: String,
    /// Its failure class, when it failed.
    pub class: Option<FailureClass>,
    /// The exit code that decided the class.
    pub exit_code: Option<i64>,
    /// When it could have been launched (its inputs on VIP, or the run started, or its
    /// earlier execution ended), when the run recorded it: the wait for a slot (the quota or
    /// `max_parallel`) runs from here to `submitted`.
    pub ready: Option<i64>,
    /// When it was launched.
    pub submitted: i64,
    /// When it was first seen running.
    pub started: Option<i64>,
    /// When it was first seen in its final status (`Finished`, `ExecutionFailed`…).
    pub ended: Option<i64>,
    /// When its outputs were downloaded.
    pub download: Option<Span>,
    /// Its jobs when last seen: (done, failed, total).
    pub jobs: Option<(usize, usize, usize)>,
    /// Bytes downloaded from it.
    pub bytes_down: u64,
}

impl BatchAttempt {
    /// Waiting for a slot: from ready to launched.
    pub fn launch_wait(&self) -> Option<Duration> {
        self.ready.map(|r| ms(self.submitted - r))
    }

    /// Queued on VIP: from launched to first seen running (or ended, when never seen
    /// running).
    pub fn queue_wait(&self) -> Option<Duration> {
        self.started.or(self.ended).map(|s| ms(s - self.submitted))
    }

    /// Running on VIP: from first seen running to first seen ended.
    pub fn run_time(&self) -> Option<Duration> {
        Some(ms(self.ended? - self.started?))
    }
}

fn ms(n: i64) -> Duration {
    Duration::from_millis(u64::try_from(n).unwrap_or(0))
}

impl Batch {
    /// When the first thing in the batch happened, and the last (epoch ms).
    pub fn extent(&self) -> Option<Span> {
        let mut times = self.items.iter().flat_map(|i| {
            i.upload
                .into_iter()
                .flat_map(|s| [s.from, s.to])
                .chain(i.attempts.iter().flat_map(|a| {
                    [Some(a.submitted), a.ready, a.started, a.ended]
                        .into_iter()
                        .flatten()
                        .chain(a.download.into_iter().flat_map(|s| [s.from, s.to]))
                }))
        });
        let first = times.next()?;
        let (from, to) = times.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t)));
        Some(Span { from, to })
    }

    /// How many items came to each result, in [`ItemResult::ALL`]'s order, leaving out none.
    pub fn counts(&self) -> Vec<(ItemResult, usize)> {
        ItemResult::ALL
            .iter()
            .map(|r| (*r, self.items.iter().filter(|i| i.result == *r).count()))
            .collect()
    }

    /// How many items failed in each class, most first.
    pub fn classes(&self) -> Vec<(FailureClass, usize)> {
        let mut counts: Vec<(FailureClass, usize)> = Vec::new();
        for class in self.items.iter().filter_map(|i| i.class) {
            match counts.iter_mut().find(|(c, _)| *c == class) {
                Some((_, n)) => *n += 1,
                None => counts.push((class, 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.words().cmp(b.0.words())));
        counts
    }

    /// Bytes brought home, over every item.
    pub fn bytes_down(&self) -> u64 {
        self.items.iter().map(|i| i.bytes_down).sum()
    }
}

/// Where the report and the trace are written, beside `run.json`.
#[derive(Debug, Clone)]
pub struct Written {
    /// `report.html`.
    pub report: PathBuf,
    /// `trace.tsv`.
    pub trace: PathBuf,
}

/// What `vip-run report` wrote: the paths, or one JSON object.
pub fn render_written(
    out: &mut dyn std::io::Write,
    written: &Written,
    format: super::OutputFormat,
) -> std::io::Result<()> {
    match format {
        super::OutputFormat::Human => writeln!(
            out,
            "report: {}\ntrace: {}",
            written.report.display(),
            written.trace.display()
        ),
        super::OutputFormat::Json => writeln!(
            out,
            "{}",
            serde_json::json!({
                "event": "report",
                "report": written.report.display().to_string(),
                "trace": written.trace.display().to_string(),
            })
        ),
    }
}
