//! Reading a manifest file and parsing its YAML, within limits.
//!
//! Recipes come from git and run unattended, so a hostile or broken file must fail fast:
//! the file size is capped before it is read, the text must be UTF-8, and the YAML parser
//! runs with a budget (depth, events, aliases) that an alias bomb or a 20,000-deep nesting
//! exceeds long before it costs time or memory.

use std::io::Read;
use std::path::Path;

use serde_saphyr::Error as YamlError;
use serde_saphyr::budget::BudgetBreach;

use super::diagnostic::{ManifestDiagnostic, SourceFile};
use super::model::Manifest;
use super::{secrets, structure, suggest};

/// The largest manifest accepted (a 10,000-subject matrix is about 200 KB).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Deepest YAML nesting accepted: a manifest needs five levels.
const MAX_DEPTH: usize = 64;

/// A manifest's text, read and checked to be UTF-8, with secrets masked for quoting.
#[derive(Debug)]
pub struct Source {
    /// The masked text, for diagnostics.
    pub file: SourceFile,
    /// The real text, for the parser.
    pub text: String,
    /// The secrets found in it (to scrub rendered output).
    pub secrets: Vec<String>,
}

/// Reads `path`, refusing files that are too large, not files, or not UTF-8.
#[allow(clippy::result_large_err)] // built once per failed file: boxing would buy nothing
pub fn read(path: &Path, max_bytes: u64, what: &str) -> Result<Source, ManifestDiagnostic> {
    let display = path.display();
    let cannot = |e: std::io::Error| {
        ManifestDiagnostic::error(format!("cannot read {what} {display}: {}", io_reason(&e))).help(
            format!("check the path; it is taken relative to {}", cwd_hint()),
        )
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if meta.is_dir() {
        return Err(
            ManifestDiagnostic::error(format!("{display} is a directory, not a {what}"))
                .help("name the YAML file itself"),
        );
    }
    let mut bytes = Vec::new();
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > max_bytes {
        return Err(ManifestDiagnostic::error(format!(
            "{display} is larger than {} MiB: too large for a {what}",
            max_bytes / (1024 * 1024)
        ))
        .help("a recipe is small: put long lists of subjects in a `foreach` CSV file"));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(e) => {
            let lossy = String::from_utf8_lossy(bytes);
            let (masked, _) = secrets::mask(&lossy);
            let file = SourceFile::new(path, masked);
            let bad = bytes[e.valid_up_to()];
            let offset = String::from_utf8_lossy(&bytes[..e.valid_up_to()]).len();
            return Err(ManifestDiagnostic::error(format!(
                "{what} is not valid UTF-8: byte 0x{bad:02X} cannot start or continue a character"
            ))
            .at(&file, offset, 1)
            .label("not UTF-8")
            .help("save the file as UTF-8 (your editor's encoding setting)"));
        }
    };
    let (masked, secrets) = secrets::mask(&text);
    Ok(Source {
        file: SourceFile::new(path, masked),
        text,
        secrets,
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn cwd_hint() -> String {
    std::env::current_dir().map_or_else(
        |_| "the current directory".into(),
        |d| d.display().to_string(),
    )
}

/// Parses the manifest's YAML into the raw model.
pub fn parse(source: &Source) -> Result<Manifest, Vec<ManifestDiagnostic>> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_events: 2_000_000,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_documents: 1,
            flow_nesting_limit: MAX_DEPTH,
            max_nodes: 2_000_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 200_000,
            max_replay_stack_depth: 16,
        },
        with_snippet: false,
    };
    let parsed = serde_saphyr::from_str_with_options::<Manifest>(&source.text, options);
    parsed
        .map(|mut m| {
            super::number_text::restore(&mut m, &source.text);
            m
        })
        .map_err(|e| {
            let about_keys = matches!(
                original(&e),
                YamlError::SerdeUnknownField { .. } | YamlError::SerdeMissingField { .. }
            );
            let all = if about_keys {
                structure::key_problems(&source.text, &source.file)
            } else {
                Vec::new()
            };
            if all.is_empty() {
                vec![yaml_diagnostic(&e, &source.file)]
            } else {
                all
            }
        })
}

/// Turns a YAML or serde error into a diagnostic in the user's terms.
pub fn yaml_diagnostic(err: &YamlError, file: &SourceFile) -> ManifestDiagnostic {
    let inner = original(err);
    let (message, label, help) = match inner {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            let help = suggest::did_you_mean(field, expected.iter().copied()).map_or_else(
                || format!("the keys allowed here are: {}", quoted_list(expected)),
                |s| format!("did you mean `{s}`?"),
            );
            (
                format!("unknown key `{field}`"),
                "unknown key".to_owned(),
                Some(help),
            )
        }
        YamlError::SerdeMissingField { field, .. } => (
            format!("missing required key `{field}`"),
            format!("`{field}` is required in this mapping"),
            Some(structure::missing_help(field)),
        ),
        YamlError::DuplicateMappingKey { key, .. } => {
            let key = key.clone().unwrap_or_default();
            (
                format!("duplicate key `{key}`"),
                "given a second time here".to_owned(),
                Some("YAML keys must be unique in a mapping: remove one of them".to_owned()),
            )
        }
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let help = suggest::did_you_mean(variant, expected.iter().copied()).map_or_else(
                || format!("use one of: {}", quoted_list(expected)),
                |s| format!("did you mean `{s}`?"),
            );
            (
                format!("unknown key `{variant}`"),
                "unknown key".to_owned(),
                Some(help),
            )
        }
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => (
            format!("wrong type: found {unexpected}, expected {expected}"),
            format!("expected {expected}"),
            None,
        ),
        YamlError::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => (
            format!("invalid value: {unexpected}, expected {expected}"),
            format!("expected {expected}"),
            None,
        ),
        YamlError::InvalidScalar { ty, .. } => {
            let expected = scalar_expectation(ty);
            (
                format!("wrong type: expected {expected}"),
                format!("not {expected}"),
                Some(format!("write {expected} here")),
            )
        }
        YamlError::NullIntoString { .. } => (
            "this value is empty (null), but text is required".to_owned(),
            "empty value".to_owned(),
            Some(
                "write a value, or quote it (`\"\"`) if you really mean an empty string".to_owned(),
            ),
        ),
        YamlError::Budget { breach, .. } => budget_message(breach),
        YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => (
            "YAML aliases expand to far more data than a manifest can hold (an alias bomb?)"
                .to_owned(),
            "alias expanded too many times".to_owned(),
            Some("use anchors and aliases for small shared blocks only".to_owned()),
        ),
        YamlError::MultipleDocuments { .. } => (
            "the file holds several YAML documents; a manifest is one document".to_owned(),
            "second document".to_owned(),
            Some("remove the `---` separator, or split the file into several manifests".to_owned()),
        ),
        other if other.to_string().contains("recursion limit") => (
            format!("the YAML is nested more than {MAX_DEPTH} levels deep"),
            "limit reached here".to_owned(),
            Some(
                "a manifest needs a handful of levels: check the brackets and indentation"
                    .to_owned(),
            ),
        ),
        other => {
            let text = strip_location(&other.to_string());
            (text, "here".to_owned(), Some(syntax_help(other)))
        }
    };
    let mut diagnostic = ManifestDiagnostic::error(message).maybe_help(help);
    if let Some(location) = err.location() {
        diagnostic = diagnostic.at_location(file, location).label(label);
    }
    diagnostic
}

