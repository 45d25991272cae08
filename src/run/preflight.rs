//! Pre-flight (vip-api.md §6.4): everything that can be checked with VIP before anything is
//! uploaded or launched, in the order that gives the most useful first message: the key,
//! the pipeline's visibility, the manifest's group, the descriptor, then every input against
//! its parameter (presence, type, VIP's character rules, VIP paths that must exist, local
//! files that must exist).
//!
//! Problems are diagnostics pointing into the manifest, like offline ones; the failure says
//! whether any of them is about access (exit 4) rather than the manifest (exit 3).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures_util::{StreamExt, stream};
use serde_saphyr::Location;

use crate::error::Error;
use crate::manifest::{InputWire, ManifestDiagnostic, Validated, ValueKind, suggest};
use crate::report::text::strip_html;
use crate::vip::wire::{Descriptor, ParameterType, Pipeline, Platform};
use crate::vip::{Meaning, VipError};

use super::Connection;

/// How many `exists` calls run at once.
const PATH_CHECKS_AT_ONCE: usize = 8;

/// What pre-flight learnt.
#[derive(Debug)]
pub struct Preflight {
    /// Platform properties (download cap…), when the server gave them.
    pub platform: Option<Platform>,
    /// The pipeline, with its parameters.
    pub pipeline: Pipeline,
    /// Its Boutiques descriptor.
    pub descriptor: Descriptor,
    /// The caller's groups.
    pub groups: Vec<String>,
    /// How many distinct VIP paths were checked.
    pub vip_paths_checked: usize,
    /// Warnings.
    pub warnings: Vec<ManifestDiagnostic>,
}

/// Why pre-flight failed.
#[derive(Debug)]
pub enum PreflightError {
    /// Problems with the manifest or with access, as diagnostics.
    Problems {
        /// What is wrong.
        diagnostics: Vec<ManifestDiagnostic>,
        /// Whether any is about the key, a group or a permission.
        access: bool,
    },
    /// VIP could not be asked (unreachable, failing).
    Fatal(Error),
}

impl From<Error> for PreflightError {
    fn from(e: Error) -> Self {
        Self::Fatal(e)
    }
}

struct Report<'a> {
    v: &'a Validated,
    diagnostics: Vec<ManifestDiagnostic>,
    access: bool,
    repeats: crate::manifest::diagnostic::Repeats<(String, &'static str)>,
}

impl Report<'_> {
    fn at(&self, d: ManifestDiagnostic, location: Location) -> ManifestDiagnostic {
        d.at_location(&self.v.file, location)
    }

    fn access(&mut self, d: ManifestDiagnostic) {
        self.access = true;
        self.diagnostics.push(d);
    }

    /// Records a per-item problem once per input and kind, counting the other items.
    fn input(&mut self, input: &str, kind: &'static str, d: ManifestDiagnostic) {
        self.repeats
            .push(&mut self.diagnostics, (input.to_owned(), kind), d);
    }

    fn finish(mut self) -> (Vec<ManifestDiagnostic>, bool) {
        self.repeats.finish(&mut self.diagnostics);
        (self.diagnostics, self.access)
    }
}

fn fatal(e: VipError) -> PreflightError {
    PreflightError::Fatal(Error::Vip(e))
}

