//! `validate`: the offline checks, and with `--online` the pre-flight against VIP, for each
//! manifest in turn; every problem of every manifest is reported before the command fails.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use crate::error::Error;
use crate::manifest::jobs::{self, Jobs};
use crate::manifest::{self, ManifestDiagnostic, Validated};
use crate::report::OutputFormat;
use crate::report::diagnostics::Printer;
use crate::report::validate::{self as shown, Online};
use crate::vip::wire::Descriptor;

use super::Settings;
use super::against;
use super::lock;
use super::preflight::{self, PreflightError};
use super::session::{secrets_of, with_connection};

/// Checks `manifests`, writing each one's result to `out` as it is known. `require_lock`: each
/// manifest must have a current entry in its folder's `vip-run.lock` (as `run --locked`
/// requires), else it is invalid: what a pre-commit hook asks of a recipe repository.
pub async fn validate(
    settings: &Settings,
    manifests: &[PathBuf],
    online: bool,
    require_lock: bool,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let printer = settings.printer();
    let json = settings.output == OutputFormat::Json;
    let mut invalid = Vec::new();
    let mut worst: Option<Error> = None;
    let mut owners: std::collections::HashMap<PathBuf, String> = std::collections::HashMap::new();
    for (position, path) in manifests.iter().enumerate() {
        let name = path.display().to_string();
        let v = match manifest::load(path, &settings.load) {
            Ok(v) => v,
            Err(errors) => {
                reject(
                    printer,
                    out,
                    json,
                    &name,
                    &errors.diagnostics,
                    &secrets_of(path),
                )?;
                invalid.push(errors.to_string());
                continue;
            }
        };
        printer.print(&v.warnings, &v.secrets);
        // One owner per results folder: two manifests of one command line never download
        // into the same folder (each item's folder is already distinct within a manifest).
        if let Some((folder, other)) = v.items.iter().find_map(|i| {
            let folder = i.download.as_ref()?;
            let other = owners.get(folder)?;
            (other != &name).then(|| (folder.clone(), other.clone()))
        }) {
            let message = format!(
                "{name}: results.download writes into {}, as {other} does: give one of them another results.download (two manifests never share a results folder)",
                folder.display()
            );
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"manifest": name, "valid": false, "errors": [message]})
                )?;
            } else {
                crate::report::to_stderr(&format!("error: {message}"));
            }
            invalid.push(message);
            continue;
        }
        for item in &v.items {
            if let Some(folder) = &item.download {
                owners.insert(folder.clone(), name.clone());
            }
        }
        let mut locked = None;
        // The descriptor, when one is known, makes the job counts exact.
        let mut descriptor = None;
        let learnt = if online {
            match check_online(settings, &v).await? {
                Ok((summary, d)) => {
                    descriptor = Some(d);
                    Some(summary)
                }
                Err((diagnostics, access)) => {
                    let n = reject(printer, out, json, &name, &diagnostics, &v.secrets)?;
                    let message = format!(
                        "{name} failed the checks against VIP: {n} problem{}",
                        if n == 1 { "" } else { "s" }
                    );
                    if access || !matches!(worst, Some(Error::Preflight { access: true, .. })) {
                        worst = Some(Error::Preflight { message, access });
                    }
                    continue;
                }
            }
        } else {
            match check_locked(&v, printer, require_lock) {
                Ok(Some((locked_on, d))) => {
                    locked = Some(locked_on);
                    descriptor = Some(d);
                    None
                }
                Ok(None) => None,
                Err(diagnostics) => {
                    let n = reject(printer, out, json, &name, &diagnostics, &v.secrets)?;
                    invalid.push(format!(
                        "{name} is invalid against the descriptor in {}: {n} problem{}",
                        lock::FILE_NAME,
                        if n == 1 { "" } else { "s" }
                    ));
                    continue;
                }
            }
        };
        let jobs: Vec<Jobs> = v
            .items
            .iter()
            .map(|i| jobs::of_item(i, descriptor.as_ref()))
            .collect();
        let mut text = match settings.output {
            OutputFormat::Json => shown::json_valid(&name, &v, learnt.as_ref(), &jobs) + "\n",
            OutputFormat::Human if settings.quiet => String::new(),
            OutputFormat::Human => shown::human(&name, &v, learnt.as_ref(), &jobs),
        };
        if let (Some(day), OutputFormat::Human, false) = (&locked, settings.output, settings.quiet)
        {
            let _ = writeln!(
                text,
                "  checked against the descriptor of {} locked on {day} ({})",
                v.pipeline_id,
                lock::FILE_NAME
            );
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        if position + 1 == manifests.len() {
            // The command ends here: freeing every item one by one (a tenth of the time of a
            // 10,000-item `validate`) is left to the end of the process.
            std::mem::forget(v);
        }
    }
    if let Some(e) = worst {
        return Err(e);
    }
    match invalid.len() {
        0 => Ok(()),
        1 if manifests.len() == 1 => Err(Error::InvalidManifests(invalid.remove(0))),
        n => Err(Error::InvalidManifests(format!(
            "{n} of {} manifests are invalid",
            manifests.len()
        ))),
    }
}