fn original(err: &YamlError) -> &YamlError {
    match err.without_snippet() {
        YamlError::AliasError { error, .. } => original(error),
        other => other,
    }
}

fn budget_message(breach: &BudgetBreach) -> (String, String, Option<String>) {
    let (what, help) = match breach {
        BudgetBreach::Depth { .. } => (
            format!("the YAML is nested more than {MAX_DEPTH} levels deep"),
            "a manifest needs a handful of levels: check the indentation",
        ),
        BudgetBreach::Aliases { .. } | BudgetBreach::Anchors { .. } => (
            "the YAML uses too many anchors or aliases".to_owned(),
            "use anchors and aliases for small shared blocks only",
        ),
        BudgetBreach::Documents { .. } => (
            "the file holds several YAML documents; a manifest is one document".to_owned(),
            "remove the `---` separator, or split the file into several manifests",
        ),
        _ => (
            format!("the YAML is too large for a manifest ({breach:?})"),
            "put long lists of subjects in a `foreach` CSV file",
        ),
    };
    (what, "limit reached here".to_owned(), Some(help.to_owned()))
}

fn scalar_expectation(ty: &str) -> &'static str {
    match ty {
        t if t.starts_with('u') => "a whole number (0 or more)",
        t if t.starts_with('i') => "a whole number",
        t if t.starts_with('f') => "a number",
        "bool" => "`true` or `false`",
        "char" => "a single character",
        _ => "a value of another type",
    }
}

fn syntax_help(err: &YamlError) -> String {
    let text = err.to_string();
    if text.contains("tab") {
        "YAML indentation uses spaces, never tabs".into()
    } else if matches!(err, YamlError::Eof { .. }) {
        "the file ends early: a quote, bracket or brace is not closed".into()
    } else {
        "check the YAML syntax at this point: indentation, quotes, `:` after keys".into()
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Removes serde-saphyr's own ` at line N column M` tail from a message.
fn strip_location(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_owned(),
        None => first.to_owned(),
    }
}
