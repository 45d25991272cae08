//! `foreach: { files: PATTERN }`: one item per file found by a glob with named captures.
//!
//! The pattern is matched segment by segment against the manifest's folder (`HTCondor`'s
//! `queue … matching`, Snakemake's `glob_wildcards`): `*` and `?` and `[…]` as in a shell,
//! `**` for any number of folders, and `{name}` for part of one segment, captured. A name used
//! twice must capture the same text, so `sub-{subject}/anat/sub-{subject}_T1w.nii.gz` does not
//! pair one subject's folder with another's file. The matcher is ours rather than a crate's
//! because captures with back-references are the point, and no glob crate offers them.
//!
//! Like shell globs, wildcards never match a leading `.` (so `.git` and `.vip-run` stay out),
//! and `**` does not follow symbolic links to folders (no cycles, no escaping the folder).
//! A name that is not UTF-8 and that the pattern would take is refused rather than skipped: a
//! cohort one subject short would go unnoticed, and VIP takes only text names anyway.

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::diagnostic::{ManifestDiagnostic, SourceFile};
use super::expand::{Assignment, is_identifier};
use super::model::Scalar;

/// The variable holding the matched path.
pub const FILE_VARIABLE: &str = "file";

/// One piece of a segment.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: one character.
    One,
    /// `[…]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `{name}`: one or more characters, bound to `name`.
    Capture(String),
}

/// One path segment of the pattern.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// `**`: zero or more folders.
    AnyDepth,
    Tokens(Vec<Token>),
}

