//! The report's data block: every item as `report.js` reads it, in a
//! `<script type="application/json">` element. At 10,000 items the block is most of the page,
//! so what repeats is sent once: items and executions are arrays (a field's position is its
//! name, `report.js` reads the same positions) whose trailing absent fields are left out;
//! outcomes, classes and VIP's statuses are indexes into tables in the head; times count in
//! ms from the batch's first event; an item's output links share their folder.

use std::fmt::Write as _;

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
    /// VIP's statuses, as the executions name them.
    statuses: Vec<&'a str>,
}

/// Writes the block.
pub(super) fn render(out: &mut String, batch: &Batch, extent: Option<Span>) {
    let origin = extent.map_or(0, |e| e.from);
    let mut statuses: Vec<&str> = Vec::new();
    for a in batch.items.iter().flat_map(|i| &i.attempts) {
        if !statuses.contains(&a.status.as_str()) {
            statuses.push(&a.status);
        }
    }
    let head = json(&Head {
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
        statuses: statuses.clone(),
    });
    out.push_str("<script type=\"application/json\" id=\"data\">");
    // The head's object, left open for the items.
    out.push_str(&head[..head.len() - 1]);
    out.push_str(",\"items\":[");
    for (i, item) in batch.items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&row(item, origin, &statuses));
    }
    out.push_str("]}</script>\n");
}

/// key, variables, result, bytes up, bytes down, upload, executions, outputs; then, when
/// there is one, class, exit code, detail, stderr tail, logs.
fn row(item: &BatchItem, origin: i64, statuses: &[&str]) -> String {
    let rel = |t: i64| t - origin;
    let mut row = Array::default();
    row.field(&item.key);
    row.field(&item.variables);
    row.field(
        &ItemResult::ALL
            .iter()
            .position(|r| *r == item.result)
            .unwrap_or(0),
    );
    row.field(&item.bytes_up);
    row.field(&item.bytes_down);
    row.maybe(item.upload.map(|s| (rel(s.from), rel(s.to))));
    let mut attempts = Array::default();
    for a in &item.attempts {
        attempts.raw(&attempt(a, origin, statuses));
    }
    row.raw(&attempts.end());
    row.raw(&outputs(&item.outputs));
    row.maybe(item.class.and_then(class_index));
    row.maybe(item.exit_code);
    row.maybe(item.detail.as_deref());
    row.maybe(item.stderr_tail.as_deref());
    row.maybe(item.logs.as_ref().map(|l| safe_href(&l.href)));
    row.end()
}

/// execution, status, submitted, ready, started, ended, download, jobs (done, failed,
/// total), bytes down; then, when it failed, class and exit code.
fn attempt(a: &BatchAttempt, origin: i64, statuses: &[&str]) -> String {
    let rel = |t: i64| t - origin;
    let mut row = Array::default();
    row.field(&a.execution);
    row.field(&statuses.iter().position(|s| *s == a.status).unwrap_or(0));
    row.field(&rel(a.submitted));
    row.maybe(a.ready.map(rel));
    row.maybe(a.started.map(rel));
    row.maybe(a.ended.map(rel));
    row.maybe(a.download.map(|s| (rel(s.from), rel(s.to))));
    row.maybe(a.jobs);
    row.field(&a.bytes_down);
    row.maybe(a.class.and_then(class_index));
    row.maybe(a.exit_code);
    row.end()
}

/// `[base, link…]`: a link's href is `base` followed by the link's own part, and a link is
/// that part alone when its label is the href's last segment (a file named after itself),
/// else `[label, part]`. The base is the links' longest common folder; the item's download
/// folder, when linked, is the base itself (its href then ends in `/`, as a folder's may).
fn outputs(links: &[Link]) -> String {
    if links.is_empty() {
        return "[]".to_owned();
    }
    let hrefs: Vec<String> = links.iter().map(|l| safe_href(&l.href)).collect();
    // The common folder of the hrefs, each read as a folder (a trailing `/`), so that the
    // download folder's own link can be the base.
    let folders: Vec<String> = hrefs.iter().map(|h| format!("{h}/")).collect();
    let common = folders.iter().fold(folders[0].len(), |n, f| {
        folders[0]
            .bytes()
            .zip(f.bytes())
            .take(n)
            .take_while(|(a, b)| a == b)
            .count()
    });
    let mut base = &folders[0][..folders[0][..common].rfind('/').map_or(0, |i| i + 1)];
    // Unless the base is one link's whole href, holding the others, that link is a file (a
    // lone file, or one linked twice): the base is then its folder.
    let whole = folders.iter().filter(|f| f.as_str() == base).count();
    if whole > 1 || (whole == 1 && links.len() == 1) {
        let folder = base.trim_end_matches('/');
        base = &base[..folder.rfind('/').map_or(0, |i| i + 1)];
    }
    let mut array = Array::default();
    array.field(&base);
    for (link, href) in links.iter().zip(&hrefs) {
        let part = href.get(base.len()..).unwrap_or_default();
        if !part.is_empty() && part.rsplit('/').next() == Some(link.label.as_str()) {
            array.field(&part);
        } else {
            array.field(&(&link.label, part));
        }
    }
    array.end()
}

