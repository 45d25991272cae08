//! One rendered input value: what it is (a VIP path, an external reference, a local file to
//! upload, or text) and whether VIP would take it.
//!
//! Local files are looked up once per distinct text and given their upload path here, so the
//! checks on uploads (empty files, refused characters, two files stored under one name) see
//! exactly what a run will send.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_saphyr::Location;

use super::findings::{Findings, Repeats};
use super::under;
use crate::manifest::api_key::expand_tilde;
use crate::manifest::diagnostic::{ManifestDiagnostic, SourceFile};
use crate::manifest::identity::upload_path;
use crate::manifest::validated::{Value, ValueKind};
use crate::vip::rules;

/// A value's meaning on the local disk.
enum Local {
    File {
        path: PathBuf,
        size: u64,
        upload: String,
        canonical: PathBuf,
    },
    NotAFile,
}

/// The checks of the rendered values of every item of one manifest, and what they share: the
/// local files looked up, the uploads' paths on VIP, the values naming no file.
pub(super) struct ValueChecker<'a> {
    file: &'a SourceFile,
    /// The manifest's folder, which local paths are relative to.
    dir: &'a Path,
    /// What each distinct input text names on disk (a 10,000-item matrix names the same
    /// few files over and over: one look each).
    local: HashMap<String, Local>,
    /// The manifest's folder, resolved once.
    canonical_dir: Option<PathBuf>,
    /// Where each upload goes on VIP → the local file sent there.
    uploads: HashMap<String, PathBuf>,
    /// Values that look like paths to files that do not exist, by place in the manifest:
    /// the input, the first such value, its location, how many items have one.
    missing: BTreeMap<usize, (String, String, Location, usize)>,
}

impl<'a> ValueChecker<'a> {
    /// No value checked yet, in the manifest `file` in the folder `dir`.
    pub(super) fn new(file: &'a SourceFile, dir: &'a Path) -> Self {
        Self {
            file,
            dir,
            local: HashMap::new(),
            canonical_dir: None,
            uploads: HashMap::new(),
            missing: BTreeMap::new(),
        }
    }

    /// Checks `text`, the value of `input` in item `key` written at `location`: what it is,
    /// and whether VIP would take it.
    pub(super) fn check(
        &mut self,
        out: &mut Findings,
        repeats: &mut Repeats,
        input: &str,
        text: String,
        location: Location,
        key: &str,
    ) -> Option<Value> {
        let text = if text.trim().len() == text.len() {
            text
        } else {
            text.trim().to_owned()
        };
        // Only an error needs it: not formatted for every value of every item.
        let in_item = || {
            if key == "main" {
                String::new()
            } else {
                format!(" in item `{key}`")
            }
        };
        if text.is_empty() {
            let item = in_item();
            let d = ManifestDiagnostic::error(format!("input `{input}` is empty{item}"))
                .at_location(self.file, location)
                .label("empty after rendering")
                .help("VIP refuses empty values: to leave an optional input at its default, remove it");
            out.repeated(repeats, "empty", d);
            return None;
        }
        if text.contains("@@") {
            let item = in_item();
            let d = ManifestDiagnostic::error(format!("input `{input}` contains `@@`{item}"))
                .at_location(self.file, location)
                .help("VIP splits values on `@@`: use a YAML list for several values");
            out.repeated(repeats, "@@", d);
            return None;
        }
        let kind = if rules::is_vip_path(&text) {
            ValueKind::VipPath
        } else if rules::is_external_reference(&text) {
            ValueKind::External
        } else {
            match self.lookup_local(&text) {
                Local::File {
                    path,
                    size,
                    upload,
                    canonical,
                } => {
                    let (path, size, upload, canonical) =
                        (path.clone(), *size, upload.clone(), canonical.clone());
                    if let Some(bad) = rules::forbidden_input_char(&upload) {
                        let item = in_item();
                        let d = ManifestDiagnostic::error(format!(
                            "input `{input}`: the file name `{text}` contains `{bad}`, which VIP refuses in input values{item}"
                        ))
                        .at_location(self.file, location)
                        .help(format!("rename the file; VIP allows {}", rules::INPUT_VALUE_CHARS));
                        out.repeated(repeats, "upload-chars", d);
                        return None;
                    }
                    if size == 0 {
                        let item = in_item();
                        let d = ManifestDiagnostic::error(format!(
                            "input `{input}`: the file `{text}` is empty{item}"
                        ))
                        .at_location(self.file, location)
                        .help("VIP stores an empty upload as a folder: give a file with content");
                        out.repeated(repeats, "empty-file", d);
                        return None;
                    }
                    if let Some(other) = self.uploads.insert(upload.clone(), canonical.clone())
                        && other != canonical
                    {
                        let d = ManifestDiagnostic::error(format!(
                                "local files {} and {} would both be stored on VIP as `{upload}`",
                                other.display(),
                                canonical.display()
                            ))
                            .at_location(self.file, location)
                            .help("VIP replaces spaces with `_` and drops accents in file names: rename one of the files");
                        out.repeated(repeats, "upload-clash", d);
                        return None;
                    }
                    return Some(Value {
                        text,
                        kind: ValueKind::LocalFile { path, size, upload },
                    });
                }
                Local::NotAFile => {
                    self.count_missing(input, &text, location);
                    ValueKind::Text
                }
            }
        };
        if let Some(bad) = rules::forbidden_input_char(&text) {
            let item = in_item();
            let shown = if bad.is_control() {
                format!("{bad:?}")
            } else {
                format!("`{bad}`")
            };
            let d = ManifestDiagnostic::error(format!(
                "input `{input}` contains {shown}, which VIP refuses in input values{item}"
            ))
            .at_location(self.file, location)
            .label("refused by VIP")
            .help(format!("VIP allows {}", rules::INPUT_VALUE_CHARS));
            out.repeated(repeats, "chars", d);
            return None;
        }
        Some(Value { text, kind })
    }