impl Segment {
    fn literal(&self) -> Option<String> {
        match self {
            Segment::AnyDepth => None,
            Segment::Tokens(tokens) => tokens
                .iter()
                .map(|t| match t {
                    Token::Literal(c) => Some(*c),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// A parsed pattern: its segments and its capture names in order of first use.
#[derive(Debug)]
struct Pattern {
    segments: Vec<Segment>,
    captures: Vec<String>,
}

/// What is wrong with a pattern, with the help to give.
type PatternError = (String, String);

fn parse(pattern: &str) -> Result<Pattern, PatternError> {
    let escapes = || {
        (
            format!("`{pattern}` escapes the manifest's folder"),
            "write the pattern relative to the manifest's folder, without a leading `/`, `~` or `..` segments (move the manifest up if the data sits beside it)".to_owned(),
        )
    };
    if pattern.trim().is_empty() {
        return Err((
            "the `files` pattern is empty".into(),
            "write a pattern such as `data/sub-{subject}/anat/sub-{subject}_T1w.nii.gz`".into(),
        ));
    }
    if pattern.starts_with('/')
        || pattern.starts_with('~')
        || pattern.starts_with('\\')
        || pattern.as_bytes().get(1) == Some(&b':')
    {
        return Err(escapes());
    }
    let mut segments = Vec::new();
    let mut captures: Vec<String> = Vec::new();
    for raw in pattern.split('/') {
        if raw.is_empty() || raw == "." {
            continue;
        }
        if raw == ".." {
            return Err(escapes());
        }
        if raw == "**" {
            if segments.last() != Some(&Segment::AnyDepth) {
                segments.push(Segment::AnyDepth);
            }
            continue;
        }
        if raw.contains("**") {
            return Err((
                format!("`**` in `{raw}` must be a whole path segment"),
                "write `**/` for any number of folders, or `*` for part of a name".into(),
            ));
        }
        let mut tokens = Vec::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::One),
                '[' => {
                    let mut negated = false;
                    if matches!(chars.peek(), Some('!' | '^')) {
                        negated = true;
                        chars.next();
                    }
                    let mut set: Vec<char> = Vec::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == ']' && !set.is_empty() {
                            closed = true;
                            break;
                        }
                        set.push(c);
                    }
                    if !closed {
                        return Err((
                            format!("`[` in `{raw}` is not closed"),
                            "close the character class with `]`, e.g. `[0-9]`".into(),
                        ));
                    }
                    let mut ranges = Vec::new();
                    let mut i = 0;
                    while i < set.len() {
                        if i + 2 < set.len() && set[i + 1] == '-' {
                            ranges.push((set[i], set[i + 2]));
                            i += 3;
                        } else {
                            ranges.push((set[i], set[i]));
                            i += 1;
                        }
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err((
                            format!("`{{` in `{raw}` is not closed"),
                            "write a capture as `{name}`".into(),
                        ));
                    }
                    if !is_identifier(&name) {
                        return Err((
                            format!("`{{{name}}}` is not a valid capture name"),
                            "capture names are letters, digits and `_`, not starting with a digit, so templates can use them".into(),
                        ));
                    }
                    if !captures.contains(&name) {
                        captures.push(name.clone());
                    }
                    tokens.push(Token::Capture(name));
                }
                '}' => {
                    return Err((
                        format!("`}}` in `{raw}` has no `{{`"),
                        "write a capture as `{name}`".into(),
                    ));
                }
                c => tokens.push(Token::Literal(c)),
            }
        }
        segments.push(Segment::Tokens(tokens));
    }
    match segments.last() {
        None => Err((
            "the `files` pattern names no file".into(),
            "end the pattern with a file name, e.g. `sub-{subject}_T1w.nii.gz`".into(),
        )),
        Some(Segment::AnyDepth) => Err((
            "the `files` pattern ends with `**`, which matches folders, not files".into(),
            "end the pattern with a file name, e.g. `**/*.nii.gz`".into(),
        )),
        Some(_) => Ok(Pattern { segments, captures }),
    }
}

type Bindings = Vec<(String, String)>;

/// Matches one segment's tokens against a name, extending `bindings`; on failure `bindings`
/// is left as it was. Captures take as few characters as they can (at least one).
fn match_tokens(tokens: &[Token], name: &[char], bindings: &mut Bindings) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return name.is_empty();
    };
    match first {
        Token::Literal(c) => name.first() == Some(c) && match_tokens(rest, &name[1..], bindings),
        Token::One => !name.is_empty() && match_tokens(rest, &name[1..], bindings),
        Token::Class { negated, ranges } => name.first().is_some_and(|c| {
            ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&c)) != *negated
                && match_tokens(rest, &name[1..], bindings)
        }),
        Token::Star => (0..=name.len()).any(|n| match_tokens(rest, &name[n..], bindings)),
        Token::Capture(var) => {
            if let Some((_, bound)) = bindings.iter().find(|(n, _)| n == var) {
                let bound: Vec<char> = bound.chars().collect();
                return name.starts_with(&bound)
                    && match_tokens(rest, &name[bound.len()..], bindings);
            }
            for n in 1..=name.len() {
                bindings.push((var.clone(), name[..n].iter().collect()));
                if match_tokens(rest, &name[n..], bindings) {
                    return true;
                }
                bindings.pop();
            }
            false
        }
    }
}

/// Files found so far: path relative to the manifest → captures.
type Found = BTreeMap<String, Bindings>;

struct Walk<'a> {
    found: Found,
    limit: usize,
    root: &'a Path,
    /// Names the pattern would take that are not UTF-8 (relative to the manifest's folder,
    /// lossy), refused once the walk is done.
    not_utf8: Vec<String>,
}

