//! What `pipeline` prints: a pipeline's parameters (with the descriptor's rules on each) and
//! outputs; for people aligned text, for tools one JSON object.

use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;
use serde_json::json;

use crate::vip::wire::{Descriptor, DescriptorInput, Parameter, ParameterType, Pipeline};

use super::OutputFormat;
use super::text::strip_html;

#[derive(Serialize)]
struct ParameterRecord<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: String,
    required: bool,
    default: Option<&'a serde_json::Value>,
    description: Option<String>,
    /// The descriptor's rules on it (choices, range, list length, requires/disables, groups).
    rules: Vec<String>,
}

/// A parameter's type, with the element type of lists from the descriptor.
pub fn type_name(p: &Parameter, descriptor: &Descriptor) -> String {
    if p.kind != ParameterType::List {
        return p.kind.to_string();
    }
    let element = descriptor
        .inputs
        .iter()
        .find(|i| i.id == p.name)
        .map(DescriptorInput::element_type);
    match element {
        Some(e) => format!("List<{e}>"),
        None => "List".to_owned(),
    }
}

/// Writes a pipeline's parameters and outputs.
pub fn render(
    out: &mut dyn Write,
    pipeline: &Pipeline,
    descriptor: &Descriptor,
    format: OutputFormat,
) -> std::io::Result<()> {
    let records: Vec<ParameterRecord<'_>> = pipeline
        .parameters
        .iter()
        .map(|p| ParameterRecord {
            name: &p.name,
            kind: type_name(p, descriptor),
            required: !p.is_optional && p.default().is_none(),
            default: p.default(),
            description: p.description.as_deref().map(strip_html),
            rules: crate::manifest::boutiques::rules_of(descriptor, &p.name),
        })
        .collect();
    let outputs: Vec<_> = descriptor
        .output_files
        .iter()
        .map(|o| json!({"id": o.id, "name": o.name, "path_template": o.path_template}))
        .collect();
    let text = match format {
        OutputFormat::Json => {
            json!({
                "identifier": pipeline.identifier,
                "name": pipeline.name,
                "version": pipeline.version,
                "description": pipeline.description.as_deref().map(strip_html),
                "parameters": records,
                "outputs": outputs,
            })
            .to_string()
                + "\n"
        }
        OutputFormat::Human => {
            let mut s = String::new();
            let _ = writeln!(s, "{}", pipeline.identifier);
            if let Some(d) = pipeline.description.as_deref().map(strip_html) {
                let _ = writeln!(s, "  {}", d.trim());
            }
            let _ = writeln!(s, "\nparameters:");
            let w_name = records
                .iter()
                .map(|r| r.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            let w_type = records
                .iter()
                .map(|r| r.kind.len())
                .max()
                .unwrap_or(4)
                .max(4);
            let _ = writeln!(
                s,
                "  {:w_name$}  {:w_type$}  {:8}  {:10}  DESCRIPTION",
                "NAME", "TYPE", "REQUIRED", "DEFAULT"
            );
            for r in &records {
                let default = r.default.map_or_else(
                    || "-".to_owned(),
                    |v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                );
                let _ = writeln!(
                    s,
                    "  {:w_name$}  {:w_type$}  {:8}  {:10}  {}",
                    r.name,
                    r.kind,
                    if r.required { "yes" } else { "no" },
                    default,
                    r.description.as_deref().unwrap_or("")
                );
            }
            if records.iter().any(|r| !r.rules.is_empty()) {
                let _ = writeln!(s, "\nrules (checked before launch):");
                for r in records.iter().filter(|r| !r.rules.is_empty()) {
                    let _ = writeln!(s, "  {:w_name$}  {}", r.name, r.rules.join("; "));
                }
            }
            if !descriptor.output_files.is_empty() {
                let _ = writeln!(s, "\noutputs:");
                for o in &descriptor.output_files {
                    let _ = writeln!(s, "  {}  {}", o.id, o.path_template);
                }
            }
            s
        }
    };
    out.write_all(text.as_bytes())?;
    out.flush()
}
