//! `vip-run.lock`: the pipeline descriptors a folder's manifests were checked against, as VIP
//! served them, so that offline `validate` (in CI, without a key) can check names, types and
//! every Boutiques rule, and `run` can notice that a pipeline changed on VIP before anything is
//! uploaded. Not to be confused with `exclusive.rs`, the OS lock that keeps two runs of one manifest
//! apart.
//!
//! The file is JSON with sorted keys and one value per line, so that committing it next to the
//! recipe gives readable diffs; one entry per manifest of the folder, keyed by file name.
//! Each entry holds the server, the pipeline id, the CARMIN pipeline and the Boutiques
//! descriptor, a SHA-256 of the two and the date. The server is informative: a `--sandbox`
//! run has a new port each time, and what matters is the descriptor, compared rule by rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::files::write_atomically;
use crate::manifest::{ManifestDiagnostic, Validated};
use crate::report::lock::Locked;
use crate::vip::wire::{Descriptor, Pipeline};

use super::access::explain;
use super::checked::Checked;
use super::session::{load, with_connection};

use super::settings::{LockPolicy, Settings};

/// The lock file's name, next to the manifests.
pub const FILE_NAME: &str = "vip-run.lock";

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    /// Format version (1).
    pub version: u32,
    /// Manifest file name → what it was checked against.
    pub manifests: BTreeMap<String, Entry>,
}

/// One manifest's locked pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The pipeline id.
    pub pipeline_id: String,
    /// The server it was read from.
    pub server: String,
    /// The day it was locked (UTC, `YYYY-MM-DD`).
    pub locked_on: String,
    /// SHA-256 of the pipeline and the descriptor (sorted, compact JSON).
    pub sha256: String,
    /// `GET /pipelines/{id}`.
    pub pipeline: Pipeline,
    /// `GET /pipelines/{name}/{version}?format=boutiques`.
    pub descriptor: Descriptor,
}

/// `value` with every object's keys sorted, so the text does not depend on VIP's order.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn json<T: Serialize>(value: &T) -> Value {
    sorted(serde_json::to_value(value).unwrap_or(Value::Null))
}

/// The hash of what VIP served.
pub fn digest(pipeline: &Pipeline, descriptor: &Descriptor) -> String {
    let text = serde_json::json!({"pipeline": json(pipeline), "descriptor": json(descriptor)});
    hex(&Sha256::digest(sorted(text).to_string().as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Today, as the lock writes it.
fn today() -> String {
    crate::time::rfc3339(crate::time::now_ms())[..10].to_owned()
}

/// Where the lock of `manifest` lives, and its key in it.
fn place(v: &Validated) -> (PathBuf, String) {
    let key = Path::new(&v.file.display).file_name().map_or_else(
        || v.file.display.clone(),
        |n| n.to_string_lossy().into_owned(),
    );
    (v.dir.join(FILE_NAME), key)
}

/// Reads the lock file at `path`, if there is one.
pub fn read(path: &Path) -> Result<Option<LockFile>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::InvalidManifests(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::InvalidManifests(format!(
            "{} is not a vip-run lock file ({e}): delete it and run `vip-run lock`",
            path.display()
        ))
    })
}

/// The locked entry of `v`, if any.
pub fn entry_for(v: &Validated) -> Result<Option<Entry>, Error> {
    let (path, key) = place(v);
    Ok(read(&path)?.and_then(|mut f| f.manifests.remove(&key)))
}

/// Writes (or replaces) `v`'s entry, keeping the other manifests' entries.
fn store(
    v: &Validated,
    server: &str,
    pipeline: &Pipeline,
    descriptor: &Descriptor,
) -> Result<PathBuf, Error> {
    let (path, key) = place(v);
    let mut file = read(&path)?.unwrap_or_default();
    file.version = 1;
    file.manifests.insert(
        key,
        Entry {
            pipeline_id: v.pipeline_id.clone(),
            server: server.to_owned(),
            locked_on: today(),
            sha256: digest(pipeline, descriptor),
            pipeline: pipeline.clone(),
            descriptor: descriptor.clone(),
        },
    );
    let text = serde_json::to_string_pretty(&json(&file)).unwrap_or_default() + "\n";
    write_atomically(&path, text.as_bytes())?;
    Ok(path)
}

/// What a check reads of an input or parameter: the fields whose change matters.
fn meaning(
    pipeline: &Pipeline,
    descriptor: &Descriptor,
) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut out: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for p in &pipeline.parameters {
        let fields = out.entry(format!("input `{}`", p.name)).or_default();
        fields.insert("type".into(), Value::String(p.kind.to_string()));
        fields.insert("optional".into(), Value::Bool(p.is_optional));
        fields.insert(
            "default".into(),
            p.default().cloned().unwrap_or(Value::Null),
        );
    }
    for i in &descriptor.inputs {
        let Some(fields) = out.get_mut(&format!("input `{}`", i.id)) else {
            continue; // filled by VIP itself: not the manifest's business
        };
        let Value::Object(all) = json(i) else {
            continue;
        };
        for key in [
            "type",
            "list",
            "integer",
            "value-choices",
            "minimum",
            "maximum",
            "exclusive-minimum",
            "exclusive-maximum",
            "min-list-entries",
            "max-list-entries",
            "requires-inputs",
            "disables-inputs",
        ] {
            let name = if key == "type" { "Boutiques type" } else { key };
            fields.insert(name.into(), all.get(key).cloned().unwrap_or(Value::Null));
        }
    }
    for g in &descriptor.groups {
        out.insert(
            format!("group `{}`", g.id),
            BTreeMap::from([("rule".to_owned(), {
                let mut v = json(g);
                if let Value::Object(m) = &mut v {
                    m.remove("name");
                    m.remove("description");
                }
                v
            })]),
        );
    }
    out.insert(
        "`vip:dot`".into(),
        BTreeMap::from([("inputs".to_owned(), json(&descriptor.dot_inputs()))]),
    );
    out
}

