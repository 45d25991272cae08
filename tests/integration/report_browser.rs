//! `report.html` in a real browser: a batch with failures runs against the sandbox, and the
//! page it leaves is loaded from `file://` by headless Chromium, whose rendered DOM must show
//! the counts, the rows, the failed-only view (`#failed`) and a search with a sort, and whose
//! proxy must see no request. The screenshot in the README is taken here
//! (`VIP_RUN_SCREENSHOT=1` writes it to `docs/report.png`).
//!
//! Chromium is `VIP_RUN_CHROMIUM`, else Debian's `chromium-headless-shell`, else `chromium`.
//! Without one the test says `skipped:` and passes, except under `CI=true`, where a test that
//! did not run must not pass.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use vip_run::sandbox::{Config, FailureKind, FailureMix, Trigger, default_world};

use crate::run::hello_test;
use crate::support::{SandboxHandle, Test};

/// The tool's error that the marked item writes on stderr: markup the page must show as text.
const STDERR: &str = "Error: cannot read </script><b>bold</b> header of in.txt";

/// The browser, or why there is none.
fn chromium() -> Result<PathBuf, String> {
    if let Some(given) = std::env::var_os("VIP_RUN_CHROMIUM") {
        let path = PathBuf::from(given);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("VIP_RUN_CHROMIUM={} is not a file", path.display()))
        };
    }
    ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "no Chromium (/usr/bin/chromium-headless-shell or /usr/bin/chromium; \
             `apt-get install chromium-headless-shell`, or set VIP_RUN_CHROMIUM)"
                .to_owned()
        })
}

/// The browser, or `None` after saying why the test is skipped; under CI, a panic.
fn browser_or_skip() -> Option<PathBuf> {
    match chromium() {
        Ok(path) => Some(path),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and {why}: a test that did not run must not pass")
        }
        Err(why) => {
            println!("skipped: {why}");
            None
        }
    }
}

