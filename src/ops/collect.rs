//! `collect MANIFEST`: each `collect:` entry's study table, merged from the file every finished
//! item returned. [`merge`] is the merge itself, which the end of a run calls too with the
//! run's own idea of finished; [`collect`] is the command, which reads it from the state
//! ([`finished_in`]). Offline: no key, no network, no lock (a table can be gathered while a
//! run goes on; each is replaced whole, atomically).
//!
//! How a table is made, and why:
//!
//! - its rows are the items' files' rows, in manifest order, each led by the item's key
//!   (`item`) and its variables in the manifest's order (the union over the items, so an
//!   `include` entry's extra variable is a column, empty elsewhere): the columns a study's
//!   analysis groups by, whatever the tool wrote;
//! - a file's column named like a leading one is kept, written as `name.1` (`.2`…), as pandas
//!   and R name a repeated column: refusing it would block every tool that writes a `subject`
//!   column of its own, and dropping it could lose data;
//! - the first merged item's columns are the table's: another item's file with other columns,
//!   or the same in another order, stops the merge with an error naming both items and
//!   their columns (every such item counted), and nothing is written, since a table whose rows
//!   mean different things is worse than none;
//! - a finished item with no matching file, or with an empty one (not even a header: a tool
//!   that crashed while writing), is listed, never silently left out; a header-only file
//!   merges as no rows. An item whose `from` matches several files stops the merge: which one
//!   was meant is not vip-run's to guess;
//! - files are read whole (they are small tables), gunzipped when they start with gzip's
//!   magic bytes, a UTF-8 byte-order mark dropped (spreadsheets write one), values passed
//!   through byte for byte; every table is merged before any is written, so one error leaves
//!   them all as they were.

use std::io::Read;
use std::path::{Path, PathBuf};

use csv::ByteRecord;
use indexmap::IndexSet;

use crate::error::{CollectError, Error};
use crate::files::{FileError, write_atomically_with};
use crate::manifest::expand::scalar_text;
use crate::manifest::table_format::TableFormat;
use crate::manifest::{CollectTable, Item, Validated};
use crate::report::batch::ItemResult;
use crate::report::collect::{Collected, Collection, Renamed};

use super::Settings;
use super::glob::matches_tail;
use super::session::{Access, Session};
use super::state::State;

/// The first column of every study table: the item's key.
pub const ITEM_COLUMN: &str = "item";

/// `collect MANIFEST`: every table of the manifest's `collect:`, from the items the run's state
/// shows finished with their outputs home.
pub fn collect(settings: &Settings, path: &Path) -> Result<Collection, Error> {
    let session = Session::open(settings, path, Access::Read)?;
    let v = &session.manifest;
    if v.collect.is_empty() {
        return Err(Error::Usage(format!(
            "{} has no `collect:` entries: add one naming the table each item returns and the study table to write, e.g. `collect: [{{ from: stats.csv, to: results/stats.csv }}]`",
            v.file.display
        )));
    }
    let state = super::report::read_state(v, &session.paths)?;
    let tables = merge(v, &|item| {
        state.as_ref().is_some_and(|s| finished_in(s, item))
    })?;
    Ok(Collection {
        manifest: v.file.display.clone(),
        tables,
    })
}

/// Whether `item` is finished as `state` shows it: its current execution (launched for its
/// inputs as they are now) `Finished` with no failure verdict, and its outputs home (recorded
/// for that execution, the files on disk as recorded).
/// The report's judgement of the state (`report::of_state`), so that a table and the page
/// agree on which items finished.
pub fn finished_in(state: &State, item: &Item) -> bool {
    state.items().get(&item.key).is_some_and(|s| {
        matches!(
            super::report::of_state(item, s).0,
            ItemResult::Finished | ItemResult::OutputsMissing
        )
    })
}

