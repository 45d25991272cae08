//! A validated manifest against one pipeline: the CARMIN parameters (names, with a
//! did-you-mean; required inputs; VIP's types; `vip:dot` lengths) and every rule of the
//! Boutiques descriptor ([`crate::manifest::boutiques`]). A pure function of (manifest, pipeline,
//! descriptor): pre-flight calls it with what VIP serves now, offline `validate` with what the
//! lock file holds, so both say the same thing about the same descriptor.
//!
//! A problem repeated across items is reported once per input and rule, at the input's line,
//! naming the first item and counting the others.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::manifest::diagnostic::Repeats;
use crate::manifest::sources::Sources;
use crate::manifest::{InputWire, Item, ManifestDiagnostic, Validated, ValueKind, suggest};
use crate::manifest::{boutiques, jobs};
use crate::report::text::strip_html;
use crate::vip::wire::{Descriptor, ParameterType, Pipeline};

struct Report<'a> {
    v: &'a Validated,
    sources: Sources<'a>,
    diagnostics: Vec<ManifestDiagnostic>,
    repeats: Repeats<(String, &'static str)>,
}

impl Report<'_> {
    fn at(&self, d: ManifestDiagnostic, input: &str) -> ManifestDiagnostic {
        let location = self
            .v
            .input_locations
            .get(input)
            .copied()
            .unwrap_or(self.v.pipeline_location);
        d.at_location(&self.v.file, location)
    }

    /// Records a per-item problem once per input and kind, counting the other items.
    fn input(&mut self, input: &str, kind: &'static str, d: ManifestDiagnostic) {
        let d = self.at(d, input);
        self.repeats
            .push(&mut self.diagnostics, (input.to_owned(), kind), d);
    }

    /// [`Report::input`] for a problem of `item`'s value: shown where that value is written
    /// when the input's template took it from a matrix value or a CSV row (the first item's,
    /// when several share the problem), else at the input's line.
    fn item_input(&mut self, item: &Item, input: &str, kind: &'static str, d: ManifestDiagnostic) {
        let key = (input.to_owned(), kind);
        if self.repeats.seen(&key) {
            // Counted only: no need to find where this one is written.
            self.repeats.push(&mut self.diagnostics, key, d);
            return;
        }
        let d = match self.sources.origin(item, input) {
            Some(o) => {
                let from = format!("`{input}` takes `{}` = `{}` from here", o.variable, o.value);
                let label = match &d.label {
                    Some(l) => format!("{l}: {from}"),
                    None => from,
                };
                d.at(&o.file, o.offset, o.len).label(label)
            }
            None => self.at(d, input),
        };
        self.repeats.push(&mut self.diagnostics, key, d);
    }

    /// Like [`Report::input`], about the `index`th element of a list input: pointed at the
    /// element's own line (else where the item's value is written: see [`Report::item_input`]), once per element and kind.
    fn element(
        &mut self,
        item: &Item,
        input: &str,
        index: usize,
        kind: &'static str,
        d: ManifestDiagnostic,
    ) {
        let Some(location) = self
            .v
            .element_locations
            .get(input)
            .and_then(|l| l.get(index))
            .copied()
        else {
            return self.item_input(item, input, kind, d);
        };
        let d = d.at_location(&self.v.file, location);
        self.repeats.push(
            &mut self.diagnostics,
            (format!("{input}[{index}]"), kind),
            d,
        );
    }
}

/// Everything wrong with `v`'s inputs for `pipeline` (errors and warnings).
pub fn check(
    v: &Validated,
    pipeline: &Pipeline,
    descriptor: &Descriptor,
) -> Vec<ManifestDiagnostic> {
    let mut report = Report {
        v,
        sources: Sources::new(v),
        diagnostics: Vec::new(),
        repeats: Repeats::default(),
    };
    check_inputs(&mut report, pipeline, descriptor);
    check_rules(&mut report, descriptor);
    report.repeats.finish(&mut report.diagnostics);
    report.diagnostics
}

fn in_item(key: &str) -> String {
    if key == "main" {
        String::new()
    } else {
        format!(" in item `{key}`")
    }
}

