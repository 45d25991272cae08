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
//! hands a list to one job or iterates over it (vip-api.md §8.5 is **(open)**; the engine
//! iterates), so they warn rather than refuse: safe on both readings.
//! Type errors (a word for a Number) are not reported here: pre-flight's type check names
//! them with VIP's types, and a value that does not parse is skipped by the range checks.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::Value;

use super::validated::InputWire;
use crate::vip::wire::{Descriptor, DescriptorInput};

/// One broken rule in one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The input whose manifest line the message points at.
    pub input: String,
    /// The Boutiques rule, as the descriptor spells it (`value-choices`, `minimum`…).
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
    /// A warning rather than an error (Boutiques itself would accept the invocation).
    pub warning: bool,
    /// For a rule on one value, which element of the input's values broke it (0 for a
    /// single value), so the message can point at the element's own line.
    pub element: Option<usize>,
}

/// An input's value in the invocation: as given by the manifest, or the descriptor's default.
struct Given<'a> {
    texts: Vec<&'a str>,
    defaulted: bool,
}

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

/// Every rule of `descriptor` that the invocation made of `inputs` (plus the descriptor's
/// defaults) breaks, in descriptor order.
pub fn violations(descriptor: &Descriptor, inputs: &IndexMap<String, InputWire>) -> Vec<Violation> {
    let mut given: HashMap<&str, Given<'_>> = HashMap::new();
    let mut defaults: Vec<(usize, String)> = Vec::new();
    for (n, i) in descriptor.inputs.iter().enumerate() {
        if let Some(wire) = inputs.get(&i.id) {
            given.insert(
                &i.id,
                Given {
                    texts: wire.values().iter().map(|v| v.text.as_str()).collect(),
                    defaulted: false,
                },
            );
        } else if let Some(t) = default_text(&i.default_value) {
            defaults.push((n, t));
        }
    }
    for (n, t) in &defaults {
        given.insert(
            &descriptor.inputs[*n].id,
            Given {
                texts: vec![t.as_str()],
                defaulted: true,
            },
        );
    }
    let by_id: HashMap<&str, &DescriptorInput> = descriptor
        .inputs
        .iter()
        .map(|i| (i.id.as_str(), i))
        .collect();
    // Given, and (for a Flag) true: what `requires-inputs` and `one-is-required` need, and
    // what makes an input disable others.
    let active = |id: &str| -> bool {
        given.get(id).is_some_and(|g| {
            !by_id.get(id).is_some_and(|i| is_flag(i)) || g.texts.first() == Some(&"true")
        })
    };
    let how = |id: &str| -> &'static str {
        if given.get(id).is_some_and(|g| g.defaulted) {
            " (by its default)"
        } else {
            ""
        }
    };

    let mut out = Vec::new();
    for i in &descriptor.inputs {
        let Some(g) = given.get(i.id.as_str()) else {
            continue;
        };
        if !g.defaulted {
            values(i, &g.texts, &mut out);
        }
    }

    // requires-inputs, disables-inputs and mutually exclusive groups.
    for i in &descriptor.inputs {
        if !active(&i.id) {
            continue;
        }
        for r in &i.requires_inputs {
            if let Some(group) = descriptor.groups.iter().find(|g| &g.id == r) {
                if !group.members.iter().any(|m| given.contains_key(m.as_str())) {
                    out.push(Violation {
                        input: i.id.clone(),
                        rule: "requires-inputs",
                        message: format!(
                            "`{}`{} requires one of {} (group `{}`)",
                            i.id,
                            how(&i.id),
                            members(&group.members),
                            group.id
                        ),
                        help: format!(
                            "give one of {}, or remove `{}`",
                            members(&group.members),
                            i.id
                        ),
                        warning: false,
                        element: None,
                    });
                }
            } else if !active(r) {
                let flag = by_id.get(r.as_str()).is_some_and(|d| is_flag(d));
                out.push(Violation {
                    input: i.id.clone(),
                    rule: "requires-inputs",
                    message: format!(
                        "`{}`{} requires `{r}`{}",
                        i.id,
                        how(&i.id),
                        if flag { " to be true" } else { "" }
                    ),
                    help: if flag {
                        format!("set `{r}: true`, or remove `{}`", i.id)
                    } else {
                        format!("give `{r}` too, or remove `{}`", i.id)
                    },
                    warning: false,
                    element: None,
                });
            }
        }
        let mut disabled: Vec<(&str, Option<&str>)> = i
            .disables_inputs
            .iter()
            .map(|d| (d.as_str(), None))
            .collect();
        for group in descriptor
            .groups
            .iter()
            .filter(|g| g.mutually_exclusive && g.members.contains(&i.id))
        {
            for m in group.members.iter().filter(|m| **m != i.id) {
                disabled.push((m.as_str(), Some(group.id.as_str())));
            }
        }
        for (d, group) in disabled {
            let Some(gd) = given.get(d) else { continue };
            let flag = by_id.get(d).is_some_and(|x| is_flag(x));
            if flag && gd.texts.first() != Some(&"true") {
                continue;
            }
            // A pair of mutually exclusive inputs is reported once, at the later one.
            if group.is_some()
                && descriptor_position(descriptor, d) < descriptor_position(descriptor, &i.id)
            {
                continue;
            }
            let (rule, message) = match group {
                Some(g) => (
                    "mutually-exclusive",
                    format!(
                        "`{}`{} and `{d}`{} are mutually exclusive (group `{g}`): give one of them",
                        i.id,
                        how(&i.id),
                        how(d)
                    ),
                ),
                None => (
                    "disables-inputs",
                    format!(
                        "`{}`{} disables `{d}`{}: they cannot be given together",
                        i.id,
                        how(&i.id),
                        how(d)
                    ),
                ),
            };
            out.push(Violation {
                input: if given.get(d).is_some_and(|x| !x.defaulted) {
                    d.to_owned()
                } else {
                    i.id.clone()
                },
                rule,
                message,
                help: format!("remove `{d}` or `{}`", i.id),
                warning: false,
                element: None,
            });
        }
    }

    for group in &descriptor.groups {
        if group.one_is_required && !group.members.iter().any(|m| active(m)) {
            out.push(Violation {
                input: String::new(),
                rule: "one-is-required",
                message: format!(
                    "one of {} is required (group `{}`), and none is given",
                    members(&group.members),
                    group.id
                ),
                help: format!(
                    "add one of {} under `inputs` (a Flag counts when true)",
                    members(&group.members)
                ),
                warning: false,
                element: None,
            });
        }
        if group.all_or_none {
            let present: Vec<&String> = group
                .members
                .iter()
                .filter(|m| given.contains_key(m.as_str()))
                .collect();
            if !present.is_empty() && present.len() < group.members.len() {
                let missing: Vec<String> = group
                    .members
                    .iter()
                    .filter(|m| !given.contains_key(m.as_str()))
                    .cloned()
                    .collect();
                out.push(Violation {
                    input: present[0].clone(),
                    rule: "all-or-none",
                    message: format!(
                        "group `{}` takes all of {} or none, but {} {} missing",
                        group.id,
                        members(&group.members),
                        members(&missing),
                        if missing.len() == 1 { "is" } else { "are" }
                    ),
                    help: format!(
                        "give {} too, or none of the group (Boutiques does not enforce this at launch, so this is a warning)",
                        members(&missing)
                    ),
                    warning: true,
                    element: None,
                });
            }
        }
    }
    out
}