/// Merges every `collect:` table of `v` from the items `finished` says yes to, and writes each
/// that has at least one item's file (see the module's comment): what each came to, in the
/// manifest's order. An error writes nothing.
pub fn merge(v: &Validated, finished: &dyn Fn(&Item) -> bool) -> Result<Vec<Collected>, Error> {
    if v.collect.is_empty() {
        return Ok(Vec::new());
    }
    let leading = leading_columns(&v.items);
    // Each item looked at once, whatever the number of tables: whether it is finished (a
    // `stat` per output) and, when it is, the files in its folder.
    let files: Vec<Option<Vec<String>>> = v
        .items
        .iter()
        .map(|item| {
            finished(item).then(|| {
                let mut files = Vec::new();
                if let Some(folder) = &item.download {
                    walk(folder, folder, &mut files);
                }
                files.sort();
                files
            })
        })
        .collect();
    let mut merged = Vec::with_capacity(v.collect.len());
    for (index, table) in v.collect.iter().enumerate() {
        merged.push(merge_table(v, index, table, &leading, &files)?);
    }
    let mut collected = Vec::with_capacity(merged.len());
    for (table, m) in v.collect.iter().zip(merged) {
        if let Some(header) = &m.header {
            write(&table.to, table.write_as, header, &m.rows)?;
        }
        collected.push(m.collected);
    }
    Ok(collected)
}

/// One item's file, read: its columns and its rows.
struct FileTable {
    /// The header row's names.
    header: Vec<String>,
    /// The other rows, as written.
    rows: Vec<ByteRecord>,
}

/// One table, merged in memory.
struct Merged {
    /// Its header, when any item had a file (else nothing is written).
    header: Option<ByteRecord>,
    rows: Vec<ByteRecord>,
    collected: Collected,
}

/// The columns every row starts with: `item`, then each variable of the items, in the order
/// they first appear.
fn leading_columns(items: &[Item]) -> Vec<String> {
    let mut names: IndexSet<&str> = IndexSet::new();
    names.insert(ITEM_COLUMN);
    for item in items {
        names.extend(item.variables.keys().map(String::as_str));
    }
    names.into_iter().map(str::to_owned).collect()
}

/// The `index`th table of `v`, from `files`: each item's files (relative to its folder),
/// `None` for an item not finished.
fn merge_table(
    v: &Validated,
    index: usize,
    table: &CollectTable,
    leading: &[String],
    files: &[Option<Vec<String>>],
) -> Result<Merged, Error> {
    let mut collected = Collected {
        name: table.name.clone(),
        from: table.from.clone(),
        table: table.to.clone(),
        written: false,
        rows: 0,
        items: 0,
        missing: Vec::new(),
        empty: Vec::new(),
        unfinished: Vec::new(),
        renamed: Vec::new(),
    };
    // The first merged item and its columns, which the others must have.
    let mut first: Option<(&str, Vec<String>)> = None;
    let mut clash: Option<CollectError> = None;
    let mut rows = Vec::new();
    for (item, files) in v.items.iter().zip(files) {
        let Some(files) = files else {
            collected.unfinished.push(item.key.clone());
            continue;
        };
        let pattern = item.collect.get(index).map_or("", String::as_str);
        let files: Vec<PathBuf> = match &item.download {
            Some(folder) => files
                .iter()
                .filter(|rel| matches_tail(pattern, rel))
                .map(|rel| folder.join(rel))
                .collect(),
            None => Vec::new(),
        };
        let file = match files.as_slice() {
            [] => {
                collected.missing.push(item.key.clone());
                continue;
            }
            [file] => file,
            _ => {
                return Err(CollectError::SeveralFiles {
                    table: table.to.clone(),
                    item: item.key.clone(),
                    from: pattern.to_owned(),
                    files,
                }
                .into());
            }
        };
        let Some(FileTable {
            header,
            rows: records,
        }) = read(table, item, file)?
        else {
            collected.empty.push(item.key.clone());
            continue;
        };
        match &first {
            None => first = Some((&item.key, header)),
            Some((first_key, expected)) if *expected != header => {
                match &mut clash {
                    Some(CollectError::HeaderClash { others, .. }) => others.push(item.key.clone()),
                    _ => {
                        clash = Some(CollectError::HeaderClash {
                            table: table.to.clone(),
                            item: item.key.clone(),
                            file: file.clone(),
                            found: header,
                            first: (*first_key).to_owned(),
                            expected: expected.clone(),
                            others: Vec::new(),
                        });
                    }
                }
                continue;
            }
            Some(_) => {}
        }
        collected.items += 1;
        let lead = leading_values(item, leading);
        for record in &records {
            let mut row = lead.clone();
            for field in record {
                row.push_field(field);
            }
            rows.push(row);
        }
    }
    if let Some(clash) = clash {
        return Err(clash.into());
    }
    let header = first.map(|(_, columns)| {
        let (header, renamed) = output_header(leading, &columns);
        collected.renamed = renamed;
        header.iter().map(String::as_bytes).collect::<ByteRecord>()
    });
    collected.written = header.is_some();
    collected.rows = rows.len();
    Ok(Merged {
        header,
        rows,
        collected,
    })
}

