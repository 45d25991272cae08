//! Diagnostics that point into a manifest (or the CSV file it names): what is wrong, where,
//! and what to do. They are collected, not thrown, so one run reports every problem it can.
//!
//! The source text a diagnostic quotes has the API key masked out before it is stored
//! (see `secrets.rs`), so a snippet can never show a key that sits near an error.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, Severity, SourceCode, SourceSpan};
use serde::Serialize;
use serde_saphyr::Location;

/// A text file that diagnostics can quote: its display name, its (masked) text and an index
/// of where lines start, to turn YAML's line/column pairs into byte offsets.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user gave it (for messages).
    pub display: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its text, with secrets masked.
    pub text: Arc<str>,
    line_starts: Arc<[usize]>,
}

impl SourceFile {
    /// Wraps `text`, read from `path`.
    pub fn new(path: &Path, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let line_starts: Arc<[usize]> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            display: path.display().to_string(),
            path: path.to_path_buf(),
            text,
            line_starts,
        }
    }

    /// The byte offset of a 1-based line and 1-based (character) column, clamped to the text.
    pub fn offset(&self, line: usize, column: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        let line_len = rest.find('\n').unwrap_or(rest.len());
        rest[..line_len]
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(start + line_len, |(i, _)| start + i)
    }

    /// The 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line.saturating_sub(1)];
        let end = offset.min(self.text.len());
        let column = self
            .text
            .get(start..end)
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }

    /// The byte offset of a serde-saphyr location (`None` when it is unknown).
    pub fn location_offset(&self, location: Location) -> Option<usize> {
        if location.line() == 0 {
            return None;
        }
        let line = usize::try_from(location.line()).unwrap_or(usize::MAX);
        let column = usize::try_from(location.column()).unwrap_or(usize::MAX);
        Some(self.offset(line, column))
    }

    /// The length of the token (scalar or key) that starts at `offset`, for a caret that
    /// underlines the whole of it.
    pub fn token_len(&self, offset: usize) -> usize {
        let rest = &self.text[offset.min(self.text.len())..];
        let line = rest.lines().next().unwrap_or("");
        let mut chars = line.char_indices();
        match chars.next() {
            Some((_, q @ ('"' | '\''))) => {
                let mut escaped = false;
                for (i, c) in chars {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' && q == '"' {
                        escaped = true;
                    } else if c == q {
                        return i + 1;
                    }
                }
                line.len()
            }
            Some(_) => {
                let end = line
                    .find(": ")
                    .or_else(|| line.strip_suffix(':').map(str::len))
                    .or_else(|| line.find(" #"))
                    .unwrap_or(line.len());
                let end = line[..end].find([',', ']', '}']).unwrap_or(end);
                line[..end].trim_end().len().max(1)
            }
            None => 0,
        }
    }
}

/// The longest caret drawn under a token.
const MAX_CARET: usize = 80;

/// Lines longer than this are not quoted (a snippet of a 40 kB line helps nobody).
pub const MAX_QUOTED_LINE: usize = 240;

/// One problem found in a manifest.
#[derive(Debug, Clone)]
pub struct ManifestDiagnostic {
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// Error or warning.
    pub severity: Severity,
    /// The file and the span it points at, when known.
    pub at: Option<(SourceFile, SourceSpan)>,
    /// Text under the caret.
    pub label: Option<String>,
}

