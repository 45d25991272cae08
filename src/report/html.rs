//! `report.html`: one self-contained page of a batch (see `batch`), readable offline. This
//! module owns the page: the markup, the two charts (SVG drawn here, so they show without
//! script and in print), and the items' data block that the embedded script (`html/report.js`,
//! styled by `html/report.css`) turns into a paged, filtered, sortable table.
//!
//! The page fetches nothing: a Content-Security-Policy forbids every request, and the CSS,
//! the script and the charts are inline. Everything drawn on the server is sized by the
//! chart's resolution, not by the batch, so only the data block grows with the items; that is
//! why the table is drawn a page at a time by the script, from compact arrays.
//!
//! Every string from the batch is escaped: keys, variables, stderr and hrefs are the user's
//! (or VIP's) text, and a page that a key could script would be a page nobody can open safely.

mod data;
mod durations;
mod timeline;

use std::fmt::{self, Write as _};
use std::time::Duration;

use super::batch::{Batch, ItemResult, Span};
use super::text::human_bytes;
use crate::time::rfc3339;

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// What the policy allows: inline style and script, `data:` images (the empty favicon).
/// Nothing else, so the page can make no request however it is opened.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

/// The page for `batch`.
pub fn render(batch: &Batch) -> String {
    let extent = batch.extent();
    // The data block dominates: about 300 bytes an item.
    let mut out = String::with_capacity(24 * 1024 + batch.items.len() * 320);
    head(&mut out, batch);
    out.push_str("<body>\n<header>\n");
    facts(&mut out, batch, extent);
    out.push_str("</header>\n<main>\n");
    // Side by side where the screen is wide enough: both are short.
    out.push_str("<div class=\"pair\">\n");
    outcomes(&mut out, batch);
    classes(&mut out, batch);
    out.push_str("</div>\n");
    timeline::render(&mut out, batch, extent);
    durations::render(&mut out, batch);
    items(&mut out, batch);
    out.push_str("</main>\n");
    footer(&mut out, batch);
    data::render(&mut out, batch, extent);
    let _ = write!(out, "<script>\n{JS}</script>\n</body>\n</html>\n");
    out
}

fn head(out: &mut String, batch: &Batch) {
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\" class=\"no-js\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta name=\"generator\" content=\"vip-run {}\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <title>{}: vip-run report</title>\n<style>\n{CSS}</style>\n</head>\n",
        Esc(&batch.vip_run_version),
        Esc(&batch.name)
    );
}

/// What ran, where, when, and how it ended.
fn facts(out: &mut String, batch: &Batch, extent: Option<Span>) {
    let _ = write!(
        out,
        "<h1><span class=\"muted\">vip-run report</span> {}</h1>\n<dl class=\"facts\">\n",
        Esc(&batch.name)
    );
    let _ = write!(
        out,
        "<div><dt>manifest</dt><dd><code>{}</code></dd></div>\n\
         <div><dt>pipeline</dt><dd><code>{}</code></dd></div>\n\
         <div><dt>server</dt><dd><code>{}</code>{}</dd></div>\n",
        Esc(&batch.manifest),
        Esc(&batch.pipeline),
        Esc(&batch.server),
        if batch.sandbox {
            " <span class=\"badge\">sandbox: simulated executions</span>"
        } else {
            ""
        }
    );
    match extent {
        Some(e) => {
            let _ = writeln!(
                out,
                "<div><dt>when</dt><dd><time>{}</time> to <time>{}</time> ({})</dd></div>",
                rfc3339(e.from),
                rfc3339(e.to),
                human_duration(e.length())
            );
        }
        None => out.push_str("<div><dt>when</dt><dd>nothing observed yet</dd></div>\n"),
    }
    let ended = match batch.exit_code {
        Some(code) => format!(
            "<code>vip-run {}</code> ended with exit code <b id=\"exit-code\">{code}</b>{}",
            Esc(&batch.command),
            exit_meaning(code).map_or_else(String::new, |m| format!(": {}", Esc(m)))
        ),
        None => format!(
            "rebuilt from the state by <code>vip-run {}</code> (the run's exit code is not recorded there)",
            Esc(&batch.command)
        ),
    };
    let _ = write!(
        out,
        "<div><dt>written</dt><dd><time>{}</time> by vip-run {}; {ended}</dd></div>\n\
         <div><dt>precision</dt><dd>{}</dd></div>\n</dl>\n",
        rfc3339(batch.written_at),
        Esc(&batch.vip_run_version),
        precision_note(batch.precision)
    );
    glance(out, batch, extent);
    if !batch.links.is_empty() {
        out.push_str("<nav class=\"links\" aria-label=\"files of the run\"><ul>\n");
        for link in &batch.links {
            let _ = writeln!(
                out,
                "<li><a href=\"{}\">{}</a></li>",
                Href(&link.href),
                Esc(&link.label)
            );
        }
        out.push_str("</ul></nav>\n");
    }
}

