//! At the terminal: the real binary in a pseudo-terminal, its output rendered on a
//! `vt100` screen as a person would see it once the bar's redraws are done, and snapshotted.
//! Every other test reads pipes, where there are no bars, no colour and no width.
//!
//! The child gets an explicit environment: `TERM` set, `CI` removed (CI runs with `CI=true`,
//! which turns bars off), no colour variables unless a test sets them. Waits are on screen
//! content, bounded, and say what they waited for. Regenerate the snapshots with
//! `INSTA_UPDATE=always cargo test --test integration terminal` and review the diff.

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use expectrl::process::unix::WaitStatus;

use crate::support::{HEAD, Test};

/// Long enough for a debug build on a loaded machine; a failing wait prints the screen.
const PATIENCE: Duration = Duration::from_secs(60);
const ROWS: u16 = 40;

/// A one-item Hello recipe, as `examples/hello.yaml`, with a quick poll.
fn hello() -> Test {
    Test::new()
        .manifest(&format!(
            "{HEAD}inputs:\n  input_file: in.txt\n  message: Hello from vip-run\nresults:\n  download: results\nexecution:\n  poll_interval: 1s\n"
        ))
        .file("in.txt", "hello\n")
}

/// A manifest with a misspelt key, which `validate` points at.
fn broken() -> Test {
    Test::new().manifest("version: 1\nname: study\npipline_id: Hello/1.0\ngroup: Demo\n")
}

/// An invariant of the screen, checked at every update.
type Check = Box<dyn Fn(&vt100::Screen)>;

/// The binary running in a pseudo-terminal `cols` wide, and the screen it draws on.
struct Terminal {
    session: expectrl::session::OsSession,
    screen: vt100::Parser,
    eof: bool,
    /// Called on every screen update: an invariant that must hold throughout.
    check: Option<Check>,
}

impl Terminal {
    fn spawn(t: &Test, cols: u16, env: &[(&str, &str)], args: &[&str]) -> Self {
        // The pseudo-terminal library sets its own size (80 × 24) once the child has started,
        // so a size set by the child could be undone. The size is set here after spawning,
        // and the child waits to see it (for at most 5 s) before `exec`: the binary can never
        // see another size.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(
                r#"i=0; until [ "$(stty size)" = "$2 $1" ] || [ $i -ge 500 ]; do sleep 0.01; i=$((i+1)); done; shift 2 && exec "$@""#,
            )
            .arg("sh")
            .arg(cols.to_string())
            .arg(ROWS.to_string())
            .arg(assert_cmd::cargo::cargo_bin("vip-run"))
            .args(args)
            .current_dir(t.dir());
        for var in [
            "CI",
            "NO_COLOR",
            "CLICOLOR",
            "CLICOLOR_FORCE",
            "COLUMNS",
            "LINES",
            "VIP_API_KEY",
            "RUST_LOG",
            "RUST_BACKTRACE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("TERM", "xterm-256color")
            .env("VIP_RUN_STATE_HOME", t.state_home());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut session = expectrl::Session::spawn(cmd).expect("a pseudo-terminal");
        session
            .get_process_mut()
            .set_window_size(cols, ROWS)
            .expect("the pseudo-terminal is sized");
        Self {
            session,
            screen: vt100::Parser::new(nonzero(ROWS), nonzero(cols), 0),
            eof: false,
            check: None,
        }
    }

