//! What `cancel` did, and what it prints: the executions killed and the items never launched,
//! which stay queued here; or one JSON `summary` object.

use std::io::Write;

use serde_json::json;

use super::OutputFormat;

/// What `cancel` did.
#[derive(Debug)]
pub struct Cancelled {
    /// The manifest, as the user named it.
    pub manifest: String,
    /// (item key, execution id) of each execution killed.
    pub killed: Vec<(String, String)>,
    /// Items never launched: `cancel` leaves them queued here, and the next `run` launches
    /// them (it says so rather than mark them cancelled: the manifest still asks for them).
    pub not_launched: Vec<String>,
}

/// Writes what `cancel` did: for people, what was killed and what stays queued (nothing under
/// `quiet`); for tools, one `summary` object.
pub fn render(
    out: &mut dyn Write,
    c: &Cancelled,
    format: OutputFormat,
    quiet: bool,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        let record = json!({
            "event": "summary",
            "command": "cancel",
            "manifest": c.manifest,
            "killed": c.killed.iter().map(|(k, id)| json!({"item": k, "execution": id})).collect::<Vec<_>>(),
            "not_launched": c.not_launched,
        });
        writeln!(out, "{record}")?;
        return out.flush();
    }
    if quiet {
        return Ok(());
    }
    if c.killed.is_empty() {
        writeln!(
            out,
            "nothing to cancel: no execution of {} is queued or running",
            c.manifest
        )?;
    } else {
        writeln!(
            out,
            "killed {} execution{}",
            c.killed.len(),
            if c.killed.len() == 1 { "" } else { "s" }
        )?;
    }
    if !c.not_launched.is_empty() {
        let n = c.not_launched.len();
        writeln!(
            out,
            "{n} item{} never launched stay{} queued here ({}): the next `vip-run run {}` launches {}; remove {} from the manifest to drop {}; killed items are not launched again unless you ask (`--relaunch failed`)",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
            shown_keys(&c.not_launched),
            c.manifest,
            if n == 1 { "it" } else { "them" },
            if n == 1 { "it" } else { "them" },
            if n == 1 { "it" } else { "them" },
        )?;
    }
    out.flush()
}

/// Up to five keys, then how many more.
fn shown_keys(keys: &[String]) -> String {
    let shown = keys.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if keys.len() > 5 {
        format!("{shown} and {} more", keys.len() - 5)
    } else {
        shown
    }
}