/// A proxy that answers nothing and records every connection made to it: the browser is told
/// to send every request there, loopback included, so a page that asks for anything trips it.
struct Tripwire {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Tripwire {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, done) = (Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        // The request's first line says what was asked; then refuse it, so the
                        // browser does not wait on us.
                        stream.set_nonblocking(false).ok();
                        stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
                        let mut head = [0_u8; 512];
                        let n = stream.read(&mut head).unwrap_or(0);
                        let line = String::from_utf8_lossy(&head[..n])
                            .lines()
                            .next()
                            .unwrap_or("(nothing read)")
                            .to_owned();
                        log.lock().unwrap().push(line);
                        let _ = stream.write_all(
                            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { port, seen, stop }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Tripwire {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Headless Chromium with a fresh profile, every request sent to `proxy`.
struct Browser {
    binary: PathBuf,
    profile: tempfile::TempDir,
    proxy: u16,
}

impl Browser {
    fn new(binary: PathBuf, proxy: &Tripwire) -> Self {
        Self {
            binary,
            profile: tempfile::tempdir().unwrap(),
            proxy: proxy.port,
        }
    }

    /// Runs the browser on `url` with `extra` arguments; its stdout.
    fn run(&self, url: &str, extra: &[&str]) -> String {
        let mut child = Command::new(&self.binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                // The browser's own traffic (updates, metrics) would trip the wire without
                // the page asking for anything.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .arg(format!("--proxy-server=http://127.0.0.1:{}", self.proxy))
            // `<-loopback>` takes loopback out of the implicit bypass list: even a request to
            // 127.0.0.1 goes through the wire.
            .arg("--proxy-bypass-list=<-loopback>")
            .args(extra)
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        // Read both pipes while waiting, so a full pipe cannot hold the browser up.
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            stdout.read_to_string(&mut text).ok();
            text
        });
        let mut stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            stderr.read_to_string(&mut text).ok();
            text
        });
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                child.kill().ok();
                panic!("Chromium did not finish {url} in 90 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = reader.join().unwrap();
        let err = errors.join().unwrap();
        assert!(
            status.success(),
            "Chromium failed on {url}: {status}\n{err}"
        );
        out
    }

    /// The DOM of `page` (a file) once its scripts ran, opened at `fragment`.
    fn dom(&self, page: &Path, fragment: &str) -> String {
        self.run(&format!("{}{fragment}", file_url(page)), &["--dump-dom"])
    }

    /// A 1280 px wide screenshot of `page` into `png`.
    fn screenshot(&self, page: &Path, png: &Path) {
        self.run(
            &file_url(page),
            &[
                &format!("--screenshot={}", png.display()),
                "--window-size=1280,1800",
            ],
        );
    }
}

fn file_url(path: &Path) -> String {
    let path = std::path::absolute(path).unwrap();
    format!("file://{}", path.display())
}

/// The items' table body as drawn (the page's script, also in the DOM, holds the same
/// markup as text).
fn body(dom: &str) -> &str {
    let start = dom
        .find("<tbody id=\"items\">")
        .expect("the items' table body");
    let rest = &dom[start..];
    &rest[..rest.find("</tbody>").expect("its end")]
}

/// The `<tr>` rows of the items' table: (key, result), in order.
fn rows(dom: &str) -> Vec<(String, String)> {
    body(dom)
        .split("<tr data-key=\"")
        .skip(1)
        .map(|rest| {
            let key = rest.split('"').next().unwrap().to_owned();
            let result = rest
                .split("data-result=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap()
                .to_owned();
            (key, result)
        })
        .collect()
}

/// The text of the "N of M items" line.
fn shown(dom: &str) -> String {
    let rest = dom.split("id=\"shown\"").nth(1).expect("the shown line");
    let text = &rest[rest.find('>').unwrap() + 1..];
    text[..text.find('<').unwrap()].to_owned()
}

/// The row of `key` and the detail row under it, as markup.
fn row_of<'a>(dom: &'a str, key: &str) -> &'a str {
    let body = body(dom);
    let start = body
        .find(&format!("<tr data-key=\"{key}\""))
        .unwrap_or_else(|| panic!("no row {key}"));
    let rest = &body[start..];
    let end = rest[1..]
        .find("<tr data-key=")
        .map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// A Hello batch of 12 items, 4 at a time, relaunching grid failures once: sub-01 fails in
/// the tool with [`STDERR`], sub-04 and sub-09 run three times longer, and the seeded mix
/// fails some others.
fn batch() -> (SandboxHandle, Test) {
    let mut world = default_world();
    let hello = world
        .pipelines
        .iter_mut()
        .find(|p| p.id == "Hello/1.0")
        .expect("Hello is in the default world");
    hello.fail_when = Some(Trigger {
        input: "message".into(),
        contains: "MARK".into(),
        factor: None,
        stderr: Some(STDERR.into()),
        kind: Some(FailureKind::Application),
        times: None,
    });
    hello.slow_when = Some(Trigger {
        input: "message".into(),
        contains: "SLOW".into(),
        factor: Some(3),
        stderr: None,
        kind: None,
        times: None,
    });
    let sb = SandboxHandle::start(Config {
        world,
        exec_duration: Duration::from_millis(1_200),
        // Four of the user's at once, three of which VIP runs: the fourth queues.
        quota: Some(4),
        engine_slots: 3,
        failures: FailureMix::parse("input_download=0.2,application=0.05").unwrap(),
        seed: 7,
        ..Config::default()
    });
    let subjects: Vec<String> = (1..=12).map(|i| format!("sub-{i:02}")).collect();
    let manifest = format!(
        "version: 1\nname: hello\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\n  \
         echo_time: [20]\ninputs:\n  input_file: in.txt\n  message: \"{{% if subject == 'sub-01' %}}MARK\
         {{% elif subject == 'sub-04' or subject == 'sub-09' %}}SLOW{{% else %}}hi{{% endif %}} {{{{ subject }}}}\"\n\
         results:\n  download: results/{{{{ subject }}}}\nexecution:\n  max_parallel: 4\n  \
         poll_interval: 1s\n  retries: 1\n",
        subjects.join(", ")
    );
    let t = hello_test(&sb, &manifest);
    (sb, t)
}

#[test]
fn the_report_of_a_batch_with_failures_renders_in_a_browser_and_asks_for_nothing() {
    let Some(binary) = browser_or_skip() else {
        return;
    };
    let (_sb, t) = batch();
    let out = t.run_with(&["--junit", "junit.xml", "--output", "json", "study.yaml"]);
    out.code(1);
    let summary: Value = out.json_lines().pop().unwrap();
    assert_eq!(summary["event"], "summary", "{summary}");
    let page = t.dir().join(".vip-run/hello/report.html");
    assert!(page.is_file(), "no report.html:\n{}", out.stderr);

    let wire = Tripwire::start();
    let browser = Browser::new(binary, &wire);

    // The wire works: a page without the report's policy that asks for an image trips it.
    let control = t.dir().join("control.html");
    std::fs::write(
        &control,
        "<!doctype html><title>control</title><img src=\"http://example.invalid/x.png\">",
    )
    .unwrap();
    browser.dom(&control, "");
    assert!(
        wire.seen().iter().any(|l| l.contains("example.invalid")),
        "the tripwire saw nothing of the control page: {:?}",
        wire.seen()
    );
    let tripped = wire.seen().len();

    // The whole batch, as opened.
    let dom = browser.dom(&page, "");
    let rendered = dom
        .split("data-rendered=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("data-rendered is set once the table is drawn");
    assert!(rendered.parse::<u64>().is_ok(), "{rendered}");
    let total = 12;
    let count = |name: &str| summary[name].as_u64().unwrap();
    let (failed, finished) = (count("failed"), count("finished"));
    assert!(failed >= 1, "sub-01 always fails: {summary}");
    for (result, n) in [
        ("failed", failed),
        ("finished", finished),
        ("timed_out", count("timed_out")),
        ("all", total),
    ] {
        assert!(
            dom.contains(&format!("data-result=\"{result}\">{n}<")),
            "the count of {result} is not {n}"
        );
    }
    assert!(dom.contains("data-class=\"application\">"));
    assert_eq!(shown(&dom), format!("{total} of {total} items"));
    let all = rows(&dom);
    let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    let expected: Vec<String> = (1..=12).map(|i| format!("sub-{i:02}-20")).collect();
    assert_eq!(keys, expected, "every item, in the manifest's order");

    // The failed item's row: its class, its exit code and its stderr, shown as text.
    let row = row_of(&dom, "sub-01-20");
    assert!(row.contains("data-result=\"failed\""), "{row}");
    assert!(
        row.contains("class=\"cls\"") && row.contains(">application"),
        "{row}"
    );
    assert!(row.contains("exit 50"), "{row}");
    assert!(
        row.contains("&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; header"),
        "the stderr tail, escaped: {row}"
    );
    assert!(!body(&dom).contains("<b>bold</b>"), "stderr became markup");
    assert!(row.contains("workflow-"), "{row}");

    // `#failed`: the failed-only view, as the outcomes' link opens it.
    let dom = browser.dom(&page, "#failed");
    let bad = rows(&dom);
    let bad_results = [
        "failed",
        "timed_out",
        "outputs_missing",
        "not_downloaded",
        "not_launched",
        "blocked",
    ];
    assert!(!bad.is_empty());
    assert!(
        bad.iter().all(|(_, r)| bad_results.contains(&r.as_str())),
        "{bad:?}"
    );
    assert_eq!(
        shown(&dom),
        format!("{} of {total} items (failed only)", bad.len())
    );
    let expected_bad = total - finished - count("in_progress");
    assert_eq!(u64::try_from(bad.len()).unwrap(), expected_bad, "{summary}");
    assert!(bad.iter().any(|(k, _)| k == "sub-01-20"));

    // A search and a sort, from the hash too.
    let dom = browser.dom(&page, "#q=sub-1&sort=-key");
    let found: Vec<String> = rows(&dom).into_iter().map(|(k, _)| k).collect();
    assert_eq!(found, ["sub-12-20", "sub-11-20", "sub-10-20"]);
    assert_eq!(
        shown(&dom),
        format!("3 of {total} items (matching “sub-1”)")
    );

    // Nothing the report did reached the wire.
    assert_eq!(
        wire.seen()[tripped..],
        [] as [String; 0],
        "report.html made requests"
    );

    // The README's picture.
    let png = if std::env::var("VIP_RUN_SCREENSHOT").is_ok_and(|v| v == "1") {
        crate::support::root().join("docs/report.png")
    } else {
        t.dir().join("report.png")
    };
    browser.screenshot(&page, &png);
    let image = std::fs::read(&png).unwrap();
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
    let width = u32::from_be_bytes(image[16..20].try_into().unwrap());
    assert_eq!(width, 1280);
    assert_eq!(wire.seen().len(), tripped, "the screenshot made requests");
}
