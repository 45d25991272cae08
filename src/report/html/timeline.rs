//! The report's timeline: the phases vip-run observed each item in (the rule that turns an
//! execution's observed times into spans, which `report.js` follows for the rows' bars), and
//! the chart of how many items were in each phase over the batch's time, with the peaks.

use std::fmt::Write as _;
use std::time::Duration;

use super::{float, group, human_duration, ms};
use crate::report::batch::{Batch, BatchItem, ItemResult, Span};
use crate::time::rfc3339;

/// Time buckets of the chart: fine enough to see a wave of launches, few enough that the
/// chart's size does not depend on the batch.
pub(super) const BUCKETS: usize = 200;

/// The phases vip-run observes an item in, in the order an item goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Upload,
    Slot,
    Queued,
    Running,
    Download,
}

impl Phase {
    pub(super) const ALL: [Self; 5] = [
        Self::Upload,
        Self::Slot,
        Self::Queued,
        Self::Running,
        Self::Download,
    ];

    /// Bottom to top in the chart: what the batch is for lies on the axis.
    const STACK: [Self; 5] = [
        Self::Running,
        Self::Queued,
        Self::Slot,
        Self::Download,
        Self::Upload,
    ];

    /// The CSS class's suffix and the script's name.
    pub(super) fn code(self) -> &'static str {
        match self {
            Self::Upload => "up",
            Self::Slot => "slot",
            Self::Queued => "queue",
            Self::Running => "run",
            Self::Download => "down",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Self::Upload => "uploading",
            Self::Slot => "waiting to launch",
            Self::Queued => "queued on VIP",
            Self::Running => "running",
            Self::Download => "downloading",
        }
    }

    fn why(self) -> &'static str {
        match self {
            Self::Upload => "its local inputs on their way to VIP",
            Self::Slot => "ready, waiting for a slot under max_parallel or VIP's quota",
            Self::Queued => "launched, not yet seen running",
            Self::Running => "seen running, not yet seen ended",
            Self::Download => "its outputs on their way home",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The phases of `item` as spans. An execution's open phase (queued or running, no end seen)
/// lasts until its next execution was made ready, or, for an item still in progress, until
/// `end` (the last thing observed); otherwise nobody knows how long it lasted, and it is left
/// out. Empty spans are left out too.
pub(super) fn phases(item: &BatchItem, end: i64) -> Vec<(Phase, Span)> {
    let mut spans = Vec::with_capacity(1 + item.attempts.len() * 4);
    let mut push = |phase, from: i64, to: Option<i64>| {
        if let Some(to) = to.filter(|to| *to > from) {
            spans.push((phase, Span { from, to }));
        }
    };
    if let Some(up) = item.upload {
        push(Phase::Upload, up.from, Some(up.to));
    }
    for (i, a) in item.attempts.iter().enumerate() {
        let open = match item.attempts.get(i + 1) {
            Some(next) => Some(next.ready.unwrap_or(next.submitted)),
            None => (item.result == ItemResult::InProgress).then_some(end),
        };
        if let Some(ready) = a.ready {
            push(Phase::Slot, ready, Some(a.submitted));
        }
        push(Phase::Queued, a.submitted, a.started.or(a.ended).or(open));
        if let Some(started) = a.started {
            push(Phase::Running, started, a.ended.or(open));
        }
        if let Some(d) = a.download {
            push(Phase::Download, d.from, Some(d.to));
        }
    }
    spans
}

/// The most items in each phase at one time, and when that was first reached.
pub(super) fn peaks(spans: &[(Phase, Span)]) -> [(usize, i64); 5] {
    let mut result = [(0, 0); 5];
    for phase in Phase::ALL {
        // Ends sort before starts at the same time: a hand-over is not an overlap.
        let mut events: Vec<(i64, i32)> = spans
            .iter()
            .filter(|(p, _)| *p == phase)
            .flat_map(|(_, s)| [(s.from, 1), (s.to, -1)])
            .collect();
        events.sort_unstable();
        let (mut now, mut best) = (0_i64, (0_usize, 0_i64));
        for (at, step) in events {
            now += i64::from(step);
            let count = usize::try_from(now).unwrap_or(0);
            if count > best.0 {
                best = (count, at);
            }
        }
        result[phase.index()] = best;
    }
    result
}

/// The mean number of items in each phase in each of [`BUCKETS`] equal steps of `extent` (a
/// mean, not a sample at the step's middle, so that a short upload still shows).
fn occupancy(spans: &[(Phase, Span)], extent: Span) -> Vec<[f64; 5]> {
    let step = float_ms(extent.length()) / float(BUCKETS);
    let mut mean = vec![[0.0_f64; 5]; BUCKETS];
    for (phase, s) in spans {
        let from = float_ms(ms(s.from - extent.from));
        let to = float_ms(ms(s.to - extent.from));
        let (first, last) = (bucket_of(from, step), bucket_of(to, step));
        for (b, bucket) in mean.iter_mut().enumerate().take(last + 1).skip(first) {
            let (lo, hi) = (float(b) * step, float(b + 1) * step);
            bucket[phase.index()] += (to.min(hi) - from.max(lo)).max(0.0) / step;
        }
    }
    mean
}

/// The plotting area of the chart, in the SVG's units.
struct Plot {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    /// The count at the top of the axis.
    most: f64,
}

impl Plot {
    /// The left edge of bucket `b` (or the right edge of the last, for `BUCKETS`).
    fn at_bucket(&self, b: usize) -> f64 {
        self.left + self.width * float(b) / float(BUCKETS)
    }

    fn at_count(&self, count: f64) -> f64 {
        self.top + self.height * (1.0 - count / self.most)
    }
}

/// The section: the chart, its legend with the peaks, and what its times mean.
pub(super) fn render(out: &mut String, batch: &Batch, extent: Option<Span>) {
    out.push_str("<section id=\"timeline\">\n<h2>Timeline</h2>\n");
    let Some(extent) = extent.filter(|e| e.to > e.from) else {
        out.push_str(
            "<p class=\"muted\">Nothing was observed over time: no upload, no launch.</p>\n</section>\n",
        );
        return;
    };
    let spans: Vec<(Phase, Span)> = batch
        .items
        .iter()
        .flat_map(|i| phases(i, extent.to))
        .collect();
    let mean = occupancy(&spans, extent);
    let tallest = mean
        .iter()
        .map(|b| b.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let (view_width, view_height) = (760.0, 250.0);
    let plot = Plot {
        left: 44.0,
        top: 10.0,
        width: view_width - 44.0 - 14.0,
        height: view_height - 10.0 - 30.0,
        most: nice_ceiling(tallest.max(1.0)),
    };
    let _ = writeln!(
        out,
        "<figure>\n<svg class=\"chart phases\" viewBox=\"0 0 {view_width} {view_height}\" role=\"img\" \
         aria-labelledby=\"phases-title\">\n<title id=\"phases-title\">Items in each phase over the batch's time</title>"
    );
    count_axis(out, &plot);
    // Each phase is the band between the counts of the phases below it and with it.
    let mut below = vec![0.0_f64; BUCKETS];
    for phase in Phase::STACK {
        let above: Vec<f64> = below
            .iter()
            .zip(&mean)
            .map(|(b, m)| b + m[phase.index()])
            .collect();
        if above.iter().zip(&below).any(|(a, b)| a - b > 1e-9) {
            let _ = writeln!(
                out,
                "<path class=\"ph-{}\" d=\"{}\"><title>{}</title></path>",
                phase.code(),
                band(&above, &below, &plot),
                phase.words()
            );
        }
        below = above;
    }
    time_axis(out, &plot, extent.to - extent.from);
    out.push_str("</svg>\n<figcaption>\n<ul class=\"legend\">\n");
    let peaks = peaks(&spans);
    for phase in Phase::ALL {
        let _ = write!(
            out,
            "<li title=\"{}\"><span class=\"swatch ph-{}\"></span>{}<br><span class=\"muted\">",
            phase.why(),
            phase.code(),
            phase.words()
        );
        match peaks[phase.index()] {
            (0, _) => out.push_str("none seen"),
            (n, at) => {
                let _ = write!(
                    out,
                    "at most <b data-peak=\"{}\">{}</b> at once, <time title=\"{}\">{}</time>",
                    phase.code(),
                    group(n),
                    rfc3339(at),
                    if at == extent.from {
                        "at the start".to_owned()
                    } else {
                        format!("at +{}", human_duration(ms(at - extent.from)))
                    }
                );
            }
        }
        out.push_str("</span></li>\n");
    }
    let _ = write!(
        out,
        "</ul>\n<p>The mean number of items in each phase, in {BUCKETS} steps of {} from <time>{}</time>. \
         Each change was seen at a poll, so a phase may have begun up to {} before the chart shows it.</p>\n\
         </figcaption>\n</figure>\n</section>\n",
        human_duration(extent.length() / u32::try_from(BUCKETS).unwrap_or(1)),
        rfc3339(extent.from),
        human_duration(batch.precision)
    );
}

/// The outline of a band of the step chart, from `below` up to `above` (a value a bucket):
/// along the top left to right and back along the bottom, with a point only where the value
/// changes, which keeps a flat stretch one command long.
fn band(above: &[f64], below: &[f64], plot: &Plot) -> String {
    let mut path = format!("M{:.1} {:.1}", plot.at_bucket(0), plot.at_count(above[0]));
    let steps = |path: &mut String, edges: &mut dyn Iterator<Item = (usize, f64)>| {
        let mut level: Option<String> = None;
        for (edge, count) in edges {
            let now = format!("{:.1}", plot.at_count(count));
            if level.as_ref().is_some_and(|l| *l != now) {
                let _ = write!(path, "V{now}");
            }
            let _ = write!(path, "H{:.1}", plot.at_bucket(edge));
            level = Some(now);
        }
    };
    steps(
        &mut path,
        &mut above.iter().enumerate().map(|(b, v)| (b + 1, *v)),
    );
    let _ = write!(path, "V{:.1}", plot.at_count(below[BUCKETS - 1]));
    steps(
        &mut path,
        &mut below.iter().enumerate().rev().map(|(b, v)| (b, *v)),
    );
    path.push('Z');
    path
}

/// Horizontal grid lines and their counts.
fn count_axis(out: &mut String, plot: &Plot) {
    out.push_str("<g class=\"axis\">\n");
    for quarter in 0..=4 {
        let count = plot.most * f64::from(quarter) / 4.0;
        let level = plot.at_count(count);
        let _ = writeln!(
            out,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{level:.1}\" y2=\"{level:.1}\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            plot.left,
            plot.left + plot.width,
            plot.left - 6.0,
            level + 4.0,
            trim_number(count)
        );
    }
    out.push_str("</g>\n");
}

/// Time marks along the bottom, as time since the batch began.
fn time_axis(out: &mut String, plot: &Plot, span: i64) {
    let step = nice_step(span, 8);
    let baseline = plot.top + plot.height;
    out.push_str("<g class=\"axis\">\n");
    let mut t = 0;
    while t <= span {
        let at = plot.left + plot.width * float_ms(ms(t)) / float_ms(ms(span));
        let _ = writeln!(
            out,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{baseline}\" y2=\"{}\"/>\
             <text x=\"{at:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            baseline + 4.0,
            baseline + 18.0,
            if t == 0 {
                "0".to_owned()
            } else {
                format!("+{}", human_duration(ms(t)))
            }
        );
        t += step;
    }
    out.push_str("</g>\n");
}

/// Milliseconds as a chart coordinate.
fn float_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The bucket `t` ms falls in, of `step` ms each (the last holds the end).
fn bucket_of(t: f64, step: f64) -> usize {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // floor of a small positive
    let b = (t / step).floor().max(0.0) as usize;
    b.min(BUCKETS - 1)
}

/// The smallest 1, 2, 4 or 5 × 10ⁿ at or above `v`: an axis' top, cut in quarters.
fn nice_ceiling(v: f64) -> f64 {
    let mut unit = 1.0;
    while unit * 10.0 < v {
        unit *= 10.0;
    }
    [1.0, 2.0, 4.0, 5.0, 10.0]
        .iter()
        .map(|m| m * unit)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * unit)
}

/// A round time step that cuts `span` ms into at most `most` parts.
fn nice_step(span: i64, most: i64) -> i64 {
    const STEPS: [i64; 19] = [
        1_000,
        2_000,
        5_000,
        10_000,
        15_000,
        30_000,
        60_000,
        120_000,
        300_000,
        600_000,
        900_000,
        1_800_000,
        3_600_000,
        7_200_000,
        10_800_000,
        21_600_000,
        43_200_000,
        86_400_000,
        604_800_000,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| span / s <= most)
        .unwrap_or_else(|| (span / most).max(1))
}

/// `2.5` as `2.5`, `3.0` as `3`.
fn trim_number(v: f64) -> String {
    let text = format!("{v:.1}");
    text.strip_suffix(".0")
        .map_or_else(|| text.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert!((nice_ceiling(3.2) - 4.0).abs() < f64::EPSILON);
        assert!((nice_ceiling(48.0) - 50.0).abs() < f64::EPSILON);
        assert!((nice_ceiling(1.0) - 1.0).abs() < f64::EPSILON);
        assert!((nice_ceiling(9_000.0) - 10_000.0).abs() < f64::EPSILON);
        assert_eq!(nice_step(17 * 60_000, 8), 120_000);
        assert_eq!(nice_step(5_000, 8), 1_000);
        assert_eq!(trim_number(2.5), "2.5");
        assert_eq!(trim_number(3.0), "3");
    }

    #[test]
    fn a_bucket_holds_the_mean_of_what_overlaps_it() {
        let extent = Span {
            from: 0,
            to: 200_000,
        };
        // One item running for one and a half buckets of 1 s from the start.
        let spans = [(Phase::Running, Span { from: 0, to: 1_500 })];
        let mean = occupancy(&spans, extent);
        assert!((mean[0][Phase::Running.index()] - 1.0).abs() < 1e-9);
        assert!((mean[1][Phase::Running.index()] - 0.5).abs() < 1e-9);
        assert!(mean[2][Phase::Running.index()].abs() < 1e-9);
    }
}
