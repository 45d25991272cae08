//! What `plan` found, and what it prints: one line per action (`+` marks a change), then the count of changes;
//! or one JSON object per action and a `summary` object.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;

use super::OutputFormat;

/// One thing a run would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Send a local input.
    Upload,
    /// A local input already on VIP, unchanged.
    Keep,
    /// Launch an item's first execution.
    Launch,
    /// Launch a retry of a failed execution.
    Relaunch,
    /// Download a finished execution's outputs.
    Download,
    /// Keep an item's current execution.
    Reuse,
}

impl ActionKind {
    /// The verb shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Keep => "keep",
            Self::Launch => "launch",
            Self::Relaunch => "relaunch",
            Self::Download => "download",
            Self::Reuse => "reuse",
        }
    }

    /// Whether a run would change something.
    pub fn is_change(self) -> bool {
        !matches!(self, Self::Keep | Self::Reuse)
    }
}

/// One line of a plan.
#[derive(Debug, Clone)]
pub struct Action {
    /// What.
    pub kind: ActionKind,
    /// For which item (none for uploads).
    pub item: Option<String>,
    /// The particulars.
    pub detail: String,
}

/// What `plan` found.
#[derive(Debug)]
pub struct Preview {
    /// The manifest, as the user named it.
    pub manifest: String,
    /// What a run would do, uploads first, then item by item.
    pub actions: Vec<Action>,
    /// What `vip-run clean` would delete on VIP now, when anything.
    pub cleanable: Option<super::cleanup::CleanPlan>,
}

impl Preview {
    /// How many actions change something.
    pub fn changes(&self) -> usize {
        self.actions.iter().filter(|a| a.kind.is_change()).count()
    }
}

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
                json!({"event": "summary", "command": "plan", "changes": changes, "actions": p.actions.len(),
                "cleanable": p.cleanable.as_ref().map(|c| {
                    let (files, bytes) = c.totals();
                    json!({"folders": c.targets.len() - c.executions(), "files": files, "bytes": bytes})
                })})
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
            if let Some(c) = &p.cleanable {
                let _ = writeln!(
                    text,
                    "cleanable on VIP: {} (`vip-run clean {}` deletes them)",
                    c.describe(),
                    p.manifest
                );
            }
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()
}
