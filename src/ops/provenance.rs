//! Provenance others can read: after each run, a Process Run Crate (RO-Crate 1.1, profile
//! <https://w3id.org/ro/wfrun/process/0.5>) as `ro-crate-metadata.json` in the results root,
//! the deepest folder holding every item's download folder.
//!
//! What the profile requires, and how it is met here:
//! - the metadata descriptor `conformsTo` RO-Crate 1.1 and is `about` the root dataset `./`;
//! - the root dataset `conformsTo` the profile (described as a `CreativeWork`), has `name`,
//!   `description`, `datePublished`, `license` ("not stated": it is not vip-run's to choose), lists its files in `hasPart` and `mentions`
//!   every `CreateAction`;
//! - one `CreateAction` per VIP execution (retries included), with `instrument` the pipeline
//!   (a `SoftwareApplication` with id and version, whose Boutiques descriptor is a file of the
//!   crate), `object` (the local input files, with `contentSize` and `sha256`, and every
//!   parameter as a `PropertyValue`: VIP paths and values as VIP received them), `result` (the
//!   downloaded files, with `contentSize` and `sha256`), `startTime`, `endTime`,
//!   `actionStatus` (`error` with the end of stderr on failure) and `agent`;
//! - vip-run, the tool that launched them, is a `SoftwareApplication` too: the `instrument` of
//!   an `OrganizeAction` whose `result` is the executions (the Provenance Run Crate's shape,
//!   harmless under Process Run Crate, and what tells a reader who drove VIP).
//!
//! Local files outside the results root are named by absolute `file://` URIs (RO-Crate's
//! "web-based data entities"), so the crate never points out of its folder with `..`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};

use crate::error::Error;
use crate::files::write_atomically;
use crate::manifest::{InputWire, Validated, ValueKind};
use crate::time;
use crate::vip::wire::Descriptor;

use super::state::State;

/// The profile this crate conforms to.
pub const PROFILE: &str = "https://w3id.org/ro/wfrun/process/0.5";
/// RO-Crate's version.
pub const RO_CRATE: &str = "https://w3id.org/ro/crate/1.1";
/// The crate's file name.
pub const METADATA: &str = "ro-crate-metadata.json";
/// The descriptor's file name, in the crate.
const DESCRIPTOR: &str = "boutiques-descriptor.json";

/// The deepest folder holding every item's download folder (`None`: nothing downloads).
pub fn results_root(v: &Validated) -> Option<PathBuf> {
    let mut folders = v.items.iter().filter_map(|i| i.download.as_ref());
    let first: Vec<Component> = folders.next()?.components().collect();
    let mut common = first.len();
    for f in folders {
        common = common.min(
            first
                .iter()
                .zip(f.components())
                .take_while(|(a, b)| **a == *b)
                .count(),
        );
    }
    let root: PathBuf = first[..common].iter().collect();
    Some(if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root
    })
}

/// A file's `@id`: relative to the crate root when inside it, else an absolute `file://` URI.
fn file_id(root_abs: &Path, path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match abs.strip_prefix(root_abs) {
        Ok(rel) => rel
            .components()
            .map(|c| percent(&c.as_os_str().to_string_lossy()))
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => format!(
            "file://{}",
            abs.components()
                .filter(|c| !matches!(c, Component::RootDir))
                .map(|c| percent(&c.as_os_str().to_string_lossy()))
                .fold(String::new(), |acc, c| acc + "/" + &c)
        ),
    }
}

/// Percent-encodes what a URI path segment cannot hold.
fn percent(segment: &str) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const SEGMENT: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'/')
        .add(b'\\')
        .add(b'[')
        .add(b']')
        .add(b'^')
        .add(b'|');
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// Collects entities by `@id`, once each.
#[derive(Default)]
struct Graph {
    entities: BTreeMap<String, Value>,
    order: Vec<String>,
}

impl Graph {
    fn add(&mut self, entity: Value) -> String {
        let id = entity["@id"]
            .as_str()
            .expect("entities have ids")
            .to_owned();
        if !self.entities.contains_key(&id) {
            self.order.push(id.clone());
            self.entities.insert(id.clone(), entity);
        }
        id
    }

    /// A `File` entity with its size and SHA-256 (`None` when it cannot be read). `known` is
    /// what the run recorded of it (size, hash, modification time, hashed as it was sent or
    /// written): it stands while the file's size and time are unchanged, so a big file is
    /// not read again.
    fn file(
        &mut self,
        root_abs: &Path,
        path: &Path,
        name: &str,
        known: Option<(u64, &str, Option<i64>)>,
    ) -> Option<String> {
        let still = known.filter(|(size, _, mtime)| {
            mtime.is_some()
                && *mtime == crate::files::modified_ms(path)
                && std::fs::metadata(path).is_ok_and(|m| m.len() == *size)
        });
        let (size, sha) = match still {
            Some((size, sha, _)) => (size, sha.to_owned()),
            None => crate::files::sha256(path).ok()?,
        };
        Some(self.add(json!({
            "@id": file_id(root_abs, path),
            "@type": "File",
            "name": name,
            "contentSize": size.to_string(),
            "sha256": sha,
        })))
    }
}

