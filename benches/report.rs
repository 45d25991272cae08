//! Figures for the README: `report.html` at 1,000 and 10,000 items (targets at 10,000: a file
//! under 5 MB, loaded by Chromium in under 2 s). The batches are synthetic but shaped like a
//! real one: a subjects × echo times matrix polled every 30 s, 200 executions at once behind
//! the quota, queue waits of minutes with a tail of hours, grid failures relaunched, tool
//! failures with their stderr, timeouts, items still running or never launched, outputs
//! linked. Each page is timed as Rust renders it, then as headless Chromium loads it from
//! `file://`: the wall time of `--dump-dom` (start-up, parse, script, the first page of rows,
//! exit) and the page's own `data-rendered` (ms from navigation to the table drawn), beside
//! an empty page's wall time, which is the browser's start-up alone. A benchmark that prints
//! figures, not a test: run it with `cargo bench --bench report`.
//!
//! Chromium is `VIP_RUN_CHROMIUM`, else `/usr/bin/chromium-headless-shell`, else
//! `/usr/bin/chromium`; without one only the sizes and render times are printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vip_run::report::batch::{Batch, BatchAttempt, BatchItem, ItemResult, Link, Span};
use vip_run::vip::failure::FailureClass;

/// Loads timed per page (the median is printed).
const LOADS: usize = 5;
const TARGET_BYTES: usize = 5_000_000;
const TARGET_LOAD: Duration = Duration::from_secs(2);

/// 2026-12-01T08:00:00Z.
const START: i64 = 1_796_112_000_000;
const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const POLL: i64 = 30 * SECOND;
/// Executions at once (the user's quota).
const SLOTS: usize = 200;

/// A small, fixed random stream (xorshift64*): the same batch every run, without a dependency.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    #[allow(clippy::cast_precision_loss)] // 53 bits are plenty
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// A duration in ms, log-uniform between `lo` and `hi` ms: waits and runs spread over
    /// orders of magnitude.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    fn spread(&mut self, lo: i64, hi: i64) -> i64 {
        let (lo, hi) = ((lo as f64).ln(), (hi as f64).ln());
        (lo + (hi - lo) * self.unit()).exp() as i64
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        #[allow(clippy::cast_possible_truncation)] // an index into a short slice
        let i = (self.next() % from.len() as u64) as usize;
        &from[i]
    }
}

/// When vip-run, polling every [`POLL`], first saw something that happened at `t`.
fn seen(t: i64) -> i64 {
    START + (t - START).div_euclid(POLL) * POLL + POLL
}

/// How an item ends, drawn by share.
#[derive(Clone, Copy)]
enum Fate {
    Finished { retried: bool },
    Failed(FailureClass),
    TimedOut,
    OutputsMissing,
    NotDownloaded,
    InProgress,
    NotLaunched,
    Blocked,
}

fn fate(s: &mut Stream) -> Fate {
    let roll = s.unit();
    let grid = [
        FailureClass::InputDownload,
        FailureClass::Stalled,
        FailureClass::ResultUpload,
        FailureClass::Setup,
    ];
    match roll {
        r if r < 0.80 => Fate::Finished { retried: false },
        r if r < 0.88 => Fate::Finished { retried: true },
        r if r < 0.92 => Fate::Failed(FailureClass::Application),
        r if r < 0.935 => Fate::Failed(*s.pick(&grid)),
        r if r < 0.94 => Fate::Failed(FailureClass::Platform),
        r if r < 0.95 => Fate::TimedOut,
        r if r < 0.96 => Fate::OutputsMissing,
        r if r < 0.965 => Fate::NotDownloaded,
        r if r < 0.97 => Fate::InProgress,
        r if r < 0.99 => Fate::NotLaunched,
        _ => Fate::Blocked,
    }
}

/// The last lines of a failing tool's stderr, as VIP returns them.
fn stderr_tail(s: &mut Stream, key: &str) -> String {
    let lines = [
        "Traceback (most recent call last):",
        "  File \"/opt/cquest/bin/quest.py\", line 412, in <module>",
        "    main(sys.argv[1:])",
        "  File \"/opt/cquest/bin/quest.py\", line 388, in main",
        "    fit = model.fit(signal, basis, maxiter=args.iterations)",
        "  File \"/opt/cquest/lib/model.py\", line 97, in fit",
        "    raise ConvergenceError(f\"no convergence after {maxiter} iterations\")",
    ];
    let mut text: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    text.push(format!(
        "model.ConvergenceError: no convergence after {} iterations on {key}/signal.mrui",
        100 + s.next() % 400
    ));
    text.push("Exiting with return value 50".into());
    text.join("\n")
}

