//! What `init` writes: a commented starter manifest for a pipeline, from its descriptor, that
//! validates as it is; placeholders say `CHANGE-ME` where a value is needed. On stdout, or,
//! when it went to a file, a line on stderr saying what to do next.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use crate::vip::wire::{Descriptor, Parameter, ParameterType, Pipeline};

use super::pipeline::type_name;
use super::text::strip_html;

/// A YAML scalar for `text` (a JSON string is valid YAML).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn one_line(text: &str) -> String {
    strip_html(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The group most likely to grant `pipeline`: one named like it, else the first.
fn guess_group<'a>(pipeline: &Pipeline, groups: &'a [String]) -> Option<&'a str> {
    let name = pipeline
        .identifier
        .rsplit_once('/')
        .map_or(pipeline.identifier.as_str(), |(n, _)| n)
        .to_lowercase();
    groups
        .iter()
        .find(|g| g.to_lowercase() == name)
        .or_else(|| {
            groups
                .iter()
                .find(|g| name.contains(&g.to_lowercase()) || g.to_lowercase().contains(&name))
        })
        .or_else(|| groups.first())
        .map(String::as_str)
}

fn placeholder(p: &Parameter, element: &str) -> String {
    let one = |t: &str| match t {
        "File" => quoted(&format!("/vip/Home/CHANGE-ME/{}", p.name)),
        "Boolean" | "Flag" => "false".to_owned(),
        "Int64" => "1".to_owned(),
        "Double" => "1.0".to_owned(),
        _ => quoted("CHANGE-ME"),
    };
    match p.default() {
        Some(serde_json::Value::String(s)) => quoted(s),
        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => v.to_string(),
        _ if p.kind == ParameterType::List => format!("[{}]", one(element)),
        _ => one(p.kind.as_str()),
    }
}

/// What `init` made.
#[derive(Debug)]
pub struct Starter {
    /// The starter manifest.
    pub text: String,
    /// The file it was written to (`None`: it is for stdout).
    pub file: Option<PathBuf>,
}

/// Writes the starter manifest to `out`, or, when it went to a file, says so on stderr (not
/// under `quiet`).
pub fn render(out: &mut dyn Write, s: &Starter, quiet: bool) -> std::io::Result<()> {
    match &s.file {
        None => {
            out.write_all(s.text.as_bytes())?;
            out.flush()
        }
        Some(path) => {
            if !quiet {
                super::to_stderr(&format!(
                    "wrote {}: fill in the CHANGE-ME values, then `vip-run validate --online {}`",
                    path.display(),
                    path.display()
                ));
            }
            Ok(())
        }
    }
}

