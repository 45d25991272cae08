//! What `plan` prints: one line per action (`+` marks a change), then the count of changes;
//! or one JSON object per action and a `summary` object.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;

use crate::run::Preview;

use super::OutputFormat;

/// Writes the plan `p` to `out`.
pub fn render(out: &mut dyn Write, p: &Preview, format: OutputFormat) -> std::io::Result<()> {
    let changes = p.changes();
    match format {
        OutputFormat::Json => {
            for a in &p.actions {
                writeln!(
                    out,
                    "{}",
                    json!({"action": a.kind.as_str(), "item": a.item, "detail": a.detail, "change": a.kind.is_change()})
                )?;
            }
            writeln!(
                out,
                "{}",
                json!({"event": "summary", "command": "plan", "changes": changes, "actions": p.actions.len()})
            )?;
        }
        OutputFormat::Human => {
            let mut text = String::new();
            for a in &p.actions {
                let _ = writeln!(
                    text,
                    "{} {:9} {}{}",
                    if a.kind.is_change() { "+" } else { " " },
                    a.kind.as_str(),
                    a.item
                        .as_deref()
                        .map(|i| format!("{i}: "))
                        .unwrap_or_default(),
                    a.detail
                );
            }
            let _ = writeln!(
                text,
                "{}: {changes} change{} to make",
                p.manifest,
                if changes == 1 { "" } else { "s" }
            );
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()
}
