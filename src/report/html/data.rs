//! The report's data block: every item as `report.js` reads it, in a
//! `<script type="application/json">` element. Arrays rather than objects, outcomes and classes
//! as indexes into tables sent once, times in ms since the batch's first event: at 10,000 items
//! the block is most of the page, so every repeated name would be paid ten thousand times.
//! A field's position is its name; `report.js` reads them by the same positions.

use serde::Serialize;

use super::{result_code, safe_href};
use crate::report::batch::{Batch, BatchAttempt, BatchItem, ItemResult, Link, Span};
use crate::vip::failure::{self, FailureClass};

/// The block's head: what the items' indexes and times refer to.
#[derive(Serialize)]
struct Head<'a> {
    /// Epoch ms of the batch's first event (the items' times count from it).
    origin: i64,
    /// Its length in ms (0 when nothing happened).
    span: i64,
    /// The poll interval, in ms.
    precision: u128,
    /// The variables' names (an item's values are in this order).
    vars: &'a [String],
    /// [`ItemResult::ALL`]: (code, words, bad).
    results: Vec<(&'static str, &'static str, bool)>,
    /// [`failure::ALL`]: (name, words, advice).
    classes: Vec<(&'static str, &'static str, &'static str)>,
}

/// key, variables, result, class, exit code, detail, stderr tail, logs, outputs, bytes up,
/// bytes down, upload, executions.
type ItemRow<'a> = (
    &'a str,
    &'a [String],
    usize,
    Option<usize>,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    Option<String>,
    Vec<Output>,
    u64,
    u64,
    Option<(i64, i64)>,
    Vec<AttemptRow<'a>>,
);

/// execution, status, class, exit code, ready, submitted, started, ended, download, jobs
/// (done, failed, total), bytes down.
type AttemptRow<'a> = (
    &'a str,
    &'a str,
    Option<usize>,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<(i64, i64)>,
    Option<(usize, usize, usize)>,
    u64,
);

/// An output link: its href alone when its label is the href's last segment (a file named
/// after itself, the usual case), else both.
#[derive(Serialize)]
#[serde(untagged)]
enum Output {
    Href(String),
    Labelled(String, String),
}

/// Writes the block, an item at a time.
pub(super) fn render(out: &mut String, batch: &Batch, extent: Option<Span>) {
    let origin = extent.map_or(0, |e| e.from);
    let head = Head {
        origin,
        span: extent.map_or(0, |e| e.to - e.from),
        precision: batch.precision.as_millis(),
        vars: &batch.variables,
        results: ItemResult::ALL
            .iter()
            .map(|r| (result_code(*r), r.words(), r.is_bad()))
            .collect(),
        classes: failure::ALL
            .iter()
            .map(|c| (c.name(), c.words(), c.advice()))
            .collect(),
    };
    out.push_str("<script type=\"application/json\" id=\"data\">");
    let head = json(&head);
    // The head's object, left open for the items.
    out.push_str(&head[..head.len() - 1]);
    out.push_str(",\"items\":[");
    for (i, item) in batch.items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json(&row(item, origin)));
    }
    out.push_str("]}</script>\n");
}

/// `value` as JSON that cannot end the script element: a `<` only occurs inside JSON strings,
/// where `\u003c` means the same to the parser, so no `</script>` or `<!--` survives.
fn json(value: &impl Serialize) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
    if text.contains('<') {
        text.replace('<', "\\u003c")
    } else {
        text
    }
}

fn row(item: &BatchItem, origin: i64) -> ItemRow<'_> {
    let rel = |t: i64| t - origin;
    (
        item.key.as_str(),
        item.variables.as_slice(),
        ItemResult::ALL
            .iter()
            .position(|r| *r == item.result)
            .unwrap_or(0),
        item.class.and_then(class_index),
        item.exit_code,
        item.detail.as_deref(),
        item.stderr_tail.as_deref(),
        item.logs.as_ref().map(|l| safe_href(&l.href)),
        item.outputs.iter().map(output).collect(),
        item.bytes_up,
        item.bytes_down,
        item.upload.map(|s| (rel(s.from), rel(s.to))),
        item.attempts.iter().map(|a| attempt(a, origin)).collect(),
    )
}

fn attempt(a: &BatchAttempt, origin: i64) -> AttemptRow<'_> {
    let rel = |t: i64| t - origin;
    (
        a.execution.as_str(),
        a.status.as_str(),
        a.class.and_then(class_index),
        a.exit_code,
        a.ready.map(rel),
        rel(a.submitted),
        a.started.map(rel),
        a.ended.map(rel),
        a.download.map(|s| (rel(s.from), rel(s.to))),
        a.jobs,
        a.bytes_down,
    )
}

fn class_index(class: FailureClass) -> Option<usize> {
    failure::ALL.iter().position(|c| *c == class)
}

fn output(link: &Link) -> Output {
    let href = safe_href(&link.href);
    if href.rsplit('/').next() == Some(link.label.as_str()) {
        Output::Href(href)
    } else {
        Output::Labelled(link.label.clone(), href)
    }
}