/// The few numbers a reader looks for first, data moved included.
fn glance(out: &mut String, batch: &Batch, extent: Option<Span>) {
    let bad = batch.items.iter().filter(|i| i.result.is_bad()).count();
    let executions: usize = batch.items.iter().map(|i| i.attempts.len()).sum();
    out.push_str("<ul class=\"glance\" id=\"glance\">\n");
    let mut card = |label: &str, value: &str, hook: &str| {
        let _ = writeln!(
            out,
            "<li data-glance=\"{hook}\"><b>{value}</b><span>{label}</span></li>"
        );
    };
    card("items", &group(batch.items.len()), "items");
    card("executions", &group(executions), "executions");
    card("did not finish well", &group(bad), "bad");
    card(
        "from first to last event",
        &extent.map_or_else(|| "–".to_owned(), |e| human_duration(e.length())),
        "span",
    );
    card("sent to VIP", &human_bytes(batch.bytes_up), "up");
    card("brought home", &human_bytes(batch.bytes_down()), "down");
    out.push_str("</ul>\n");
}

fn precision_note(precision: Duration) -> String {
    format!(
        "Times are when vip-run <em>saw</em> each change (VIP records none): precise to the poll \
         interval, <b id=\"precision\">{}</b> (<code>poll_interval: {}</code>).",
        human_duration(precision),
        crate::duration::format(precision)
    )
}

/// What an exit code means, from the table `--help` prints.
fn exit_meaning(code: i32) -> Option<&'static str> {
    crate::exit_code::TABLE.lines().skip(1).find_map(|line| {
        let (number, meaning) = line.trim().split_once(' ')?;
        (number.parse() == Ok(code)).then(|| meaning.trim())
    })
}

/// Counts by outcome, every outcome listed (a zero is an answer too).
fn outcomes(out: &mut String, batch: &Batch) {
    let total = batch.items.len();
    out.push_str(
        "<section id=\"outcomes\">\n<h2>Outcomes</h2>\n<table class=\"counts\">\n\
         <thead><tr><th scope=\"col\">result</th><th scope=\"col\" class=\"num\">items</th>\
         <th scope=\"col\" class=\"num\">share</th><th scope=\"col\" class=\"barcol\"><span class=\"sr\">bar</span></th></tr></thead>\n<tbody>\n",
    );
    for (result, n) in batch.counts() {
        let share = percent(n, total);
        let _ = writeln!(
            out,
            "<tr class=\"r-{code}{zero}\"><th scope=\"row\"><span class=\"dot\"></span>{words}</th>\
             <td class=\"num\" data-result=\"{code}\">{count}</td><td class=\"num\">{share:.0} %</td>\
             <td class=\"barcol\"><span class=\"bar\" style=\"width:{share:.1}%\"></span></td></tr>",
            code = result_code(result),
            zero = if n == 0 { " zero" } else { "" },
            words = result.words(),
            count = group(n),
        );
    }
    let _ = write!(
        out,
        "</tbody>\n<tfoot><tr><th scope=\"row\">all</th><td class=\"num\" data-result=\"all\">{}</td><td></td><td></td></tr></tfoot>\n</table>\n",
        group(total)
    );
    let bad = batch.items.iter().filter(|i| i.result.is_bad()).count();
    if bad > 0 {
        let _ = writeln!(
            out,
            "<p class=\"noprint\"><a href=\"#failed\" class=\"show-failed\">Show the {} that did not finish well</a></p>",
            plural(bad, "item", "items")
        );
    }
    out.push_str("</section>\n");
}