fn descriptor_position(d: &Descriptor, id: &str) -> usize {
    d.inputs
        .iter()
        .position(|i| i.id == id)
        .unwrap_or(usize::MAX)
}

fn members(ids: &[String]) -> String {
    ids.iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rules on the values themselves: choices, range, list length.
fn values(i: &DescriptorInput, texts: &[&str], out: &mut Vec<Violation>) {
    let id = &i.id;
    if i.list {
        let n = texts.len() as u64;
        let (low, high) = (
            i.min_list_entries.filter(|m| *m > 0),
            i.max_list_entries.filter(|m| *m > 0),
        );
        let bad = low.is_some_and(|m| n < m) || high.is_some_and(|m| n > m);
        if bad {
            let wanted = match (low, high) {
                (Some(l), Some(h)) if l == h => format!("exactly {l}"),
                (Some(l), Some(h)) => format!("{l} to {h}"),
                (Some(l), None) => format!("at least {l}"),
                (None, Some(h)) => format!("at most {h}"),
                (None, None) => String::new(),
            };
            out.push(Violation {
                input: id.clone(),
                rule: if low.is_some_and(|m| n < m) { "min-list-entries" } else { "max-list-entries" },
                message: format!("`{id}` has {n} value{}, but the descriptor wants {wanted}", if n == 1 { "" } else { "s" }),
                help: "whether VIP hands a list input's values to one job or runs one job per value is not documented (vip-api.md §8.5), so this is a warning; Boutiques would refuse it as one invocation: give the number of values the tool expects".to_owned(),
                warning: true,
                element: None,
            });
        }
    }
    for (index, text) in texts.iter().enumerate() {
        if !i.value_choices.is_empty() && !is_choice(i, text, &i.value_choices) {
            out.push(Violation {
                input: id.clone(),
                rule: "value-choices",
                message: format!("`{id}` is `{text}`, which is not one of its choices: {}", choices_text(i)),
                help: if i.integer {
                    "Boutiques checks only that an integer input is whole, so this is a warning: use one of the choices".to_owned()
                } else {
                    format!("use one of {}", choices_text(i))
                },
                warning: i.integer,
                element: Some(index),
            });
        }
        if i.kind != "Number" {
            continue;
        }
        let Ok(x) = text.trim().parse::<f64>() else {
            continue;
        };
        let below = i
            .minimum
            .is_some_and(|m| if i.exclusive_minimum { x <= m } else { x < m });
        let above = i
            .maximum
            .is_some_and(|m| if i.exclusive_maximum { x >= m } else { x > m });
        if below || above {
            out.push(Violation {
                input: id.clone(),
                rule: if below {
                    if i.exclusive_minimum {
                        "exclusive-minimum"
                    } else {
                        "minimum"
                    }
                } else if i.exclusive_maximum {
                    "exclusive-maximum"
                } else {
                    "maximum"
                },
                message: format!(
                    "`{id}` is {text}, outside its range: it must be {}",
                    range_text(i).unwrap_or_default()
                ),
                help: format!("give a value {}", range_text(i).unwrap_or_default()),
                warning: false,
                element: Some(index),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Value as V, ValueKind};

    fn descriptor(json: &str) -> Descriptor {
        serde_json::from_str(json).unwrap()
    }

    fn item(pairs: &[(&str, &[&str])]) -> IndexMap<String, InputWire> {
        pairs
            .iter()
            .map(|(k, vs)| {
                let values: Vec<V> = vs
                    .iter()
                    .map(|t| V {
                        text: (*t).to_owned(),
                        kind: ValueKind::Text,
                    })
                    .collect();
                let wire = if values.len() == 1 {
                    InputWire::One(values[0].clone())
                } else {
                    InputWire::List(values)
                };
                ((*k).to_owned(), wire)
            })
            .collect()
    }

    fn rules(d: &Descriptor, pairs: &[(&str, &[&str])]) -> Vec<&'static str> {
        violations(d, &item(pairs)).iter().map(|v| v.rule).collect()
    }

    const BET: &str = r#"{"name":"BET","tool-version":"1.0.0","inputs":[
        {"id":"in","type":"File"},
        {"id":"f","type":"Number","minimum":0,"maximum":1,"optional":true,"default-value":0.5},
        {"id":"g","type":"Number","minimum":-1,"maximum":1,"exclusive-minimum":true,"optional":true},
        {"id":"c","type":"Number","list":true,"min-list-entries":3,"max-list-entries":3,"optional":true},
        {"id":"robust","type":"Flag","optional":true},
        {"id":"eyes","type":"Flag","optional":true},
        {"id":"mode","type":"String","value-choices":["fast","slow"],"optional":true},
        {"id":"mask","type":"String","optional":true,"requires-inputs":["robust"]},
        {"id":"surf","type":"String","optional":true,"disables-inputs":["mode"]}],
      "groups":[{"id":"variant","members":["robust","eyes"],"mutually-exclusive":true}]}"#;

    #[test]
    fn ranges_choices_and_lengths() {
        let d = descriptor(BET);
        assert!(rules(&d, &[("in", &["x"])]).is_empty());
        assert_eq!(rules(&d, &[("f", &["1.5"])]), ["maximum"]);
        assert_eq!(rules(&d, &[("f", &["1"])]), Vec::<&str>::new());
        assert_eq!(rules(&d, &[("g", &["-1"])]), ["exclusive-minimum"]);
        assert_eq!(rules(&d, &[("c", &["1", "2"])]), ["min-list-entries"]);
        assert!(violations(&d, &item(&[("c", &["1", "2"])]))[0].warning);
        assert_eq!(rules(&d, &[("mode", &["medium"])]), ["value-choices"]);
        assert!(rules(&d, &[("mode", &["fast"])]).is_empty());
    }

    #[test]
    fn flags_requires_disables_and_groups() {
        let d = descriptor(BET);
        assert_eq!(rules(&d, &[("mask", &["m"])]), ["requires-inputs"]);
        assert_eq!(
            rules(&d, &[("mask", &["m"]), ("robust", &["false"])]),
            ["requires-inputs"]
        );
        assert!(rules(&d, &[("mask", &["m"]), ("robust", &["true"])]).is_empty());
        assert_eq!(
            rules(&d, &[("robust", &["true"]), ("eyes", &["true"])]),
            ["mutually-exclusive"]
        );
        assert!(rules(&d, &[("robust", &["true"]), ("eyes", &["false"])]).is_empty());
        assert_eq!(
            rules(&d, &[("surf", &["s"]), ("mode", &["fast"])]),
            ["disables-inputs"]
        );
    }

    #[test]
    fn defaults_take_part_as_in_bosh() {
        let d = descriptor(
            r#"{"name":"T","tool-version":"1","inputs":[
            {"id":"a","type":"String","optional":true,"default-value":"x"},
            {"id":"b","type":"String","optional":true,"disables-inputs":["a"]},
            {"id":"c","type":"String","optional":true}],
            "groups":[{"id":"g","members":["a","c"],"one-is-required":true},
                      {"id":"h","members":["b","c"],"all-or-none":true}]}"#,
        );
        assert!(rules(&d, &[]).is_empty());
        assert_eq!(
            rules(&d, &[("b", &["y"])]),
            ["disables-inputs", "all-or-none"]
        );
        let d2 = descriptor(&d_without_default());
        assert_eq!(rules(&d2, &[]), ["one-is-required"]);
    }

    fn d_without_default() -> String {
        r#"{"name":"T","tool-version":"1","inputs":[
            {"id":"a","type":"String","optional":true},{"id":"c","type":"Flag","optional":true}],
            "groups":[{"id":"g","members":["a","c"],"one-is-required":true}]}"#
            .to_owned()
    }
}
