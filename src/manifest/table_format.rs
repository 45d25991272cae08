//! The tabular formats `collect:` reads from each item and writes the study table in, and
//! which file names say which.
//!
//! One home for the rule, since the offline check (is `to` a table vip-run can write? does
//! `from` say how to read it?) and the merge (how to read this file) must agree on it.
//! Only delimiters differ: quoting follows RFC 4180 in both, as spreadsheets and R's and
//! pandas' writers do (a tab-separated file whose fields hold no quote reads the same).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A delimited text table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Comma-separated values.
    Csv,
    /// Tab-separated values.
    Tsv,
}

impl TableFormat {
    /// The format a file's name says, ignoring case and a trailing `.gz`: `.csv` is CSV;
    /// `.tsv` and `.tab` are TSV. Other names (`.txt`, `.dat`) say nothing: tools write
    /// either there, so the manifest's `format` decides, never a guess.
    pub fn of_name(name: &str) -> Option<Self> {
        let (stem, extension) = split_extension(name)?;
        let extension = if extension.eq_ignore_ascii_case("gz") {
            split_extension(stem)?.1
        } else {
            extension
        };
        match extension.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "tsv" | "tab" => Some(Self::Tsv),
            _ => None,
        }
    }

    /// The format of a table vip-run writes at `name`: `.csv` or `.tsv` (any case), not
    /// compressed (a study table is small, and opened by hand in a spreadsheet).
    pub fn of_written(name: &str) -> Option<Self> {
        match split_extension(name)?.1.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "tsv" => Some(Self::Tsv),
            _ => None,
        }
    }

    /// The field delimiter.
    pub fn delimiter(self) -> u8 {
        match self {
            Self::Csv => b',',
            Self::Tsv => b'\t',
        }
    }

    /// Its name, as `format:` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Tsv => "tsv",
        }
    }
}

/// `name`'s stem and extension, when its last segment has a stem and an extension.
fn split_extension(name: &str) -> Option<(&str, &str)> {
    let (stem, extension) = name.rsplit_once('.')?;
    let base = stem.rsplit('/').next().unwrap_or(stem);
    (!base.is_empty() && !extension.contains('/')).then_some((stem, extension))
}

#[cfg(test)]
mod tests {
    use super::TableFormat;

    #[test]
    fn names_say_the_format_or_nothing() {
        for (name, read, written) in [
            ("stats.csv", Some(TableFormat::Csv), Some(TableFormat::Csv)),
            ("STATS.CSV", Some(TableFormat::Csv), Some(TableFormat::Csv)),
            ("stats.tsv", Some(TableFormat::Tsv), Some(TableFormat::Tsv)),
            ("stats.tab", Some(TableFormat::Tsv), None),
            ("stats.csv.gz", Some(TableFormat::Csv), None),
            ("stats.tsv.GZ", Some(TableFormat::Tsv), None),
            ("stats.txt", None, None),
            ("stats", None, None),
            ("csv", None, None),
            (".csv", None, None),
            ("dir.csv/stats", None, None),
            (
                "stats/*.csv",
                Some(TableFormat::Csv),
                Some(TableFormat::Csv),
            ),
        ] {
            assert_eq!(TableFormat::of_name(name), read, "{name}");
            assert_eq!(TableFormat::of_written(name), written, "{name}");
        }
    }
}
