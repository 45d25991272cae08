//! What `plan` found, and what it prints: one line per action (`+` marks a change), then the count of changes;
//! or one JSON object per action and a `summary` object.

use std::fmt::Write as _;
use std::io::Write;

use std::path::PathBuf;

use serde_json::json;

use super::OutputFormat;
use crate::manifest::jobs::{Jobs, Role};
use crate::vip::failure::FailureClass;

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

/// One line of a plan: what, for which item, and the facts it rests on (typed: the text is
/// made here, when it is shown).
#[derive(Debug, Clone)]
pub struct Action {
    /// What.
    pub kind: ActionKind,
    /// For which item (none for uploads).
    pub item: Option<String>,
    /// The particulars.
    pub subject: Subject,
}

/// The particulars of an [`Action`].
#[derive(Debug, Clone)]
pub enum Subject {
    /// A local input and where it goes on VIP (uploaded, or kept there).
    Input {
        /// The local file.
        local: PathBuf,
        /// Its VIP path.
        remote: String,
    },
    /// An item's first execution, by the name it will have.
    First {
        /// The execution name.
        name: String,
        /// Its jobs, when it has several (a list given to a parameter).
        jobs: Option<Jobs>,
    },
    /// An item launched again: a retry of a failure within `execution.retries`, or asked for
    /// with `--relaunch`.
    Again {
        /// The execution it replaces.
        execution: String,
        /// That execution's status.
        status: String,
        /// Whether vip-run timed it out.
        timed_out: bool,
        /// Whether `--relaunch` asked for it (else it is a retry).
        asked: bool,
        /// The attempt (1 is the first retry).
        attempt: usize,
        /// `execution.retries`.
        retries: u32,
        /// Its jobs, when it has several.
        jobs: Option<Jobs>,
        /// Why it failed, as a class.
        class: Option<FailureClass>,
    },
    /// A finished execution's outputs to fetch.
    Outputs {
        /// The execution.
        execution: String,
        /// The item's download folder.
        folder: PathBuf,
    },
    /// An item's current execution, kept.
    Current {
        /// The execution.
        execution: String,
        /// Its status.
        status: String,
        /// Whether vip-run timed it out.
        timed_out: bool,
        /// Why it failed (`application (exit 50)`), when it did.
        failure: Option<String>,
        /// Its failure class, when it failed.
        class: Option<FailureClass>,
        /// Why it is not relaunched ("not retried", "retries used up"), when it failed.
        not_retried: Option<&'static str>,
    },
}

impl Subject {
    /// The line's particulars, for people.
    fn text(&self) -> String {
        let jobs_text = |jobs: &Option<Jobs>| {
            jobs.as_ref()
                .map(|j| format!(", {} jobs: {}", j.count, j.explain()))
                .unwrap_or_default()
        };
        match self {
            Self::Input { local, remote } => format!("{} → {remote}", local.display()),
            Self::First { name, jobs } => format!("{name}{}", jobs_text(jobs)),
            Self::Again {
                execution,
                status,
                timed_out,
                asked: true,
                jobs,
                ..
            } => format!(
                "{execution} is {}; relaunched as asked (--relaunch){}",
                if *timed_out { "timed out" } else { status },
                jobs_text(jobs)
            ),
            Self::Again {
                execution,
                attempt,
                retries,
                jobs,
                class,
                ..
            } => format!(
                "{execution} failed{}; retry {attempt} of {retries}{}",
                class
                    .map(|c| format!(" ({})", c.words()))
                    .unwrap_or_default(),
                jobs_text(jobs)
            ),
            Self::Outputs { execution, folder } => {
                format!("outputs of {execution} into {}", folder.display())
            }
            Self::Current {
                execution,
                status,
                timed_out,
                failure,
                not_retried,
                ..
            } => format!(
                "{execution} ({status}{}{})",
                if *timed_out { ", timed out" } else { "" },
                failure
                    .as_ref()
                    .map(|f| format!(
                        "; failed: {f}{}",
                        not_retried.map(|n| format!(", {n}")).unwrap_or_default()
                    ))
                    .unwrap_or_default()
            ),
        }
    }

    /// The line's particulars, for tools: fields, never a sentence.
    fn json(&self) -> serde_json::Value {
        let jobs_json = |jobs: &Option<Jobs>| {
            jobs.as_ref().map(|j| {
                json!({
                    "count": j.count,
                    "exact": j.exact,
                    "lists": j.lists.iter().map(|l| json!({
                        "input": l.name,
                        "values": l.len,
                        "role": match l.role {
                            Role::Crossed => "crossed",
                            Role::Paired => "paired",
                            Role::Whole => "whole",
                        },
                    })).collect::<Vec<_>>(),
                })
            })
        };
        match self {
            Self::Input { local, remote } => {
                json!({"local": local.display().to_string(), "remote": remote})
            }
            Self::First { name, jobs } => json!({"execution_name": name, "jobs": jobs_json(jobs)}),
            Self::Again {
                execution,
                status,
                timed_out,
                asked,
                attempt,
                retries,
                jobs,
                class,
            } => json!({
                "execution": execution,
                "status": status,
                "timed_out": timed_out,
                "reason": if *asked { "requested" } else { "retry" },
                "attempt": attempt,
                "retries": retries,
                "jobs": jobs_json(jobs),
                "class": class,
            }),
            Self::Outputs { execution, folder } => {
                json!({"execution": execution, "folder": folder.display().to_string()})
            }
            Self::Current {
                execution,
                status,
                timed_out,
                class,
                not_retried,
                ..
            } => {
                let mut j =
                    json!({"execution": execution, "status": status, "timed_out": timed_out});
                if let Some(c) = class {
                    j["class"] = json!(c);
                    j["retry"] = json!(not_retried);
                }
                j
            }
        }
    }
}

/// What `plan` found.
#[derive(Debug)]
pub struct Preview {
    /// The retry policy, in words (`execution.retries`, `retry_on`, the watchdog).
    pub policy: String,
    /// The manifest, as the user named it.
    pub manifest: String,
    /// What a run would do, uploads first, then item by item.
    pub actions: Vec<Action>,
    /// What `vip-run clean` would delete on VIP now, when anything.
    pub cleanable: Option<super::clean::CleanPlan>,
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
                let mut record = json!({"action": a.kind.as_str(), "item": a.item, "change": a.kind.is_change()});
                if let (Some(fields), serde_json::Value::Object(more)) =
                    (record.as_object_mut(), a.subject.json())
                {
                    fields.extend(more);
                }
                writeln!(out, "{record}")?;
            }
            writeln!(
                out,
                "{}",
                json!({"event": "summary", "command": "plan", "changes": changes, "actions": p.actions.len(), "retry_policy": p.policy,
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
                    a.subject.text()
                );
            }
            let _ = writeln!(
                text,
                "{}: {changes} change{} to make",
                p.manifest,
                if changes == 1 { "" } else { "s" }
            );
            let _ = writeln!(text, "failures: {}", p.policy);
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
