//! Rendering manifest diagnostics: `error: message`, a snippet under `[file:line:col]` with a
//! caret, and `help:`. Plain ASCII without colour unless the [`Style`] says otherwise
//! (Unicode on an interactive terminal; colour as `NO_COLOR`/`CLICOLOR_FORCE` say), so logs
//! and tests read the same text.

use miette::{GraphicalReportHandler, GraphicalTheme, ThemeCharacters, ThemeStyles};

use crate::manifest::diagnostic::Named;
use crate::manifest::{ManifestDiagnostic, secrets};

use super::Style;

/// The width text is wrapped to: the terminal's when narrower, so nothing wraps twice.
const WIDTH: usize = 100;

/// The one place diagnostics are printed (on stderr): errors always, warnings unless quiet,
/// in colour when stderr is an interactive terminal.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    quiet: bool,
}

impl Printer {
    /// A printer; `quiet` leaves warnings out.
    pub fn new(quiet: bool) -> Self {
        Self { quiet }
    }

    /// Prints `diagnostics`, scrubbing `secrets` from them.
    pub fn print(&self, diagnostics: &[ManifestDiagnostic], secrets: &[String]) {
        let style = super::stderr_style();
        for d in diagnostics {
            if d.is_error() || !self.quiet {
                super::write_stderr(&render(d, style, secrets));
            }
        }
    }
}

/// Renders one diagnostic, scrubbing `secrets` from the text.
pub fn render(
    diagnostic: &ManifestDiagnostic,
    style: impl Into<Style>,
    secrets: &[String],
) -> String {
    let style = style.into();
    let mut characters = if style.unicode {
        ThemeCharacters::unicode()
    } else {
        ThemeCharacters::ascii()
    };
    characters.error = "error:".into();
    characters.warning = "warning:".into();
    characters.advice = "note:".into();
    let styles = if style.colour {
        ThemeStyles::ansi()
    } else {
        ThemeStyles::none()
    };
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme { characters, styles })
        .with_width(
            style
                .width
                .map_or(WIDTH, |w| usize::from(w).clamp(40, WIDTH)),
        )
        .with_links(false)
        .without_syntax_highlighting();
    let plain;
    let diagnostic = if diagnostic.line_too_long() {
        plain = diagnostic.without_snippet();
        &plain
    } else {
        diagnostic
    };
    let mut out = String::new();
    if handler
        .render_report(&mut out, &Named::new(diagnostic))
        .is_err()
    {
        out = format!("{diagnostic}\n");
    }
    let trimmed: Vec<&str> = out.lines().map(str::trim_end).collect();
    let mut text = trimmed.join("\n");
    text.push('\n');
    secrets::scrub(&text, secrets)
}