/// Runs the pre-flight checks for `v` over `conn`.
pub async fn check(v: &Validated, conn: &Connection) -> Result<Preflight, PreflightError> {
    let client = &conn.client;
    let mut report = Report {
        v,
        diagnostics: Vec::new(),
        access: false,
        repeats: crate::manifest::diagnostic::Repeats::default(),
    };

    // 1. The key, with a call needed anyway.
    let pipelines = match client.pipelines().await {
        Ok(p) => p,
        Err(e) => {
            return Err(super::access::key_problem(&e, conn)
                .map_or_else(|| fatal(e), PreflightError::Fatal));
        }
    };
    let platform = client.platform().await.ok();

    // 2. The pipeline is visible.
    let id = &v.pipeline_id;
    if !pipelines.iter().any(|p| &p.identifier == id) {
        match client.pipeline_by_query(id).await {
            Err(e) if e.meaning() == Meaning::NotInGroup => {
                let groups = client.groups().await.unwrap_or_default();
                let d = not_in_group(v, &groups);
                report.access(report.at(d, v.pipeline_location));
            }
            Err(e)
                if matches!(
                    e.meaning(),
                    Meaning::UnknownPipeline | Meaning::InvalidPipelineId
                ) =>
            {
                let close =
                    suggest::closest(id, pipelines.iter().map(|p| p.identifier.as_str()), 3);
                let help = if close.is_empty() {
                    "`vip-run pipelines` lists the pipelines you can run".to_owned()
                } else {
                    format!(
                        "did you mean {}? `vip-run pipelines` lists the pipelines you can run",
                        close
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    )
                };
                let d = ManifestDiagnostic::error(format!(
                    "pipeline `{id}` does not exist on {} or is not available to you",
                    conn.server
                ))
                .label("unknown pipeline")
                .help(help);
                report.diagnostics.push(report.at(d, v.pipeline_location));
            }
            Err(e) => return Err(fatal(e)),
            // Visible by id though not listed: VIP's list is the reference, but go on.
            Ok(_) => {}
        }
        if !report.diagnostics.is_empty() {
            let (diagnostics, access) = report.finish();
            return Err(PreflightError::Problems {
                diagnostics,
                access,
            });
        }
    }

    // 3. The manifest's group is one of the caller's.
    let groups = client.groups().await.map_err(fatal)?;
    if !groups.iter().any(|g| g == &v.group) {
        let d = not_in_group(v, &groups);
        report.access(report.at(d, v.group_location));
        let (diagnostics, access) = report.finish();
        return Err(PreflightError::Problems {
            diagnostics,
            access,
        });
    }

    // 4. The descriptor is readable.
    let (pipeline, descriptor) = match (client.pipeline(id).await, client.descriptor(id).await) {
        (Ok(p), Ok(d)) => (p, d),
        (Err(e), _) | (_, Err(e)) if e.meaning() == Meaning::NotInGroup => {
            let d = not_in_group(v, &groups);
            report.access(report.at(d, v.pipeline_location));
            let (diagnostics, access) = report.finish();
            return Err(PreflightError::Problems {
                diagnostics,
                access,
            });
        }
        (Err(e), _) | (_, Err(e)) => return Err(fatal(e)),
    };

    // 5. Inputs against parameters.
    check_inputs(&mut report, &pipeline, &descriptor);
    let vip_paths_checked = check_vip_paths(&mut report, conn).await?;
    let (diagnostics, access) = report.finish();
    let (errors, warnings): (Vec<_>, Vec<_>) = diagnostics
        .into_iter()
        .partition(ManifestDiagnostic::is_error);
    if !errors.is_empty() {
        return Err(PreflightError::Problems {
            diagnostics: errors.into_iter().chain(warnings).collect(),
            access,
        });
    }
    Ok(Preflight {
        platform,
        pipeline,
        descriptor,
        groups,
        vip_paths_checked,
        warnings,
    })
}

