//! `collect:`, the study tables gathered from every item's results, as far as it can be checked
//! offline: that the items download something to read, that `to` is a table vip-run writes
//! and no two entries write the same one, that `from` (or `format`) says how to read the
//! items' files, and that no table would be written over a file the run reads or into a
//! folder it downloads into.
//!
//! `from` is rendered per item with the other templates (`items`); `to` is one table for the
//! whole study, so only `name` and `vars` are there for its templates.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use serde_saphyr::Location;
use tera::Context;

use super::findings::Findings;
use super::templates::template_diagnostic;
use super::under;
use crate::manifest::api_key::expand_tilde;
use crate::manifest::model::{Download, Foreach, Manifest};
use crate::manifest::table_format::TableFormat;
use crate::manifest::template::{Templates, is_template};
use crate::manifest::validated::{CollectTable, InputWire, Item, ValueKind};

/// The `collect` entries of `m`, checked on their own: one table per entry, in order (an
/// entry with a problem keeps its place, the problem being in `out`).
pub(super) fn check(out: &mut Findings, dir: &Path, m: &Manifest) -> Vec<CollectTable> {
    let Some(entries) = &m.collect else {
        return Vec::new();
    };
    // Pointed at `download: false`, where the fix is.
    if let Some(download) = &m.results.download
        && matches!(download.value, Download::Enabled(false))
        && !entries.value.is_empty()
    {
        out.error(
            download.referenced,
            "`collect` reads each item's downloaded results, but `results.download` is `false`",
            "nothing downloaded for `collect` to read",
            "remove `download: false` (each item then downloads into `results/{{ name }}/{{ item }}`) or name a folder there; or remove `collect`",
        );
    }
    let mut written: HashMap<PathBuf, String> = HashMap::new();
    let mut tables = Vec::with_capacity(entries.value.len());
    for entry in &entries.value {
        let entry = &entry.value;
        // A template error is reported as such, not as a bad name too.
        let rendered = render_to(out, m, &entry.to.value, entry.to.referenced);
        let to = rendered.as_deref().unwrap_or_default().trim();
        let write_as = TableFormat::of_written(to).unwrap_or_else(|| {
            if rendered.is_some() {
                out.error(
                    entry.to.referenced,
                    format!("`to: {to}` is not a table vip-run writes"),
                    "not .csv or .tsv",
                    "end it in `.csv` (comma-separated) or `.tsv` (tab-separated), uncompressed, e.g. `results/volumes.csv`",
                );
            }
            TableFormat::Csv
        });
        let path = {
            let p = expand_tilde(to);
            if p.is_absolute() { p } else { under(dir, p) }
        };
        if let Some(earlier) = written.insert(normal(&path), to.to_owned()) {
            out.error(
                entry.to.referenced,
                format!("two collect entries write {}", path.display()),
                "written by an earlier entry too",
                format!("give each entry a table of its own: an earlier entry has `to: {earlier}`"),
            );
        }
        let from = entry.from.value.trim();
        let read_as = entry.format.as_ref().map(|f| f.value);
        if read_as.is_none() && !says_format(from) {
            out.error(
                entry.from.referenced,
                format!("cannot tell how to read `{from}`: its name ends in neither `.csv` nor `.tsv`"),
                "CSV or TSV?",
                "add `format: csv` (comma-separated) or `format: tsv` (tab-separated) to this entry",
            );
        }
        tables.push(CollectTable {
            name: entry
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
            from: from.to_owned(),
            to: path,
            write_as,
            read_as,
        });
    }
    tables
}

/// Whether a pattern tells its files' format, or may (its name ends in a wildcard or a
/// template, so each file found says it for itself when the tables are merged).
fn says_format(pattern: &str) -> bool {
    TableFormat::of_name(pattern).is_some() || pattern.ends_with(['*', '?', '}'])
}

/// `to` rendered: the whole study's, so `name` and `vars` only (no item's variables).
fn render_to(out: &mut Findings, m: &Manifest, text: &str, at: Location) -> Option<String> {
    if !is_template(text) {
        return Some(text.to_owned());
    }
    let mut context = Context::new();
    context.insert("name", &m.name.value);
    let mut available = vec!["name".to_owned()];
    if let Some(vars) = &m.vars {
        context.insert("vars", &vars.value);
        available.push("vars".to_owned());
        for (k, v) in &vars.value {
            context.insert(k.clone(), v);
            available.push(k.clone());
        }
    }
    let mut templates = Templates::new();
    match templates
        .add(text)
        .and_then(|id| templates.render(id, &context))
    {
        Ok(rendered) => Some(rendered),
        Err(e) => {
            let available: Vec<&str> = available.iter().map(String::as_str).collect();
            let d = template_diagnostic(out.file, &e, text, at, None, &available);
            out.push(d);
            None
        }
    }
}

/// Where the tables of `m` would be written, against its `items`: never into an item's
/// download folder (the next merge would read the table back as that item's), never over
/// the manifest, its `foreach` CSV or a local input.
pub(super) fn check_places(
    out: &mut Findings,
    dir: &Path,
    m: &Manifest,
    tables: &[CollectTable],
    items: &[Item],
) {
    let Some(entries) = &m.collect else {
        return;
    };
    let mut read: Vec<PathBuf> = vec![normal(&out.file.path)];
    if let Some(Foreach::Csv(csv)) = m.foreach.as_ref().map(|f| &f.value) {
        read.push(normal(&under(dir, expand_tilde(csv))));
    }
    for item in items {
        for value in item.inputs.values().flat_map(InputWire::values) {
            if let ValueKind::LocalFile { path, .. } = &value.kind {
                read.push(normal(path));
            }
        }
    }
    for (table, entry) in tables.iter().zip(&entries.value) {
        let to = normal(&table.to);
        let at = entry.value.to.referenced;
        if read.contains(&to) {
            out.error(
                at,
                format!(
                    "`to` would write over {}, which this manifest reads",
                    table.to.display()
                ),
                "a file the run reads",
                "write the study table to a file of its own, e.g. `results/volumes.csv`",
            );
            continue;
        }
        let inside = items.iter().find(|i| {
            i.download
                .as_deref()
                .is_some_and(|folder| to.starts_with(normal(folder)))
        });
        if let Some(item) = inside {
            out.error(
                at,
                format!(
                    "`to` {} is inside item `{}`'s download folder",
                    table.to.display(),
                    item.key
                ),
                "inside an item's results",
                "write the study table beside the items' folders, not in one (the next collect would read it back as that item's), e.g. `results/volumes.csv`",
            );
        }
    }
}

/// `path` without its `.` parts, to compare paths as written.
fn normal(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}