/// Prints why `name` is invalid (and its JSON line with `--output json`); returns how many
/// of the diagnostics are errors.
fn reject(
    printer: Printer,
    out: &mut dyn Write,
    json: bool,
    name: &str,
    diagnostics: &[ManifestDiagnostic],
    secrets: &[String],
) -> std::io::Result<usize> {
    printer.print(diagnostics, secrets);
    if json {
        writeln!(out, "{}", shown::json_invalid(name, diagnostics, secrets))?;
    }
    Ok(diagnostics.iter().filter(|d| d.is_error()).count())
}

/// Pre-flight for `v`: what VIP confirmed, or the problems found (and whether any is about
/// access); an error when VIP could not be asked.
async fn check_online(
    settings: &Settings,
    v: &Validated,
) -> Result<Result<(Online, Descriptor), (Vec<ManifestDiagnostic>, bool)>, Error> {
    with_connection(settings, Some(v), async |conn| {
        match preflight::check(v, conn).await {
            Ok(p) => {
                settings.printer().print(&p.warnings, &v.secrets);
                Ok(Ok((
                    Online {
                        server: conn.server.clone(),
                        key_source: conn.key_source.clone(),
                        groups: p.groups,
                        parameters: p.pipeline.parameters.len(),
                        vip_paths_checked: p.vip_paths_checked,
                    },
                    p.descriptor,
                )))
            }
            Err(PreflightError::Problems {
                diagnostics,
                access,
            }) => Ok(Err((diagnostics, access))),
            Err(PreflightError::Fatal(e)) => Err(e),
        }
    })
    .await
}

/// Offline, against `vip-run.lock` when it holds this manifest's pipeline: the day it was
/// locked and its descriptor when every check passes (warnings are printed), or the
/// problems. `Ok(None)` without a lock, or when the lock is for another pipeline (then a
/// warning says so).
fn check_locked(
    v: &Validated,
    printer: Printer,
    locked: bool,
) -> Result<Option<(String, Descriptor)>, Vec<ManifestDiagnostic>> {
    let entry = match lock::entry_for(v) {
        Ok(Some(e)) => e,
        Ok(None) if locked => {
            let d = ManifestDiagnostic::error(format!(
                "{} has no entry in its folder's {}: the lock is stale",
                v.file.display,
                lock::FILE_NAME
            ))
            .at_location(&v.file, v.pipeline_location)
            .label("not locked")
            .help(format!(
                "run `vip-run lock {}` and commit {}",
                v.file.display,
                lock::FILE_NAME
            ));
            return Err(vec![d]);
        }
        Ok(None) => return Ok(None),
        Err(e) => return Err(vec![ManifestDiagnostic::error(e.to_string())]),
    };
    if entry.pipeline_id != v.pipeline_id {
        let d = if locked {
            ManifestDiagnostic::error(format!(
                "{} locks {} for this manifest, not {}: the lock is stale",
                lock::FILE_NAME,
                entry.pipeline_id,
                v.pipeline_id
            ))
        } else {
            ManifestDiagnostic::warning(format!(
                "{} locks {} for this manifest, not {}: its descriptor was not used",
                lock::FILE_NAME,
                entry.pipeline_id,
                v.pipeline_id
            ))
        }
        .at_location(&v.file, v.pipeline_location)
        .label("not the locked pipeline")
        .help(format!(
            "run `vip-run lock {}` to lock the new pipeline",
            v.file.display
        ));
        if locked {
            return Err(vec![d]);
        }
        printer.print(&[d], &v.secrets);
        return Ok(None);
    }
    let diagnostics = against::check(v, &entry.pipeline, &entry.descriptor);
    if diagnostics.iter().any(ManifestDiagnostic::is_error) {
        return Err(diagnostics);
    }
    printer.print(&diagnostics, &v.secrets);
    Ok(Some((entry.locked_on, entry.descriptor)))
}