    /// Reads what the child wrote so far onto the screen.
    fn pump(&mut self) {
        let mut buf = [0u8; 8192];
        loop {
            match self.session.try_read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => {
                    self.screen.process(&buf[..n]);
                    if let Some(check) = &self.check {
                        check(self.screen.screen());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // Linux reports the end of a pseudo-terminal as EIO once the child is gone.
                Err(_) => {
                    self.eof = true;
                    return;
                }
            }
        }
    }

    /// Waits until the screen shows `what`, or fails saying so.
    fn wait_for(&mut self, what: &str, seen: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.pump();
            if seen(&self.text()) {
                return;
            }
            assert!(
                !self.eof,
                "the command ended before the screen showed {what}:\n{}",
                self.text()
            );
            assert!(
                Instant::now() < deadline,
                "no {what} on the screen after {PATIENCE:?}:\n{}",
                self.text()
            );
            // A poll, not a guess at how long anything takes.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `text` at the terminal.
    fn send(&mut self, text: &str) {
        self.session.write_all(text.as_bytes()).unwrap();
        self.session.flush().unwrap();
    }

    /// Waits for the command to end; its exit code.
    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + PATIENCE;
        while !self.eof {
            assert!(
                Instant::now() < deadline,
                "the command did not end within {PATIENCE:?}:\n{}",
                self.text()
            );
            self.pump();
            std::thread::sleep(Duration::from_millis(10));
        }
        match self.session.get_process().wait().unwrap() {
            WaitStatus::Exited(_, code) => code,
            other => panic!("the command did not exit: {other:?}\n{}", self.text()),
        }
    }

    /// The screen's text, trailing blanks trimmed.
    fn text(&self) -> String {
        screen_text(self.screen.screen())
    }

    /// Whether any character on the screen is drawn in a colour.
    fn has_colour(&self) -> bool {
        let screen = self.screen.screen();
        let (rows, cols) = screen.size();
        let (rows, cols) = (rows.get(), cols.get());
        (0..rows).any(|r| {
            (0..cols).any(|c| {
                screen.cell(r, c).is_some_and(|cell| {
                    cell.fgcolor() != vt100::Color::Default || cell.bold() || cell.underline()
                })
            })
        })
    }
}

/// The rows as a person sees them, one line each (a row filled to the last column is not
/// joined to the next, as `vt100`'s `contents` would), trailing blanks trimmed.
fn screen_text(screen: &vt100::Screen) -> String {
    let cols = screen.size().1.get();
    let rows: Vec<String> = screen
        .rows(0, cols)
        .map(|row| row.trim_end().to_owned())
        .collect();
    let mut text = rows.join("\n").trim_end().to_owned();
    text.push('\n');
    text
}

fn nonzero(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).expect("a terminal has rows and columns")
}

/// What changes from run to run: elapsed time, the spinner's frame, ids, durations.
const REDACTIONS: [(&str, &str); 6] = [
    (r"workflow-[0-9a-zA-Z]+", "[execution]"),
    // The project key and the fingerprint depend on the scratch folder's path.
    (r"/[0-9a-f]{8}(\n?)/inputs", "/[project]$1/inputs"),
    (r"\b(study-[0-9A-Za-z_]+)-[0-9a-f]{6}\b", "$1-[fp]"),
    (r"\b[0-9]{2}:[0-9]{2}:[0-9]{2}\b", "[elapsed]"),
    (r"[\u2800-\u28ff] \[", "[spinner] ["),
    (r"\b[0-9]+(\.[0-9]+)? ?(ms|s)\b", "[duration]"),
];

/// Snapshots a screen's text, redacted; a macro so the snapshot is named after the test.
macro_rules! assert_screen {
    ($text:expr) => {
        insta::with_settings!({ filters => REDACTIONS.to_vec() }, {
            insta::assert_snapshot!($text);
        })
    };
}

/// Lines that only a library, not vip-run, would print.
fn assert_only_our_lines(text: &str) {
    for line in text.lines() {
        for foreign in [
            "tracing-subscriber",
            "crate feature",
            "panicked",
            "RUST_BACKTRACE",
        ] {
            assert!(
                !line.contains(foreign),
                "a line vip-run did not write: {line:?}\n{text}"
            );
        }
    }
}

/// The bar is gone: nothing of it is left on the screen.
fn assert_no_bar(text: &str) {
    assert!(
        !text.contains("items done") && !text.contains('░') && !text.contains('█'),
        "a bar is left on the screen:\n{text}"
    );
}

