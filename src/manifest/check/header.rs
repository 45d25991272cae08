//! The manifest's identifying fields: `version`, `name`, `pipeline_id` and `group`.
//!
//! Each is one scalar with a rule of its own; a bad one is reported with a fix spelt out
//! (a cleaned-up name, the `Name/version` form), since these are the first lines a user writes.

use super::findings::Findings;
use crate::manifest::model::Manifest;
use crate::manifest::validated::MAX_NAME_LEN;
use crate::vip::rules;

/// Checks the identifying fields of `m`.
pub(super) fn check(out: &mut Findings, m: &Manifest) {
    if m.version.value != 1 {
        out.error(
            m.version.referenced,
            format!("unsupported manifest version {}", m.version.value),
            "unsupported version",
            "this vip-run reads manifest version 1: write `version: 1`, or upgrade vip-run",
        );
    }
    let name = &m.name.value;
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        let bad = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'));
        let message = match bad {
            _ if name.is_empty() => "the name is empty".to_owned(),
            Some(c) => format!("the name `{name}` contains `{c}`"),
            None => format!("the name is longer than {MAX_NAME_LEN} characters"),
        };
        let fixed: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(MAX_NAME_LEN)
            .collect();
        let suggestion = if fixed.is_empty() {
            String::new()
        } else {
            format!(", e.g. `{fixed}`")
        };
        out.error(m.name.referenced, message, "invalid name",
                format!("a name uses letters, digits, `_` and `-` only (it prefixes VIP execution names and names the state folder){suggestion}"));
    }
    let id = &m.pipeline_id.value;
    if let Some(problem) = rules::pipeline_id_problem(id) {
        let help = if id.contains('/') {
            problem.to_owned()
        } else {
            // No version is guessed: `vip-run pipelines` knows the real ones.
            format!(
                "{problem}, as in `{}/<version>`; `vip-run pipelines {}` lists the ids you can run",
                id.trim(),
                id.trim()
            )
        };
        out.error(
            m.pipeline_id.referenced,
            format!("`{id}` is not a valid pipeline identifier"),
            "not `Name/version`",
            help,
        );
    }
    let group = &m.group.value;
    if group.trim().is_empty() || group.contains('/') || group.trim() != group {
        out.error(m.group.referenced, format!("`{group}` is not a valid group name"), "invalid group",
                "name the VIP application group as shown in the VIP portal (My Account → Groups), e.g. `CQUEST`");
    }
}
