//! What a notification says: one [`Notice`] per event of a run (its start, its end, an
//! execution that stalled), and its forms for each channel: the `vip-run.notify/1` JSON
//! document, a short plain text (a ping's body, a Slack or Mattermost `text`, a mail's body)
//! and a mail's subject.
//!
//! A notice holds no secret (no key, no channel's URL or password): it is what the spool
//! keeps on disk for the next run, and what any receiver may log. Every form stays within
//! [`MAX_TEXT`]: a batch of thousands of failed items names the first [`MAX_ITEMS`] and
//! counts the others.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::summary::{Failure, Outcome};
use crate::manifest::notify::NotifyEvent;
use crate::vip::failure::FailureClass;

/// The JSON document's schema name; a change that is not an addition bumps it.
pub const SCHEMA: &str = "vip-run.notify/1";
/// Most items a notice names; the others are counted.
pub const MAX_ITEMS: usize = 50;
/// Most bytes of a notice's text (healthchecks keeps 10 kB of a ping's body).
pub const MAX_TEXT: usize = 10_000;

/// The run a notice is about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunFacts {
    /// This run's id (a UUID), the same in every notice of the run.
    pub id: String,
    /// When it started (epoch ms).
    pub started_at: i64,
    /// The manifest, as named on the command line.
    pub manifest: String,
    /// Its `name`.
    pub name: String,
    /// Its `pipeline_id`.
    pub pipeline: String,
    /// The server it runs on.
    pub server: String,
    /// This machine's name, when known.
    pub host: Option<String>,
    /// How many items the manifest has.
    pub items: usize,
}

/// An item a notice names: a failed one (end, failure), or a stalled one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ItemNote {
    /// Its key.
    pub key: String,
    /// Its failure class, when it has one.
    pub class: Option<FailureClass>,
    /// The wrapper's exit code that decided the class, when there was one.
    pub exit_code: Option<i64>,
    /// What happened, in a line (`application (exit 50)`, `blocked: …`).
    pub headline: String,
    /// Its execution on VIP, when known.
    pub execution: Option<String>,
}

/// Items by outcome, at the end of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub items: usize,
    pub finished: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub blocked: usize,
    pub not_downloaded: usize,
    pub in_progress: usize,
    pub not_launched: usize,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EndFacts {
    /// Its exit code.
    pub exit_code: i32,
    /// The error that stopped it, when it stopped on one (it then has no counts).
    pub error: Option<String>,
    /// Its items by outcome, when it got as far as its loop.
    pub counts: Option<Counts>,
    /// The items that failed, timed out, were blocked or not downloaded (at most
    /// [`MAX_ITEMS`]).
    pub failed: Vec<ItemNote>,
    /// How many more there were.
    pub left_out: usize,
    /// Its HTML report, when it was written.
    pub report: Option<String>,
}

/// One notification's content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Notice {
    /// What happened.
    pub event: NotifyEvent,
    /// When (epoch ms): a notice sent late (from the spool) keeps its time.
    pub at: i64,
    /// The run.
    pub run: RunFacts,
    /// How it ended (end and failure).
    pub end: Option<EndFacts>,
    /// The executions that stalled (stall; several when they stalled close together).
    pub stalled: Vec<ItemNote>,
}

impl Notice {
    /// The run began.
    pub fn start(run: RunFacts, at: i64) -> Self {
        Self {
            event: NotifyEvent::Start,
            at,
            run,
            end: None,
            stalled: Vec::new(),
        }
    }

    /// The run ended with `exit_code`: with its `outcomes` when its loop ran, or the `error`
    /// that stopped it.
    pub fn end(
        run: RunFacts,
        at: i64,
        exit_code: i32,
        outcomes: Option<&[(String, Outcome)]>,
        error: Option<String>,
        report: Option<String>,
    ) -> Self {
        let mut failed: Vec<ItemNote> = outcomes
            .unwrap_or_default()
            .iter()
            .filter_map(|(key, o)| failed_item(key, o))
            .collect();
        let left_out = failed.len().saturating_sub(MAX_ITEMS);
        failed.truncate(MAX_ITEMS);
        Self {
            event: NotifyEvent::End,
            at,
            run,
            end: Some(EndFacts {
                exit_code,
                error,
                counts: outcomes.map(counts),
                failed,
                left_out,
                report,
            }),
            stalled: Vec::new(),
        }
    }