fn not_in_group(v: &Validated, groups: &[String]) -> ManifestDiagnostic {
    let yours = if groups.is_empty() {
        "you are in no group".to_owned()
    } else {
        format!("your groups: {}", groups.join(", "))
    };
    if groups.iter().any(|g| g == &v.group) {
        ManifestDiagnostic::error(format!(
            "you are a member of group {}, but it does not give access to {}",
            v.group, v.pipeline_id
        ))
        .label("not granted by this group")
        .help(format!(
            "name the application group that {} requires ({yours}), or ask VIP support which group it is",
            v.pipeline_id
        ))
    } else {
        let suggestion = suggest::did_you_mean(&v.group, groups.iter().map(String::as_str))
            .map(|g| format!(" (did you mean `{g}`?)"))
            .unwrap_or_default();
        ManifestDiagnostic::error(format!(
            "you are not a member of group {}, required by {}",
            v.group, v.pipeline_id
        ))
        .label("not one of your groups")
        .help(format!(
            "join it in the VIP portal (My Account → Groups){suggestion}; {yours}"
        ))
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
    let params: HashMap<&str, _> = pipeline
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p))
        .collect();
    let elements = element_types(descriptor);
    let names: Vec<&str> = pipeline
        .parameters
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let first_location = v.pipeline_location;

    for (name, location) in &v.input_locations {
        if !params.contains_key(name.as_str()) {
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
            let d = report.at(d, *location);
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
            let d = report.at(d, first_location);
            report.diagnostics.push(d);
        }
    }

    let dots = descriptor.dot_inputs();
    for item in &v.items {
        let mut dot_lengths: BTreeMap<&str, usize> = BTreeMap::new();
        for (name, wire) in &item.inputs {
            let Some(param) = params.get(name.as_str()) else {
                continue;
            };
            let location = v
                .input_locations
                .get(name)
                .copied()
                .unwrap_or(first_location);
            let in_item = if item.key == "main" {
                String::new()
            } else {
                format!(" in item `{}`", item.key)
            };
            let expected = match &param.kind {
                ParameterType::List => elements
                    .get(name.as_str())
                    .map_or("String", ParameterType::as_str),
                other => other.as_str(),
            };
            if let (InputWire::List(values), false) = (wire, param.kind == ParameterType::List) {
                let d = ManifestDiagnostic::error(format!(
                    "`{name}` takes one value, but the manifest gives a list of {}{in_item}",
                    values.len()
                ))
                .label("a list")
                .help("for one execution per value, move the values to `matrix`");
                let d = report.at(d, location);
                report.input(name, "list", d);
                continue;
            }
            if dots.iter().any(|d| d == name) {
                dot_lengths.insert(name, wire.values().len());
            }
            for value in wire.values() {
                if let Some((problem, help)) = type_problem(expected, &value.text, &value.kind) {
                    let d = ManifestDiagnostic::error(format!("`{name}` {problem}{in_item}"))
                        .label(format!("expects {expected}"))
                        .help(help);
                    let d = report.at(d, location);
                    report.input(name, "type", d);
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
            let d = report.at(d, first_location);
            report.input("vip:dot", "dot", d);
        }
    }
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

/// Checks that every VIP path given as an input exists (bounded concurrency).
async fn check_vip_paths(
    report: &mut Report<'_>,
    conn: &Connection,
) -> Result<usize, PreflightError> {
    let v = report.v;
    let mut paths: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for item in &v.items {
        for (name, wire) in &item.inputs {
            for value in wire.values() {
                if value.kind == ValueKind::VipPath {
                    paths
                        .entry(value.text.as_str())
                        .or_insert((name.as_str(), item.key.as_str()));
                }
            }
        }
    }
    let client = &conn.client;
    let results: Vec<(&str, Result<bool, VipError>)> = stream::iter(paths.keys().copied())
        .map(|p| async move { (p, client.exists(p).await) })
        .buffer_unordered(PATH_CHECKS_AT_ONCE)
        .collect()
        .await;
    let mut missing = Vec::new();
    for (path, result) in results {
        let (input, key) = paths[path];
        match result {
            Ok(true) => {}
            Ok(false) => missing.push((input, key, path, false)),
            Err(e) if e.meaning() == Meaning::DataAccess => missing.push((input, key, path, true)),
            Err(e) => return Err(fatal(e)),
        }
    }
    missing.sort_unstable();
    for (input, key, path, denied) in missing {
        let location = v
            .input_locations
            .get(input)
            .copied()
            .unwrap_or(v.pipeline_location);
        let in_item = if key == "main" {
            String::new()
        } else {
            format!(" (item `{key}`)")
        };
        if denied {
            let d = ManifestDiagnostic::error(format!("you may not read `{path}` on VIP{in_item}"))
                .label("no access")
                .help(
                    "group folders need membership of the group; other users' homes cannot be read",
                );
            let d = report.at(d, location);
            report.access = true;
            report.input(input, "denied", d);
        } else {
            let d = ManifestDiagnostic::error(format!("`{path}` does not exist on VIP{in_item}"))
                .label("no such VIP path")
                .help(
                    "check the path in the VIP portal's file browser; VIP paths are case-sensitive",
                );
            let d = report.at(d, location);
            report.input(input, "missing", d);
        }
    }
    Ok(paths.len())
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
