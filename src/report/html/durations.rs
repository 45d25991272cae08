//! The report's durations: how long executions waited on VIP against how long they ran, as a
//! chart of shared duration buckets (waits to the left, runs to the right, so the two
//! distributions read against each other), and the medians and tails behind it.

use std::fmt::Write as _;
use std::time::Duration;

use super::{float, group, human_duration};
use crate::report::batch::{Batch, BatchAttempt};

/// Bucket edges: about evenly spread on a log scale, round numbers a reader knows.
const EDGES_MS: [u64; 24] = [
    0,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    1_200_000,
    1_800_000,
    3_600_000,
    7_200_000,
    14_400_000,
    28_800_000,
    43_200_000,
    86_400_000,
    172_800_000,
    345_600_000,
    604_800_000,
    1_209_600_000,
    u64::MAX,
];

/// The geometry of the chart, in the SVG's units.
const WIDTH: f64 = 640.0;
const ROW: f64 = 22.0;
const HEAD: f64 = 26.0;
const MIDDLE: f64 = 320.0;
const LABEL: f64 = 120.0;
/// The longest bar: what is left of a half once the labels and the counts are placed.
const HALF: f64 = MIDDLE - LABEL / 2.0 - 34.0;

/// The section: the chart, and the table of medians, 90th percentiles and longest.
pub(super) fn render(out: &mut String, batch: &Batch) {
    let attempts: Vec<&BatchAttempt> = batch.items.iter().flat_map(|i| &i.attempts).collect();
    let slot: Vec<Duration> = attempts.iter().filter_map(|a| a.launch_wait()).collect();
    let queue: Vec<Duration> = attempts.iter().filter_map(|a| a.queue_wait()).collect();
    let run: Vec<Duration> = attempts.iter().filter_map(|a| a.run_time()).collect();
    out.push_str("<section id=\"durations\">\n<h2>Queue wait and run time</h2>\n");
    if queue.is_empty() && run.is_empty() {
        out.push_str(
            "<p class=\"muted\">No execution was seen running or ended yet.</p>\n</section>\n",
        );
        return;
    }
    out.push_str("<figure>\n");
    chart(out, &edges(batch.precision), &queue, &run);
    out.push_str(
        "<figcaption>\n<table class=\"stats\">\n<thead><tr><th scope=\"col\">executions</th>\
         <th scope=\"col\" class=\"num\">seen</th><th scope=\"col\" class=\"num\">median</th>\
         <th scope=\"col\" class=\"num\">90th percentile</th><th scope=\"col\" class=\"num\">longest</th></tr></thead>\n<tbody>\n",
    );
    for (label, hook, mut values) in [
        ("waiting to launch", "slot", slot),
        ("queued on VIP", "queue", queue),
        ("running", "run", run),
    ] {
        values.sort_unstable();
        let _ = write!(
            out,
            "<tr data-stat=\"{hook}\"><th scope=\"row\"><span class=\"swatch ph-{hook}\"></span>{label}</th>\
             <td class=\"num\">{}</td>",
            group(values.len())
        );
        for q in [0.5, 0.9, 1.0] {
            let _ = write!(
                out,
                "<td class=\"num\">{}</td>",
                quantile(&values, q).map_or_else(|| "–".to_owned(), human_duration)
            );
        }
        out.push_str("</tr>\n");
    }
    let _ = write!(
        out,
        "</tbody>\n</table>\n<p>Every execution counts, retries included: queued from its launch to when it \
         was first seen running (or ended), running from then to when it was first seen ended; each ± {}.</p>\n\
         </figcaption>\n</figure>\n</section>\n",
        human_duration(batch.precision)
    );
}

/// The buckets' edges: those finer than the precision are merged into the first bucket, which
/// would otherwise only show where the polls fell.
fn edges(precision: Duration) -> Vec<u64> {
    let floor = u64::try_from(precision.as_millis()).unwrap_or(u64::MAX);
    let first = EDGES_MS
        .iter()
        .position(|e| *e >= floor)
        .unwrap_or(0)
        .max(1);
    std::iter::once(0)
        .chain(EDGES_MS[first..].iter().copied())
        .collect()
}