    /// An execution stalled.
    pub fn stall(run: RunFacts, at: i64, item: ItemNote) -> Self {
        Self {
            event: NotifyEvent::Stall,
            at,
            run,
            end: None,
            stalled: vec![item],
        }
    }

    /// Folds `other`'s stalled items into this stall notice (up to [`MAX_ITEMS`]): stalls
    /// queued for a channel together are told in one message.
    pub fn absorb(&mut self, other: &Notice) {
        for item in &other.stalled {
            if self.stalled.len() < MAX_ITEMS && !self.stalled.contains(item) {
                self.stalled.push(item.clone());
            }
        }
    }

    /// The same notice, told as `event` (a run's end is `failure` to a channel that listens
    /// for failures).
    #[must_use]
    pub fn told_as(&self, event: NotifyEvent) -> Self {
        Self {
            event,
            ..self.clone()
        }
    }

    /// Whether the run this notice ends failed.
    pub fn failed(&self) -> bool {
        self.end.as_ref().is_some_and(|e| e.exit_code != 0)
    }

    /// The first line: what happened, to which recipe, where.
    pub fn headline(&self) -> String {
        let r = &self.run;
        let on = r
            .host
            .as_deref()
            .map(|h| format!(" on {h}"))
            .unwrap_or_default();
        let what = format!("vip-run {} ({}){on}", r.name, r.pipeline);
        let items = plural(r.items, "item");
        match (self.event, &self.end) {
            (NotifyEvent::Start, _) => format!("{what}: started, {items}"),
            (NotifyEvent::Stall, _) => {
                let keys: Vec<&str> = self.stalled.iter().map(|i| i.key.as_str()).collect();
                format!(
                    "{what}: {} stalled: {}",
                    if keys.len() == 1 {
                        "an execution"
                    } else {
                        "executions"
                    },
                    keys.join(", ")
                )
            }
            (_, Some(end)) if end.exit_code == 0 => {
                format!("{what}: finished, {}", counts_text(end, r.items))
            }
            (_, Some(end)) => format!(
                "{what}: FAILED (exit {}, {}): {}",
                end.exit_code,
                meaning(end.exit_code),
                counts_text(end, r.items)
            ),
            (_, None) => format!("{what}: ended"),
        }
    }

    /// The plain text: the headline, the items concerned, the error, the report; at most
    /// [`MAX_TEXT`] bytes.
    pub fn text(&self) -> String {
        let mut text = self.headline();
        text.push('\n');
        let item_line = |text: &mut String, i: &ItemNote| {
            let execution = i
                .execution
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            let _ = writeln!(text, "  {}{execution}: {}", i.key, i.headline);
        };
        for item in &self.stalled {
            item_line(&mut text, item);
        }
        if let Some(end) = &self.end {
            if let Some(error) = &end.error {
                let _ = writeln!(text, "error: {error}");
            }
            if !end.failed.is_empty() {
                text.push_str("failed:\n");
            }
            for item in &end.failed {
                item_line(&mut text, item);
            }
            if end.left_out > 0 {
                let _ = writeln!(text, "  … and {} more", end.left_out);
            }
            if let Some(report) = &end.report {
                let _ = writeln!(text, "report: {report}");
            }
        }
        let _ = writeln!(
            text,
            "manifest: {}\nserver: {}\nrun: {} (started {})",
            self.run.manifest,
            self.run.server,
            self.run.id,
            crate::time::rfc3339(self.run.started_at)
        );
        truncate(text, MAX_TEXT)
    }

    /// A mail's subject: the headline, short.
    pub fn subject(&self) -> String {
        let headline = self.headline();
        match headline.char_indices().nth(150) {
            Some((cut, _)) => format!("{}…", &headline[..cut]),
            None => headline,
        }
    }

