//! Pre-flight (docs/vip.md#preflight): everything that can be checked with VIP before anything
//! is uploaded or launched, in the order that gives the most useful first message: the key, the
//! pipeline's visibility, the manifest's group, the descriptor, then every input against its
//! parameter (presence, type, VIP's character rules, VIP paths that must exist, local files
//! that must exist).
//!
//! Problems are diagnostics pointing into the manifest, like offline ones; the failure says
//! whether any of them is about access (exit 4) rather than the manifest (exit 3).

use std::collections::BTreeMap;

use futures_util::{StreamExt, stream};
use serde_saphyr::Location;

use crate::error::Error;
use crate::manifest::{ManifestDiagnostic, Validated, ValueKind, suggest};
use crate::vip::wire::{Descriptor, Pipeline, Platform};
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

    // The reads every step needs, side by side: VIP's latency is paid once for them all.
    // They are reads, so sending them before the key is known to be good costs nothing but
    // four refusals when it is not.
    let id = &v.pipeline_id;
    // (Boxed: five calls at once make a large future.)
    let (pipelines, platform, groups, pipeline, descriptor) = Box::pin(async {
        tokio::join!(
            client.pipelines(),
            client.platform(),
            client.groups(),
            client.pipeline(id),
            client.descriptor(id)
        )
    })
    .await;
    // 1. The key, with a call needed anyway: its refusal is told first, as itself.
    let pipelines = match pipelines {
        Ok(p) => p,
        Err(e) => {
            return Err(super::access::key_problem(&e, conn)
                .map_or_else(|| fatal(e), PreflightError::Fatal));
        }
    };
    let platform = platform.ok();

    // 2. The pipeline is visible.
    if !pipelines.iter().any(|p| &p.identifier == id) {
        match client.pipeline_by_query(id).await {
            Err(e) if e.meaning() == Meaning::NotInGroup => {
                let groups = client.groups().await.unwrap_or_default();
                let d = not_in_group(v, &groups, false);
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
    let groups = groups.map_err(fatal)?;
    if !groups.iter().any(|g| g == &v.group) {
        let d = not_in_group(v, &groups, true);
        report.access(report.at(d, v.group_location));
        let (diagnostics, access) = report.finish();
        return Err(PreflightError::Problems {
            diagnostics,
            access,
        });
    }

    // 4. The descriptor is readable.
    let (pipeline, descriptor) = match (pipeline, descriptor) {
        (Ok(p), Ok(d)) => (p, d),
        (Err(e), _) | (_, Err(e)) if e.meaning() == Meaning::NotInGroup => {
            let d = not_in_group(v, &groups, true);
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
    report
        .diagnostics
        .extend(super::against::check(v, &pipeline, &descriptor));
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

/// The manifest's `group` is not one of the caller's. `visible`: the pipeline is listed for
/// the caller, so one of their application groups already gives it, and the manifest's
/// `group` is the mistake (it must not be said to be the pipeline's requirement). VIP shows
/// which groups an application belongs to only to its admins (docs/vip.md#groups), so a
/// `group` that is the caller's but not the pipeline's cannot be told from here.
fn not_in_group(v: &Validated, groups: &[String], visible: bool) -> ManifestDiagnostic {
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
    } else if visible {
        let suggestion = suggest::did_you_mean(&v.group, groups.iter().map(String::as_str))
            .map(|g| format!("did you mean `{g}`? "))
            .unwrap_or_default();
        ManifestDiagnostic::error(format!(
            "you are not a member of group {}, which this manifest names for {}; yet {} is available to you, so one of your groups gives it",
            v.group, v.pipeline_id, v.pipeline_id
        ))
        .label("not one of your groups")
        .help(format!(
            "{suggestion}set `group` to the application group of {} you are in ({yours})",
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
