//! What `clean` found to delete on VIP and what it deleted: each folder with its file count
//! and size, each execution, and the items left alone with the reason (a table for people,
//! or one JSON object per target, then a summary).

use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;
use serde_json::json;

use super::OutputFormat;
use super::text::human_bytes;

/// What one deletion removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TargetKind {
    /// The manifest's uploaded inputs folder.
    Inputs,
    /// An item's results folder (its outputs are downloaded and size-checked).
    Results {
        /// The item key.
        item: String,
    },
    /// An item's finished execution.
    Execution {
        /// The item key.
        item: String,
    },
}

/// One thing to delete on VIP.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What it is.
    #[serde(flatten)]
    pub kind: TargetKind,
    /// The VIP path, or the execution id.
    pub path: String,
    /// Files in the folder (0 for an execution).
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// What `clean` would delete, and what it leaves.
#[derive(Debug, Clone, Default)]
pub struct CleanPlan {
    /// The manifest, as the user named it.
    pub manifest: String,
    /// What to delete, inputs first, then item by item.
    pub targets: Vec<Target>,
    /// Items whose results stay on VIP, with why.
    pub kept: Vec<(String, String)>,
}

impl CleanPlan {
    /// Files and bytes in the folders to delete.
    pub fn totals(&self) -> (u64, u64) {
        self.targets
            .iter()
            .fold((0, 0), |(f, b), t| (f + t.files, b + t.bytes))
    }

    /// Executions to delete.
    pub fn executions(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| matches!(t.kind, TargetKind::Execution { .. }))
            .count()
    }

    /// One line: "3 folders (12 files, 4.0 KiB) and 2 executions".
    pub fn describe(&self) -> String {
        let (files, bytes) = self.totals();
        let folders = self.targets.len() - self.executions();
        let mut text = format!(
            "{folders} folder{} ({files} file{}, {})",
            if folders == 1 { "" } else { "s" },
            if files == 1 { "" } else { "s" },
            human_bytes(bytes)
        );
        let n = self.executions();
        if n > 0 {
            let _ = write!(text, " and {n} execution{}", if n == 1 { "" } else { "s" });
        }
        text
    }
}

/// What `clean` did.
#[derive(Debug)]
pub struct Cleaned {
    /// What it set out to delete.
    pub plan: CleanPlan,
    /// Whether it deleted it (false: nothing to do, or the user said no).
    pub deleted: bool,
}

fn label(t: &Target) -> String {
    match &t.kind {
        TargetKind::Inputs => "inputs".to_owned(),
        TargetKind::Results { item } => format!("results of {item}"),
        TargetKind::Execution { item } => format!("execution of {item}"),
    }
}

/// Writes what will be deleted (human only: JSON reports once, at the end).
pub fn render_plan(
    out: &mut dyn Write,
    p: &CleanPlan,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return Ok(());
    }
    if p.targets.is_empty() {
        writeln!(out, "{}: nothing to delete on VIP", p.manifest)?;
    } else {
        writeln!(out, "{}: will delete on VIP {}:", p.manifest, p.describe())?;
        for t in &p.targets {
            match t.kind {
                TargetKind::Execution { .. } => writeln!(out, "  {:<24} {}", label(t), t.path)?,
                _ => writeln!(
                    out,
                    "  {:<24} {}  ({} file{}, {})",
                    label(t),
                    t.path,
                    t.files,
                    if t.files == 1 { "" } else { "s" },
                    human_bytes(t.bytes)
                )?,
            }
        }
    }
    for (item, why) in &p.kept {
        writeln!(out, "  keeping results of {item}: {why}")?;
    }
    out.flush()
}

/// Writes the outcome.
pub fn render_done(out: &mut dyn Write, c: &Cleaned, format: OutputFormat) -> std::io::Result<()> {
    match format {
        OutputFormat::Json => {
            for t in &c.plan.targets {
                let mut v = serde_json::to_value(t).expect("targets serialise");
                v["deleted"] = c.deleted.into();
                writeln!(out, "{v}")?;
            }
            let (files, bytes) = c.plan.totals();
            writeln!(
                out,
                "{}",
                json!({"event": "summary", "command": "clean", "manifest": c.plan.manifest,
                    "deleted": c.deleted, "targets": c.plan.targets.len(), "files": files,
                    "bytes": bytes, "executions": c.plan.executions(),
                    "kept": c.plan.kept.iter().map(|(i, w)| json!({"item": i, "reason": w})).collect::<Vec<_>>()})
            )?;
        }
        OutputFormat::Human => {
            if c.deleted {
                writeln!(out, "deleted {} on VIP", c.plan.describe())?;
            } else if !c.plan.targets.is_empty() {
                writeln!(out, "nothing deleted")?;
            }
        }
    }
    out.flush()
}