    /// The `vip-run.notify/1` document (see the README's notify section).
    pub fn document(&self) -> Value {
        let r = &self.run;
        let item = |i: &ItemNote| {
            json!({
                "key": i.key,
                "class": i.class,
                "exit_code": i.exit_code,
                "headline": i.headline,
                "execution": i.execution,
            })
        };
        let end = self.end.as_ref();
        json!({
            "schema": SCHEMA,
            "event": self.event,
            "at": crate::time::rfc3339(self.at),
            "run": {"id": r.id, "started_at": crate::time::rfc3339(r.started_at)},
            "manifest": r.manifest,
            "name": r.name,
            "pipeline": r.pipeline,
            "server": r.server,
            "host": r.host,
            "exit_code": end.map(|e| e.exit_code),
            "error": end.and_then(|e| e.error.clone()),
            "counts": end.and_then(|e| e.counts.clone()),
            "failed": end.map(|e| e.failed.iter().map(item).collect::<Vec<_>>()).unwrap_or_default(),
            "failed_left_out": end.map_or(0, |e| e.left_out),
            "stalled": self.stalled.iter().map(item).collect::<Vec<_>>(),
            "report": end.and_then(|e| e.report.clone()),
            "text": self.text(),
        })
    }

    /// Slack's and Mattermost's incoming-webhook body.
    pub fn chat(&self) -> Value {
        json!({ "text": self.text() })
    }
}

/// An item a run's end names, when its outcome is one that needs a look.
fn failed_item(key: &str, outcome: &Outcome) -> Option<ItemNote> {
    let headline = match outcome {
        Outcome::Failed(Failure::Ended {
            verdict: Some(v),
            retry,
            ..
        }) => match retry {
            Some(r) => format!("{}, {r}", v.headline()),
            None => v.headline(),
        },
        Outcome::Failed(why) => why.to_string().lines().next().unwrap_or("").to_owned(),
        Outcome::TimedOut => "timed out".to_owned(),
        Outcome::Blocked { why, .. } => format!("blocked: {why}"),
        Outcome::NotDownloaded(why) => format!("not downloaded: {why}"),
        _ => return None,
    };
    let (class, exit_code) = outcome.class();
    Some(ItemNote {
        key: key.to_owned(),
        class,
        exit_code,
        headline: truncate(headline, 300),
        execution: None,
    })
}

fn counts(outcomes: &[(String, Outcome)]) -> Counts {
    let mut c = Counts {
        items: outcomes.len(),
        ..Counts::default()
    };
    for (_, o) in outcomes {
        match o {
            Outcome::Done | Outcome::DoneWithProblems(_) => c.finished += 1,
            Outcome::Failed(_) => c.failed += 1,
            Outcome::TimedOut => c.timed_out += 1,
            Outcome::Blocked { .. } => c.blocked += 1,
            Outcome::NotDownloaded(_) => c.not_downloaded += 1,
            Outcome::InProgress => c.in_progress += 1,
            Outcome::NotLaunched => c.not_launched += 1,
        }
    }
    c
}

