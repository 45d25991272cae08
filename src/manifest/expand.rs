//! Expanding `matrix` or `foreach` into items: one assignment of variables per execution.
//!
//! Matrix semantics are GitHub Actions': the cross product of the variables, then `exclude`
//! removes every combination matching an entry, then each `include` entry extends every
//! combination it does not contradict on an original variable, or is added as a new one.
//! Sizes are computed before anything is built, so a huge matrix is refused in microseconds.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use indexmap::IndexMap;
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};

use super::diagnostic::{ManifestDiagnostic, SourceFile};
use super::load;
use super::model::{Matrix, Scalar};

/// One item's variables (from the matrix or the CSV row) and its key.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// Stable, unique name of the item (`main` for a manifest without matrix or foreach).
    pub key: String,
    /// Variable → value, in declaration order.
    pub values: IndexMap<String, Scalar>,
}

/// Names that templates provide themselves and variables may not take.
pub const RESERVED: [&str; 5] = ["name", "vars", "item", "index", "env"];

/// The largest CSV file accepted.
pub const MAX_CSV_BYTES: u64 = 64 * 1024 * 1024;

/// Whether `name` can be used as a template variable.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How a scalar is written in a key and sent to VIP (`None` for null or non-finite).
pub fn scalar_text(value: &Scalar) -> Option<String> {
    match value {
        Scalar::Str(s) => Some(s.clone()),
        Scalar::Bool(b) => Some(b.to_string()),
        Scalar::Number(text) => Some(text.clone()),
        Scalar::NotFinite | Scalar::Null => None,
    }
}

/// Whether two values are the same as far as VIP (and the user) can tell: `30` and `"30"`
/// are, since both reach VIP as `30`; `8` and `08` are not.
fn same(a: &Scalar, b: &Scalar) -> bool {
    a == b || scalar_text(a).is_some_and(|t| scalar_text(b).as_deref() == Some(t.as_str()))
}

/// What [`same`] compares: values with the same key are the same.
#[derive(PartialEq, Eq, Hash)]
enum SameKey {
    Text(String),
    NotFinite,
    Null,
}

fn same_key(value: &Scalar) -> SameKey {
    match (scalar_text(value), value) {
        (Some(t), _) => SameKey::Text(t),
        (None, Scalar::NotFinite) => SameKey::NotFinite,
        (None, _) => SameKey::Null,
    }
}

fn matches(entry: &IndexMap<String, Spanned<Scalar>>, combo: &IndexMap<String, Scalar>) -> bool {
    entry
        .iter()
        .all(|(k, v)| combo.get(k).is_some_and(|c| same(c, &v.value)))
}