/// Counts by failure class, with what to do about each.
fn classes(out: &mut String, batch: &Batch) {
    let classes = batch.classes();
    out.push_str("<section id=\"classes\">\n<h2>Failure classes</h2>\n");
    if classes.is_empty() {
        out.push_str("<p class=\"muted\">No item failed.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table class=\"classes\">\n<thead><tr><th scope=\"col\">class</th><th scope=\"col\" class=\"num\">items</th>\
         <th scope=\"col\">what to do</th></tr></thead>\n<tbody>\n",
    );
    for (class, n) in classes {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}{}</th><td class=\"num\" data-class=\"{}\">{}</td><td>{}</td></tr>",
            class.words(),
            if class.is_infrastructure() {
                " <span class=\"badge\">the grid</span>"
            } else {
                ""
            },
            class.name(),
            group(n),
            Esc(class.advice())
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// The table's frame: its controls, head and empty body; `report.js` fills the body a page
/// at a time from the data block.
fn items(out: &mut String, batch: &Batch) {
    let _ = write!(
        out,
        "<section id=\"items-section\">\n<h2>Items</h2>\n\
         <div class=\"controls\" role=\"search\">\n\
         <label><input type=\"checkbox\" id=\"failed-only\"> failed only <span class=\"muted\">(did not finish well)</span></label>\n\
         <label>search <input type=\"search\" id=\"search\" placeholder=\"key, value, class, execution…\" autocomplete=\"off\"></label>\n\
         <label>rows <select id=\"page-size\"><option>50</option><option selected>100</option><option>500</option><option value=\"all\">all</option></select></label>\n\
         </div>\n\
         <p id=\"shown\" aria-live=\"polite\">{n} of {n} items</p>\n\
         <div class=\"table-wrap\">\n<table class=\"items\">\n<thead><tr>\n",
        n = group(batch.items.len())
    );
    let mut column = |sort: &str, label: &str, title: &str| {
        let _ = writeln!(
            out,
            "<th scope=\"col\" data-sort=\"{sort}\"{}><button type=\"button\">{}</button></th>",
            if title.is_empty() {
                String::new()
            } else {
                format!(" title=\"{}\"", Esc(title))
            },
            Esc(label)
        );
    };
    column("key", "key", "");
    for (i, name) in batch.variables.iter().enumerate() {
        column(&format!("v{i}"), name, "");
    }
    column("result", "result", "");
    column(
        "class",
        "class",
        "the failure class of the current execution",
    );
    column(
        "attempts",
        "runs",
        "executions of the item, retries included",
    );
    column(
        "execution",
        "execution",
        "the current execution on VIP, and its last status",
    );
    column(
        "queue",
        "queue wait",
        "the current execution: from its launch to when it was first seen running",
    );
    column(
        "run",
        "run time",
        "the current execution: from first seen running to first seen ended",
    );
    column("bytes", "data", "inputs sent ↑, outputs brought home ↓");
    column(
        "start",
        "timeline",
        "the item's phases over the batch's time",
    );
    out.push_str(
        "<th scope=\"col\">files</th>\n</tr></thead>\n<tbody id=\"items\"></tbody>\n</table>\n</div>\n\
         <nav class=\"pager\" id=\"pager\" aria-label=\"pages of items\"></nav>\n\
         <noscript><p class=\"note\">The table of items is drawn by the page's script, which is off: \
         the counts, the charts and the links above are complete without it, and every item is in \
         the page's data block (<code>script#data</code>, JSON) and in <code>run.json</code>.</p></noscript>\n\
         </section>\n",
    );
}

fn footer(out: &mut String, batch: &Batch) {
    let _ = writeln!(
        out,
        "<footer><p>Written by vip-run {} (<code>vip-run {}</code>) at <time>{}</time>. \
         This page is one file: it loads nothing and sends nothing. \
         <code>vip-run report {}</code> writes it again from the state.</p></footer>",
        Esc(&batch.vip_run_version),
        Esc(&batch.command),
        rfc3339(batch.written_at),
        Esc(&batch.manifest)
    );
}

/// `href` as it can be put in a page: a relative path whose first segment holds a `:`
/// (`sub:01/out.txt`) would read as a URL scheme, so it gets a `./`; and no scheme but the
/// file's and the web's is linked at all (a `javascript:` URL would run in the page).
fn safe_href(href: &str) -> String {
    let first = href.split('/').next().unwrap_or_default();
    if !first.contains(':') {
        return href.to_owned();
    }
    let lower = href.to_ascii_lowercase();
    if ["file:", "http:", "https:"]
        .iter()
        .any(|s| lower.starts_with(s))
    {
        href.to_owned()
    } else {
        format!("./{href}")
    }
}

/// The outcome's name in `run.json` and CSS (`outputs_missing`).
fn result_code(result: ItemResult) -> &'static str {
    match result {
        ItemResult::Finished => "finished",
        ItemResult::OutputsMissing => "outputs_missing",
        ItemResult::NotDownloaded => "not_downloaded",
        ItemResult::Failed => "failed",
        ItemResult::TimedOut => "timed_out",
        ItemResult::InProgress => "in_progress",
        ItemResult::NotLaunched => "not_launched",
        ItemResult::Blocked => "blocked",
    }
}

/// A duration for people, to the unit that matters: `250 ms`, `45 s`, `3 min 20 s`,
/// `2 h 5 min`, `3 d 4 h` (`report.js` has the same).
fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        return format!("{ms} ms");
    }
    let s = (ms + 500) / 1_000;
    let two = |big: u128, big_unit: &str, small: u128, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => two(s / 60, "min", s % 60, "s"),
        3_600..86_400 => two(s / 3_600, "h", s % 3_600 / 60, "min"),
        _ => two(s / 86_400, "d", s % 86_400 / 3_600, "h"),
    }
}

