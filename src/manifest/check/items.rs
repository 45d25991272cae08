//! Rendering every item: its inputs, results location and download folder, and the checks
//! that compare items with each other (shared download folders, equal execution names).
//!
//! Problems repeated across items are reported once per place with a count, so a mistake in
//! a 10,000-item matrix reads as one diagnostic, not 10,000.

use std::collections::HashMap;
use std::path::Path;

use indexmap::IndexMap;
use tera::Context;

use super::execution::check_results_location;
use super::findings::{Findings, Repeats};
use super::templates::{Compiled, ValueSpec, spec_source, template_diagnostic};
use super::under;
use super::values::ValueChecker;
use crate::manifest::api_key::expand_tilde;
use crate::manifest::diagnostic::ManifestDiagnostic;
use crate::manifest::expand::Assignment;
use crate::manifest::identity::{execution_name, fingerprint};
use crate::manifest::model::Manifest;
use crate::manifest::validated::{InputWire, Item, Value};

/// Renders and checks every item of `m` (one per assignment) from its `compiled` values;
/// `dir` is the manifest's folder.
pub(super) fn expand(
    out: &mut Findings,
    dir: &Path,
    m: &Manifest,
    assignments: Vec<Assignment>,
    compiled: &Compiled<'_>,
) -> Vec<Item> {
    let Compiled {
        templates,
        inputs,
        location: location_spec,
        download: download_spec,
        expect: expect_specs,
        collect: collect_specs,
    } = compiled;
    let download_spec = download_spec.as_ref();
    let name = &m.name.value;
    let mut base = Context::new();
    base.insert("name", name);
    let mut available: Vec<String> = vec!["name".into(), "item".into(), "index".into()];
    if let Some(vars) = &m.vars {
        base.insert("vars", &vars.value);
        available.push("vars".into());
        for (k, v) in &vars.value {
            base.insert(k.clone(), v);
            available.push(k.clone());
        }
    }
    if let Some(first) = assignments.first() {
        available.extend(first.values.keys().cloned());
    }
    let available: Vec<&str> = available.iter().map(String::as_str).collect();

    let mut repeats = Repeats::default();
    let mut items = Vec::with_capacity(assignments.len());
    let mut value_checker = ValueChecker::new(out.file, dir);
    // A literal value is the same in every item: checked once, then copied (a failed
    // check is not kept, so each item still reports it). `[input][value]`.
    let mut constant: Vec<Vec<Option<Value>>> =
        inputs.iter().map(|i| vec![None; i.values.len()]).collect();

    // One context for every item: the item's own variables are put in, and taken out
    // again afterwards (an `include` entry may add a variable other items do not have).
    let mut context = base;
    for (index, assignment) in assignments.into_iter().enumerate() {
        for (k, v) in &assignment.values {
            context.insert(k.clone(), v);
        }
        context.insert("item", &assignment.key);
        context.insert("index", &index);
        let key = assignment.key.as_str();

        let render =
            |out: &mut Findings, repeats: &mut Repeats, spec: &ValueSpec<'_>| -> Option<String> {
                let text = spec.text(templates, &context);
                match text {
                    Ok(t) => Some(t),
                    Err(e) => {
                        let source = spec_source(m, spec.location);
                        let d = template_diagnostic(
                            out.file,
                            &e,
                            &source,
                            spec.location,
                            Some(key),
                            &available,
                        );
                        out.repeated(repeats, "template", d);
                        None
                    }
                }
            };

        let mut resolved = IndexMap::with_capacity(inputs.len());
        for (input, constant) in inputs.iter().zip(&mut constant) {
            let mut values = Vec::with_capacity(input.values.len());
            for (spec, constant) in input.values.iter().zip(constant.iter_mut()) {
                if let Some(value) = constant {
                    value_checker.note_missing(input.name, value, spec.location);
                    values.push(value.clone());
                    continue;
                }
                let Some(text) = render(out, &mut repeats, spec) else {
                    continue;
                };
                if let Some(v) =
                    value_checker.check(out, &mut repeats, input.name, text, spec.location, key)
                {
                    if spec.is_literal() {
                        *constant = Some(v.clone());
                    }
                    values.push(v);
                }
            }
            if values.len() == input.values.len() {
                let wire = if input.list {
                    InputWire::List(values)
                } else {
                    InputWire::One(values.remove(0))
                };
                resolved.insert(input.name.to_owned(), wire);
            }
        }
        let results_location = render(out, &mut repeats, location_spec).unwrap_or_default();
        if !results_location.is_empty() {
            check_results_location(out, &results_location, location_spec.location, &mut repeats);
        }
        let download = download_spec
            .and_then(|spec| render(out, &mut repeats, spec))
            .map(|d| {
                let p = expand_tilde(d.trim());
                if p.is_absolute() { p } else { under(dir, p) }
            });
        let mut expect = Vec::with_capacity(expect_specs.len());
        for spec in expect_specs {
            let Some(pattern) = render(out, &mut repeats, spec) else {
                continue;
            };
            let pattern = pattern.trim().to_owned();
            if !is_relative_pattern(&pattern) {
                let d = ManifestDiagnostic::error(format!(
                    "results.expect `{pattern}` must be a relative name or glob inside the item's results"
                ))
                .at_location(out.file, spec.location)
                .label("not a relative name")
                .help("name a returned file, e.g. `{{ item }}.nii.gz`, or a glob such as `stats/*.csv`");
                out.repeated(&mut repeats, "expect", d);
                continue;
            }
            expect.push(pattern);
        }
        let mut collect = Vec::with_capacity(collect_specs.len());
        for spec in collect_specs {
            // An entry whose pattern fails keeps its place (empty), so `collect[i]` stays the
            // i-th entry's; the error makes the manifest invalid anyway.
            let Some(pattern) = render(out, &mut repeats, spec) else {
                collect.push(String::new());
                continue;
            };
            let pattern = pattern.trim().to_owned();
            if !is_relative_pattern(&pattern) {
                let d = ManifestDiagnostic::error(format!(
                    "collect `from: {pattern}` must be a relative name or glob inside the item's download folder"
                ))
                .at_location(out.file, spec.location)
                .label("not a relative name")
                .help("name the table each item returns, e.g. `stats.csv`, or a glob such as `stats/*.csv`");
                out.repeated(&mut repeats, "collect-from", d);
            }
            collect.push(pattern);
        }
        for k in assignment.values.keys() {
            match m.vars.as_ref().and_then(|vars| vars.value.get(k)) {
                Some(v) => context.insert(k.clone(), v),
                None => drop(context.remove(k)),
            }
        }

        let fingerprint = fingerprint(&m.pipeline_id.value, &resolved);
        let execution_name = execution_name(name, key, &fingerprint);
        items.push(Item {
            key: assignment.key,
            index,
            variables: assignment.values,
            inputs: resolved,
            results_location,
            download,
            path_fingerprint: fingerprint.clone(),
            fingerprint,
            execution_name,
            expect,
            collect,
        });
    }
    check_distinct(out, &items, download_spec, &mut repeats);
    value_checker.warn_missing(out);
    out.finish_repeats(&repeats);
    items
}