/// At most one bar line at any moment: a second means a redraw left debris.
fn one_bar_at_most(cols: u16) -> Check {
    Box::new(move |screen| {
        let contents = screen_text(screen);
        let bars: Vec<&str> = contents
            .lines()
            .filter(|l| l.contains("items done"))
            .collect();
        assert!(bars.len() <= 1, "debris of earlier bars:\n{contents}");
        for bar in bars {
            assert!(
                bar.trim_end().chars().count() < usize::from(cols),
                "the bar fills or overflows {cols} columns: {bar:?}"
            );
        }
    })
}

/// The row holding `text`, if any.
fn row_with(text: &str, needle: &str) -> Option<String> {
    text.lines().find(|l| l.contains(needle)).map(str::to_owned)
}

/// A sandbox run at `cols` columns: the bar while the execution runs, then the final screen.
fn sandbox_run_with_bars(cols: u16) -> String {
    let t = hello();
    let mut term = Terminal::spawn(&t, cols, &[], &["--sandbox", "study.yaml"]);
    term.check = Some(one_bar_at_most(cols));
    term.wait_for("the bar with a running execution", |s| {
        s.contains("0/1 items done  1 running")
    });
    let bar = row_with(&term.text(), "items done").unwrap_or_default();
    assert_eq!(term.exit_code(), 0, "{}", term.text());
    let text = term.text();
    assert_only_our_lines(&text);
    assert_no_bar(&text);
    assert!(
        text.contains("run record: .vip-run/sandbox/study/run.json"),
        "the summary is on the screen:\n{text}"
    );
    format!("while running:\n{bar}\n\nat the end:\n{text}")
}

#[test]
fn a_sandbox_run_with_bars_to_the_end() {
    assert_screen!(sandbox_run_with_bars(80));
}

#[test]
fn a_50_column_terminal_gets_a_bar_that_fits() {
    assert_screen!(sandbox_run_with_bars(50));
}

/// A sandbox run interrupted with Ctrl-C once it has launched: its exit code and screen.
fn interrupted_sandbox_run() -> (i32, String) {
    let t = hello();
    // No check for one bar at a time: until the notice goes above the bars, the bar frozen
    // above it and the one redrawn below it can both be on the screen for a moment.
    let mut term = Terminal::spawn(&t, 80, &[], &["--sandbox", "study.yaml"]);
    term.wait_for("the launch", |s| s.contains("main: launched"));
    term.send("\x03");
    (term.exit_code(), term.text())
}

#[test]
fn ctrl_c_in_a_sandbox_run_says_what_is_true() {
    let (code, text) = interrupted_sandbox_run();
    assert_eq!(code, 130, "{text}");
    assert_only_our_lines(&text);
    let from_notice = &text[text.find("interrupted:").expect("the notice")..];
    assert_no_bar(from_notice);
    assert!(!text.contains("still running on VIP"), "{text}");
    assert!(
        from_notice.contains("--sandbox study.yaml` again to start over"),
        "{text}"
    );
    // From the notice on; what is above it is the run so far.
    assert_screen!(from_notice);
}

#[test]
fn ctrl_c_leaves_no_bar_above_the_notice() {
    let (code, text) = interrupted_sandbox_run();
    assert_eq!(code, 130, "{text}");
    assert_no_bar(&text);
}

#[test]
fn validate_in_colour() {
    let t = broken();
    let mut term = Terminal::spawn(&t, 80, &[], &["validate", "study.yaml"]);
    assert_eq!(term.exit_code(), 3);
    assert!(term.has_colour(), "no colour:\n{}", term.text());
    let text = term.text();
    assert_only_our_lines(&text);
    assert_screen!(text);
}

