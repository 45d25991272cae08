//! Compiling the manifest's values into templates once, and reporting template errors.
//!
//! A 10,000-item matrix renders the same few templates 10,000 times: each is compiled here
//! once and rendered per item. Errors point at the exact place inside the value (past the
//! quote, if any) and suggest the nearest available variable.

use serde_saphyr::{Location, Spanned};
use tera::Context;

use super::findings::Findings;
use crate::manifest::diagnostic::{ManifestDiagnostic, SourceFile};
use crate::manifest::expand::scalar_text;
use crate::manifest::model::{Download, InputValue, Manifest, Scalar};
use crate::manifest::suggest;
use crate::manifest::template::{TemplateError, TemplateId, Templates, is_template};
use crate::manifest::validated::{DEFAULT_DOWNLOAD, DEFAULT_RESULTS_LOCATION};

/// A compiled value of an input or a results field.
#[derive(Clone, Copy)]
enum Spec<'m> {
    Literal(&'m str),
    Template(TemplateId),
}

pub(super) struct ValueSpec<'m> {
    spec: Option<Spec<'m>>,
    owned: Option<String>,
    pub(super) location: Location,
}

impl ValueSpec<'_> {
    /// Whether the value is the same in every item (no template).
    pub(super) fn is_literal(&self) -> bool {
        !matches!(self.spec, Some(Spec::Template(_)))
    }

    pub(super) fn text(
        &self,
        templates: &Templates,
        context: &Context,
    ) -> Result<String, TemplateError> {
        match (self.spec, &self.owned) {
            (Some(Spec::Template(id)), _) => templates.render(id, context),
            (Some(Spec::Literal(s)), _) => Ok(s.to_owned()),
            (None, Some(s)) => Ok(s.clone()),
            (None, None) => Ok(String::new()),
        }
    }
}

pub(super) struct InputSpec<'m> {
    pub(super) name: &'m str,
    pub(super) list: bool,
    pub(super) values: Vec<ValueSpec<'m>>,
}

/// The manifest's values, compiled once, to render per item.
pub(super) struct Compiled<'m> {
    pub(super) templates: Templates,
    pub(super) inputs: Vec<InputSpec<'m>>,
    /// `results.location`, or its default.
    pub(super) location: ValueSpec<'m>,
    /// `results.download`, or its default; `None` when downloading is off.
    pub(super) download: Option<ValueSpec<'m>>,
    /// `results.expect`.
    pub(super) expect: Vec<ValueSpec<'m>>,
    /// Each `collect` entry's `from`.
    pub(super) collect: Vec<ValueSpec<'m>>,
}

/// Compiles the inputs of `m`, then its results fields.
pub(super) fn compile<'m>(out: &mut Findings, m: &'m Manifest) -> Compiled<'m> {
    let mut templates = Templates::new();
    let inputs = compile_inputs(out, m, &mut templates);
    let (location, download) = compile_results(out, m, &mut templates);
    let expect = m
        .results
        .expect
        .iter()
        .flatten()
        .map(|e| compile_value(out, &mut templates, &e.value, e.referenced))
        .collect();
    let collect = m
        .collect
        .iter()
        .flat_map(|c| &c.value)
        .map(|c| {
            let from = &c.value.from;
            compile_value(out, &mut templates, &from.value, from.referenced)
        })
        .collect();
    Compiled {
        templates,
        inputs,
        location,
        download,
        expect,
        collect,
    }
}

/// Compiles one value, written at `location`.
fn compile_value<'m>(
    out: &mut Findings,
    templates: &mut Templates,
    text: &'m str,
    location: Location,
) -> ValueSpec<'m> {
    if !is_template(text) {
        return ValueSpec {
            spec: Some(Spec::Literal(text)),
            owned: None,
            location,
        };
    }
    match templates.add(text) {
        Ok(id) => ValueSpec {
            spec: Some(Spec::Template(id)),
            owned: None,
            location,
        },
        Err(e) => {
            let d = template_diagnostic(out.file, &e, text, location, None, &[]);
            out.push(d);
            ValueSpec {
                spec: None,
                owned: None,
                location,
            }
        }
    }
}