/// `item`'s leading values: its key, then its value of each variable (empty when it has none).
fn leading_values(item: &Item, leading: &[String]) -> ByteRecord {
    let mut row = ByteRecord::with_capacity(64, leading.len());
    row.push_field(item.key.as_bytes());
    for name in &leading[1..] {
        let value = item.variables.get(name).and_then(scalar_text);
        row.push_field(value.as_deref().unwrap_or_default().as_bytes());
    }
    row
}

/// The table's header: the leading columns, then the files' columns, each named like a
/// leading column (or like one renamed before it) written as `name.1`, `name.2`…
fn output_header(leading: &[String], columns: &[String]) -> (Vec<String>, Vec<Renamed>) {
    let taken: IndexSet<&str> = leading.iter().map(String::as_str).collect();
    // A file's own `subject.1` keeps its name: renamed columns take the next free one.
    let own: IndexSet<&str> = columns.iter().map(String::as_str).collect();
    let mut header: Vec<String> = leading.to_vec();
    let mut renamed = Vec::new();
    let mut fresh: Vec<String> = Vec::new();
    for column in columns {
        if !taken.contains(column.as_str()) {
            header.push(column.clone());
            continue;
        }
        // One of these many names is free: each name taken rules out one at most.
        let written_as = (1..=taken.len() + own.len() + fresh.len() + 1)
            .map(|n| format!("{column}.{n}"))
            .find(|c| {
                !taken.contains(c.as_str()) && !own.contains(c.as_str()) && !fresh.contains(c)
            })
            .expect("a free name");
        fresh.push(written_as.clone());
        header.push(written_as.clone());
        renamed.push(Renamed {
            column: column.clone(),
            written_as,
        });
    }
    (header, renamed)
}

/// The files below `dir` (relative to `root`, `/`-separated), for `from` to match the end
/// of, as `results.expect` does. Not looked at: the saved logs of a failed execution
/// (`logs/`), downloads that did not end (`.part`) and hidden files and folders (an archive
/// being unpacked, vip-run's marks).
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let top_logs = dir == root && name == "logs";
        let partial = Path::new(&name)
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("part"));
        if name.starts_with('.') || top_logs || partial {
            continue;
        }
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        // Links are not followed into folders: vip-run's unpacking makes none, and a loop
        // would never end.
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(root, &path, out),
            Ok(t) if t.is_file() || (t.is_symlink() && path.is_file()) => out.push(rel),
            _ => {}
        }
    }
}

/// `item`'s `file` for `table`, as its header's names and its rows; `None` when it is empty.
fn read(table: &CollectTable, item: &Item, file: &Path) -> Result<Option<FileTable>, Error> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format = table
        .read_as
        .or_else(|| TableFormat::of_name(&name))
        .ok_or_else(|| CollectError::UnknownFormat {
            table: table.to.clone(),
            item: item.key.clone(),
            file: file.to_path_buf(),
        })?;
    let unreadable = |reason: String| CollectError::Unreadable {
        table: table.to.clone(),
        item: item.key.clone(),
        file: file.to_path_buf(),
        format: match format {
            TableFormat::Csv => "CSV",
            TableFormat::Tsv => "TSV",
        },
        reason,
    };
    let bytes = std::fs::read(file).map_err(|e| unreadable(e.to_string()))?;
    Ok(parse(&bytes, format).map_err(unreadable)?)
}