fn check_rules(report: &mut Report<'_>, descriptor: &Descriptor) {
    let v = report.v;
    let tool = &v.pipeline_id;
    let rules = boutiques::Rules::new(descriptor);
    for item in &v.items {
        for violation in rules.violations(&item.inputs) {
            let message = format!("{}{}", violation.message, in_item(&item.key));
            let d = if violation.warning {
                ManifestDiagnostic::warning(message)
            } else {
                ManifestDiagnostic::error(message)
            };
            let d = d
                .label(format!("{tool}: `{}`", violation.rule))
                .help(violation.help);
            match violation.element {
                Some(index) => report.element(item, &violation.input, index, violation.rule, d),
                None => report.item_input(item, &violation.input, violation.rule, d),
            }
        }
    }
}

/// The element type of each list parameter, from the descriptor.
fn element_types(descriptor: &Descriptor) -> HashMap<&str, ParameterType> {
    descriptor
        .inputs
        .iter()
        .map(|i| (i.id.as_str(), i.element_type()))
        .collect()
}

fn check_inputs(report: &mut Report<'_>, pipeline: &Pipeline, descriptor: &Descriptor) {
    let v = report.v;
    let elements = element_types(descriptor);
    let dots = descriptor.dot_inputs();
    // Each parameter's expected type (a list parameter's: its elements') and whether it is
    // paired, worked out once rather than per item.
    let expected: HashMap<&str, (&str, bool)> = pipeline
        .parameters
        .iter()
        .map(|p| {
            let name = p.name.as_str();
            let kind = match &p.kind {
                ParameterType::List => elements.get(name).map_or("String", ParameterType::as_str),
                other => other.as_str(),
            };
            (name, (kind, dots.iter().any(|d| d == name)))
        })
        .collect();
    let names: Vec<&str> = pipeline
        .parameters
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let first_location = v.pipeline_location;

    for (name, location) in &v.input_locations {
        if !expected.contains_key(name.as_str()) {
            let help = suggest::did_you_mean(name, names.iter().copied()).map_or_else(
                || format!("{} takes: {}", v.pipeline_id, names.join(", ")),
                |s| {
                    format!(
                        "did you mean `{s}`? {} takes: {}",
                        v.pipeline_id,
                        names.join(", ")
                    )
                },
            );
            let d = ManifestDiagnostic::error(format!(
                "`{name}` is not a parameter of {}: VIP would silently ignore it",
                v.pipeline_id
            ))
            .label("unknown parameter")
            .help(help);
            let d = d.at_location(&v.file, *location);
            report.diagnostics.push(d);
        }
    }
    for p in &pipeline.parameters {
        if !p.is_optional && p.default().is_none() && !v.input_locations.contains_key(&p.name) {
            let d = ManifestDiagnostic::error(format!(
                "{} requires the input `{}`, which the manifest does not give",
                v.pipeline_id, p.name
            ))
            .label("this pipeline")
            .help(format!(
                "add `{}: …` under `inputs` ({}{})",
                p.name,
                p.kind,
                p.description
                    .as_deref()
                    .map(|d| format!(": {}", strip_html(d)))
                    .unwrap_or_default()
            ));
            let d = d.at_location(&v.file, first_location);
            report.diagnostics.push(d);
        }
    }

    for item in &v.items {
        let mut dot_lengths: BTreeMap<&str, usize> = BTreeMap::new();
        for (name, wire) in &item.inputs {
            let Some(&(expected, dotted)) = expected.get(name.as_str()) else {
                continue;
            };
            // A list for any parameter is VIP's batch idiom (docs/vip.md#lists): one execution
            // whose jobs iterate over the values; each element must still be a value of the
            // type.
            if dotted {
                dot_lengths.insert(name, wire.values().len());
            }
            let list = matches!(wire, InputWire::List(_));
            for (index, value) in wire.values().iter().enumerate() {
                if let Some((problem, help)) = type_problem(expected, &value.text, &value.kind) {
                    let element = if list {
                        format!(" (element {} of {})", index + 1, wire.values().len())
                    } else {
                        String::new()
                    };
                    let d = ManifestDiagnostic::error(format!(
                        "`{name}` {problem}{element}{}",
                        in_item(&item.key)
                    ))
                    .label(format!("expects {expected}"))
                    .help(help);
                    report.element(item, name, index, "type", d);
                }
            }
        }
        let lengths: BTreeSet<usize> = dot_lengths.values().copied().collect();
        if lengths.len() > 1 {
            let listed: Vec<String> = dot_lengths
                .iter()
                .map(|(k, n)| format!("`{k}` has {n}"))
                .collect();
            let d = ManifestDiagnostic::error(format!(
                "{} pairs {} element by element, so they need as many values; {}{}",
                v.pipeline_id,
                dot_lengths
                    .keys()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" and "),
                listed.join(", "),
                if item.key == "main" {
                    String::new()
                } else {
                    format!(" (item `{}`)", item.key)
                }
            ))
            .help("give the paired inputs lists of the same length");
            report.input("vip:dot", "dot", d);
        }
        check_jobs(report, item, descriptor);
    }
}