fn shown(v: &Value) -> String {
    match v {
        Value::Null => "unset".into(),
        other => other.to_string(),
    }
}

/// Every change between the locked descriptor and VIP's that can change a verdict: inputs
/// added, removed or retyped, and every rule changed. Descriptions and order do not count.
pub fn changes(old: &Entry, pipeline: &Pipeline, descriptor: &Descriptor) -> Vec<String> {
    let mut out = Vec::new();
    if old.pipeline_id != pipeline.identifier {
        out.push(format!(
            "the pipeline is now `{}` (locked: `{}`)",
            pipeline.identifier, old.pipeline_id
        ));
    }
    let before = meaning(&old.pipeline, &old.descriptor);
    let after = meaning(pipeline, descriptor);
    for (thing, fields) in &before {
        match after.get(thing) {
            None => out.push(format!("{thing} was removed")),
            Some(now) => {
                for (field, was) in fields {
                    let is = now.get(field).unwrap_or(&Value::Null);
                    if is != was {
                        out.push(format!("{thing}: {field} {} → {}", shown(was), shown(is)));
                    }
                }
            }
        }
    }
    for (thing, fields) in &after {
        if !before.contains_key(thing) {
            let detail = fields
                .get("type")
                .map(|t| format!(" ({})", t.as_str().unwrap_or_default()))
                .unwrap_or_default();
            out.push(format!("{thing}{detail} was added"));
        }
    }
    out
}

/// `lock MANIFEST...`: asks VIP for each manifest's pipeline and writes the lock files.
pub async fn lock(settings: &Settings, manifests: &[PathBuf]) -> Result<Vec<Locked>, Error> {
    let mut done = Vec::new();
    for path in manifests {
        let v = load(settings, path)?;
        let locked = with_connection(settings, Some(&v), async |conn| {
            let id = &v.pipeline_id;
            let pipeline = conn
                .client
                .pipeline(id)
                .await
                .map_err(|e| explain(e, conn))?;
            let descriptor = conn
                .client
                .descriptor(id)
                .await
                .map_err(|e| explain(e, conn))?;
            let old = entry_for(&v)?;
            let changes = old
                .as_ref()
                .map(|o| changes(o, &pipeline, &descriptor))
                .unwrap_or_default();
            let file = store(&v, &conn.server, &pipeline, &descriptor)?;
            Ok(Locked {
                manifest: v.file.display.clone(),
                pipeline_id: id.clone(),
                file,
                changes,
                existed: old.is_some(),
            })
        })
        .await?;
        done.push(locked);
    }
    Ok(done)
}

/// Before `run` uploads anything: the live descriptor against the lock, by `policy`.
pub fn check_run(
    plan: &Checked<'_>,
    policy: LockPolicy,
    printer: crate::report::diagnostics::Printer,
) -> Result<(), Error> {
    let v = plan.manifest();
    let (path, _) = place(v);
    let pre = plan.preflight();
    let old = entry_for(v)?;
    let server = &plan.connection().server;
    let Some(old) = old else {
        if policy == LockPolicy::Locked {
            return Err(Error::Preflight {
                message: format!(
                    "{} has no entry in {} and --locked forbids writing one: run `vip-run lock {}` and commit the lock; nothing was uploaded or launched",
                    v.file.display,
                    path.display(),
                    v.file.display
                ),
                access: false,
            });
        }
        store(v, server, &pre.pipeline, &pre.descriptor)?;
        return Ok(());
    };
    if old.sha256 == digest(&pre.pipeline, &pre.descriptor) && old.pipeline_id == v.pipeline_id {
        return Ok(());
    }
    let found = changes(&old, &pre.pipeline, &pre.descriptor);
    match (policy, found.is_empty()) {
        (LockPolicy::Update, _) | (LockPolicy::Write, true) => {
            if !found.is_empty() {
                let d = ManifestDiagnostic::warning(format!(
                    "{} changed on VIP since it was locked on {}; the lock now holds the new descriptor: {}",
                    v.pipeline_id,
                    old.locked_on,
                    found.join("; ")
                ));
                printer.print(&[d], &v.secrets);
            }
            store(v, server, &pre.pipeline, &pre.descriptor)?;
            Ok(())
        }
        // A change that alters no check (a description): nothing to refuse, nothing written.
        (LockPolicy::Locked, true) => Ok(()),
        (_, false) => Err(Error::Preflight {
            message: format!(
                "{} changed on VIP since it was locked on {} ({}):\n{}\nnothing was uploaded or launched; check the manifest against the new descriptor, then run again with --update-lock to accept it",
                v.pipeline_id,
                old.locked_on,
                path.display(),
                found
                    .iter()
                    .map(|c| format!("  - {c}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            access: false,
        }),
    }
}
