//! What `validate` prints for a manifest: a short summary for people, or one JSON object.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;

use crate::manifest::diagnostic::DiagnosticRecord;
use crate::manifest::jobs::Jobs;
use crate::manifest::{DEFAULT_SERVER, ExecutionSettings};
use crate::manifest::{InputWire, ManifestDiagnostic, Validated, ValueKind};
use crate::report::text::human_bytes;

/// What `validate --online` learnt from VIP.
#[derive(Debug, Clone, Serialize)]
pub struct Online {
    /// The server asked.
    pub server: String,
    /// Where the key came from.
    pub key_source: String,
    /// The caller's groups.
    pub groups: Vec<String>,
    /// The pipeline's parameter count.
    pub parameters: usize,
    /// Distinct VIP paths found to exist.
    pub vip_paths_checked: usize,
}

/// Items listed in the human summary before it abbreviates.
const SHOWN_ITEMS: usize = 8;

#[derive(Serialize)]
struct ItemRecord<'a> {
    key: &'a str,
    index: usize,
    execution_name: &'a str,
    fingerprint: &'a str,
    variables: &'a IndexMap<String, crate::manifest::model::Scalar>,
    inputs: IndexMap<&'a str, serde_json::Value>,
    results_location: &'a str,
    download: Option<&'a PathBuf>,
    /// Jobs of its execution (a list given to a parameter iterates, docs/vip.md#lists).
    jobs: u64,
}

#[derive(Serialize)]
struct UploadRecord<'a> {
    path: &'a PathBuf,
    size: u64,
    upload: &'a str,
}

#[derive(Serialize)]
struct ValidRecord<'a> {
    manifest: &'a str,
    valid: bool,
    name: &'a str,
    description: Option<&'a str>,
    pipeline: &'a str,
    group: &'a str,
    server: &'a str,
    api_key_source: String,
    execution: &'a ExecutionSettings,
    extract: bool,
    item_count: usize,
    /// Jobs of all the items' executions.
    job_count: u64,
    /// Whether the job counts are exact (a descriptor was known: `vip-run.lock` or
    /// `--online`), else upper bounds (every list crossed).
    jobs_exact: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cohort: Option<&'a str>,
    items: Vec<ItemRecord<'a>>,
    uploads: Vec<UploadRecord<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    online: Option<&'a Online>,
    warnings: Vec<DiagnosticRecord>,
    errors: Vec<DiagnosticRecord>,
}

#[derive(Serialize)]
struct InvalidRecord<'a> {
    manifest: &'a str,
    valid: bool,
    errors: Vec<DiagnosticRecord>,
    warnings: Vec<DiagnosticRecord>,
}

fn input_json(wire: &InputWire) -> serde_json::Value {
    match wire {
        InputWire::One(v) => serde_json::Value::String(v.text.clone()),
        InputWire::List(vs) => vs
            .iter()
            .map(|v| serde_json::Value::String(v.text.clone()))
            .collect(),
    }
}

fn uploads(v: &Validated) -> Vec<UploadRecord<'_>> {
    let mut seen = BTreeMap::new();
    for item in &v.items {
        for wire in item.inputs.values() {
            for value in wire.values() {
                if let ValueKind::LocalFile { path, size, upload } = &value.kind {
                    seen.entry(upload.as_str()).or_insert(UploadRecord {
                        path,
                        size: *size,
                        upload,
                    });
                }
            }
        }
    }
    seen.into_values().collect()
}

/// The JSON object for a valid manifest (one line); `jobs` holds each item's.
pub fn json_valid(manifest: &str, v: &Validated, online: Option<&Online>, jobs: &[Jobs]) -> String {
    let record = ValidRecord {
        manifest,
        valid: true,
        name: &v.name,
        description: v.description.as_deref(),
        pipeline: &v.pipeline_id,
        group: &v.group,
        server: v.server.as_deref().unwrap_or(DEFAULT_SERVER),
        api_key_source: v.api_key.describe(),
        execution: &v.execution,
        extract: v.extract,
        item_count: v.items.len(),
        job_count: jobs.iter().fold(0u64, |n, j| n.saturating_add(j.count)),
        jobs_exact: jobs.iter().all(|j| j.exact),
        cohort: v.cohort.as_deref(),
        items: v
            .items
            .iter()
            .zip(jobs)
            .map(|(i, jobs)| ItemRecord {
                key: &i.key,
                index: i.index,
                execution_name: &i.execution_name,
                fingerprint: &i.fingerprint,
                variables: &i.variables,
                inputs: i
                    .inputs
                    .iter()
                    .map(|(k, w)| (k.as_str(), input_json(w)))
                    .collect(),
                results_location: &i.results_location,
                download: i.download.as_ref(),
                jobs: jobs.count,
            })
            .collect(),
        uploads: uploads(v),
        online,
        warnings: v
            .warnings
            .iter()
            .map(ManifestDiagnostic::to_record)
            .collect(),
        errors: Vec::new(),
    };
    let text = serde_json::to_string(&record).expect("records always serialise");
    crate::manifest::secrets::scrub(&text, &v.secrets)
}