fn compile_inputs<'m>(
    out: &mut Findings,
    m: &'m Manifest,
    templates: &mut Templates,
) -> Vec<InputSpec<'m>> {
    let mut specs = Vec::new();
    for (name, value) in &m.inputs {
        let (list, scalars): (bool, Vec<(&Scalar, Location)>) = match &value.value {
            InputValue::Scalar(s) => (false, vec![(s, value.referenced)]),
            InputValue::List(items) => (
                true,
                items.iter().map(|i| (&i.value, i.referenced)).collect(),
            ),
        };
        if list && scalars.is_empty() {
            out.error(value.referenced, format!("input `{name}` is an empty list"), "empty list",
                    "VIP cannot run a list input with no values: give at least one, or remove the input");
            continue;
        }
        let mut values = Vec::new();
        for (scalar, location) in scalars {
            let spec = match scalar {
                Scalar::Str(s) => compile_value(out, templates, s, location),
                Scalar::Null => {
                    out.error(location, format!("input `{name}` has no value"), "empty value",
                            "to leave an optional input at its default, remove the key; to pass an empty string, VIP has no way: remove it");
                    continue;
                }
                other => {
                    if let Some(text) = scalar_text(other) {
                        ValueSpec {
                            spec: None,
                            owned: Some(text),
                            location,
                        }
                    } else {
                        out.error(
                            location,
                            format!("input `{name}` is not a finite number"),
                            "not finite",
                            "VIP takes decimal numbers only",
                        );
                        continue;
                    }
                }
            };
            values.push(spec);
        }
        specs.push(InputSpec { name, list, values });
    }
    specs
}

/// Compiles `results.location` and `results.download` (with their defaults); `None` for
/// the download when downloading is off.
fn compile_results<'m>(
    out: &mut Findings,
    m: &'m Manifest,
    templates: &mut Templates,
) -> (ValueSpec<'m>, Option<ValueSpec<'m>>) {
    let location = m.results.location.as_ref();
    let location_spec = compile_value(
        out,
        templates,
        location.map_or(DEFAULT_RESULTS_LOCATION, |l| l.value.as_str()),
        location.map_or(Location::UNKNOWN, |l| l.referenced),
    );
    let download = m.results.download.as_ref();
    let download_spec = match download.map(|d| &d.value) {
        Some(Download::Enabled(false)) => None,
        Some(Download::Folder(folder)) => Some(compile_value(
            out,
            templates,
            folder,
            download.map_or(Location::UNKNOWN, |d| d.referenced),
        )),
        Some(Download::Enabled(true)) | None => Some(compile_value(
            out,
            templates,
            DEFAULT_DOWNLOAD,
            download.map_or(Location::UNKNOWN, |d| d.referenced),
        )),
    };
    (location_spec, download_spec)
}

/// The diagnostic for template error `e` in `text`, written at `location` in `file`; `item`
/// when rendering one, with the variables `available` to it.
pub(super) fn template_diagnostic(
    file: &SourceFile,
    e: &TemplateError,
    text: &str,
    location: Location,
    item: Option<&str>,
    available: &[&str],
) -> ManifestDiagnostic {
    let mut d = ManifestDiagnostic::error(match item {
        Some(key) => format!("template error in item `{key}`: {}", e.message),
        None => format!("template error: {}", e.message),
    });
    let base = file.location_offset(location);
    let inside = base.and_then(|b| {
        let rest = &file.text[b..];
        let skip = if rest.starts_with(text) {
            0
        } else if (rest.starts_with('"') || rest.starts_with('\'')) && rest[1..].starts_with(text) {
            1
        } else {
            return None;
        };
        e.range.map(|(s, end)| (b + skip + s, end - s))
    });
    d = match (inside, base) {
        (Some((offset, len)), _) => d.at(file, offset, len.max(1)),
        (None, Some(_)) => d.at_location(file, location),
        (None, None) => d,
    };
    d = d.label("here");
    if available.is_empty() {
        d.help("templates use Jinja syntax: `{{ variable }}`, `{{ env(\"NAME\") }}`")
    } else {
        let suggestion = e
            .message
            .split('`')
            .nth(1)
            .and_then(|w| suggest::did_you_mean(w, available.iter().copied()))
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        d.help(format!(
            "{suggestion}available variables: {}; function: env(\"NAME\")",
            available.join(", ")
        ))
    }
}

/// The original text of the scalar at `location` (for positioning template errors).
pub(super) fn spec_source(m: &Manifest, location: Location) -> String {
    let same = |l: Location| l.line() == location.line() && l.column() == location.column();
    for value in m.inputs.values() {
        match &value.value {
            InputValue::Scalar(Scalar::Str(s)) if same(value.referenced) => return s.clone(),
            InputValue::List(items) => {
                for i in items {
                    if let Scalar::Str(s) = &i.value
                        && same(i.referenced)
                    {
                        return s.clone();
                    }
                }
            }
            InputValue::Scalar(_) => {}
        }
    }
    if let Some(l) = m.results.location.as_ref().filter(|l| same(l.referenced)) {
        return l.value.clone();
    }
    for entry in m.collect.iter().flat_map(|c| &c.value) {
        if same(entry.value.from.referenced) {
            return entry.value.from.value.clone();
        }
    }
    if let Some(Spanned {
        value: Download::Folder(f),
        referenced,
        ..
    }) = m.results.download.as_ref()
        && same(*referenced)
    {
        return f.clone();
    }
    String::new()
}