/// Expands a matrix, reporting problems into `diags`. `None` when it cannot be expanded.
pub fn matrix(
    matrix: &Spanned<Matrix>,
    file: &SourceFile,
    max_items: usize,
    taken: &dyn Fn(&str) -> Option<&'static str>,
    diags: &mut Vec<ManifestDiagnostic>,
) -> Option<Vec<Assignment>> {
    let before = diags.len();
    let m = &matrix.value;
    let mut count: usize = 1;
    let mut overflow = false;
    for (name, values) in &m.axes {
        check_variable_name(&name.value, name, file, taken, diags);
        if values.value.is_empty() {
            diags.push(
                ManifestDiagnostic::error(format!(
                    "matrix variable `{}` has no values",
                    name.value
                ))
                .at_location(file, values.referenced)
                .label("empty list")
                .help("give at least one value, or remove the variable"),
            );
        }
        // `same` as a hash key, so a 10,000-value axis costs 10,000 look-ups, not 50 million
        // comparisons.
        let mut seen: HashSet<SameKey> = HashSet::with_capacity(values.value.len());
        for v in &values.value {
            check_scalar(&v.value, v, file, diags);
            if !seen.insert(same_key(&v.value)) {
                diags.push(
                    ManifestDiagnostic::error(format!(
                        "matrix variable `{}` lists `{}` twice",
                        name.value,
                        scalar_text(&v.value).unwrap_or_default()
                    ))
                    .at_location(file, v.referenced)
                    .label("listed again here")
                    .help("each value makes its own items: remove the repeated value"),
                );
            }
        }
        count = count.checked_mul(values.value.len()).unwrap_or_else(|| {
            overflow = true;
            usize::MAX
        });
    }
    for (list, what) in [(&m.exclude, "exclude"), (&m.include, "include")] {
        for entry in list {
            if entry.value.is_empty() {
                diags.push(
                    ManifestDiagnostic::error(format!("an `{what}` entry is empty"))
                        .at_location(file, entry.referenced)
                        .help("give variable: value pairs, e.g. `{ subject: sub-01 }`"),
                );
            }
            for (k, v) in &entry.value {
                check_scalar(&v.value, v, file, diags);
                let known = m.axes.iter().any(|(n, _)| n.value == *k);
                if what == "exclude" && !known {
                    diags.push(
                        ManifestDiagnostic::error(format!(
                            "`exclude` names `{k}`, which is not a matrix variable"
                        ))
                        .at_location(file, v.referenced)
                        .maybe_help(
                            super::suggest::did_you_mean(
                                k,
                                m.axes.iter().map(|(n, _)| n.value.as_str()),
                            )
                            .map(|s| format!("did you mean `{s}`?")),
                        ),
                    );
                } else if what == "include" && !known && is_identifier(k) {
                    if let Some(owner) = taken(k) {
                        diags.push(
                            ManifestDiagnostic::error(format!(
                                "`include` variable `{k}` is already {owner}"
                            ))
                            .at_location(file, v.referenced)
                            .help("rename the variable"),
                        );
                    }
                } else if !is_identifier(k) {
                    diags.push(
                        ManifestDiagnostic::error(format!("`{k}` is not a valid variable name"))
                            .at_location(file, v.referenced)
                            .help("variable names are letters, digits and `_`, not starting with a digit"),
                    );
                }
            }
        }
    }
    if m.axes.is_empty() && m.include.is_empty() {
        diags.push(
            ManifestDiagnostic::error("the matrix has no variables")
                .at_location(file, matrix.referenced)
                .help("add a variable with a list of values, e.g. `subject: [sub-01, sub-02]`"),
        );
    }
    if overflow || count > max_items {
        diags.push(too_many(file, matrix, count, overflow, max_items));
    }
    if diags.len() > before {
        return None;
    }

    // Cross product (empty when there are no axes and only `include`).
    let mut combos: Vec<IndexMap<String, Scalar>> = Vec::with_capacity(count);
    let mut excluded = vec![false; m.exclude.len()];
    if !m.axes.is_empty() {
        let mut index = vec![0usize; m.axes.len()];
        'outer: loop {
            let mut combo: IndexMap<String, Scalar> = IndexMap::with_capacity(m.axes.len());
            for ((n, v), &i) in m.axes.iter().zip(&index) {
                combo.insert(n.value.clone(), v.value[i].value.clone());
            }
            match m.exclude.iter().position(|e| matches(&e.value, &combo)) {
                Some(i) => excluded[i] = true,
                None => combos.push(combo),
            }
            for pos in (0..index.len()).rev() {
                index[pos] += 1;
                if index[pos] < m.axes[pos].1.value.len() {
                    continue 'outer;
                }
                index[pos] = 0;
            }
            break;
        }
    }
    for (entry, used) in m.exclude.iter().zip(&excluded) {
        if !used && !m.axes.is_empty() {
            diags.push(
                ManifestDiagnostic::warning("this `exclude` entry matches no combination")
                    .at_location(file, entry.referenced)
                    .help("check its values against the matrix variables' values"),
            );
        }
    }
    let axis_names: Vec<&str> = m.axes.iter().map(|(n, _)| n.value.as_str()).collect();
    let mut extra: Vec<IndexMap<String, Scalar>> = Vec::new();
    for entry in &m.include {
        let mut merged = false;
        for combo in &mut combos {
            let compatible = entry
                .value
                .iter()
                .filter(|(k, _)| axis_names.contains(&k.as_str()))
                .all(|(k, v)| combo.get(k).is_some_and(|c| same(c, &v.value)));
            if compatible
                && entry
                    .value
                    .keys()
                    .any(|k| !axis_names.contains(&k.as_str()))
            {
                for (k, v) in &entry.value {
                    combo.insert(k.clone(), v.value.clone());
                }
                merged = true;
            } else if compatible {
                merged = true;
            }
        }
        if !merged {
            extra.push(
                entry
                    .value
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value.clone()))
                    .collect(),
            );
        }
    }
    let mut keys: Vec<String> = combos
        .iter()
        .map(|c| key_of(axis_names.iter().filter_map(|n| c.get(*n))))
        .collect();
    keys.extend(extra.iter().map(|c| key_of(c.values())));
    combos.extend(extra);
    if combos.is_empty() {
        diags.push(
            ManifestDiagnostic::error(
                "the matrix has no items: `exclude` removes every combination",
            )
            .at_location(file, matrix.referenced)
            .help("check the `exclude` entries"),
        );
        return None;
    }
    if combos.len() > max_items {
        diags.push(too_many(file, matrix, combos.len(), false, max_items));
        return None;
    }
    Some(assign_keys(combos, keys))
}