/// VIP's engine refuses a workflow over its `maxJobsPerWorkflow`, which it does not publish
/// (docs/vip.md#lists): refuse an item whose jobs exceed `execution.max_jobs` before anything
/// is spent.
fn check_jobs(report: &mut Report<'_>, item: &crate::manifest::Item, descriptor: &Descriptor) {
    let v = report.v;
    let jobs = jobs::of_item(item, Some(descriptor));
    let max = v.execution.max_jobs;
    if jobs.count <= max {
        return;
    }
    let at = jobs
        .lists
        .iter()
        .find(|l| l.role != jobs::Role::Whole)
        .map_or("", |l| l.name.as_str())
        .to_owned();
    let who = if item.key == "main" {
        "the manifest".to_owned()
    } else {
        format!("item `{}`", item.key)
    };
    let d = ManifestDiagnostic::error(format!(
        "{who} would be one execution of {} jobs, over `execution.max_jobs` ({max}): {}",
        jobs.count,
        jobs.explain()
    ))
    .label("lists multiply into jobs")
    .help(format!(
        "VIP's engine refuses workflows over a few hundred jobs: move one of the lists to `matrix` (one execution per value, each with fewer jobs), or raise `execution.max_jobs` if {} accepts more",
        v.server.as_deref().unwrap_or("your VIP server")
    ));
    report.input(&at, "max-jobs", d);
}

/// What is wrong with `text` as a value of VIP type `expected`, and what to do.
fn type_problem(expected: &str, text: &str, kind: &ValueKind) -> Option<(String, String)> {
    match expected {
        "File" => match kind {
            ValueKind::VipPath | ValueKind::External | ValueKind::LocalFile { .. } => None,
            ValueKind::Text => Some((
                format!("expects a file, but `{text}` is neither a local file nor a VIP path"),
                "give a local file (relative to the manifest's folder), a `/vip/…` path or a `platformId:id` reference".to_owned(),
            )),
        },
        "Boolean" => (text != "true" && text != "false").then(|| {
            (
                format!("expects true or false, not `{text}`"),
                "write `true` or `false`".to_owned(),
            )
        }),
        "Int64" => text.parse::<i64>().is_err().then(|| {
            (
                format!("expects a whole number, not `{text}`"),
                "write a whole number such as `100`".to_owned(),
            )
        }),
        "Double" => (!text.parse::<f64>().is_ok_and(f64::is_finite)).then(|| {
            (
                format!("expects a number, not `{text}`"),
                "write a decimal number such as `0.5`".to_owned(),
            )
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_checked_as_vip_reads_them() {
        assert!(type_problem("Boolean", "true", &ValueKind::Text).is_none());
        assert!(type_problem("Boolean", "yes", &ValueKind::Text).is_some());
        assert!(type_problem("Int64", "100", &ValueKind::Text).is_none());
        assert!(type_problem("Int64", "1.5", &ValueKind::Text).is_some());
        assert!(type_problem("Double", "1.5", &ValueKind::Text).is_none());
        assert!(type_problem("Double", "x", &ValueKind::Text).is_some());
        assert!(type_problem("File", "/vip/Home/x", &ValueKind::VipPath).is_none());
        assert!(type_problem("File", "nothing.txt", &ValueKind::Text).is_some());
        assert!(type_problem("String", "anything", &ValueKind::Text).is_none());
    }
}