/// A synthetic batch of `n` items (a multiple of 10: subjects × 10 echo times).
#[allow(clippy::too_many_lines)]
fn batch(n: usize) -> Batch {
    let mut s = Stream(0x9E37_79B9_7F4A_7C15 ^ n as u64);
    // The slots: when each of the quota's executions frees up.
    let mut free: std::collections::BinaryHeap<std::cmp::Reverse<i64>> =
        (0..SLOTS).map(|_| std::cmp::Reverse(START)).collect();
    let mut items = Vec::with_capacity(n);
    let mut uploaded = START;
    for i in 0..n {
        let (subject, echo) = (
            format!("sub-{:04}", i / 10 + 1),
            (20 + 5 * (i % 10)).to_string(),
        );
        let key = format!("{subject}-{echo}");
        let folder = format!("../../results/bench/{subject}/te{echo}");
        let fate = fate(&mut s);
        // Four transfers at once: a local file of a few MB each.
        let up_from = uploaded;
        let up_to = up_from + s.spread(800, 6 * SECOND);
        uploaded += (up_to - up_from) / 4;
        let bytes_up = 2_000_000 + s.next() % 6_000_000;
        let mut item = BatchItem {
            key: key.clone(),
            variables: vec![subject.clone(), echo.clone()],
            result: ItemResult::Finished,
            detail: None,
            class: None,
            exit_code: None,
            upload: Some(Span {
                from: up_from,
                to: up_to,
            }),
            bytes_up,
            bytes_down: 0,
            attempts: Vec::new(),
            outputs: Vec::new(),
            stderr_tail: None,
            logs: None,
        };
        if matches!(fate, Fate::NotLaunched) {
            item.result = ItemResult::NotLaunched;
            items.push(item);
            continue;
        }
        if matches!(fate, Fate::Blocked) {
            item.result = ItemResult::Blocked;
            item.detail = Some(format!(
                "uploading its input: PUT /path/vip/Home/vip-run/bench/inputs/{subject}/signal.mrui: HTTP 503 after 6 tries"
            ));
            items.push(item);
            continue;
        }
        let tries = if matches!(fate, Fate::Finished { retried: true }) {
            2
        } else {
            1
        };
        let mut ready = up_to;
        for attempt in 0..tries {
            let std::cmp::Reverse(slot) = free.pop().expect("a slot");
            let submitted = ready.max(slot) + s.spread(50, 2 * SECOND);
            // Most waits are minutes and most runs under an hour; a tenth wait hours, a
            // twentieth run hours.
            let (long_wait, long_run) = (s.unit() < 0.1, s.unit() < 0.05);
            let queued = s.spread(
                20 * SECOND,
                if long_wait {
                    3 * 3_600 * SECOND
                } else {
                    15 * MINUTE
                },
            );
            let ran = s.spread(
                8 * MINUTE,
                if long_run {
                    4 * 3_600 * SECOND
                } else {
                    50 * MINUTE
                },
            );
            let last = attempt + 1 == tries;
            let in_progress = last && matches!(fate, Fate::InProgress);
            let started = seen(submitted + queued);
            let mut ended = Some(seen(submitted + queued + ran));
            let (status, class, code) = match (last, fate) {
                (false, _) => (
                    "ExecutionFailed",
                    Some(FailureClass::InputDownload),
                    Some(1),
                ),
                (true, Fate::Failed(c)) => ("ExecutionFailed", Some(c), first_code(c)),
                (true, Fate::TimedOut) => ("Killed", Some(FailureClass::TimedOut), None),
                (true, Fate::InProgress) => ("Running", None, None),
                _ => ("Finished", None, None),
            };
            if in_progress {
                ended = None;
            }
            let finished = status == "Finished";
            let download = (finished && !matches!(fate, Fate::NotDownloaded)).then(|| {
                let from = ended.unwrap_or(started) + s.spread(100, 5 * SECOND);
                Span {
                    from,
                    to: from + s.spread(2 * SECOND, 40 * SECOND),
                }
            });
            let bytes_down = if download.is_some() {
                10_000_000 + s.next() % 90_000_000
            } else {
                0
            };
            // A slot is taken until the execution ends; one still running keeps it.
            free.push(std::cmp::Reverse(if in_progress {
                i64::MAX / 4
            } else {
                seen(submitted + queued + ran)
            }));
            item.attempts.push(BatchAttempt {
                execution: format!("workflow-{}", base62(s.next())),
                name: format!("bench-{key}-{attempt}"),
                status: status.into(),
                class,
                exit_code: code,
                ready: Some(ready),
                submitted,
                started: Some(started),
                ended,
                download,
                jobs: Some(if finished {
                    (1, 0, 1)
                } else if in_progress {
                    (0, 0, 1)
                } else {
                    (0, 1, 1)
                }),
                bytes_down,
            });
            item.bytes_down += bytes_down;
            ready = ended.unwrap_or(ready);
            if last {
                item.class = class;
                item.exit_code = code;
            }
        }
        let logs = Link {
            label: "logs".into(),
            href: format!(
                "{folder}/logs/{}",
                item.attempts.last().map_or("", |a| a.execution.as_str())
            ),
        };
        match fate {
            Fate::Finished { .. } | Fate::OutputsMissing => {
                item.outputs = vec![
                    Link {
                        label: "folder".into(),
                        href: folder.clone(),
                    },
                    Link {
                        label: format!("{key}_fit.nii.gz"),
                        href: format!("{folder}/{key}_fit.nii.gz"),
                    },
                    Link {
                        label: "stats.csv".into(),
                        href: format!("{folder}/stats.csv"),
                    },
                    Link {
                        label: "quest.log".into(),
                        href: format!("{folder}/quest.log"),
                    },
                ];
                if let Fate::OutputsMissing = fate {
                    item.result = ItemResult::OutputsMissing;
                    item.outputs.truncate(3);
                    item.detail = Some(format!(
                        "{key}_residuals.nii.gz: not in the execution's results (results.expect)"
                    ));
                }
            }
            Fate::Failed(class) => {
                item.result = ItemResult::Failed;
                let application = class == FailureClass::Application;
                item.detail = Some(format!(
                    "{}{}, {} (ExecutionFailed; {})",
                    class.words(),
                    item.exit_code
                        .map_or(String::new(), |c| format!(" (exit {c})")),
                    if application {
                        "not retried"
                    } else {
                        "retries used up"
                    },
                    class.advice()
                ));
                item.stderr_tail = Some(if application {
                    stderr_tail(&mut s, &key)
                } else {
                    format!(
                        "hello: fetching {subject}/signal.mrui\nError: lcg-cp: Connection timed out\nExiting with return value 1"
                    )
                });
                item.logs = Some(logs);
            }
            Fate::TimedOut => {
                item.result = ItemResult::TimedOut;
                item.detail = Some("over execution.timeout (4h): killed on VIP".into());
                item.logs = Some(logs);
            }
            Fate::NotDownloaded => {
                item.result = ItemResult::NotDownloaded;
                item.detail = Some("finished on VIP; its outputs are not all home".into());
            }
            Fate::InProgress => {
                item.result = ItemResult::InProgress;
                item.detail = Some("Running when last seen".into());
            }
            Fate::NotLaunched | Fate::Blocked => unreachable!("handled above"),
        }
        items.push(item);
    }
    let bytes_up = items.iter().map(|i| i.bytes_up).sum();
    Batch {
        name: "bench".into(),
        manifest: "bench.yaml".into(),
        pipeline: "CQUEST/0.6".into(),
        server: "https://vip.creatis.insa-lyon.fr/rest".into(),
        sandbox: false,
        vip_run_version: env!("CARGO_PKG_VERSION").into(),
        written_at: items
            .iter()
            .flat_map(|i| &i.attempts)
            .filter_map(|a| a.download.map(|d| d.to).or(a.ended))
            .max()
            .unwrap_or(START)
            + MINUTE,
        command: "run".into(),
        exit_code: Some(1),
        precision: Duration::from_secs(30),
        variables: vec!["subject".into(), "echo_time".into()],
        items,
        bytes_up,
        links: vec![
            Link {
                label: "run record (run.json)".into(),
                href: "run.json".into(),
            },
            Link {
                label: "provenance (RO-Crate)".into(),
                href: "../../results/bench/ro-crate-metadata.json".into(),
            },
            Link {
                label: "JUnit report".into(),
                href: "../../junit.xml".into(),
            },
            Link {
                label: "trace (trace.tsv)".into(),
                href: "trace.tsv".into(),
            },
        ],
    }
}