fn too_many(
    file: &SourceFile,
    matrix: &Spanned<Matrix>,
    count: usize,
    overflow: bool,
    max_items: usize,
) -> ManifestDiagnostic {
    let count = if overflow {
        "more than 2^64".to_owned()
    } else {
        count.to_string()
    };
    ManifestDiagnostic::error(format!(
        "the matrix expands to {count} items, more than the limit of {max_items}"
    ))
    .at_location(file, matrix.referenced)
    .label("expands to too many items")
    .help(format!(
        "split the study into several manifests, or raise the limit with `--max-items N` if you mean it (VIP runs {max_items} executions slowly)"
    ))
}

fn check_variable_name<T>(
    name: &str,
    at: &Spanned<T>,
    file: &SourceFile,
    taken: &dyn Fn(&str) -> Option<&'static str>,
    diags: &mut Vec<ManifestDiagnostic>,
) {
    if !is_identifier(name) {
        diags.push(
            ManifestDiagnostic::error(format!("`{name}` is not a valid variable name"))
                .at_location(file, at.referenced)
                .help("variable names are letters, digits and `_`, not starting with a digit, so templates can use them"),
        );
    } else if let Some(owner) = taken(name) {
        diags.push(
            ManifestDiagnostic::error(format!("variable `{name}` is already {owner}"))
                .at_location(file, at.referenced)
                .help("rename the variable"),
        );
    }
}

fn check_scalar(
    value: &Scalar,
    at: &Spanned<Scalar>,
    file: &SourceFile,
    diags: &mut Vec<ManifestDiagnostic>,
) {
    if scalar_text(value).is_none() {
        diags.push(
            ManifestDiagnostic::error(
                "a matrix value cannot be empty, null or not a finite number",
            )
            .at_location(file, at.referenced)
            .help("write a value, or quote it"),
        );
    }
}

/// Gives each combination its key: its values joined by `-`, made unique by a short hash
/// of the exact values where two would otherwise share one. The hash depends only on the
/// item's own values, so adding items never renames the others.
/// An item's key: its values' texts joined by `-`, or `main` when it has none.
fn key_of<'a>(values: impl Iterator<Item = &'a Scalar>) -> String {
    let mut key = String::new();
    let mut texts = 0;
    for text in values.filter_map(scalar_text) {
        if texts > 0 {
            key.push('-');
        }
        key.push_str(&text);
        texts += 1;
    }
    if texts == 0 {
        "main".clone_into(&mut key);
    }
    key
}

