//! Rendering every item: its inputs, results location and download folder, and the checks
//! that compare items with each other (shared download folders, equal execution names).
//!
//! Problems repeated across items are reported once per place with a count, so a mistake in
//! a 10,000-item matrix reads as one diagnostic, not 10,000.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use indexmap::IndexMap;
use serde_saphyr::Location;
use tera::Context;

use super::templates::{InputSpec, ValueSpec, spec_source};
use super::{Checker, Repeats, under};
use crate::manifest::api_key::expand_tilde;
use crate::manifest::diagnostic::ManifestDiagnostic;
use crate::manifest::expand::Assignment;
use crate::manifest::identity::{execution_name, fingerprint};
use crate::manifest::model::Manifest;
use crate::manifest::template::Templates;
use crate::manifest::validated::{InputWire, Item};

impl Checker<'_> {
    pub(super) fn expand_items(
        &mut self,
        m: &Manifest,
        assignments: &[Assignment],
        templates: &Templates,
        inputs: &[InputSpec<'_>],
        location_spec: &ValueSpec<'_>,
        download_spec: Option<&ValueSpec<'_>>,
    ) -> Vec<Item> {
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
        let mut uploads: HashMap<String, PathBuf> = HashMap::new();
        let mut downloads: HashMap<PathBuf, String> = HashMap::new();
        let mut missing: BTreeMap<usize, (String, String, Location, usize)> = BTreeMap::new();
        let mut names: HashMap<String, String> = HashMap::new();

        for (index, assignment) in assignments.iter().enumerate() {
            let mut context = base.clone();
            for (k, v) in &assignment.values {
                context.insert(k.clone(), v);
            }
            context.insert("item", &assignment.key);
            context.insert("index", &index);
            let key = assignment.key.as_str();

            let render = |checker: &mut Self,
                          repeats: &mut Repeats,
                          spec: &ValueSpec<'_>|
             -> Option<String> {
                let text = spec.text(templates, &context);
                match text {
                    Ok(t) => Some(t),
                    Err(e) => {
                        let source = spec_source(m, spec.location, checker.file);
                        let d = checker.template_diagnostic(
                            &e,
                            &source,
                            spec.location,
                            Some(key),
                            &available,
                        );
                        checker.repeated(repeats, "template", d);
                        None
                    }
                }
            };

            let mut resolved = IndexMap::new();
            for input in inputs {
                let mut values = Vec::new();
                for spec in &input.values {
                    let Some(text) = render(self, &mut repeats, spec) else {
                        continue;
                    };
                    if let Some(v) = self.check_value(
                        input.name,
                        &text,
                        spec.location,
                        key,
                        &mut repeats,
                        &mut missing,
                        &mut uploads,
                    ) {
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
            let results_location = render(self, &mut repeats, location_spec).unwrap_or_default();
            if !results_location.is_empty() {
                self.check_results_location(
                    &results_location,
                    location_spec.location,
                    &mut repeats,
                );
            }
            let download = download_spec
                .and_then(|spec| render(self, &mut repeats, spec))
                .map(|d| {
                    let p = expand_tilde(d.trim());
                    if p.is_absolute() {
                        p
                    } else {
                        under(self.dir, p)
                    }
                });
            if let (Some(folder), Some(spec)) = (&download, download_spec)
                && let Some(other) = downloads.insert(folder.clone(), key.to_owned())
            {
                let d = ManifestDiagnostic::error(format!(
                    "items `{other}` and `{key}` both download into {}",
                    folder.display()
                ))
                .at_location(self.file, spec.location)
                .label("same folder for several items")
                .help("make `results.download` depend on the item, e.g. `results/{{ item }}`");
                self.repeated(&mut repeats, "download", d);
            }

            let fingerprint = fingerprint(&m.pipeline_id.value, &resolved);
            let execution_name = execution_name(name, key, &fingerprint);
            if let Some(other) = names.insert(execution_name.clone(), key.to_owned()) {
                self.diags.push(ManifestDiagnostic::error(format!(
                    "items `{other}` and `{key}` would get the same execution name `{execution_name}`"
                )).help("make their values differ in more than punctuation"));
            }
            items.push(Item {
                key: key.to_owned(),
                index,
                variables: assignment.values.clone(),
                inputs: resolved,
                results_location,
                download,
                fingerprint,
                execution_name,
            });
        }
        for (input, example, location, count) in missing.into_values() {
            let more = if count > 1 {
                format!(" (and {} more items)", count - 1)
            } else {
                String::new()
            };
            self.warn(location, format!("input `{input}`: no local file `{example}`{more}"),
                "if this is a File parameter, the file must exist; paths are relative to the manifest's folder");
        }
        self.finish_repeats(&repeats);
        items
    }
}