/// One row per bucket from the shortest to the longest seen, two bars a row.
fn chart(out: &mut String, edges: &[u64], queue: &[Duration], run: &[Duration]) {
    let last = edges.len() - 2;
    let bucket = |d: &Duration| {
        let v = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        edges.iter().rposition(|e| *e <= v).unwrap_or(0).min(last)
    };
    let mut counts = vec![(0_usize, 0_usize); last + 1];
    for d in queue {
        counts[bucket(d)].0 += 1;
    }
    for d in run {
        counts[bucket(d)].1 += 1;
    }
    let seen = |c: &(usize, usize)| c.0 + c.1 > 0;
    let lo = counts.iter().position(seen).unwrap_or(0);
    let hi = counts.iter().rposition(seen).unwrap_or(0);
    let most = float(
        counts
            .iter()
            .map(|c| c.0.max(c.1))
            .max()
            .unwrap_or(1)
            .max(1),
    );
    let height = HEAD + ROW * float(hi - lo + 1) + 8.0;
    let _ = write!(
        out,
        "<svg class=\"chart waits\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-labelledby=\"waits-title\">\n\
         <title id=\"waits-title\">Executions by queue wait (left) and by run time (right)</title>\n\
         <g class=\"axis\"><text x=\"{}\" y=\"16\" text-anchor=\"end\">queued on VIP for …</text>\
         <text x=\"{MIDDLE}\" y=\"16\" text-anchor=\"middle\">duration</text>\
         <text x=\"{}\" y=\"16\">… ran for</text></g>\n",
        MIDDLE - LABEL / 2.0,
        MIDDLE + LABEL / 2.0
    );
    for (row, b) in (lo..=hi).enumerate() {
        let top = HEAD + ROW * float(row);
        let baseline = top + ROW * 0.68;
        let label = bucket_label(edges[b], edges[b + 1]);
        let (queued, ran) = counts[b];
        let _ = write!(
            out,
            "<g data-bucket=\"{b}\"><text class=\"label\" x=\"{MIDDLE}\" y=\"{baseline:.1}\" text-anchor=\"middle\">{label}</text>"
        );
        if queued > 0 {
            let length = HALF * float(queued) / most;
            let start = MIDDLE - LABEL / 2.0 - length;
            let _ = write!(
                out,
                "<rect class=\"ph-queue\" x=\"{start:.1}\" y=\"{:.1}\" width=\"{length:.1}\" height=\"{:.1}\">\
                 <title>{queued} queued {label}</title></rect>\
                 <text x=\"{:.1}\" y=\"{baseline:.1}\" text-anchor=\"end\">{queued}</text>",
                top + 3.0,
                ROW - 6.0,
                start - 4.0
            );
        }
        if ran > 0 {
            let length = HALF * float(ran) / most;
            let start = MIDDLE + LABEL / 2.0;
            let _ = write!(
                out,
                "<rect class=\"ph-run\" x=\"{start:.1}\" y=\"{:.1}\" width=\"{length:.1}\" height=\"{:.1}\">\
                 <title>{ran} ran {label}</title></rect>\
                 <text x=\"{:.1}\" y=\"{baseline:.1}\">{ran}</text>",
                top + 3.0,
                ROW - 6.0,
                start + length + 4.0
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
}

fn bucket_label(lo: u64, hi: u64) -> String {
    let human = |ms| human_duration(Duration::from_millis(ms));
    if hi == u64::MAX {
        format!("{} or more", human(lo))
    } else if lo == 0 {
        format!("under {}", human(hi))
    } else {
        format!("{} – {}", human(lo), human(hi))
    }
}

/// The nearest-rank quantile of sorted values.
fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let n = float(sorted.len());
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a rank within the slice
    let rank = ((q * n).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_finer_than_the_polls_are_merged() {
        let edges = edges(Duration::from_secs(30));
        assert_eq!(&edges[..3], [0, 30_000, 60_000]);
        assert_eq!(bucket_label(0, 30_000), "under 30 s");
        assert_eq!(bucket_label(60_000, 120_000), "1 min – 2 min");
        assert_eq!(bucket_label(1_209_600_000, u64::MAX), "14 d or more");
        let fine = super::edges(Duration::from_millis(500));
        assert_eq!(&fine[..3], [0, 1_000, 2_000]);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let values: Vec<Duration> = (1..=10).map(Duration::from_secs).collect();
        assert_eq!(quantile(&values, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(quantile(&values, 0.9), Some(Duration::from_secs(9)));
        assert_eq!(quantile(&values, 1.0), Some(Duration::from_secs(10)));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