/// Whether `pattern` names files inside an item's results: not empty, not absolute, never
/// climbing out with `..`.
fn is_relative_pattern(pattern: &str) -> bool {
    !(pattern.is_empty() || pattern.starts_with('/') || pattern.split('/').any(|s| s == ".."))
}

/// Items that would share a download folder, or an execution name (checked once every
/// item is rendered, on borrowed keys: nothing is copied per item).
fn check_distinct(
    out: &mut Findings,
    items: &[Item],
    download_spec: Option<&ValueSpec<'_>>,
    repeats: &mut Repeats,
) {
    if let Some(spec) = download_spec {
        let mut downloads: HashMap<&std::path::Path, &str> = HashMap::with_capacity(items.len());
        for item in items {
            let Some(folder) = &item.download else {
                continue;
            };
            if let Some(other) = downloads.insert(folder, &item.key) {
                let d = ManifestDiagnostic::error(format!(
                    "items `{other}` and `{}` both download into {}",
                    item.key,
                    folder.display()
                ))
                .at_location(out.file, spec.location)
                .label("same folder for several items")
                .help("make `results.download` depend on the item, e.g. `results/{{ item }}`");
                out.repeated(repeats, "download", d);
            }
        }
    }
    let mut names: HashMap<&str, &str> = HashMap::with_capacity(items.len());
    for item in items {
        if let Some(other) = names.insert(&item.execution_name, &item.key) {
            out.push(
                ManifestDiagnostic::error(format!(
                    "items `{other}` and `{}` would get the same execution name `{}`",
                    item.key, item.execution_name
                ))
                .help("make their values differ in more than punctuation"),
            );
        }
    }
}