#[test]
fn validate_with_no_color() {
    let t = broken();
    let mut term = Terminal::spawn(&t, 80, &[("NO_COLOR", "1")], &["validate", "study.yaml"]);
    assert_eq!(term.exit_code(), 3);
    assert!(!term.has_colour(), "colour despite NO_COLOR");
    let text = term.text();
    assert_only_our_lines(&text);
    assert_screen!(text);
}

#[test]
fn clicolor_force_colours_a_dumb_terminal() {
    let env = [("TERM", "dumb"), ("CLICOLOR_FORCE", "1")];
    let t = broken();
    let mut term = Terminal::spawn(&t, 80, &env, &["validate", "study.yaml"]);
    assert_eq!(term.exit_code(), 3);
    assert!(term.has_colour(), "no colour despite CLICOLOR_FORCE");
    // A dumb terminal gets ASCII drawing, as a pipe would.
    assert!(term.text().contains("[study.yaml:1:"), "{}", term.text());
}

/// A sandbox run that must show plain lines from start to end, never a bar.
fn plain_lines_throughout(cols: u16, env: &[(&str, &str)], args: &[&str]) -> String {
    let t = hello();
    let mut term = Terminal::spawn(&t, cols, env, args);
    term.check = Some(Box::new(|screen| {
        let text = screen_text(screen);
        assert!(!text.contains("items done"), "a bar:\n{text}");
    }));
    assert_eq!(term.exit_code(), 0, "{}", term.text());
    let text = term.text();
    assert_only_our_lines(&text);
    assert!(text.contains("main: finished"), "{text}");
    text
}

#[test]
fn progress_plain_on_a_terminal() {
    let text = plain_lines_throughout(80, &[], &["--progress", "plain", "--sandbox", "study.yaml"]);
    assert_screen!(text);
}

#[test]
fn a_dumb_terminal_and_a_narrow_one_get_plain_lines() {
    plain_lines_throughout(80, &[("TERM", "dumb")], &["--sandbox", "study.yaml"]);
    plain_lines_throughout(40, &[], &["--sandbox", "study.yaml"]);
    // Asking for a bar where none can be drawn still shows every line.
    plain_lines_throughout(
        80,
        &[("TERM", "dumb")],
        &["--progress", "bar", "--sandbox", "study.yaml"],
    );
}

/// On a terminal, `clean` shows what it will delete and asks; only `y` deletes.
#[test]
fn clean_asks_at_the_terminal() {
    use crate::clean::{DEMO, exists, manifest, slow_delete_sandbox};
    let sb = slow_delete_sandbox();
    let t = Test::new()
        .manifest(&manifest("study", &["sub-01"], false, ""))
        .file("data/sub-01.txt", "data\n")
        .against(&sb, DEMO);
    t.run_with(&["study.yaml"]).code(0);
    let env = [("VIP_API_KEY", DEMO)];
    let args = ["--server", sb.url(), "clean", "study.yaml"];
    // No: nothing is deleted.
    let mut term = Terminal::spawn(&t, 100, &env, &args);
    term.wait_for("the question", |s| s.contains("on VIP? [y/N]"));
    let screen = term.text();
    assert!(
        screen.contains(&crate::support::inputs_root(&t, "study")),
        "{screen}"
    );
    assert!(screen.contains("results of sub-01"), "{screen}");
    term.send("\n");
    assert_eq!(term.exit_code(), 0);
    assert!(term.text().contains("nothing deleted"), "{}", term.text());
    assert!(exists(&sb, &crate::support::inputs_root(&t, "study")));
    // Yes: deleted, and waited for.
    let mut term = Terminal::spawn(&t, 100, &env, &args);
    term.wait_for("the question", |s| s.contains("on VIP? [y/N]"));
    term.send("y\n");
    assert_eq!(term.exit_code(), 0);
    assert!(term.text().contains("deleted 2 folders"), "{}", term.text());
    assert!(!exists(&sb, &crate::support::inputs_root(&t, "study")));
}