/// Pairs each combination with its key; keys that several combinations share get a hash of
/// the combination's values appended.
fn assign_keys(combos: Vec<IndexMap<String, Scalar>>, keys: Vec<String>) -> Vec<Assignment> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(keys.len());
    for k in &keys {
        *seen.entry(k.as_str()).or_default() += 1;
    }
    let duplicated: Vec<bool> = keys.iter().map(|k| seen[k.as_str()] > 1).collect();
    drop(seen);
    combos
        .into_iter()
        .zip(keys.into_iter().zip(duplicated))
        .map(|(values, (key, dup))| {
            let key = if dup {
                let canonical = serde_json::to_string(&values).unwrap_or_default();
                format!("{key}-{}", &hex(&Sha256::digest(canonical.as_bytes()))[..6])
            } else {
                key
            };
            Assignment { key, values }
        })
        .collect()
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    // A table, not `write!` per byte: every item's fingerprint goes through here.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Reads a `foreach` CSV file: header = variables, one item per row, keyed by its first column.
pub fn csv(
    path: &Path,
    foreach: &Spanned<String>,
    manifest: &SourceFile,
    max_items: usize,
    taken: &dyn Fn(&str) -> Option<&'static str>,
    diags: &mut Vec<ManifestDiagnostic>,
) -> Option<Vec<Assignment>> {
    let source = match load::read(path, MAX_CSV_BYTES, "CSV file") {
        Ok(source) => source,
        Err(mut e) => {
            if e.at.is_none() {
                e = e
                    .at_location(manifest, foreach.referenced)
                    .label("named here");
            }
            diags.push(e);
            return None;
        }
    };
    let file = source.file;
    let at_line = |line: u64| file.offset(usize::try_from(line).unwrap_or(usize::MAX), 1);
    let line_len = |offset: usize| {
        file.text[offset..]
            .find('\n')
            .unwrap_or(file.text.len() - offset)
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(source.text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            diags.push(csv_error(&e, &file, foreach, manifest));
            return None;
        }
    };
    let before = diags.len();
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        diags.push(
            ManifestDiagnostic::error(format!("{} is empty: it needs a header row", file.display))
                .at_location(manifest, foreach.referenced)
                .help("the first row names the variables, e.g. `subject,age`"),
        );
        return None;
    }
    let mut col = 0usize;
    for name in &headers {
        let offset = file
            .text
            .find(name)
            .filter(|_| !name.is_empty())
            .unwrap_or(col);
        col = offset;
        let len = name.len().max(1);
        if !is_identifier(name) {
            diags.push(
                ManifestDiagnostic::error(format!("CSV column `{name}` is not a valid variable name"))
                    .at(&file, offset, len)
                    .help("header names are letters, digits and `_`, not starting with a digit, so templates can use them"),
            );
        } else if let Some(owner) = taken(name) {
            diags.push(
                ManifestDiagnostic::error(format!("CSV column `{name}` is already {owner}"))
                    .at(&file, offset, len)
                    .help("rename the column"),
            );
        } else if headers.iter().filter(|h| h == &name).count() > 1 {
            diags.push(
                ManifestDiagnostic::error(format!("CSV column `{name}` appears twice"))
                    .at(&file, offset, len)
                    .help("rename one of the columns"),
            );
        }
    }
    if diags.len() > before {
        return None;
    }
    let names: Vec<String> = headers.iter().map(str::to_owned).collect();
    let mut first_seen: IndexMap<String, u64> = IndexMap::new();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                diags.push(csv_error(&e, &file, foreach, manifest));
                return None;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        if out.len() >= max_items {
            diags.push(
                ManifestDiagnostic::error(format!(
                    "{} has more than {max_items} rows, the limit",
                    file.display
                ))
                .at(&file, at_line(line), line_len(at_line(line)))
                .help("split the cohort, or raise the limit with `--max-items N` if you mean it"),
            );
            return None;
        }
        let key = record.get(0).unwrap_or("").to_owned();
        if key.trim().is_empty() {
            let offset = at_line(line);
            diags.push(
                ManifestDiagnostic::error(
                    "the first column of each row names its item and cannot be empty",
                )
                .at(&file, offset, line_len(offset).max(1))
                .help("fill in the first column (e.g. the subject id)"),
            );
            continue;
        }
        if let Some(first) = first_seen.get(&key) {
            let offset = at_line(line);
            diags.push(
                ManifestDiagnostic::error(format!(
                    "line {line} repeats `{key}` from line {first}: the first column names the item and must be unique"
                ))
                .at(&file, offset, key.len().max(1))
                .help("make the first column unique (e.g. the subject id), or remove the duplicate row"),
            );
            continue;
        }
        first_seen.insert(key.clone(), line);
        let values = names
            .iter()
            .zip(record.iter())
            .map(|(n, v)| (n.clone(), Scalar::Str(v.to_owned())))
            .collect();
        out.push(Assignment { key, values });
    }
    if diags.len() > before {
        return None;
    }
    if out.is_empty() {
        diags.push(
            ManifestDiagnostic::error(format!(
                "{} has a header but no rows: no items",
                file.display
            ))
            .at_location(manifest, foreach.referenced)
            .help("add one row per execution"),
        );
        return None;
    }
    Some(out)
}