/// `6 items: 4 finished, 1 failed, 1 not launched` (the counts that are not zero), or the
/// error's short form.
fn counts_text(end: &EndFacts, items: usize) -> String {
    let Some(c) = &end.counts else {
        return plural(items, "item");
    };
    let parts: Vec<String> = [
        (c.finished, "finished"),
        (c.failed, "failed"),
        (c.timed_out, "timed out"),
        (c.blocked, "blocked"),
        (c.not_downloaded, "not downloaded"),
        (c.in_progress, "in progress"),
        (c.not_launched, "not launched"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    format!("{}: {}", plural(c.items, "item"), parts.join(", "))
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// What an exit code means, in a few words (the README's table).
fn meaning(code: i32) -> &'static str {
    use crate::exit_code as c;
    match code {
        c::SUCCESS => "success",
        c::FAILED => "some item failed",
        c::USAGE => "usage error",
        c::INVALID_MANIFEST => "invalid manifest",
        c::AUTH => "access problem",
        c::UNREACHABLE => "VIP unreachable",
        c::LOCAL => "local storage problem",
        c::INTERRUPTED => "interrupted",
        c::TERMINATED => "stopped by SIGTERM",
        _ => "error",
    }
}

/// `text` cut to at most `max` bytes, on a character boundary, marked with `…`.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push('…');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vip::failure::Verdict;

    fn run() -> RunFacts {
        RunFacts {
            id: "0b6f3c1e-2a4d-4f7e-9c1a-5d2e8f9a7b3c".into(),
            started_at: 1_780_000_000_000,
            manifest: "study.yaml".into(),
            name: "study".into(),
            pipeline: "Hello/1.0".into(),
            server: "https://vip.example/rest".into(),
            host: Some("lab-7".into()),
            items: 3,
        }
    }

    fn failed_app() -> Outcome {
        let mut v = Verdict::of(FailureClass::Application, "the tool failed");
        v.exit_code = Some(50);
        Outcome::Failed(Failure::Ended {
            status: "ExecutionFailed".into(),
            logs: None,
            tail: None,
            verdict: Some(Box::new(v)),
            retry: Some("not retried".into()),
        })
    }

    #[test]
    fn a_failed_end_names_its_items_and_counts() {
        let outcomes = vec![
            ("sub-01".to_owned(), Outcome::Done),
            ("sub-02".to_owned(), failed_app()),
            ("sub-03".to_owned(), Outcome::NotLaunched),
        ];
        let n = Notice::end(
            run(),
            1_780_000_060_000,
            1,
            Some(&outcomes),
            None,
            Some("/r/report.html".into()),
        )
        .told_as(NotifyEvent::Failure);
        assert_eq!(
            n.headline(),
            "vip-run study (Hello/1.0) on lab-7: FAILED (exit 1, some item failed): 3 items: 1 finished, 1 failed, 1 not launched"
        );
        let text = n.text();
        assert!(
            text.contains("  sub-02: application (exit 50), not retried\n"),
            "{text}"
        );
        assert!(text.contains("report: /r/report.html"), "{text}");
        let doc = n.document();
        assert_eq!(doc["schema"], SCHEMA);
        assert_eq!(doc["event"], "failure");
        assert_eq!(doc["exit_code"], 1);
        assert_eq!(doc["counts"]["failed"], 1);
        assert_eq!(doc["failed"][0]["key"], "sub-02");
        assert_eq!(doc["failed"][0]["class"], "application");
        assert_eq!(doc["failed"][0]["exit_code"], 50);
        assert_eq!(doc["run"]["started_at"], "2026-05-28T20:26:40Z");
        assert_eq!(n.chat()["text"], text);
    }

    #[test]
    fn a_huge_batch_stays_within_the_bound() {
        let outcomes: Vec<(String, Outcome)> = (0..5000)
            .map(|i| (format!("subject-{i:05}-{}", "x".repeat(200)), failed_app()))
            .collect();
        let n = Notice::end(run(), 0, 1, Some(&outcomes), None, None);
        assert_eq!(n.end.as_ref().unwrap().failed.len(), MAX_ITEMS);
        assert_eq!(n.end.as_ref().unwrap().left_out, 5000 - MAX_ITEMS);
        assert!(n.text().len() <= MAX_TEXT);
        assert!(n.document().to_string().len() < 4 * MAX_TEXT);
    }

    #[test]
    fn stalls_fold_into_one_notice() {
        let item = |k: &str| ItemNote {
            key: k.into(),
            class: Some(FailureClass::Stalled),
            exit_code: None,
            headline: "stalled (held)".into(),
            execution: Some(format!("wf-{k}")),
        };
        let mut n = Notice::stall(run(), 0, item("a"));
        n.absorb(&Notice::stall(run(), 1, item("b")));
        n.absorb(&Notice::stall(run(), 1, item("b")));
        assert_eq!(
            n.headline(),
            "vip-run study (Hello/1.0) on lab-7: executions stalled: a, b"
        );
        assert!(n.text().contains("  b (wf-b): stalled (held)"));
        assert_eq!(n.document()["stalled"][1]["execution"], "wf-b");
    }

    #[test]
    fn an_error_end_says_what_stopped_it() {
        let n = Notice::end(run(), 0, 5, None, Some("VIP unreachable".into()), None);
        assert_eq!(
            n.headline(),
            "vip-run study (Hello/1.0) on lab-7: FAILED (exit 5, VIP unreachable): 3 items"
        );
        assert!(n.text().contains("error: VIP unreachable"));
        assert!(n.document()["counts"].is_null());
    }
}
