//! What `collect` merged, and how it reads: one line per study table (the same lines a run's
//! summary ends with, through [`summary_lines`]), or one JSON object.
//!
//! Named after the command, as its flow (`ops/collect.rs`) is.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::OutputFormat;

/// Keys listed in a line before it says how many more there are.
const SHOWN_KEYS: usize = 10;

/// One study table: what was merged into it, and which items it lacks and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collected {
    /// The entry's `name`, when it has one.
    pub name: Option<String>,
    /// `from`, as written.
    pub from: String,
    /// The study table (`to`, from the manifest's folder).
    pub table: PathBuf,
    /// Whether it was written: not when no item had a file to merge (a table written
    /// before is left as it was).
    pub written: bool,
    /// Rows written, the header not counted.
    pub rows: usize,
    /// Items whose file was merged.
    pub items: usize,
    /// Finished items with no file matching `from`, in manifest order.
    pub missing: Vec<String>,
    /// Finished items whose file is empty (not even a header row), in manifest order.
    pub empty: Vec<String>,
    /// Items not finished (not launched, running, failed, or their outputs not home).
    pub unfinished: Vec<String>,
    /// The files' columns written under another name, since a leading column has theirs.
    pub renamed: Vec<Renamed>,
}

/// A file's column written under another name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renamed {
    /// Its name in the items' files.
    pub column: String,
    /// Its name in the study table.
    pub written_as: String,
}

impl Collected {
    /// Whether a finished item is not in the table (no file, or an empty one).
    pub fn incomplete(&self) -> bool {
        !self.missing.is_empty() || !self.empty.is_empty()
    }
}

/// What `collect` did for a manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Collection {
    /// The manifest, as the user named it.
    pub manifest: String,
    /// One per `collect` entry, in order.
    pub tables: Vec<Collected>,
}

impl Collection {
    /// Whether any table lacks a finished item's rows (`collect`'s exit code 1).
    pub fn incomplete(&self) -> bool {
        self.tables.iter().any(Collected::incomplete)
    }
}

/// One line per table: what was written, then the items it lacks.
pub fn summary_lines(collected: &[Collected]) -> Vec<String> {
    collected.iter().map(line).collect()
}

fn line(c: &Collected) -> String {
    let table = match &c.name {
        Some(name) => format!("{} ({name})", c.table.display()),
        None => c.table.display().to_string(),
    };
    let mut parts = Vec::new();
    if c.written {
        parts.push(format!(
            "wrote {table}: {} from {}",
            count(c.rows, "row", "rows"),
            count(c.items, "item", "items")
        ));
    } else if c.missing.is_empty() && c.empty.is_empty() {
        parts.push(format!("nothing written to {table}: no item finished yet"));
    } else {
        parts.push(format!(
            "nothing written to {table}: no finished item had {} to merge",
            c.from
        ));
    }
    if !c.missing.is_empty() {
        parts.push(format!(
            "{} had no {}: {}",
            count(c.missing.len(), "finished item", "finished items"),
            c.from,
            keys(&c.missing)
        ));
    }
    if !c.empty.is_empty() {
        parts.push(format!(
            "{} {} empty: {}",
            count(
                c.empty.len(),
                "finished item's file",
                "finished items' files"
            ),
            if c.empty.len() == 1 { "was" } else { "were" },
            keys(&c.empty)
        ));
    }
    if !c.unfinished.is_empty() {
        parts.push(format!(
            "{} not finished",
            count(c.unfinished.len(), "item", "items")
        ));
    }
    for r in &c.renamed {
        parts.push(format!(
            "the files' column `{}` written as `{}`",
            r.column, r.written_as
        ));
    }
    parts.join("; ")
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Keys, the first [`SHOWN_KEYS`] of them, then how many more.
fn keys(keys: &[String]) -> String {
    let mut text = keys
        .iter()
        .take(SHOWN_KEYS)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > SHOWN_KEYS {
        let _ = write!(text, " and {} more", keys.len() - SHOWN_KEYS);
    }
    text
}

/// Writes what `collect` did to `out`.
pub fn render(
    out: &mut dyn Write,
    collection: &Collection,
    format: OutputFormat,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Json => {
            let v = serde_json::to_value(collection).expect("a collection serialises");
            writeln!(out, "{v}")?;
        }
        OutputFormat::Human => {
            for line in summary_lines(&collection.tables) {
                writeln!(out, "{line}")?;
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Collected {
        Collected {
            name: None,
            from: "stats.csv".into(),
            table: PathBuf::from("results/volumes.csv"),
            written: true,
            rows: 38,
            items: 19,
            missing: Vec::new(),
            empty: Vec::new(),
            unfinished: Vec::new(),
            renamed: Vec::new(),
        }
    }

    #[test]
    fn a_line_says_what_was_written_and_what_is_not_in_it() {
        assert_eq!(
            summary_lines(&[table()]),
            ["wrote results/volumes.csv: 38 rows from 19 items"]
        );
        let lacking = Collected {
            missing: vec!["sub-07".into()],
            empty: vec!["sub-03".into(), "sub-05".into()],
            unfinished: vec!["sub-20".into(), "sub-21".into()],
            renamed: vec![Renamed {
                column: "subject".into(),
                written_as: "subject.1".into(),
            }],
            name: Some("volumes".into()),
            rows: 1,
            items: 1,
            ..table()
        };
        assert_eq!(
            summary_lines(&[lacking]),
            [
                "wrote results/volumes.csv (volumes): 1 row from 1 item; 1 finished item had no stats.csv: sub-07; 2 finished items' files were empty: sub-03, sub-05; 2 items not finished; the files' column `subject` written as `subject.1`"
            ]
        );
    }

    #[test]
    fn nothing_written_says_why_and_long_lists_are_cut() {
        let none_yet = Collected {
            written: false,
            rows: 0,
            items: 0,
            unfinished: vec!["a".into()],
            ..table()
        };
        assert_eq!(
            summary_lines(&[none_yet]),
            ["nothing written to results/volumes.csv: no item finished yet; 1 item not finished"]
        );
        let all_missing = Collected {
            written: false,
            rows: 0,
            items: 0,
            missing: (1..=12).map(|i| format!("s{i}")).collect(),
            ..table()
        };
        assert_eq!(
            summary_lines(&[all_missing]),
            [
                "nothing written to results/volumes.csv: no finished item had stats.csv to merge; 12 finished items had no stats.csv: s1, s2, s3, s4, s5, s6, s7, s8, s9, s10 and 2 more"
            ]
        );
    }
}
