//! What users read: diagnostics, progress and events, summaries, tables, the plan, the
//! starter manifest, machine-readable records. Renderers write to `impl Write` (or return
//! text), so they are tested without the binary.
//!
//! Results and JSON records go to stdout; diagnostics, warnings and progress to stderr.
//!
//! - `diagnostics`: manifest diagnostics and their one printer;
//! - `run`: events and progress during a run; `summary`: its end; `junit`: the XML report;
//!   `failure`: the end of a command's JSON output when it stopped on an error;
//! - one renderer per command, named after it: `validate`, `plan`, `status`, `cancel`,
//!   `whoami`, `pipelines`, `pipeline`, `init`, `lock`, `logs`, `clean`, `collect` (`run` and
//!   `download` share `run` and `summary`; a run's summary ends with `collect`'s lines);
//! - `notice`: what a notification says (its JSON document, text and mail subject);
//! - `text`: byte sizes and server text for people.
//!
//! How stderr is drawn (colour, Unicode, bars, width) is decided once, here, from the
//! environment, so every kind of output follows the same conventions. Text for stderr goes
//! through [`to_stderr`], which a closed stderr does not make panic (`eprintln!` would).

pub mod batch;
pub mod cancel;
pub mod chronic;
pub mod clean;
pub mod collect;
pub mod diagnostics;
pub mod failure;
pub mod html;
pub mod init;
pub mod junit;
pub mod lock;
pub mod logs;
pub mod notice;
pub mod pipeline;
pub mod pipelines;
pub mod plan;
pub mod progress;
pub mod recipes;
pub mod status;
pub mod summary;
pub mod systemd;
pub mod text;
pub mod trace;
pub mod validate;
pub mod whoami;

#[cfg(test)]
mod rendered;

use std::ffi::OsStr;
use std::io::IsTerminal;

/// Prints `text` and a newline on stderr, as one write. A write that fails (stderr closed:
/// `vip-run … 2>&1 | head -1`, a log reader gone) is ignored: there is nowhere left to say so,
/// and the run's real output (its state, run record and reports) is on disk.
pub fn to_stderr(text: &str) {
    write_stderr(&format!("{text}\n"));
}

/// Prints `text` on stderr as it is, ignoring a failed write (see [`to_stderr`]).
pub fn write_stderr(text: &str) {
    write_stderr_bytes(text.as_bytes());
}

fn write_stderr_bytes(bytes: &[u8]) {
    use std::io::Write as _;
    if chronic::keep_stderr(bytes) {
        return;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(bytes);
    let _ = stderr.flush();
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Text for people.
    Human,
    /// One JSON object per line on stdout.
    Json,
}

/// What the environment says about stderr: the inputs of [`Style::decide`].
// Independent facts read from the environment, one per variable: a table test sets them.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TermEnv {
    /// stderr is a terminal.
    pub is_terminal: bool,
    /// `CI` is set (and not `false`): nobody watches the bar redraw.
    pub is_ci: bool,
    /// `TERM` is `dumb` or unset: no cursor movement, so no bars.
    pub dumb: bool,
    /// `NO_COLOR` is set and not empty.
    pub no_color: bool,
    /// `CLICOLOR_FORCE` is set and not `0`.
    pub clicolor_force: bool,
    /// `CLICOLOR=0`.
    pub clicolor_off: bool,
    /// The terminal's width in columns, when stderr is one.
    pub width: Option<u16>,
}

impl TermEnv {
    /// The environment of this process.
    pub fn current() -> Self {
        let var = std::env::var_os;
        let set = |v: Option<std::ffi::OsString>, off: &str| {
            v.is_some_and(|v| !v.is_empty() && v != OsStr::new(off))
        };
        let is_terminal = std::io::stderr().is_terminal();
        Self {
            is_terminal,
            is_ci: set(var("CI"), "false"),
            dumb: var("TERM").is_none_or(|t| t.is_empty() || t == "dumb"),
            no_color: var("NO_COLOR").is_some_and(|v| !v.is_empty()),
            clicolor_force: set(var("CLICOLOR_FORCE"), "0"),
            clicolor_off: var("CLICOLOR").is_some_and(|v| v == "0"),
            width: if is_terminal {
                terminal_size::terminal_size_of(std::io::stderr()).map(|(w, _)| w.0)
            } else {
                None
            },
        }
    }
}

