//! What users read: diagnostics, progress and events, summaries, tables, the plan, the
//! starter manifest, machine-readable records. Renderers write to `impl Write` (or return
//! text), so they are tested without the binary.
//!
//! Results and JSON records go to stdout; diagnostics, warnings and progress to stderr.
//!
//! - `diagnostics`: manifest diagnostics and their one printer;
//! - `run`: events and progress during a run; `summary`: its end; `junit`: the XML report;
//! - `verdict` (`validate`), `preview` (`plan`), `status` (`status`, `cancel`), `catalog`
//!   (`whoami`, `pipelines`, `pipeline`), `starter` (`init`);
//! - `text`: byte sizes and server text for people.

pub mod catalog;
pub mod diagnostics;
pub mod junit;
pub mod preview;
pub mod run;
pub mod starter;
pub mod status;
pub mod summary;
pub mod text;
pub mod verdict;

use std::io::IsTerminal;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Text for people.
    Human,
    /// One JSON object per line on stdout.
    Json,
}

/// Whether to draw with colour and Unicode on stderr: only for a terminal, never in CI or
/// when `NO_COLOR` is set. A pure function of its inputs, so it can be tested.
pub fn fancy_stderr(is_terminal: bool, is_ci: bool, no_color: bool) -> bool {
    is_terminal && !is_ci && !no_color
}

/// [`fancy_stderr`] for this process.
pub fn stderr_is_fancy() -> bool {
    fancy_stderr(
        std::io::stderr().is_terminal(),
        std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false"),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    )
}

#[cfg(test)]
mod tests {
    use super::fancy_stderr;

    #[test]
    fn fancy_only_on_an_interactive_terminal() {
        // (is_terminal, is_ci, no_color) -> fancy
        let table = [
            ((true, false, false), true),
            ((true, true, false), false),
            ((true, false, true), false),
            ((false, false, false), false),
            ((false, true, true), false),
        ];
        for ((t, ci, nc), expected) in table {
            assert_eq!(fancy_stderr(t, ci, nc), expected, "{t} {ci} {nc}");
        }
    }
}
