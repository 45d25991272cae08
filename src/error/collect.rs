//! Why a study table of `collect:` (`ops::collect`) was not written: an item's file that does
//! not fit the others, or cannot be read as a table. Each names the table, the item and its
//! file, so the fix is one look away; none leaves a table half-written.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Why a study table was not written.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// An item's file has other columns, or the same in another order, than the first
    /// merged item's.
    #[error(
        "cannot merge {}: item `{item}`'s {} has the columns {}, but item `{first}`'s has {}",
        table.display(), file.display(), header(found), header(expected)
    )]
    HeaderClash {
        /// The study table.
        table: PathBuf,
        /// The item whose file does not fit.
        item: String,
        /// Its file.
        file: PathBuf,
        /// Its columns.
        found: Vec<String>,
        /// The first merged item, whose columns the others follow.
        first: String,
        /// Its columns.
        expected: Vec<String>,
        /// The other items whose files do not fit either.
        others: Vec<String>,
    },
    /// `from` matches several files in one item's folder.
    #[error(
        "cannot merge {}: `{from}` matches {} files of item `{item}`: {}",
        table.display(), files.len(), list(files)
    )]
    SeveralFiles {
        /// The study table.
        table: PathBuf,
        /// The item.
        item: String,
        /// The pattern, as rendered for the item.
        from: String,
        /// The files it matches.
        files: Vec<PathBuf>,
    },
    /// An item's file is not a table in the format it was read as.
    #[error(
        "cannot merge {}: item `{item}`'s {} is not a readable {format} table: {reason}",
        table.display(), file.display()
    )]
    Unreadable {
        /// The study table.
        table: PathBuf,
        /// The item.
        item: String,
        /// Its file.
        file: PathBuf,
        /// `CSV` or `TSV`.
        format: &'static str,
        /// What is wrong, and where.
        reason: String,
    },
    /// An item's file's name says neither CSV nor TSV, and the entry has no `format`.
    #[error(
        "cannot merge {}: cannot tell whether item `{item}`'s {} is CSV or TSV",
        table.display(), file.display()
    )]
    UnknownFormat {
        /// The study table.
        table: PathBuf,
        /// The item.
        item: String,
        /// Its file.
        file: PathBuf,
    },
}

impl CollectError {
    /// What to do about it.
    pub fn help(&self) -> String {
        match self {
            Self::HeaderClash {
                found,
                expected,
                others,
                first,
                item,
                ..
            } => {
                let column = found
                    .iter()
                    .zip(expected)
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| found.len().min(expected.len()));
                let which = |columns: &[String]| {
                    columns
                        .get(column)
                        .map_or_else(|| "nothing".to_owned(), |c| format!("`{c}`"))
                };
                let more = match others.len() {
                    0 => String::new(),
                    n => format!(
                        "; {n} more item{} differ{} from `{first}`'s: {}",
                        if n == 1 { "" } else { "s" },
                        if n == 1 { "s" } else { "" },
                        shown(others)
                    ),
                };
                format!(
                    "column {} is {} in `{item}`'s file, {} in `{first}`'s; every item's file must have the same columns in the same order: fix the file (or the pipeline), then collect again{more}",
                    column + 1,
                    which(found),
                    which(expected),
                )
            }
            Self::SeveralFiles { .. } => {
                "make `from` name one file, e.g. with the folder it is in (`stats/volumes.csv`) or a narrower glob".into()
            }
            Self::Unreadable { .. } => {
                "every row needs one value per column, and values holding the delimiter or a quote are quoted (RFC 4180); check the file, or `format:` if it is the other kind".into()
            }
            Self::UnknownFormat { .. } => {
                "name files `.csv` or `.tsv` in `from`, or add `format: csv` or `format: tsv` to the entry".into()
            }
        }
    }
}

/// Columns as a file's header row reads, quoted as a whole.
fn header(columns: &[String]) -> String {
    format!("`{}`", columns.join(","))
}

fn list(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keys for a message: the first few, then how many more.
fn shown(keys: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = keys
        .iter()
        .take(SHOWN)
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > SHOWN {
        let _ = write!(text, " and {} more", keys.len() - SHOWN);
    }
    text
}