/// How to draw on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours.
    pub colour: bool,
    /// Unicode box drawing in diagnostics.
    pub unicode: bool,
    /// Progress bars (redrawn in place); otherwise one plain line per change.
    pub bars: bool,
    /// The terminal's width, to fit bars and diagnostics; `None` when not a terminal.
    pub width: Option<u16>,
}

impl Style {
    /// Plain text: what logs, pipes and tests read.
    pub const PLAIN: Self = Self {
        colour: false,
        unicode: false,
        bars: false,
        width: None,
    };

    /// The conventions, as a pure function so a table test can hold them: drawing (Unicode,
    /// bars) needs an interactive terminal that can move its cursor (not `TERM=dumb`, not
    /// CI). Colour follows <https://no-color.org> and <https://bixense.com/clicolors>:
    /// `NO_COLOR` wins, then `CLICOLOR_FORCE` turns it on even in a pipe, then `CLICOLOR=0`
    /// turns it off; otherwise colour comes with drawing. `NO_COLOR` is about colour only:
    /// the bars, which have none, still show.
    pub fn decide(env: TermEnv) -> Self {
        let interactive = env.is_terminal && !env.dumb && !env.is_ci;
        let colour = !env.no_color && (env.clicolor_force || (interactive && !env.clicolor_off));
        Self {
            colour,
            unicode: interactive,
            bars: interactive,
            width: env.width.filter(|_| env.is_terminal),
        }
    }
}

/// `true` for the look of an interactive terminal (colour and Unicode, no width), as callers
/// that only know "fancy or not" mean it.
impl From<bool> for Style {
    fn from(fancy: bool) -> Self {
        Self {
            colour: fancy,
            unicode: fancy,
            bars: fancy,
            width: None,
        }
    }
}

/// [`Style::decide`] for this process's stderr.
pub fn stderr_style() -> Style {
    Style::decide(TermEnv::current())
}

#[cfg(test)]
mod tests {
    use super::{Style, TermEnv};

    #[test]
    fn drawing_and_colour_follow_the_conventions() {
        let tty = TermEnv {
            is_terminal: true,
            width: Some(80),
            ..TermEnv::default()
        };
        let pipe = TermEnv::default();
        // (environment, colour, unicode and bars)
        let table = [
            (tty, true, true),
            (TermEnv { is_ci: true, ..tty }, false, false),
            (TermEnv { dumb: true, ..tty }, false, false),
            (
                TermEnv {
                    no_color: true,
                    ..tty
                },
                false,
                true,
            ),
            (
                TermEnv {
                    clicolor_off: true,
                    ..tty
                },
                false,
                true,
            ),
            (
                TermEnv {
                    clicolor_force: true,
                    ..tty
                },
                true,
                true,
            ),
            (pipe, false, false),
            (
                TermEnv {
                    clicolor_force: true,
                    ..pipe
                },
                true,
                false,
            ),
            (
                TermEnv {
                    clicolor_force: true,
                    is_ci: true,
                    ..pipe
                },
                true,
                false,
            ),
            (
                TermEnv {
                    clicolor_force: true,
                    no_color: true,
                    ..pipe
                },
                false,
                false,
            ),
            (
                TermEnv {
                    clicolor_force: true,
                    dumb: true,
                    ..tty
                },
                true,
                false,
            ),
        ];
        for (env, colour, drawn) in table {
            let style = Style::decide(env);
            assert_eq!(style.colour, colour, "colour for {env:?}");
            assert_eq!(style.unicode, drawn, "unicode for {env:?}");
            assert_eq!(style.bars, drawn, "bars for {env:?}");
        }
        assert_eq!(Style::decide(tty).width, Some(80));
        assert_eq!(Style::decide(pipe), Style::PLAIN);
    }
}
