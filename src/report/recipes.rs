//! What `vip-run recipes` prints, and `status` over several manifests: one line per recipe
//! (its last run, the state it is in, its items counted by where they are), or one JSON
//! object each.

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::OutputFormat;
use super::status::Row;
use super::summary::Outcome;
use crate::time;

/// A recipe's items, counted by where they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// All of them.
    pub items: usize,
    /// Finished on VIP (and home, when downloaded).
    pub finished: usize,
    /// Failed, killed or timed out.
    pub failed: usize,
    /// Queued or running on VIP.
    pub running: usize,
    /// Not launched yet (or given up on for that run).
    pub waiting: usize,
    /// Finished on VIP, outputs not home.
    pub not_downloaded: usize,
}

impl Counts {
    /// The items of a run's outcomes.
    pub fn of_outcomes(outcomes: &[(String, Outcome)]) -> Self {
        let mut c = Self {
            items: outcomes.len(),
            ..Self::default()
        };
        for (_, o) in outcomes {
            match o {
                Outcome::Done | Outcome::DoneWithProblems(_) => c.finished += 1,
                Outcome::Failed(_) | Outcome::TimedOut => c.failed += 1,
                Outcome::InProgress => c.running += 1,
                Outcome::NotLaunched | Outcome::Blocked { .. } => c.waiting += 1,
                Outcome::NotDownloaded(_) => c.not_downloaded += 1,
            }
        }
        c
    }

    /// The items of `status`'s rows, by their phase.
    pub fn of_rows(rows: &[Row]) -> Self {
        let mut c = Self {
            items: rows.len(),
            ..Self::default()
        };
        for r in rows {
            match r.phase() {
                "downloaded" | "finished" => c.finished += 1,
                "failed" | "timed out" => c.failed += 1,
                "running" | "queued on VIP" => c.running += 1,
                "not downloaded" => c.not_downloaded += 1,
                _ => c.waiting += 1,
            }
        }
        c
    }
}

/// Where a recipe is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A run of it is going on now.
    Running,
    /// Its last run ended with every item settled (exit 0).
    Finished,
    /// Its last run returned with executions left running on VIP (`--detach`, exit 0).
    Detached,
    /// Its last run ended with an item failed, or stopped on an error (exit code ≠ 0).
    Failed,
    /// Its last run was stopped by Ctrl-C or SIGTERM.
    Interrupted,
    /// Its last run started and never recorded an end: killed (`kill -9`), or the machine
    /// went down.
    Stopped,
    /// No run of it is recorded on this machine (it may have run before the registry, or
    /// with `--no-account-registry`).
    NotRecorded,
}

impl State {
    /// The word shown.
    pub fn word(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Detached => "detached",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
            Self::Stopped => "stopped",
            Self::NotRecorded => "not recorded",
        }
    }
}

/// One recipe's line.
#[derive(Debug, Clone)]
pub struct Line {
    /// The manifest's `name`.
    pub name: String,
    /// The manifest's path.
    pub manifest: String,
    /// Where it is.
    pub state: State,
    /// The server of its last run.
    pub server: Option<String>,
    /// Its pipeline.
    pub pipeline: Option<String>,
    /// Its last run's start and end (epoch ms), and exit code.
    pub started: Option<i64>,
    pub ended: Option<i64>,
    pub exit_code: Option<i32>,
    /// Its items (as the last run left them, or as VIP has them now for `status`).
    pub counts: Option<Counts>,
}

/// Writes `lines` as a table (or one JSON object per line), `now` (epoch ms) telling how
/// long a running recipe has run so far.
pub fn render(
    out: &mut dyn Write,
    lines: &[Line],
    format: OutputFormat,
    now: i64,
) -> std::io::Result<()> {
    let took = |l: &Line| {
        let start = l.started?;
        let end = l.ended.or((l.state == State::Running).then_some(now))?;
        let secs = u64::try_from(end - start).unwrap_or(0) / 1000;
        Some(crate::duration::format(Duration::from_secs(secs)))
    };
    match format {
        OutputFormat::Json => {
            for l in lines {
                let record = json!({
                    "recipe": l.name,
                    "manifest": l.manifest,
                    "state": l.state.word(),
                    "server": l.server,
                    "pipeline": l.pipeline,
                    "started_at": l.started.map(time::rfc3339),
                    "ended_at": l.ended.map(time::rfc3339),
                    "exit_code": l.exit_code,
                    "counts": l.counts,
                });
                writeln!(out, "{record}")?;
            }
        }
        OutputFormat::Human => {
            let w = lines
                .iter()
                .map(|l| l.name.chars().count())
                .max()
                .unwrap_or(0)
                .max(6);
            let mut text = format!(
                "{:w$}  {:11}  {:20}  {:8}  {:4}  {:>5}  {:>8}  {:>6}  {:>7}  {:>4}  MANIFEST\n",
                "RECIPE",
                "STATE",
                "LAST RUN",
                "TOOK",
                "EXIT",
                "ITEMS",
                "FINISHED",
                "FAILED",
                "RUNNING",
                "LEFT"
            );
            for l in lines {
                let dash = || "-".to_owned();
                let n = |f: fn(&Counts) -> usize| l.counts.map_or_else(dash, |c| f(&c).to_string());
                let _ = writeln!(
                    text,
                    "{:w$}  {:11}  {:20}  {:8}  {:4}  {:>5}  {:>8}  {:>6}  {:>7}  {:>4}  {}",
                    l.name,
                    l.state.word(),
                    l.started.map_or_else(dash, time::rfc3339),
                    took(l).unwrap_or_else(dash),
                    l.exit_code.map_or_else(dash, |c| c.to_string()),
                    n(|c| c.items),
                    n(|c| c.finished),
                    n(|c| c.failed),
                    n(|c| c.running),
                    n(|c| c.waiting + c.not_downloaded),
                    l.manifest
                );
            }
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, state: State, counts: Option<Counts>) -> Line {
        Line {
            name: name.into(),
            manifest: format!("/lab/{name}.yaml"),
            state,
            server: Some("https://vip/rest".into()),
            pipeline: Some("Hello/1.0".into()),
            started: Some(1_765_000_000_000),
            ended: (state != State::Running).then_some(1_765_000_090_000),
            exit_code: (state != State::Running).then_some(0),
            counts,
        }
    }

    #[test]
    fn one_line_per_recipe_with_its_state_and_counts() {
        let counts = Counts {
            items: 4,
            finished: 2,
            failed: 1,
            running: 0,
            waiting: 1,
            not_downloaded: 0,
        };
        let lines = [
            line("hello", State::Finished, Some(counts)),
            line("long-name", State::Running, None),
        ];
        let mut out = Vec::new();
        render(&mut out, &lines, OutputFormat::Human, 1_765_000_120_000).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert!(rows[0].starts_with("RECIPE "), "{text}");
        assert!(
            rows[1].starts_with("hello      finished     2025-12-06T05:46:40Z  1m30s     0         4         2       1        0     1  /lab/hello.yaml"),
            "{text}"
        );
        assert!(
            rows[2].contains("running") && rows[2].contains("2m "),
            "{text}"
        );
        let mut out = Vec::new();
        render(&mut out, &lines, OutputFormat::Json, 0).unwrap();
        let first: serde_json::Value =
            serde_json::from_str(String::from_utf8(out).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(first["state"], "finished");
        assert_eq!(first["counts"]["failed"], 1);
        assert_eq!(first["started_at"], "2025-12-06T05:46:40Z");
    }
}