/// The starter manifest's text.
pub fn starter(pipeline: &Pipeline, descriptor: &Descriptor, groups: &[String]) -> String {
    let id = &pipeline.identifier;
    let base = id.rsplit_once('/').map_or(id.as_str(), |(n, _)| n);
    let mut name: String = base
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    name.truncate(64);
    if name.is_empty() {
        name = "study".into();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Starter manifest for {id}, written by `vip-run init`."
    );
    let _ = writeln!(
        out,
        "# Fill in the CHANGE-ME values, then check it: `vip-run validate --online FILE`."
    );
    let _ = writeln!(
        out,
        "# Editor completion: `vip-run schema > manifest.schema.json`, then add the line"
    );
    let _ = writeln!(
        out,
        "#   # yaml-language-server: $schema=manifest.schema.json"
    );
    let _ = writeln!(out, "version: 1");
    let _ = writeln!(out, "name: {name}");
    if let Some(d) = pipeline
        .description
        .as_deref()
        .map(one_line)
        .filter(|d| !d.is_empty())
    {
        let _ = writeln!(out, "description: {}", quoted(&d));
    }
    let _ = writeln!(out, "pipeline_id: {}", quoted(id));
    let yours = if groups.is_empty() {
        "none".to_owned()
    } else {
        groups.join(", ")
    };
    let _ = writeln!(
        out,
        "# The application group that gives access to {id}. Yours: {yours}."
    );
    let _ = writeln!(
        out,
        "group: {}",
        quoted(guess_group(pipeline, groups).unwrap_or("CHANGE-ME"))
    );
    let _ = writeln!(
        out,
        "api_key: {{ env: VIP_API_KEY }}   # or {{ file: ~/.config/vip/key }}"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "# One execution per combination; use the variables in inputs as {{{{ subject }}}}."
    );
    let _ = writeln!(
        out,
        "# (Or give a list to an input that takes one value: one execution whose jobs iterate over the values.)"
    );
    let _ = writeln!(out, "# matrix:");
    let _ = writeln!(out, "#   subject: [sub-01, sub-02]");
    let _ = writeln!(out);
    // A `one-is-required` group needs one member written: the first, unless one is required.
    let is_required = |p: &Parameter| !p.is_optional && p.default().is_none();
    let chosen: Vec<&str> = descriptor
        .groups
        .iter()
        .filter(|g| g.one_is_required)
        .filter(|g| {
            !pipeline
                .parameters
                .iter()
                .any(|p| g.members.contains(&p.name) && is_required(p))
        })
        .filter_map(|g| g.members.first().map(String::as_str))
        .collect();
    let written = |p: &Parameter| is_required(p) || chosen.contains(&p.name.as_str());
    let any_required = pipeline.parameters.iter().any(written);
    // With nothing to write under it, `inputs:` alone would be null: write an empty mapping.
    let _ = writeln!(
        out,
        "{}",
        if any_required {
            "inputs:"
        } else {
            "inputs: {}"
        }
    );
    for p in &pipeline.parameters {
        let kind = type_name(p, descriptor);
        let element = kind
            .strip_prefix("List<")
            .and_then(|k| k.strip_suffix('>'))
            .unwrap_or("String");
        let required = !p.is_optional && p.default().is_none();
        let mut comment = p.description.as_deref().map(one_line).unwrap_or_default();
        if !comment.is_empty() {
            comment.push(' ');
        }
        let status = if required {
            "required".to_owned()
        } else if let Some(d) = p.default() {
            format!(
                "optional, default {}",
                match d {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }
            )
        } else {
            "optional".to_owned()
        };
        // Whether VIP gives a `list: true` input's values to one job or runs a job per
        // value is not documented (docs/vip.md#lists): say only what vip-run does with it.
        let hint = match (element, kind.starts_with("List")) {
            ("File", true) => {
                ": a YAML list (local files, /vip/ paths or platformId:id), passed to VIP as a list"
            }
            (_, true) => ": a YAML list, passed to VIP as a list",
            _ => "",
        };
        let _ = writeln!(out, "  # {comment}({kind}, {status}){hint}");
        let rules = crate::manifest::boutiques::rules_of(descriptor, &p.name);
        if !rules.is_empty() {
            let _ = writeln!(out, "  #   rules: {}", rules.join("; "));
        }
        let first_choice = descriptor
            .input(&p.name)
            .and_then(|i| i.value_choices.first())
            .filter(|_| p.default().is_none());
        let input = descriptor.input(&p.name);
        let inside = input
            .filter(|_| p.default().is_none())
            .and_then(crate::manifest::boutiques::number_inside);
        let value = match (first_choice, inside, input) {
            (Some(serde_json::Value::String(c)), _, _) => quoted(c),
            (Some(c), _, _) => c.to_string(),
            (None, Some(n), Some(i)) if i.list => {
                let count = i.min_list_entries.unwrap_or(1).max(1);
                let count = usize::try_from(count).unwrap_or(1).min(16);
                format!("[{}]", vec![n; count].join(", "))
            }
            (None, Some(n), _) => n,
            (None, None, Some(i)) if i.list && i.min_list_entries.unwrap_or(0) > 1 => {
                let count = usize::try_from(i.min_list_entries.unwrap_or(1))
                    .unwrap_or(1)
                    .min(16);
                let one = placeholder(p, element);
                let one = one.trim_start_matches('[').trim_end_matches(']').to_owned();
                format!("[{}]", vec![one; count].join(", "))
            }
            _ => placeholder(p, element),
        };
        let line = format!("{}: {value}", p.name);
        if written(p) {
            let _ = writeln!(out, "  {line}");
        } else {
            let _ = writeln!(out, "  # {line}");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "results:");
    let _ = writeln!(
        out,
        "  location: /vip/Home/vip-run/{{{{ name }}}}   # on VIP"
    );
    let _ = writeln!(
        out,
        "  download: results/{{{{ item }}}}              # here, next to this file; false to leave results on VIP"
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "execution:");
    let _ = writeln!(
        out,
        "  max_parallel: 1      # VIP's default quota is 1 running execution"
    );
    let _ = writeln!(out, "  poll_interval: 30s");
    let _ = writeln!(out, "  timeout: 24h");
    out
}
