//! The rules a Boutiques descriptor sets on an invocation, checked as `bosh invocation` checks
//! them: a pure function of (descriptor, one item's values), so offline `validate` (against
//! the locked descriptor) and pre-flight (against the live one) give the same verdict.
//!
//! What Boutiques does, and so what this does (boutiques' `invocationSchemaHandler`):
//!
//! - descriptor defaults are added to the invocation first (`addDefaultValues`), so a
//!   defaulted input counts as given for `requires-inputs`, `disables-inputs` and groups;
//! - `value-choices` is an `enum` on the value (each element, for a list); for an
//!   `integer` Number Boutiques checks only integer-ness and ignores the choices, so here a
//!   choice outside the list is only a warning;
//! - `minimum` / `maximum` (with `exclusive-*`) bound every numeric value or element;
//! - a Flag that is `false` neither requires nor disables anything, and a disabled Flag may
//!   be given as `false`; a Flag satisfies `requires-inputs` or `one-is-required` only
//!   when `true`;
//! - a `mutually-exclusive` group makes each member disable the others;
//! - `requires-inputs` may name a group: one of its members must then be given;
//! - `all-or-none` is not checked by `bosh invocation` (only descriptors are): a warning here.
//!
//! On top, VIP's own reading: `min-list-entries` / `max-list-entries` depend on whether VIP
//! hands a list to one job or iterates over it (**(open)** in docs/vip.md#lists; the engine
//! iterates), so they warn rather than refuse: safe on both readings.
//! Type errors (a word for a Number) are not reported here: pre-flight's type check names
//! them with VIP's types, and a value that does not parse is skipped by the range checks.

use serde_json::Value;

use crate::vip::wire::{Descriptor, DescriptorInput};

mod invocation;

pub use invocation::{Rules, Violation, violations};
/// The text of a default value (`100`, `true`, `"a"` → `a`).
fn default_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s == "$input.getDefaultValue()" => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(default_text)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        other => Some(other.to_string()),
    }
}

fn is_flag(i: &DescriptorInput) -> bool {
    i.kind == "Flag"
}

/// How a number reads in a message: `1` rather than `1.0`.
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

fn choice_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether `text` is one of `choices` (numbers compared as numbers: `0.50` is `0.5`).
fn is_choice(input: &DescriptorInput, text: &str, choices: &[Value]) -> bool {
    choices.iter().any(|c| match (c, input.kind.as_str()) {
        (Value::Number(n), "Number") => text
            .trim()
            .parse::<f64>()
            .is_ok_and(|t| n.as_f64() == Some(t)),
        (Value::Bool(b), _) => text == b.to_string(),
        (c, _) => choice_text(c) == text,
    })
}

/// The range `input` allows, as people write it (`1 ≤ x ≤ 10`, `> 0`).
pub fn range_text(input: &DescriptorInput) -> Option<String> {
    let low = input.minimum.map(|m| {
        format!(
            "{} {}",
            if input.exclusive_minimum { ">" } else { "≥" },
            number(m)
        )
    });
    let high = input.maximum.map(|m| {
        format!(
            "{} {}",
            if input.exclusive_maximum { "<" } else { "≤" },
            number(m)
        )
    });
    match (low, high) {
        (Some(l), Some(h)) => Some(format!("{l} and {h}")),
        (l, h) => l.or(h),
    }
}

/// The choices `input` allows, joined for a message.
pub fn choices_text(input: &DescriptorInput) -> String {
    input
        .value_choices
        .iter()
        .map(|c| format!("`{}`", choice_text(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rules on input `id`, as short phrases for `pipeline ID` and `init` (`one of a, b`,
/// `≥ 0 and ≤ 1`, `exactly 3 values`, `requires x`, `mutually exclusive with y (group g)`…).
pub fn rules_of(descriptor: &Descriptor, id: &str) -> Vec<String> {
    let Some(i) = descriptor.input(id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !i.value_choices.is_empty() {
        out.push(format!("one of {}", choices_text(i)));
    }
    if let Some(r) = range_text(i) {
        out.push(r);
    }
    let (low, high) = (
        i.min_list_entries.filter(|m| *m > 0),
        i.max_list_entries.filter(|m| *m > 0),
    );
    match (low, high) {
        (Some(l), Some(h)) if l == h => out.push(format!("exactly {l} values")),
        (Some(l), Some(h)) => out.push(format!("{l} to {h} values")),
        (Some(l), None) => out.push(format!("at least {l} values")),
        (None, Some(h)) => out.push(format!("at most {h} values")),
        (None, None) => {}
    }
    if !i.requires_inputs.is_empty() {
        out.push(format!("requires {}", members(&i.requires_inputs)));
    }
    if !i.disables_inputs.is_empty() {
        out.push(format!("disables {}", members(&i.disables_inputs)));
    }
    for g in descriptor
        .groups
        .iter()
        .filter(|g| g.members.iter().any(|m| m == id))
    {
        let others: Vec<String> = g.members.iter().filter(|m| *m != id).cloned().collect();
        if g.mutually_exclusive {
            out.push(format!(
                "mutually exclusive with {} (group `{}`)",
                members(&others),
                g.id
            ));
        }
        if g.one_is_required {
            out.push(format!(
                "this or {} is required (group `{}`)",
                members(&others),
                g.id
            ));
        }
        if g.all_or_none {
            out.push(format!(
                "give all or none of this and {} (group `{}`)",
                members(&others),
                g.id
            ));
        }
    }
    out
}

/// A number that `input`'s range allows (for a starter manifest): the middle of a closed
/// range, else next to its one bound; `None` without a range.
pub fn number_inside(input: &DescriptorInput) -> Option<String> {
    let n = match (input.minimum, input.maximum) {
        (Some(lo), Some(hi)) => f64::midpoint(lo, hi),
        (Some(lo), None) => lo + if input.exclusive_minimum { 1.0 } else { 0.0 },
        (None, Some(hi)) => hi - if input.exclusive_maximum { 1.0 } else { 0.0 },
        (None, None) => return None,
    };
    Some(if input.integer {
        number(n.round())
    } else {
        n.to_string()
    })
}
pub(super) fn members(ids: &[String]) -> String {
    ids.iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