fn action_status(a: &crate::ops::state::Attempt) -> &'static str {
    if a.failure.is_some() || a.timed_out {
        return "http://schema.org/FailedActionStatus";
    }
    match a.status.as_str() {
        "Finished" => "http://schema.org/CompletedActionStatus",
        "ExecutionFailed" | "InitializationFailed" | "Killed" | "Unknown" => {
            "http://schema.org/FailedActionStatus"
        }
        "" => "http://schema.org/PotentialActionStatus",
        _ => "http://schema.org/ActiveActionStatus",
    }
}

/// Writes the crate of `v`'s runs as recorded in `state`; returns its path (`None` when no
/// item downloads, so there is no results root).
pub fn write(
    v: &Validated,
    state: &State,
    descriptor: &Descriptor,
) -> Result<Option<PathBuf>, Error> {
    let Some(root) = results_root(v) else {
        return Ok(None);
    };
    std::fs::create_dir_all(&root).map_err(crate::files::FileError::on("create", &root))?;
    let root_abs = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
    let mut g = Graph::default();
    let mut has_part = Vec::new();
    let mut mentions = Vec::new();

    let descriptor_path = root.join(DESCRIPTOR);
    let text = serde_json::to_string_pretty(descriptor).expect("descriptors serialise");
    write_atomically(&descriptor_path, text.as_bytes())?;
    let descriptor_id = g
        .file(&root_abs, &descriptor_path, "Boutiques descriptor", None)
        .unwrap_or_else(|| DESCRIPTOR.to_owned());
    if let Some(e) = g.entities.get_mut(&descriptor_id) {
        e["encodingFormat"] = "application/json".into();
        e["about"] = json!({"@id": format!("#pipeline-{}", v.pipeline_id)});
    }
    has_part.push(json!({"@id": descriptor_id}));
    let pipeline = g.add(json!({
        "@id": format!("#pipeline-{}", v.pipeline_id),
        "@type": "SoftwareApplication",
        "name": v.pipeline_id,
        "identifier": v.pipeline_id,
        "softwareVersion": descriptor.tool_version,
        "description": descriptor.description,
        "subjectOf": {"@id": descriptor_id},
    }));
    let vip_run = g.add(json!({
        "@id": "https://github.com/vip-run/vip-run",
        "@type": "SoftwareApplication",
        "name": "vip-run",
        "softwareVersion": env!("CARGO_PKG_VERSION"),
        "description": env!("CARGO_PKG_DESCRIPTION"),
    }));
    let user = std::env::var("USER").ok().filter(|u| !u.is_empty());
    let agent = g.add(json!({
        "@id": "#agent",
        "@type": "Person",
        "name": user.unwrap_or_else(|| "the person who ran vip-run".to_owned()),
    }));

    let mut actions = Vec::new();
    let mut first_start = i64::MAX;
    let mut last_end = 0i64;
    for item in &v.items {
        let Some(s) = state.items().get(&item.key) else {
            continue;
        };
        // The objects: local files as files, every parameter as VIP received it.
        let mut objects = Vec::new();
        for (param, wire) in &item.inputs {
            let values = wire.values();
            for (i, value) in values.iter().enumerate() {
                let suffix = if matches!(wire, InputWire::List(_)) {
                    format!("-{i}")
                } else {
                    String::new()
                };
                let mut received = value.text.clone();
                if let ValueKind::LocalFile { path, upload, .. } = &value.kind {
                    received = format!("{}/{upload}", super::remote::inputs_root(v));
                    let known = state
                        .uploads()
                        .get(&received)
                        .map(|u| (u.size, u.sha256.as_str(), u.mtime));
                    if let Some(id) = g.file(&root_abs, path, &path.display().to_string(), known) {
                        // Listed by the root too: a reader expects every data entity there.
                        has_part.push(json!({"@id": id}));
                        objects.push(json!({"@id": id}));
                    }
                }
                let pv = g.add(json!({
                    "@id": format!("#param-{}-{param}{suffix}", item.key),
                    "@type": "PropertyValue",
                    "name": param,
                    "value": received,
                }));
                objects.push(json!({"@id": pv}));
            }
        }
        // Only the current execution's outputs are its results (an earlier execution's were
        // moved aside when these came home).
        let current = s.attempts.last().map(|a| a.execution_id.as_str());
        let results: Vec<Value> = s
            .outputs
            .iter()
            .filter(|o| o.done && o.execution.as_deref() == current)
            .filter_map(|o| {
                let local = o.local.as_ref()?;
                let known = o
                    .sha256
                    .as_deref()
                    .map(|sha| (o.size.unwrap_or(0), sha, o.mtime));
                let id = g.file(&root_abs, local, &o.remote, known)?;
                if let Some(e) = g.entities.get_mut(&id) {
                    e["identifier"] = o.remote.clone().into();
                }
                has_part.push(json!({"@id": id}));
                Some(json!({"@id": id}))
            })
            .collect();
        let last = s.attempts.len().saturating_sub(1);
        for (n, a) in s.attempts.iter().enumerate() {
            let end = a
                .history
                .iter()
                .rev()
                .find(|(st, _)| {
                    matches!(
                        st.as_str(),
                        "Finished" | "ExecutionFailed" | "InitializationFailed" | "Killed"
                    )
                })
                .map(|(_, at)| *at);
            first_start = first_start.min(a.launched_at);
            last_end = last_end.max(end.unwrap_or(a.launched_at));
            let mut action = json!({
                "@id": format!("#execution-{}", a.execution_id),
                "@type": "CreateAction",
                "name": a.name,
                "identifier": a.execution_id,
                "description": format!("VIP execution {} of item {} ({})", a.execution_id, item.key, a.status),
                "instrument": {"@id": pipeline},
                "agent": {"@id": agent},
                "object": objects,
                "result": if n == last { results.clone() } else { Vec::new() },
                "startTime": time::rfc3339(a.launched_at),
                "actionStatus": {"@id": action_status(a)},
            });
            if let Some(end) = end {
                action["endTime"] = time::rfc3339(end).into();
            }
            if action_status(a).ends_with("FailedActionStatus") {
                // The class first (what failed, and whether a relaunch helps), then VIP's
                // own words.
                let class = a.failure.as_ref().map(|v| {
                    let explain = v.explain();
                    if explain.is_empty() {
                        format!("failure class: {}", v.headline())
                    } else {
                        format!("failure class: {} ({explain})", v.headline())
                    }
                });
                let tail = a.stderr_tail.clone();
                let error = match (class, tail) {
                    (Some(class), Some(tail)) => format!("{class}\n{tail}"),
                    (Some(class), None) => class,
                    (None, Some(tail)) => tail,
                    (None, None) => format!("the execution ended {}", a.status),
                };
                action["error"] = error.into();
                if let Some(v) = &a.failure {
                    let class_id = g.add(json!({
                        "@id": format!("#failure-{}", a.execution_id),
                        "@type": "PropertyValue",
                        "name": "failureClass",
                        "value": v.class,
                        "description": v.class.advice(),
                    }));
                    action["additionalProperty"] = json!([{"@id": class_id}]);
                }
            }
            let id = g.add(action);
            mentions.push(json!({"@id": id}));
            actions.push(json!({"@id": id}));
        }
    }
    let now = time::rfc3339(time::now_ms());
    if !actions.is_empty() {
        let organize = g.add(json!({
            "@id": "#vip-run",
            "@type": "OrganizeAction",
            "name": format!("vip-run {}", v.name),
            "instrument": {"@id": vip_run},
            "agent": {"@id": agent},
            "result": actions,
            "startTime": time::rfc3339(first_start),
            "endTime": time::rfc3339(last_end.max(first_start)),
        }));
        mentions.push(json!({"@id": organize}));
    }
    g.add(json!({
        "@id": PROFILE,
        "@type": "CreativeWork",
        "name": "Process Run Crate",
        "version": "0.5",
    }));
    let mut seen = std::collections::HashSet::new();
    has_part.retain(|p| seen.insert(p["@id"].as_str().unwrap_or_default().to_owned()));
    let root_entity = json!({
        "@id": "./",
        "@type": "Dataset",
        "conformsTo": {"@id": PROFILE},
        "name": format!("{}: results of {} on VIP", v.name, v.pipeline_id),
        "description": v.description.clone().unwrap_or_else(|| format!("Executions of {} launched by vip-run from {}", v.pipeline_id, v.file.display)),
        "datePublished": now,
        // The results are the researcher's: vip-run cannot choose their licence, so it says so.
        "license": {"@id": "#license"},
        "hasPart": has_part,
        "mentions": mentions,
    });
    let mut graph = vec![
        json!({
            "@id": METADATA,
            "@type": "CreativeWork",
            "conformsTo": {"@id": RO_CRATE},
            "about": {"@id": "./"},
        }),
        root_entity,
    ];
    for id in &g.order {
        graph.push(g.entities[id].clone());
    }
    graph.push(json!({
        "@id": "#license",
        "@type": "CreativeWork",
        "name": "Not stated",
        "description": "vip-run wrote this crate and does not know the results' licence: ask the people who ran it.",
    }));
    let crate_json = json!({
        "@context": "https://w3id.org/ro/crate/1.1/context",
        "@graph": graph,
    });
    let path = root.join(METADATA);
    let text = serde_json::to_string_pretty(&crate_json).expect("the crate serialises");
    write_atomically(&path, text.as_bytes())?;
    Ok(Some(path))
}
