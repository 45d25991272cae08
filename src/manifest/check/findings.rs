//! What the checks find in one manifest: its diagnostics, in the order found, each placed in
//! the manifest's text.

use serde_saphyr::Location;

use crate::manifest::diagnostic::{ManifestDiagnostic, SourceFile};

/// Per-item problems, collapsed by place in the manifest and kind.
pub(super) type Repeats = crate::manifest::diagnostic::Repeats<(usize, &'static str)>;

/// The diagnostics of one manifest so far.
pub(super) struct Findings<'a> {
    /// The manifest, to place diagnostics in.
    pub(super) file: &'a SourceFile,
    diags: Vec<ManifestDiagnostic>,
}

impl<'a> Findings<'a> {
    pub(super) fn new(file: &'a SourceFile) -> Self {
        Self {
            file,
            diags: Vec::new(),
        }
    }

    pub(super) fn error(
        &mut self,
        location: Location,
        message: impl Into<String>,
        label: &str,
        help: impl Into<String>,
    ) {
        self.diags.push(
            ManifestDiagnostic::error(message)
                .at_location(self.file, location)
                .label(label)
                .help(help),
        );
    }

    pub(super) fn warn(
        &mut self,
        location: Location,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags.push(
            ManifestDiagnostic::warning(message)
                .at_location(self.file, location)
                .help(help),
        );
    }

    /// Adds a diagnostic built elsewhere.
    pub(super) fn push(&mut self, diagnostic: ManifestDiagnostic) {
        self.diags.push(diagnostic);
    }

    /// Records a per-item problem once per place and kind, counting the other items.
    pub(super) fn repeated(
        &mut self,
        repeats: &mut Repeats,
        kind: &'static str,
        diagnostic: ManifestDiagnostic,
    ) {
        let offset = diagnostic
            .at
            .as_ref()
            .map_or(usize::MAX, |(_, s)| s.offset());
        repeats.push(&mut self.diags, (offset, kind), diagnostic);
    }

    /// Writes the counts of the repeated problems into their diagnostics.
    pub(super) fn finish_repeats(&mut self, repeats: &Repeats) {
        repeats.finish(&mut self.diags);
    }

    /// Where checks that report into a list of their own (expansion) add theirs.
    pub(super) fn list(&mut self) -> &mut Vec<ManifestDiagnostic> {
        &mut self.diags
    }

    /// Whether any finding is an error.
    pub(super) fn has_errors(&self) -> bool {
        self.diags.iter().any(ManifestDiagnostic::is_error)
    }

    /// Everything found, in order.
    pub(super) fn into_diagnostics(self) -> Vec<ManifestDiagnostic> {
        self.diags
    }
}
