//! Every offline check, from the raw model to a [`Validated`] manifest with its items.
//!
//! Checks collect diagnostics instead of stopping at the first, so a user fixes a manifest in
//! one round. Values are converted to VIP's spellings here (booleans `true`/`false`, numbers
//! as written) and checked against VIP's character rules, so what `validate` accepts is what
//! VIP would accept, as far as can be known without asking it.
//!
//! This file holds the order of the checks; `findings` collects what they find, and each other
//! submodule checks one part of the manifest: `header` (version, name, pipeline, group),
//! `connection` (api key, server), `execution` (execution settings, results locations),
//! `variables` (vars, matrix, foreach), `notify` (the notification channels), `templates`
//! (compiling values), `items` (rendering each item), `values` (one rendered value), `collect`
//! (the study tables) and `placeholders` (`init`'s `CHANGE-ME` left in).

mod collect;
mod connection;
mod execution;
mod findings;
mod header;
mod items;
mod notify;
mod placeholders;
mod templates;
mod values;
mod variables;

use std::path::{Path, PathBuf};

use super::diagnostic::{ManifestDiagnostic, ManifestErrors};
use super::load as loader;
use super::model::{InputValue, Manifest};
use super::validated::{LoadOptions, Validated};
use findings::Findings;

/// Loads, parses, checks and expands the manifest at `path`.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Validated, ManifestErrors> {
    let fail = |diagnostics| ManifestErrors {
        manifest: path.display().to_string(),
        diagnostics,
    };
    let source =
        loader::read(path, loader::MAX_MANIFEST_BYTES, "manifest").map_err(|d| fail(vec![d]))?;
    let manifest = loader::parse(&source).map_err(fail)?;
    let dir = path
        .parent()
        .map_or(Path::new("."), |p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .to_path_buf();
    let mut found = Findings::new(&source.file);
    let validated = check(&mut found, &dir, &manifest, options);
    let diags = found.into_diagnostics();
    match validated {
        Some(mut v) if !diags.iter().any(ManifestDiagnostic::is_error) => {
            v.warnings = diags;
            v.secrets = source.secrets;
            Ok(v)
        }
        _ => Err(fail(diags)),
    }
}

/// Every check of `m`, in order, into `out`; the manifest they make when nothing stops it
/// (the caller still looks for errors in `out`).
fn check(out: &mut Findings, dir: &Path, m: &Manifest, options: &LoadOptions) -> Option<Validated> {
    header::check(out, m);
    placeholders::check(out, m);
    let execution = execution::check(out, m);
    let api_key = connection::api_key(out, m, dir);
    let server = connection::server(out, m);
    let notify = notify::check(out, m, dir);

    let assignments = variables::check(out, m, options, dir);
    let tables = collect::check(out, dir, m);

    // Templates, compiled once.
    let compiled = templates::compile(out, m);

    let assignments = assignments?;
    if out.has_errors() {
        return None;
    }

    let items = items::expand(out, dir, m, assignments, &compiled);
    collect::check_places(out, dir, m, &tables, &items);
    let input_locations = m
        .inputs
        .iter()
        .map(|(k, v)| (k.clone(), v.referenced))
        .collect();
    let element_locations = m
        .inputs
        .iter()
        .filter_map(|(k, v)| match &v.value {
            InputValue::List(items) => {
                Some((k.clone(), items.iter().map(|i| i.referenced).collect()))
            }
            InputValue::Scalar(_) => None,
        })
        .collect();
    Some(Validated {
        file: out.file.clone(),
        dir: dir.to_path_buf(),
        name: m.name.value.clone(),
        description: m.description.clone(),
        pipeline_id: m.pipeline_id.value.clone(),
        group: m.group.value.clone(),
        api_key: api_key?,
        server,
        execution,
        extract: m.results.extract.unwrap_or(true),
        items,
        cohort: match m.foreach.as_ref().map(|f| &f.value) {
            Some(super::model::Foreach::Files(f)) => Some(f.files.value.clone()),
            _ => None,
        },
        clean: m.results.clean.unwrap_or(false),
        collect: tables,
        notify,
        project: String::new(),
        content: std::collections::HashMap::new(),
        input_locations,
        element_locations,
        pipeline_location: m.pipeline_id.referenced,
        group_location: m.group.referenced,
        warnings: Vec::new(),
        secrets: Vec::new(),
    })
}

/// `path` relative to the manifest's folder, without a leading `./` when that folder is the
/// current one (paths in messages read as the user wrote them).
fn under(dir: &Path, path: PathBuf) -> PathBuf {
    if dir == Path::new(".") {
        path
    } else {
        dir.join(path)
    }
}