    /// Counts `value` (already checked) again, in another item, among the values that look
    /// like paths to files that do not exist.
    pub(super) fn note_missing(&mut self, input: &str, value: &Value, location: Location) {
        if matches!(value.kind, ValueKind::Text) {
            self.count_missing(input, &value.text, location);
        }
    }

    fn count_missing(&mut self, input: &str, text: &str, location: Location) {
        if looks_like_path(text) {
            let offset = self.file.location_offset(location).unwrap_or(0);
            self.missing
                .entry(offset)
                .or_insert_with(|| (input.to_owned(), text.to_owned(), location, 0))
                .3 += 1;
        }
    }

    fn lookup_local(&mut self, text: &str) -> &Local {
        if !self.local.contains_key(text) {
            let path = expand_tilde(text);
            let path = if path.is_absolute() {
                path
            } else {
                under(self.dir, path)
            };
            let found = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => {
                    let dir = self.canonical_dir.get_or_insert_with(|| {
                        std::fs::canonicalize(self.dir).unwrap_or_else(|_| self.dir.to_path_buf())
                    });
                    let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                    Local::File {
                        upload: upload_path(dir, &canonical),
                        path,
                        size: meta.len(),
                        canonical,
                    }
                }
                _ => Local::NotAFile,
            };
            self.local.insert(text.to_owned(), found);
        }
        &self.local[text]
    }

    /// Warns, once per place, about the values that look like paths to files that do not
    /// exist.
    pub(super) fn warn_missing(self, out: &mut Findings) {
        for (input, example, location, count) in self.missing.into_values() {
            let more = if count > 1 {
                format!(" (and {} more items)", count - 1)
            } else {
                String::new()
            };
            out.warn(location, format!("input `{input}`: no local file `{example}`{more}"),
                "if this is a File parameter, the file must exist; paths are relative to the manifest's folder");
        }
    }
}

/// Whether a string that names no existing file still looks like a path to one.
fn looks_like_path(text: &str) -> bool {
    if text.contains(['/', '\\']) || text.starts_with('.') || text.starts_with('~') {
        return !text.contains(' ') || text.contains('/');
    }
    text.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && (1..=5).contains(&ext.len())
            && ext.chars().all(|c| c.is_ascii_alphanumeric())
            && ext.chars().any(|c| c.is_ascii_alphabetic())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_heuristics() {
        assert!(looks_like_path("data/sub-01/signal.mrui"));
        assert!(looks_like_path("basis.zip"));
        assert!(!looks_like_path("Hello"));
        assert!(!looks_like_path("1.5"));
        assert!(!looks_like_path("Hello world."));
    }
}