fn csv_error(
    e: &csv::Error,
    file: &SourceFile,
    foreach: &Spanned<String>,
    manifest: &SourceFile,
) -> ManifestDiagnostic {
    let (message, help) = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => (
            format!("this row has {len} fields, the header has {expected_len}"),
            "every row needs one value per column; quote values that contain commas (\"a,b\")",
        ),
        csv::ErrorKind::Utf8 { .. } => (
            "the CSV file is not valid UTF-8".to_owned(),
            "save the file as UTF-8",
        ),
        _ => (
            format!("cannot read the CSV file: {e}"),
            "check the CSV syntax (RFC 4180)",
        ),
    };
    match e.position() {
        Some(pos) => {
            let offset = file.offset(usize::try_from(pos.line()).unwrap_or(usize::MAX), 1);
            let len = file.text[offset..]
                .find('\n')
                .unwrap_or(file.text.len() - offset);
            ManifestDiagnostic::error(message)
                .at(file, offset, len.max(1))
                .help(help)
        }
        None => ManifestDiagnostic::error(message)
            .at_location(manifest, foreach.referenced)
            .help(help),
    }
}

/// Assignments for a manifest with neither matrix nor foreach.
pub fn single() -> Vec<Assignment> {
    vec![Assignment {
        key: "main".into(),
        values: IndexMap::new(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Scalar {
        Scalar::Str(v.into())
    }

    #[test]
    fn duplicate_keys_get_a_stable_suffix() {
        let combos = vec![
            [("a".to_owned(), s("x-y")), ("b".to_owned(), s("z"))]
                .into_iter()
                .collect(),
            [("a".to_owned(), s("x")), ("b".to_owned(), s("y-z"))]
                .into_iter()
                .collect(),
            [("a".to_owned(), s("p")), ("b".to_owned(), s("q"))]
                .into_iter()
                .collect(),
        ];
        let keys = combos
            .iter()
            .map(|c: &IndexMap<String, Scalar>| key_of(c.values()))
            .collect();
        let a = assign_keys(combos, keys);
        assert_ne!(a[0].key, a[1].key);
        assert!(a[0].key.starts_with("x-y-z-"));
        assert_eq!(a[2].key, "p-q");
    }

    #[test]
    fn same_keys_agree_with_same() {
        let values = [
            s("30"),
            Scalar::Number("30".into()),
            Scalar::Number("030".into()),
            s("true"),
            Scalar::Bool(true),
            Scalar::Bool(false),
            Scalar::Null,
            Scalar::NotFinite,
            s(""),
        ];
        for a in &values {
            for b in &values {
                assert_eq!(same(a, b), same_key(a) == same_key(b), "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("subject_1"));
        assert!(!is_identifier("1subject"));
        assert!(!is_identifier("sub-ject"));
        assert!(!is_identifier(""));
    }
}
