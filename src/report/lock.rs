//! What `vip-run lock` says: per manifest, the pipeline locked, the file written and what
//! changed since the previous lock, as text or one JSON object per line.

use std::io::{self, Write};
use std::path::PathBuf;

use super::OutputFormat;

/// What `lock` did for one manifest.
#[derive(Debug)]
pub struct Locked {
    /// The manifest.
    pub manifest: String,
    /// The pipeline id.
    pub pipeline_id: String,
    /// The lock file written.
    pub file: PathBuf,
    /// What changed since the previous lock (empty when new or unchanged).
    pub changes: Vec<String>,
    /// Whether there was an entry before.
    pub existed: bool,
}

/// Writes the outcome of `lock`.
pub fn render(out: &mut dyn Write, done: &[Locked], format: OutputFormat) -> io::Result<()> {
    for l in done {
        match format {
            OutputFormat::Json => writeln!(
                out,
                "{}",
                serde_json::json!({
                    "manifest": l.manifest,
                    "pipeline_id": l.pipeline_id,
                    "lock_file": l.file.display().to_string(),
                    "new": !l.existed,
                    "changes": l.changes,
                })
            )?,
            OutputFormat::Human => {
                let what = match (l.existed, l.changes.is_empty()) {
                    (false, _) => "locked",
                    (true, true) => "unchanged",
                    (true, false) => "updated",
                };
                writeln!(
                    out,
                    "{what} {} for {} in {}",
                    l.pipeline_id,
                    l.manifest,
                    l.file.display()
                )?;
                for c in &l.changes {
                    writeln!(out, "  - {c}")?;
                }
            }
        }
    }
    out.flush()
}