/// A count as a chart coordinate (charts are drawn to a tenth of a unit: no count comes near
/// losing that).
#[allow(clippy::cast_precision_loss)]
fn float(n: usize) -> f64 {
    n as f64
}

fn ms(n: i64) -> Duration {
    Duration::from_millis(u64::try_from(n).unwrap_or(0))
}

/// `12,345`.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", group(n), if n == 1 { one } else { many })
}

fn percent(n: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        float(n) * 100.0 / float(total)
    }
}

/// Text escaped for HTML content and quoted attributes.
struct Esc<'a>(&'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// An href, made safe (see [`safe_href`]) and escaped for a quoted attribute.
struct Href<'a>(&'a str);

impl fmt::Display for Href<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Esc(&safe_href(self.0)).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::timeline::{Phase, peaks, phases};
    use super::*;
    use crate::report::batch::{BatchAttempt, BatchItem, Link};
    use crate::vip::failure::FailureClass;

    /// 2026-12-06T09:00:00Z.
    const T0: i64 = 1_796_547_600_000;
    const MIN: i64 = 60_000;

    fn attempt(execution: &str, status: &str, times: [Option<i64>; 4]) -> BatchAttempt {
        let [ready, submitted, started, ended] = times.map(|t| t.map(|m| T0 + m * MIN));
        BatchAttempt {
            execution: execution.into(),
            name: format!("study-{execution}"),
            status: status.into(),
            class: None,
            exit_code: None,
            ready,
            submitted: submitted.expect("a launch time"),
            started,
            ended,
            download: None,
            jobs: Some((1, 0, 1)),
            bytes_down: 0,
        }
    }

    fn item(
        key: &str,
        subject: &str,
        result: ItemResult,
        attempts: Vec<BatchAttempt>,
    ) -> BatchItem {
        BatchItem {
            key: key.into(),
            variables: vec![subject.into(), "20".into()],
            result,
            detail: None,
            class: None,
            exit_code: None,
            upload: Some(Span {
                from: T0,
                to: T0 + MIN,
            }),
            bytes_up: 2_000_000,
            bytes_down: 0,
            attempts,
            outputs: Vec::new(),
            stderr_tail: None,
            logs: None,
        }
    }

    fn finished(key: &str, subject: &str, offset: i64) -> BatchItem {
        let mut a = attempt(
            &format!("workflow-{subject}"),
            "Finished",
            [
                Some(1),
                Some(1 + offset),
                Some(3 + offset),
                Some(10 + offset),
            ],
        );
        a.download = Some(Span {
            from: T0 + (10 + offset) * MIN,
            to: T0 + (11 + offset) * MIN,
        });
        a.bytes_down = 5_400_000;
        let mut i = item(key, subject, ItemResult::Finished, vec![a]);
        i.bytes_down = 5_400_000;
        i.outputs = vec![
            Link {
                label: "folder".into(),
                href: format!("../../results/study/{key}"),
            },
            Link {
                label: "out.nii.gz".into(),
                href: format!("../../results/study/{key}/out.nii.gz"),
            },
        ];
        i
    }

    /// A small batch with every kind of row: finished, retried, failed (with a key and a
    /// stderr tail that try to end the script element), in progress, never launched.
    fn fixture() -> Batch {
        let mut retried = finished("sub-02_te20", "sub-02", 6);
        let mut first = attempt(
            "workflow-first",
            "ExecutionFailed",
            [Some(1), Some(1), Some(2), Some(5)],
        );
        first.class = Some(FailureClass::InputDownload);
        first.exit_code = Some(1);
        retried.attempts.insert(0, first);
        retried.attempts[1].ready = Some(T0 + 5 * MIN);
        let mut failed = item(
            "<script>alert(1)</script>",
            "sub-03",
            ItemResult::Failed,
            vec![attempt(
                "workflow-bad",
                "ExecutionFailed",
                [Some(1), Some(2), Some(4), Some(9)],
            )],
        );
        failed.class = Some(FailureClass::Application);
        failed.exit_code = Some(50);
        failed.attempts[0].class = Some(FailureClass::Application);
        failed.attempts[0].exit_code = Some(50);
        failed.detail = Some("application (exit 50), not retried".into());
        failed.stderr_tail = Some("Traceback:\n</script><b>bold</b> & <!-- more".into());
        failed.logs = Some(Link {
            label: "logs".into(),
            href: "logs/sub-03/workflow-bad".into(),
        });
        let running = item(
            "sub-04_te20",
            "sub-04",
            ItemResult::InProgress,
            vec![attempt(
                "workflow-run",
                "Running",
                [Some(1), Some(3), Some(12), None],
            )],
        );
        let mut never = item("sub-05_te20", "sub-05", ItemResult::NotLaunched, Vec::new());
        never.upload = None;
        Batch {
            name: "study".into(),
            manifest: "study.yaml".into(),
            pipeline: "Hello/1.0".into(),
            server: "http://127.0.0.1:8080/rest".into(),
            sandbox: true,
            vip_run_version: "0.1.0".into(),
            written_at: T0 + 20 * MIN,
            command: "run".into(),
            exit_code: Some(1),
            precision: Duration::from_secs(30),
            variables: vec!["subject".into(), "echo_time".into()],
            items: vec![
                finished("sub-01_te20", "sub-01", 0),
                retried,
                failed,
                running,
                never,
            ],
            bytes_up: 8_000_000,
            links: vec![
                Link {
                    label: "run record (run.json)".into(),
                    href: "run.json".into(),
                },
                Link {
                    label: "trace (trace.tsv)".into(),
                    href: "trace.tsv".into(),
                },
            ],
        }
    }

    fn empty() -> Batch {
        Batch {
            items: Vec::new(),
            bytes_up: 0,
            exit_code: None,
            command: "report".into(),
            links: Vec::new(),
            variables: Vec::new(),
            ..fixture()
        }
    }

    fn index(v: &serde_json::Value) -> usize {
        usize::try_from(v.as_u64().expect("an index")).expect("small")
    }

    /// The data block, parsed.
    fn data(page: &str) -> serde_json::Value {
        let open = "<script type=\"application/json\" id=\"data\">";
        let start = page.find(open).expect("a data block") + open.len();
        let end = start + page[start..].find("</script>").expect("its end");
        serde_json::from_str(&page[start..end]).expect("the data block is JSON")
    }

    #[test]
    fn text_from_the_batch_cannot_inject_markup() {
        let page = render(&fixture());
        // The page's own two scripts, and no third.
        assert_eq!(page.matches("<script").count(), 2, "{page}");
        assert_eq!(page.matches("</script>").count(), 2);
        assert!(!page.contains("<b>bold"));
        assert!(!page.contains("<!-- more"));
        let data = data(&page);
        let failed = &data["items"][2];
        assert_eq!(failed[0], "<script>alert(1)</script>");
        assert_eq!(failed[11], "Traceback:\n</script><b>bold</b> & <!-- more");
    }

    #[test]
    fn the_data_block_holds_every_item_by_position() {
        let batch = fixture();
        let data = data(&render(&batch));
        assert_eq!(data["origin"], T0);
        assert_eq!(data["span"], 17 * MIN);
        assert_eq!(data["vars"], serde_json::json!(["subject", "echo_time"]));
        let items = data["items"].as_array().unwrap();
        assert_eq!(items.len(), batch.items.len());
        let retried = &items[1];
        assert_eq!(retried[0], "sub-02_te20");
        assert_eq!(retried[1], serde_json::json!(["sub-02", "20"]));
        assert_eq!(retried[2], 0, "finished is ItemResult::ALL[0]");
        // Outputs: the folder is their base; its label differs from its last segment, the
        // file's does not.
        assert_eq!(
            retried[7],
            serde_json::json!([
                "../../results/study/sub-02_te20/",
                ["folder", ""],
                "out.nii.gz"
            ])
        );
        // A finished item's row ends there: no class, no detail, no stderr.
        assert_eq!(retried.as_array().unwrap().len(), 8);
        let first = &retried[6][0];
        assert_eq!(first[0], "workflow-first");
        assert_eq!(data["statuses"][index(&first[1])], "ExecutionFailed");
        assert_eq!(first[2], MIN, "times count from the first event");
        assert_eq!(data["classes"][index(&first[9])][0], "input_download");
        assert_eq!(first[10], 1);
        let again = &retried[6][1];
        assert_eq!(data["statuses"][index(&again[1])], "Finished");
        assert_eq!(again.as_array().unwrap().len(), 9, "no class, no exit code");
        let failed = &items[2];
        assert_eq!(
            data["results"][index(&failed[2])],
            serde_json::json!(["failed", "failed", true])
        );
        assert_eq!(data["classes"][index(&failed[8])][0], "application");
        assert_eq!(failed[9], 50);
        assert_eq!(failed[10], "application (exit 50), not retried");
        assert_eq!(failed[12], "logs/sub-03/workflow-bad");
        let never = &items[4];
        assert_eq!(never[5], serde_json::Value::Null, "no upload");
        assert_eq!(never[6], serde_json::json!([]));
        assert_eq!(never[7], serde_json::json!([]));
    }

    #[test]
    fn counts_and_classes_are_on_the_page() {
        let page = render(&fixture());
        for (result, n) in [
            ("finished", 2),
            ("failed", 1),
            ("in_progress", 1),
            ("not_launched", 1),
            ("blocked", 0),
            ("all", 5),
        ] {
            assert!(
                page.contains(&format!("data-result=\"{result}\">{n}<")),
                "{result}: {n}"
            );
        }
        assert!(page.contains("data-class=\"application\">1<"));
        assert!(page.contains(FailureClass::Application.advice()));
        assert!(page.contains("ended with exit code <b id=\"exit-code\">1</b>: some item failed"));
        assert!(page.contains("href=\"#failed\""));
        assert!(page.contains("Show the 2 items that did not finish well"));
    }

    #[test]
    fn a_report_rebuilt_from_the_state_says_so() {
        let page = render(&Batch {
            exit_code: None,
            command: "report".into(),
            ..fixture()
        });
        assert!(page.contains("rebuilt from the state"));
        assert!(!page.contains("exit-code"));
    }

    #[test]
    fn an_empty_batch_renders() {
        let page = render(&empty());
        assert!(page.contains("Nothing was observed"));
        assert!(page.contains("No execution was seen running or ended yet."));
        assert!(page.contains("No item failed."));
        assert!(page.contains("0 of 0 items"));
        assert!(page.contains("data-result=\"all\">0<"));
        let data = data(&page);
        assert_eq!(data["items"], serde_json::json!([]));
        assert_eq!(data["span"], 0);
    }

    #[test]
    fn the_page_asks_for_nothing() {
        let page = render(&fixture());
        assert!(page.contains(&format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        )));
        // Nothing that loads: no `src`, no stylesheet, no import, no remote link.
        for loads in [
            " src=",
            "rel=\"stylesheet\"",
            "@import",
            "url(",
            "href=\"http",
            "href=\"//",
        ] {
            assert!(!page.contains(loads), "{loads}");
        }
        // The only `http://` is the server's name, shown as text.
        assert_eq!(page.matches("http://").count(), 1);
    }

    #[test]
    fn phases_follow_the_observed_times() {
        let batch = fixture();
        let end = batch.extent().unwrap().to;
        let codes = |i: usize| -> Vec<(&str, i64, i64)> {
            phases(&batch.items[i], end)
                .into_iter()
                .map(|(p, s)| (p.code(), (s.from - T0) / MIN, (s.to - T0) / MIN))
                .collect()
        };
        assert_eq!(
            codes(1),
            [
                ("up", 0, 1),
                ("queue", 1, 2),
                ("run", 2, 5),
                ("slot", 5, 7),
                ("queue", 7, 9),
                ("run", 9, 16),
                ("down", 16, 17),
            ]
        );
        // Still running: its open phase lasts to the last thing seen.
        assert_eq!(
            codes(3),
            [
                ("up", 0, 1),
                ("slot", 1, 3),
                ("queue", 3, 12),
                ("run", 12, 17)
            ]
        );
        assert_eq!(codes(4), []);
        let all: Vec<_> = batch.items.iter().flat_map(|i| phases(i, end)).collect();
        let peaks = peaks(&all);
        assert_eq!(
            peaks[Phase::Upload.index()],
            (4, T0),
            "four uploads at once"
        );
        assert_eq!(peaks[Phase::Running.index()].0, 3);
    }

    #[test]
    fn durations_and_numbers_read_as_people_write_them() {
        let d = |s: u64| human_duration(Duration::from_secs(s));
        assert_eq!(human_duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(d(45), "45 s");
        assert_eq!(d(200), "3 min 20 s");
        assert_eq!(d(180), "3 min");
        assert_eq!(d(7_500), "2 h 5 min");
        assert_eq!(d(3 * 86_400 + 4 * 3_600), "3 d 4 h");
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(10_000), "10,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(
            exit_meaning(0),
            Some("success: every item finished (and was downloaded)")
        );
        assert_eq!(exit_meaning(42), None);
    }

    #[test]
    fn hrefs_cannot_become_scripts() {
        assert_eq!(
            safe_href("../../results/a/out.txt"),
            "../../results/a/out.txt"
        );
        assert_eq!(safe_href("sub:01/out.txt"), "./sub:01/out.txt");
        assert_eq!(safe_href("javascript:alert(1)"), "./javascript:alert(1)");
        assert_eq!(safe_href("file:///w/out.txt"), "file:///w/out.txt");
        assert_eq!(Esc("a\"b<c>&'").to_string(), "a&quot;b&lt;c&gt;&amp;&#39;");
    }

    #[test]
    fn the_page_of_a_small_batch() {
        // The embedded CSS and script are pinned by their own files; the markup is pinned here.
        let page = render(&fixture())
            .replace(CSS, "/* report.css */\n")
            .replace(JS, "/* report.js */\n");
        insta::assert_snapshot!("report_html", page);
    }
}
