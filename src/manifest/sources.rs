//! Where an item's value came from, for diagnostics that must point at it: a wrong value that
//! an input's template took from a `matrix` variable is shown at that value in the matrix
//! (or its `include` entry), and one that came from a `foreach` CSV at the CSV row, rather
//! than at the input's line that every item shares.
//!
//! Nothing is kept for this while a manifest is valid: a 10,000-item matrix would carry a
//! location per value for no use. Only when a problem is reported is the manifest's text
//! parsed again (narrowly, for `matrix` and `foreach`) and the CSV read again, once per check.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::diagnostic::SourceFile;
use super::expand::scalar_text;
use super::model::{Foreach, Matrix};
use super::validated::{Item, Validated};

/// Where one value of one item is written.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The manifest, or the CSV file.
    pub file: SourceFile,
    /// Byte offset and length of the value (or of the CSV row).
    pub offset: usize,
    pub len: usize,
    /// The variable the input's template took it from.
    pub variable: String,
    /// Its value in the item.
    pub value: String,
}

/// The manifest's `matrix` and `foreach`, parsed again with their locations.
#[derive(Deserialize)]
struct Narrow {
    #[serde(default)]
    matrix: Option<Spanned<Matrix>>,
    #[serde(default)]
    foreach: Option<Spanned<Foreach>>,
}

/// A CSV file of `foreach`, read again: its text, and each item key's row line.
struct CsvRows {
    file: SourceFile,
    lines: HashMap<String, usize>,
}

/// Finds origins for one validated manifest (caching what it parses).
pub struct Sources<'a> {
    v: &'a Validated,
    narrow: OnceLock<Option<Narrow>>,
    csv: OnceLock<Option<CsvRows>>,
}

impl<'a> Sources<'a> {
    pub fn new(v: &'a Validated) -> Self {
        Self {
            v,
            narrow: OnceLock::new(),
            csv: OnceLock::new(),
        }
    }

    fn narrow(&self) -> Option<&Narrow> {
        self.narrow
            .get_or_init(|| serde_saphyr::from_str::<Narrow>(&self.v.file.text).ok())
            .as_ref()
    }

    fn csv(&self) -> Option<&CsvRows> {
        self.csv
            .get_or_init(|| {
                let Some(Foreach::Csv(path)) = self.narrow()?.foreach.as_ref().map(|f| &f.value)
                else {
                    return None;
                };
                let full = self.v.dir.join(path);
                let text = std::fs::read_to_string(&full).ok()?;
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .from_reader(text.as_bytes());
                let mut lines = HashMap::new();
                for record in reader.records().map_while(Result::ok) {
                    if let (Some(key), Some(pos)) = (record.get(0), record.position()) {
                        lines
                            .entry(key.trim().to_owned())
                            .or_insert(usize::try_from(pos.line()).unwrap_or(usize::MAX));
                    }
                }
                Some(CsvRows {
                    file: SourceFile::new(&full, text),
                    lines,
                })
            })
            .as_ref()
    }

    /// The variable of `item` that `input`'s template uses, and where its value is written;
    /// `None` when the input's value is written out in the manifest (its own line says it).
    pub fn origin(&self, item: &Item, input: &str) -> Option<Origin> {
        let (variable, value) = self.variable_of(item, input)?;
        if let Some(origin) = self.in_matrix(&variable, &value) {
            return Some(origin);
        }
        let rows = self.csv()?;
        let line = *rows.lines.get(&item.key)?;
        let offset = rows.file.offset(line, 1);
        let len = rows.file.text[offset..]
            .find('\n')
            .unwrap_or(rows.file.text.len() - offset)
            .max(1);
        Some(Origin {
            file: rows.file.clone(),
            offset,
            len,
            variable,
            value,
        })
    }

    /// The item variable that `input`'s written value names in a template: the one whose
    /// value shows in the input's resolved value when several do.
    fn variable_of(&self, item: &Item, input: &str) -> Option<(String, String)> {
        let location = *self.v.input_locations.get(input)?;
        let raw = source_of(&self.v.file, location)?;
        if !raw.contains("{{") {
            return None;
        }
        let named: Vec<(&String, String)> = item
            .variables
            .iter()
            .filter(|(name, _)| names_word(raw, name))
            .filter_map(|(name, value)| Some((name, scalar_text(value)?)))
            .collect();
        let resolved: Vec<&str> = item
            .inputs
            .get(input)
            .map(|w| w.values().iter().map(|v| v.text.as_str()).collect())
            .unwrap_or_default();
        let chosen = named
            .iter()
            .find(|(_, text)| resolved.iter().any(|r| r.contains(text.as_str())))
            .or_else(|| named.first())?;
        Some((chosen.0.clone(), chosen.1.clone()))
    }

    fn in_matrix(&self, variable: &str, value: &str) -> Option<Origin> {
        let matrix = &self.narrow()?.matrix.as_ref()?.value;
        let same =
            |s: &Spanned<super::model::Scalar>| scalar_text(&s.value).is_some_and(|t| t == value);
        let at = matrix
            .axes
            .iter()
            .filter(|(name, _)| name.value == variable)
            .flat_map(|(_, values)| values.value.iter())
            .find(|s| same(s))
            .or_else(|| {
                matrix
                    .include
                    .iter()
                    .filter_map(|entry| entry.value.get(variable))
                    .find(|s| same(s))
            })?;
        let file = &self.v.file;
        let offset = file.location_offset(at.referenced)?;
        Some(Origin {
            file: file.clone(),
            offset,
            len: file.token_len(offset),
            variable: variable.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// The source text of the YAML node at `location`.
fn source_of(file: &SourceFile, location: Location) -> Option<&str> {
    let span = location.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    file.text.get(start..start.checked_add(len)?)
}

/// Whether `text` has `name` as a whole word (as a template names a variable).
fn names_word(text: &str, name: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[cfg(test)]
mod tests {
    use super::names_word;

    #[test]
    fn whole_words_only() {
        assert!(names_word("{{ te }}", "te"));
        assert!(names_word("x-{{te}}", "te"));
        assert!(!names_word("{{ text }}", "te"));
        assert!(!names_word("{{ my_te }}", "te"));
    }
}