fn class_index(class: FailureClass) -> Option<usize> {
    failure::ALL.iter().position(|c| *c == class)
}

/// A JSON array written a field at a time, absent fields at its end left out (the script
/// reads a missing field as absent): most items did not fail, and five `null`s an item would
/// be a tenth of the block.
#[derive(Default)]
struct Array {
    text: String,
    /// Absent fields not written yet: written only if a present field follows.
    absent: usize,
}

impl Array {
    fn raw(&mut self, json: &str) {
        for _ in 0..std::mem::take(&mut self.absent) {
            self.separate();
            self.text.push_str("null");
        }
        self.separate();
        self.text.push_str(json);
    }

    fn field(&mut self, value: &impl Serialize) {
        self.raw(&json(value));
    }

    fn maybe(&mut self, value: Option<impl Serialize>) {
        match value {
            Some(v) => self.field(&v),
            None => self.absent += 1,
        }
    }

    fn separate(&mut self) {
        self.text.push(if self.text.is_empty() { '[' } else { ',' });
    }

    fn end(mut self) -> String {
        if self.text.is_empty() {
            self.text.push('[');
        }
        self.text.push(']');
        self.text
    }
}

/// `value` as JSON that cannot end the script element: a `<` only occurs inside JSON strings,
/// where `\u003c` means the same to the parser, so no `</script>` or `<!--` survives.
fn json(value: &impl Serialize) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
    if text.contains('<') {
        let mut escaped = String::with_capacity(text.len() + 16);
        for part in text.split_inclusive('<') {
            match part.strip_suffix('<') {
                Some(before) => {
                    let _ = write!(escaped, "{before}\\u003c");
                }
                None => escaped.push_str(part),
            }
        }
        escaped
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(label: &str, href: &str) -> Link {
        Link {
            label: label.into(),
            href: href.into(),
        }
    }

    #[test]
    fn output_links_share_their_folder() {
        let links = [
            link("folder", "../../results/a/sub-01"),
            link("out.nii.gz", "../../results/a/sub-01/out.nii.gz"),
            link("stats.csv", "../../results/a/sub-01/stats/stats.csv"),
            link("renamed", "../../results/a/sub-01/x.txt"),
        ];
        assert_eq!(
            outputs(&links),
            r#"["../../results/a/sub-01/",["folder",""],"out.nii.gz","stats/stats.csv",["renamed","x.txt"]]"#
        );
        assert_eq!(
            outputs(&[link("a.txt", "r/a.txt"), link("b.txt", "s/b.txt")]),
            r#"["","r/a.txt","s/b.txt"]"#
        );
        // A lone file, or one linked twice, is not a folder.
        assert_eq!(
            outputs(&[link("one.txt", "r/one.txt")]),
            r#"["r/","one.txt"]"#
        );
        assert_eq!(
            outputs(&[link("one.txt", "r/one.txt"), link("again", "r/one.txt")]),
            r#"["r/","one.txt",["again","one.txt"]]"#
        );
        assert_eq!(outputs(&[]), "[]");
    }

    #[test]
    fn trailing_absent_fields_are_left_out() {
        let mut a = Array::default();
        a.field(&1);
        a.maybe(None::<i64>);
        a.field(&2);
        a.maybe(None::<i64>);
        a.maybe(None::<&str>);
        assert_eq!(a.end(), "[1,null,2]");
        assert_eq!(Array::default().end(), "[]");
    }

    #[test]
    fn no_text_can_end_the_script_element() {
        assert_eq!(json(&"</script><!--"), r#""\u003c/script>\u003c!--""#);
        assert_eq!(json(&"a<b<"), r#""a\u003cb\u003c""#);
    }
}