impl Walk<'_> {
    fn visit(&mut self, rel: &str, segments: &[Segment], bindings: &Bindings) {
        if self.found.len() > self.limit {
            return;
        }
        let Some((segment, rest)) = segments.split_first() else {
            return;
        };
        let here = if rel.is_empty() {
            self.root.to_path_buf()
        } else {
            self.root.join(rel)
        };
        let join = |name: &str| {
            if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            }
        };
        if let Segment::AnyDepth = segment {
            self.visit(rel, rest, bindings);
            for Entry { name, path, utf8 } in entries(&here) {
                // A symbolic link to a folder is not followed at any depth: no cycles.
                let is_dir = path.symlink_metadata().is_ok_and(|m| m.is_dir());
                if is_dir && !name.starts_with('.') {
                    if utf8 {
                        self.visit(&join(&name), segments, bindings);
                    } else {
                        self.not_utf8.push(join(&name));
                    }
                }
            }
            return;
        }
        let last = rest.is_empty();
        let accept = |path: &Path| {
            if last { path.is_file() } else { path.is_dir() }
        };
        if let Some(literal) = segment.literal() {
            // No wildcard: look the name up rather than list the folder.
            if accept(&here.join(&literal)) {
                self.step(&join(&literal), rest, bindings.clone());
            }
            return;
        }
        let Segment::Tokens(tokens) = segment else {
            return;
        };
        for Entry { name, path, utf8 } in entries(&here) {
            let chars: Vec<char> = name.chars().collect();
            if name.starts_with('.') && tokens.first() != Some(&Token::Literal('.')) {
                continue;
            }
            let mut b = bindings.clone();
            // A name that is not UTF-8 is matched as printed (`\u{FFFD}` for each bad byte,
            // which any wildcard takes): what the pattern would take is refused, not skipped.
            if match_tokens(tokens, &chars, &mut b) && accept(&path) {
                if utf8 {
                    self.step(&join(&name), rest, b);
                } else {
                    self.not_utf8.push(join(&name));
                }
            }
        }
    }

    fn step(&mut self, rel: &str, rest: &[Segment], bindings: Bindings) {
        if rest.is_empty() {
            self.found.insert(rel.to_owned(), bindings);
        } else {
            self.visit(rel, rest, &bindings);
        }
    }
}

/// One entry of a folder.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    /// Its name; printed lossily when it is not UTF-8.
    name: String,
    path: std::path::PathBuf,
    /// Whether the name is UTF-8.
    utf8: bool,
}

/// A folder's entries, sorted; unreadable folders have none.
fn entries(dir: &Path) -> Vec<Entry> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = read
        .filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name();
            Entry {
                utf8: name.to_str().is_some(),
                name: name.to_string_lossy().into_owned(),
                path: e.path(),
            }
        })
        .collect();
    out.sort();
    out
}