impl ManifestDiagnostic {
    /// An error about `file` as a whole (no position).
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: None,
            severity: Severity::Error,
            at: None,
            label: None,
        }
    }

    /// A warning.
    pub fn warning(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(message)
        }
    }

    /// Points the diagnostic at `len` bytes from `offset` in `file`.
    #[must_use]
    pub fn at(mut self, file: &SourceFile, offset: usize, len: usize) -> Self {
        let len = len.min(MAX_CARET);
        self.at = Some((file.clone(), SourceSpan::new(offset.into(), len)));
        self
    }

    /// Points the diagnostic at the YAML node at `location` (the whole token).
    #[must_use]
    pub fn at_location(self, file: &SourceFile, location: Location) -> Self {
        match file.location_offset(location) {
            Some(offset) => {
                let len = file.token_len(offset);
                self.at(file, offset, len)
            }
            None => self,
        }
    }

    /// Sets the text under the caret.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the `help:` line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the `help:` line when there is one.
    #[must_use]
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:column`, or the file alone, or nothing.
    pub fn position(&self) -> Option<(String, usize, usize)> {
        self.at.as_ref().map(|(file, span)| {
            let (line, column) = file.line_col(span.offset());
            (file.display.clone(), line, column)
        })
    }

    /// Whether the line the diagnostic points at is too long to quote.
    pub fn line_too_long(&self) -> bool {
        self.at.as_ref().is_some_and(|(file, span)| {
            let text = &file.text;
            let start = text[..span.offset().min(text.len())]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            end - start > MAX_QUOTED_LINE
        })
    }

    /// The same diagnostic without a snippet: the position moves into the message.
    #[must_use]
    pub fn without_snippet(&self) -> Self {
        let mut plain = self.clone();
        if let Some((file, line, column)) = self.position() {
            plain.message = format!("{file}:{line}:{column}: {}", self.message);
        }
        plain.at = None;
        plain
    }

    /// The machine-readable form, for `--output json`.
    pub fn to_record(&self) -> DiagnosticRecord {
        let position = self.position();
        DiagnosticRecord {
            severity: if self.is_error() { "error" } else { "warning" },
            message: self.message.clone(),
            file: position.as_ref().map(|p| p.0.clone()),
            line: position.as_ref().map(|p| p.1),
            column: position.as_ref().map(|p| p.2),
            help: self.help.clone(),
        }
    }
}

/// A diagnostic as JSON.
#[derive(Debug, Serialize)]
pub struct DiagnosticRecord {
    /// `error` or `warning`.
    pub severity: &'static str,
    /// What is wrong.
    pub message: String,
    /// The file it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl fmt::Display for ManifestDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position() {
            Some((file, line, column)) => write!(f, "{file}:{line}:{column}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ManifestDiagnostic {}

impl Diagnostic for ManifestDiagnostic {
    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.at
            .as_ref()
            .map(|(file, _)| &file.text as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.at.as_ref().map(|(_, span)| {
            Box::new(std::iter::once(LabeledSpan::new_with_span(
                self.label.clone(),
                *span,
            ))) as Box<dyn Iterator<Item = LabeledSpan>>
        })
    }
}

/// A diagnostic with its source named, ready for miette's renderer.
pub struct Named<'a>(pub &'a ManifestDiagnostic, NamedSource<Arc<str>>);

impl<'a> Named<'a> {
    /// Wraps `diagnostic` so that its snippet header reads `file:line:column`.
    pub fn new(diagnostic: &'a ManifestDiagnostic) -> Self {
        let (name, text) = diagnostic.at.as_ref().map_or_else(
            || (String::new(), Arc::from("")),
            |(file, _)| (file.display.clone(), file.text.clone()),
        );
        Self(diagnostic, NamedSource::new(name, text))
    }
}

impl fmt::Debug for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Named<'_> {}

impl Diagnostic for Named<'_> {
    fn severity(&self) -> Option<Severity> {
        self.0.severity()
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.0.help()
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.0.at.as_ref().map(|_| &self.1 as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.0.labels()
    }
}

/// Collapses a problem repeated across items into its first diagnostic, which then says
/// how many more items have it ("… (and 9,999 more items)"): a 10,000-item matrix with one
/// bad template makes one message, not ten thousand.
#[derive(Debug)]
pub struct Repeats<K> {
    seen: std::collections::HashMap<K, (usize, usize)>,
}

impl<K> Default for Repeats<K> {
    fn default() -> Self {
        Self {
            seen: std::collections::HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq> Repeats<K> {
    /// Adds `diagnostic` to `into` the first time `key` is seen; counts it afterwards.
    pub fn push(
        &mut self,
        into: &mut Vec<ManifestDiagnostic>,
        key: K,
        diagnostic: ManifestDiagnostic,
    ) {
        if let Some((_, count)) = self.seen.get_mut(&key) {
            *count += 1;
        } else {
            self.seen.insert(key, (into.len(), 0));
            into.push(diagnostic);
        }
    }

    /// Whether `key` was pushed already.
    pub fn seen(&self, key: &K) -> bool {
        self.seen.contains_key(key)
    }

    /// Appends the counts to the messages of `into`.
    pub fn finish(&self, into: &mut [ManifestDiagnostic]) {
        for &(index, count) in self.seen.values() {
            if count > 0 {
                let d = &mut into[index];
                let _ = std::fmt::Write::write_fmt(
                    &mut d.message,
                    format_args!(
                        " (and {count} more item{})",
                        if count == 1 { "" } else { "s" }
                    ),
                );
            }
        }
    }
}

/// Everything wrong with one manifest (at least one error).
#[derive(Debug, Clone)]
pub struct ManifestErrors {
    /// The manifest, as the user named it.
    pub manifest: String,
    /// Errors and warnings, in the order found.
    pub diagnostics: Vec<ManifestDiagnostic>,
}

impl ManifestErrors {
    /// How many of the diagnostics are errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.error_count();
        write!(
            f,
            "{} is not a valid manifest: {n} error{}",
            self.manifest,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for ManifestErrors {}