/// A table's header and rows from a file's `bytes`; `None` when it holds nothing.
fn parse(bytes: &[u8], format: TableFormat) -> Result<Option<FileTable>, String> {
    let unpacked;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| format!("it looks gzip-compressed, but cannot be unpacked: {e}"))?;
        unpacked = out;
        &unpacked[..]
    } else {
        bytes
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.trim_ascii().is_empty() {
        return Ok(None);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .delimiter(format.delimiter())
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect(),
        Some(Err(e)) => return Err(csv_reason(&e)),
        None => return Ok(None),
    };
    let rows = records
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| csv_reason(&e))?;
    Ok(Some(FileTable { header, rows }))
}

/// What the CSV reader's `e` means, with the line it is on.
fn csv_reason(e: &csv::Error) -> String {
    let line = e
        .position()
        .map_or_else(String::new, |p| format!("line {}: ", p.line()));
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{line}{len} fields, where the header has {expected_len}"),
        _ => format!("{line}{e}"),
    }
}

/// Writes a table atomically: the one before stays whole until the new one is.
fn write(
    path: &Path,
    format: TableFormat,
    header: &ByteRecord,
    rows: &[ByteRecord],
) -> Result<(), FileError> {
    write_atomically_with(path, |out| {
        let mut writer = csv::WriterBuilder::new()
            .delimiter(format.delimiter())
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(out);
        writer.write_byte_record(header)?;
        for row in rows {
            writer.write_byte_record(row)?;
        }
        writer.flush()
    })
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::manifest::LoadOptions;

    fn names(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|c| (*c).to_owned()).collect()
    }

    fn rows(parsed: &FileTable) -> Vec<Vec<String>> {
        parsed
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn files_read_as_csv_tsv_gzip_with_or_without_a_byte_order_mark() {
        let csv = parse(
            b"\xEF\xBB\xBFregion,volume\nleft,\"1,5\"\r\n\nright,2\n",
            TableFormat::Csv,
        )
        .unwrap()
        .unwrap();
        assert_eq!(csv.header, names(&["region", "volume"]));
        assert_eq!(rows(&csv), [["left", "1,5"], ["right", "2"]]);

        let tsv = parse(b"region\tvolume\nleft, upper\t1.5\n", TableFormat::Tsv)
            .unwrap()
            .unwrap();
        assert_eq!(rows(&tsv), [["left, upper", "1.5"]]);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"a,b\n1,2\n").unwrap();
        let gz = parse(&gz.finish().unwrap(), TableFormat::Csv)
            .unwrap()
            .unwrap();
        assert_eq!(rows(&gz), [["1", "2"]]);
    }

    #[test]
    fn empty_files_are_none_a_header_alone_is_no_rows_and_ragged_rows_are_refused() {
        assert!(parse(b"", TableFormat::Csv).unwrap().is_none());
        assert!(
            parse(b"\xEF\xBB\xBF \n\n", TableFormat::Csv)
                .unwrap()
                .is_none()
        );
        let header_only = parse(b"a,b\n", TableFormat::Csv).unwrap().unwrap();
        assert_eq!(header_only.header, names(&["a", "b"]));
        assert!(header_only.rows.is_empty());
        let ragged = parse(b"a,b\n1,2\n3\n", TableFormat::Csv).err().unwrap();
        assert_eq!(ragged, "line 3: 1 fields, where the header has 2");
        let broken = parse(b"\x1f\x8bnot gzip", TableFormat::Csv).err().unwrap();
        assert!(broken.contains("gzip"), "{broken}");
    }

    #[test]
    fn a_files_column_named_like_a_leading_one_is_written_as_pandas_and_r_would() {
        let (header, renamed) = output_header(
            &names(&["item", "subject"]),
            &names(&["subject", "subject.1", "item", "volume"]),
        );
        assert_eq!(
            header,
            [
                "item",
                "subject",
                "subject.2",
                "subject.1",
                "item.1",
                "volume"
            ]
        );
        assert_eq!(
            renamed,
            [
                Renamed {
                    column: "subject".into(),
                    written_as: "subject.2".into()
                },
                Renamed {
                    column: "item".into(),
                    written_as: "item.1".into()
                }
            ]
        );
    }

    #[test]
    fn patterns_match_the_ends_of_paths_outside_logs_partial_and_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path();
        for file in [
            "stats.csv",
            "results/stats.csv",
            "results/other.csv",
            "logs/stats.csv",
            "results/logs/stats.csv",
            "stats.csv.part",
            ".results.extracting/stats.csv",
            ".stats.csv",
        ] {
            let path = folder.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "a\n").unwrap();
        }
        let mut files = Vec::new();
        walk(folder, folder, &mut files);
        files.sort();
        let rel = |pattern: &str| -> Vec<&str> {
            files
                .iter()
                .filter(|f| matches_tail(pattern, f))
                .map(String::as_str)
                .collect()
        };
        assert_eq!(
            rel("stats.csv"),
            ["results/logs/stats.csv", "results/stats.csv", "stats.csv"]
        );
        assert_eq!(
            rel("results/*.csv"),
            ["results/other.csv", "results/stats.csv"]
        );
        assert_eq!(rel("**/logs/*.csv"), ["results/logs/stats.csv"]);
        let mut none = Vec::new();
        walk(&folder.join("nowhere"), &folder.join("nowhere"), &mut none);
        assert!(none.is_empty());
    }

    /// A study of three subjects (the third with an `include`d extra variable) in a
    /// temporary folder, each item's folder holding `files`' content (`None`: no file).
    fn study(files: [Option<&str>; 3], collect: &str) -> (tempfile::TempDir, Validated) {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("study.yaml");
        std::fs::write(
            &manifest,
            format!(
                "version: 1\nname: study\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [s1, s2]\n  include:\n    - {{ subject: s3, site: \"Lyon, FR\" }}\ninputs:\n  message: hi\ncollect:\n{collect}"
            ),
        )
        .unwrap();
        let v = crate::manifest::load(&manifest, &LoadOptions::default()).unwrap();
        for (item, content) in v.items.iter().zip(files) {
            if let Some(content) = content {
                let folder = item.download.as_ref().unwrap().join("out");
                std::fs::create_dir_all(&folder).unwrap();
                std::fs::write(folder.join("stats.csv"), content).unwrap();
            }
        }
        (dir, v)
    }

    const ENTRY: &str = "  - { from: stats.csv, to: study.tsv }\n";

    #[test]
    fn finished_items_merge_in_manifest_order_under_their_key_and_variables() {
        let (dir, v) = study(
            [
                Some("region,volume\nleft,1\nright,2\n"),
                None,
                Some("region,volume\n\"a\tb\",3\n"),
            ],
            &format!("{ENTRY}  - {{ from: stats.csv, to: study.csv }}\n"),
        );
        let collected = merge(&v, &|_| true).unwrap();
        assert_eq!(collected.len(), 2);
        let c = &collected[0];
        assert!(c.written);
        assert_eq!((c.rows, c.items), (3, 2));
        assert_eq!(c.missing, ["s2"]);
        assert!(c.unfinished.is_empty() && c.empty.is_empty() && c.renamed.is_empty());
        let table = std::fs::read_to_string(dir.path().join("study.tsv")).unwrap();
        assert_eq!(
            table,
            "item\tsubject\tsite\tregion\tvolume\ns1\ts1\t\tleft\t1\ns1\ts1\t\tright\t2\ns3-Lyon, FR\ts3\tLyon, FR\t\"a\tb\"\t3\n"
        );

        // In CSV, the key and the site hold the delimiter, so are quoted; the tab is not.
        let table = std::fs::read_to_string(dir.path().join("study.csv")).unwrap();
        assert_eq!(
            table,
            "item,subject,site,region,volume\ns1,s1,,left,1\ns1,s1,,right,2\n\"s3-Lyon, FR\",s3,\"Lyon, FR\",a\tb,3\n"
        );

        let only_s3 = merge(&v, &|item| item.key == "s3-Lyon, FR").unwrap();
        assert_eq!(only_s3[0].unfinished, ["s1", "s2"]);
        assert_eq!(only_s3[0].rows, 1);
    }

    #[test]
    fn a_header_clash_names_both_items_and_writes_nothing() {
        let (dir, v) = study(
            [
                Some("region,volume\nleft,1\n"),
                Some("volume,region\n2,right\n"),
                Some("region\nx\n"),
            ],
            ENTRY,
        );
        std::fs::write(dir.path().join("study.tsv"), "before\n").unwrap();
        let e = merge(&v, &|_| true).unwrap_err();
        let Error::Collect(clash) = &e else {
            panic!("{e}")
        };
        let message = clash.to_string();
        assert!(
            message.contains("item `s2`'s")
                && message.contains(
                    "stats.csv has the columns `volume,region`, but item `s1`'s has `region,volume`"
                ),
            "{message}"
        );
        let help = clash.help();
        assert!(
            help.contains("column 1 is `volume` in `s2`'s file, `region` in `s1`'s")
                && help.contains("1 more item differs from `s1`'s: `s3-Lyon, FR`"),
            "{help}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("study.tsv")).unwrap(),
            "before\n"
        );
    }

    #[test]
    fn empty_files_are_listed_several_matches_refused_and_nothing_finished_writes_nothing() {
        let (dir, v) = study([Some(""), Some("a\n"), None], ENTRY);
        let c = &merge(&v, &|_| true).unwrap()[0];
        assert_eq!(c.empty, ["s1"]);
        assert_eq!(c.missing, ["s3-Lyon, FR"]);
        assert_eq!((c.rows, c.items), (0, 1));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("study.tsv")).unwrap(),
            "item\tsubject\tsite\ta\n"
        );

        let c = &merge(&v, &|_| false).unwrap()[0];
        assert!(!c.written);
        assert_eq!(c.unfinished, ["s1", "s2", "s3-Lyon, FR"]);

        let (_dir, v) = study([None, None, None], "  - { from: \"*.csv\", to: t.csv }\n");
        let folder = v.items[0].download.as_ref().unwrap();
        std::fs::create_dir_all(folder).unwrap();
        std::fs::write(folder.join("a.csv"), "x\n").unwrap();
        std::fs::write(folder.join("b.csv"), "x\n").unwrap();
        let e = merge(&v, &|_| true).unwrap_err();
        assert!(
            e.to_string()
                .contains("`*.csv` matches 2 files of item `s1`"),
            "{e}"
        );
    }

    #[test]
    fn finished_means_finished_without_a_verdict_for_the_current_inputs_with_outputs_home() {
        use crate::ops::state::{Attempt, ItemState, Output};
        let (_dir, v) = study([None, None, None], ENTRY);
        let item = &v.items[0];
        let folder = item.download.as_ref().unwrap();
        std::fs::create_dir_all(folder).unwrap();
        let local = folder.join("out.tgz");
        std::fs::write(&local, "x").unwrap();
        let meta = std::fs::metadata(&local).unwrap();
        let attempt = Attempt {
            execution_id: "workflow-1".into(),
            status: "Finished".into(),
            ..Attempt::default()
        };
        let output = Output {
            execution: Some("workflow-1".into()),
            remote: "/vip/Home/out.tgz".into(),
            size: Some(1),
            local: Some(local.clone()),
            done: true,
            problem: None,
            sha256: Some("ab".into()),
            mtime: crate::files::mtime_ms(&meta),
        };
        let state_with = |fingerprint: &str, attempt: Attempt| {
            let mut state = State::new("study", "Hello/1.0", "http://x");
            state.ensure_item(&item.key, || ItemState {
                fingerprint: fingerprint.into(),
                attempts: vec![attempt],
                outputs: vec![output.clone()],
                superseded: Vec::new(),
            });
            state
        };
        assert!(finished_in(
            &state_with(&item.fingerprint, attempt.clone()),
            item
        ));
        assert!(!finished_in(
            &state_with("other inputs", attempt.clone()),
            item
        ));
        let running = Attempt {
            status: "Running".into(),
            ..attempt.clone()
        };
        assert!(!finished_in(&state_with(&item.fingerprint, running), item));
        assert!(!finished_in(
            &State::new("study", "Hello/1.0", "http://x"),
            item
        ));
        std::fs::remove_file(&local).unwrap();
        assert!(!finished_in(&state_with(&item.fingerprint, attempt), item));
    }
}