/// The items of `foreach: { files: PATTERN }`, reporting problems into `diags`.
pub fn files(
    pattern: &Spanned<String>,
    dir: &Path,
    file: &SourceFile,
    max_items: usize,
    taken: &dyn Fn(&str) -> Option<&'static str>,
    diags: &mut Vec<ManifestDiagnostic>,
) -> Option<Vec<Assignment>> {
    let error = |message: String, help: String| {
        ManifestDiagnostic::error(message)
            .at_location(file, pattern.referenced)
            .label("in this pattern")
            .help(help)
    };
    let parsed = match parse(&pattern.value) {
        Ok(p) => p,
        Err((message, help)) => {
            diags.push(error(message, help));
            return None;
        }
    };
    let before = diags.len();
    if parsed.captures.is_empty() {
        diags.push(error(
            format!("`{}` captures nothing, so its items would have no keys", pattern.value),
            "name the part that tells the files apart, e.g. `data/sub-{subject}/anat/sub-{subject}_T1w.nii.gz`".into(),
        ));
    }
    for name in &parsed.captures {
        let owner = if name == FILE_VARIABLE {
            Some("the matched file's path")
        } else {
            taken(name)
        };
        if let Some(owner) = owner {
            diags.push(error(
                format!("capture `{{{name}}}` is already {owner}"),
                "rename the capture".into(),
            ));
        }
    }
    if diags.len() > before {
        return None;
    }
    let mut walk = Walk {
        found: Found::new(),
        limit: max_items,
        root: dir,
        not_utf8: Vec::new(),
    };
    walk.visit("", &parsed.segments, &Vec::new());
    if !walk.not_utf8.is_empty() {
        for rel in &walk.not_utf8 {
            let (folder, name) = match rel.rsplit_once('/') {
                Some((folder, name)) => (dir.join(folder), name),
                None => (dir.to_path_buf(), rel.as_str()),
            };
            diags.push(error(
                format!(
                    "`{}` would take `{name}` in folder {}, but that name is not UTF-8",
                    pattern.value,
                    folder.display()
                ),
                "vip-run and VIP need names in UTF-8 (`\u{FFFD}` marks the bytes that are not): rename it, e.g. with `mv`".into(),
            ));
        }
        return None;
    }
    if walk.found.is_empty() {
        diags.push(error(
            format!("no file matches `{}`", pattern.value),
            format!(
                "the pattern is relative to the manifest's folder ({}); `*` and `{{name}}` stay within one folder name (use `**/` for any depth), and wildcards skip names starting with `.`",
                dir.display()
            ),
        ));
        return None;
    }
    if walk.found.len() > max_items {
        diags.push(error(
            format!(
                "`{}` matches more than {max_items} files, the limit",
                pattern.value
            ),
            "narrow the pattern, split the cohort, or raise the limit with `--max-items N` if you mean it".into(),
        ));
        return None;
    }
    // Sorted by the captured values (then path), so keys come out in a stable, natural order.
    let mut items: Vec<(Vec<String>, String)> = walk
        .found
        .into_iter()
        .map(|(path, bindings)| {
            let values = parsed
                .captures
                .iter()
                .map(|c| {
                    bindings
                        .iter()
                        .find(|(n, _)| n == c)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                })
                .collect();
            (values, path)
        })
        .collect();
    items.sort();
    let mut by_key: IndexMap<String, &str> = IndexMap::new();
    for (values, path) in &items {
        let key = values.join("-");
        if let Some(first) = by_key.get(&key) {
            diags.push(error(
                format!("`{first}` and `{path}` both give the key `{key}`"),
                "each item needs its own key: capture the part that tells these files apart (e.g. add `{session}`), or narrow the pattern".into(),
            ));
        } else {
            by_key.insert(key, path);
        }
    }
    if diags.len() > before {
        return None;
    }
    Some(
        items
            .into_iter()
            .map(|(values, path)| {
                let key = values.join("-");
                let mut vars: IndexMap<String, Scalar> = parsed
                    .captures
                    .iter()
                    .cloned()
                    .zip(values.into_iter().map(Scalar::Str))
                    .collect();
                vars.insert(FILE_VARIABLE.to_owned(), Scalar::Str(path));
                Assignment { key, values: vars }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> Option<Bindings> {
        let p = parse(pattern).unwrap();
        let Segment::Tokens(tokens) = &p.segments[0] else {
            panic!()
        };
        let chars: Vec<char> = name.chars().collect();
        let mut b = Vec::new();
        match_tokens(tokens, &chars, &mut b).then_some(b)
    }

    #[test]
    fn wildcards_and_classes() {
        assert!(matches("*.nii.gz", "a.nii.gz").is_some());
        assert!(matches("*.nii.gz", "a.nii").is_none());
        assert!(matches("sub-0?", "sub-01").is_some());
        assert!(matches("sub-0?", "sub-012").is_none());
        assert!(matches("run-[0-9]", "run-3").is_some());
        assert!(matches("run-[!0-9]", "run-3").is_none());
        assert!(matches("run-[!0-9]", "run-x").is_some());
    }

    #[test]
    fn a_name_used_twice_captures_the_same_text() {
        assert_eq!(
            matches("{s}_{s}.txt", "01_01.txt").unwrap(),
            vec![("s".to_owned(), "01".to_owned())]
        );
        assert!(matches("{s}_{s}.txt", "01_02.txt").is_none());
    }

    #[test]
    fn escaping_patterns_are_refused() {
        for p in ["/data/*", "../x/{a}", "data/../../{a}", "~/x/{a}"] {
            assert!(parse(p).unwrap_err().0.contains("escapes"), "{p}");
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(parse("{1a}.txt").is_err());
        assert!(parse("{a.txt").is_err());
        assert!(parse("[a.txt").is_err());
        assert!(parse("a/**").is_err());
        assert!(parse("a**b/{x}").is_err());
    }
}