/// The JSON object for an invalid manifest (one line).
pub fn json_invalid(
    manifest: &str,
    diagnostics: &[ManifestDiagnostic],
    secrets: &[String],
) -> String {
    let (errors, warnings): (Vec<_>, Vec<_>) = diagnostics.iter().partition(|d| d.is_error());
    let record = InvalidRecord {
        manifest,
        valid: false,
        errors: errors
            .into_iter()
            .map(ManifestDiagnostic::to_record)
            .collect(),
        warnings: warnings
            .into_iter()
            .map(ManifestDiagnostic::to_record)
            .collect(),
    };
    let text = serde_json::to_string(&record).expect("records always serialise");
    crate::manifest::secrets::scrub(&text, secrets)
}

/// The jobs line of the summary ("main: 1 execution, 40 jobs"; for several items a compact
/// summary), or `None` when every execution is a single job.
fn jobs_line(v: &Validated, jobs: &[Jobs]) -> Option<String> {
    let (low, high) = jobs.iter().fold((u64::MAX, 0), |(lo, hi), j| {
        (lo.min(j.count), hi.max(j.count))
    });
    if high <= 1 {
        return None;
    }
    let total = jobs.iter().fold(0u64, |n, j| n.saturating_add(j.count));
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    let bound = if jobs.iter().all(|j| j.exact) {
        ""
    } else {
        "up to "
    };
    let mut line = match (v.items.as_slice(), jobs) {
        ([item], [j]) => format!(
            "{}: 1 execution, {bound}{} job{} ({})",
            item.key,
            j.count,
            plural(j.count),
            j.explain()
        ),
        _ if low == high => format!(
            "{} executions, {bound}{high} jobs each ({total} in all)",
            v.items.len()
        ),
        _ => format!(
            "{} executions, {bound}{low} to {high} jobs each ({total} in all)",
            v.items.len()
        ),
    };
    if !bound.is_empty() {
        line.push_str(
            "; every list counted as crossed: `vip-run lock` or `--online` reads the pipeline's pairings",
        );
    }
    Some(line)
}

/// The summary for people; `jobs` holds each item's.
pub fn human(manifest: &str, v: &Validated, online: Option<&Online>, jobs: &[Jobs]) -> String {
    let mut out = String::new();
    let n = v.items.len();
    let _ = writeln!(
        out,
        "{manifest}: valid, {n} item{}",
        if n == 1 { "" } else { "s" }
    );
    let _ = writeln!(out, "  pipeline    {} (group {})", v.pipeline_id, v.group);
    let _ = writeln!(
        out,
        "  server      {}",
        v.server.as_deref().unwrap_or(DEFAULT_SERVER)
    );
    let _ = writeln!(out, "  api key     from {}", v.api_key.describe());
    let e = &v.execution;
    let _ = writeln!(
        out,
        "  execution   max {} running, poll every {}, timeout {}, {} retr{}{}",
        e.max_parallel,
        crate::duration::format(e.poll_interval),
        crate::duration::format(e.timeout),
        e.retries,
        if e.retries == 1 { "y" } else { "ies" },
        if e.kill_on_timeout {
            ", kill on timeout"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "  failures    {}",
        crate::report::text::retry_policy(e)
    );
    let ups = uploads(v);
    if !ups.is_empty() {
        let total: u64 = ups.iter().map(|u| u.size).sum();
        let _ = writeln!(
            out,
            "  uploads     {} local file{}, {}",
            ups.len(),
            if ups.len() == 1 { "" } else { "s" },
            human_bytes(total)
        );
    }
    if let Some(line) = jobs_line(v, jobs) {
        let _ = writeln!(out, "  jobs        {line}");
    }
    if let Some(o) = online {
        let _ = writeln!(
            out,
            "  online      {}: key accepted, member of {}, {} parameters checked, {} VIP path{} found",
            o.server,
            v.group,
            o.parameters,
            o.vip_paths_checked,
            if o.vip_paths_checked == 1 { "" } else { "s" }
        );
    }
    let width = v
        .items
        .iter()
        .take(SHOWN_ITEMS)
        .map(|i| i.key.chars().count())
        .max()
        .unwrap_or(0);
    if let Some(pattern) = &v.cohort {
        // A cohort's items are its files: show which file made which item.
        let _ = writeln!(out, "  items       key → file (files matching {pattern})");
        for item in v.items.iter().take(SHOWN_ITEMS) {
            let file = item
                .variables
                .get(crate::manifest::cohort::FILE_VARIABLE)
                .and_then(crate::manifest::expand::scalar_text)
                .unwrap_or_default();
            let _ = writeln!(out, "    {:width$}  {file}", item.key);
        }
    } else {
        let _ = writeln!(out, "  items       key → execution name");
        for item in v.items.iter().take(SHOWN_ITEMS) {
            let _ = writeln!(out, "    {:width$}  {}", item.key, item.execution_name);
        }
    }
    if n > SHOWN_ITEMS {
        let _ = writeln!(
            out,
            "    … and {} more (`--output json` lists them all)",
            n - SHOWN_ITEMS
        );
    }
    crate::manifest::secrets::scrub(&out, &v.secrets)
}