/// The exit code the wrapper usually ends a class with.
fn first_code(class: FailureClass) -> Option<i64> {
    match class {
        FailureClass::Application => Some(50),
        FailureClass::Platform => Some(51),
        FailureClass::Stalled => Some(10),
        other => (0..=99).find(|c| FailureClass::of_exit_code(*c) == Some(other)),
    }
}

fn base62(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::new();
    for _ in 0..6 {
        out.push(char::from(DIGITS[usize::try_from(n % 62).unwrap_or(0)]));
        n /= 62;
    }
    out
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn chromium() -> Result<PathBuf, String> {
    if let Some(given) = std::env::var_os("VIP_RUN_CHROMIUM") {
        return Ok(PathBuf::from(given));
    }
    ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| "no /usr/bin/chromium-headless-shell nor /usr/bin/chromium".to_owned())
}

/// Loads `page` in headless Chromium and dumps its DOM: the wall time, and the page's own
/// `data-rendered` (ms), when it set one.
fn load(browser: &Path, profile: &Path, page: &Path) -> (Duration, Option<u64>) {
    let start = Instant::now();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("Chromium runs");
    let wall = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let rendered = dom
        .split("data-rendered=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|ms| ms.parse().ok());
    (wall, rendered)
}

/// The median wall time and `data-rendered` of [`LOADS`] loads, after one not counted.
fn loads(browser: &Path, profile: &Path, page: &Path) -> (Duration, Option<u64>) {
    load(browser, profile, page);
    let (mut walls, mut drawn) = (Vec::new(), Vec::new());
    for _ in 0..LOADS {
        let (wall, rendered) = load(browser, profile, page);
        walls.push(wall);
        drawn.extend(rendered);
    }
    drawn.sort_unstable();
    (median(walls), drawn.get(drawn.len() / 2).copied())
}

#[allow(clippy::cast_precision_loss)] // figures for display
fn main() {
    let dir = tempfile::tempdir().unwrap();
    let browser = chromium();
    let profile = dir.path().join("profile");
    let empty = dir.path().join("empty.html");
    std::fs::write(
        &empty,
        "<!doctype html><html><head><title>empty</title></head><body></body></html>\n",
    )
    .unwrap();
    let version = browser.as_ref().ok().and_then(|b| {
        let out = Command::new(b).arg("--version").output().ok()?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    println!(
        "report.html, synthetic batches (median of {LOADS} loads in {}, `--dump-dom` from file://):",
        version.as_deref().unwrap_or("no Chromium")
    );
    let baseline = browser.as_ref().ok().map(|b| loads(b, &profile, &empty).0);
    if let Some(base) = baseline {
        println!(
            "  empty page       load {:>6.2} s (the browser's start-up and exit)",
            base.as_secs_f64()
        );
    }
    let mut at_limit = None;
    for n in [1_000, 10_000] {
        let batch = batch(n);
        let mut renders = Vec::new();
        let mut html = String::new();
        for _ in 0..5 {
            let start = Instant::now();
            html = vip_run::report::html::render(&batch);
            renders.push(start.elapsed());
        }
        let page = dir.path().join(format!("report-{n}.html"));
        std::fs::write(&page, &html).unwrap();
        let bad = batch.items.iter().filter(|i| i.result.is_bad()).count();
        let executions: usize = batch.items.iter().map(|i| i.attempts.len()).sum();
        print!(
            "  {:>6} items    {:>5.2} MB  render {:>6.1} ms ({executions} executions, {bad} not finished well)",
            group(n),
            html.len() as f64 / 1e6,
            median(renders).as_secs_f64() * 1e3,
        );
        let mut wall = None;
        if let (Ok(b), Some(base)) = (&browser, baseline) {
            let (median_wall, drawn) = loads(b, &profile, &page);
            print!(
                "\n                   load {:>6.2} s, {:.2} × the empty page; table drawn at {} ms (data-rendered)",
                median_wall.as_secs_f64(),
                median_wall.as_secs_f64() / base.as_secs_f64(),
                drawn.map_or_else(|| "?".to_owned(), |d| d.to_string())
            );
            wall = Some(median_wall);
        }
        println!();
        if n == 10_000 {
            at_limit = Some((html.len(), wall));
        }
    }
    if let Err(why) = &browser {
        println!("  load times not measured: {why} (set VIP_RUN_CHROMIUM)");
    }
    if let Some((bytes, wall)) = at_limit {
        println!("targets at 10,000 items:");
        println!(
            "  file  < 5 MB   {:>6.2} MB  {}",
            bytes as f64 / 1e6,
            if bytes < TARGET_BYTES {
                "met"
            } else {
                "NOT met"
            }
        );
        if let Some(wall) = wall {
            println!(
                "  load  < 2 s    {:>6.2} s   {}",
                wall.as_secs_f64(),
                if wall < TARGET_LOAD { "met" } else { "NOT met" }
            );
        }
    }
}

fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
