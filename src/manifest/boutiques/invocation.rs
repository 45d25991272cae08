//! Checking one invocation (an item's values, plus the descriptor's defaults) against every
//! rule of its Boutiques descriptor. What is known of the descriptor alone (where each input
//! is, its default, whether it is a Flag) is worked out once in [`Rules`], so a
//! 10,000-item matrix pays only for its values.

use std::collections::HashMap;

use indexmap::IndexMap;

use super::{choices_text, default_text, is_choice, is_flag, members, range_text};
use crate::manifest::validated::{InputWire, Value as ManifestValue};
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

/// The values an input has in the invocation.
#[derive(Clone, Copy)]
enum Texts<'a> {
    /// As the manifest gives them.
    Given(&'a [ManifestValue]),
    /// The descriptor's default.
    Default(&'a str),
}

impl<'a> Texts<'a> {
    fn len(self) -> usize {
        match self {
            Self::Given(v) => v.len(),
            Self::Default(_) => 1,
        }
    }

    fn first(self) -> Option<&'a str> {
        self.iter().next()
    }

    fn iter(self) -> impl Iterator<Item = &'a str> {
        let (given, default) = match self {
            Self::Given(v) => (v, None),
            Self::Default(t) => (&[][..], Some(t)),
        };
        given.iter().map(|v| v.text.as_str()).chain(default)
    }
}

/// An input's value in the invocation: as given by the manifest, or the descriptor's default.
#[derive(Clone, Copy)]
struct Given<'a> {
    texts: Texts<'a>,
    defaulted: bool,
}

/// A descriptor, ready to check invocations against.
pub struct Rules<'d> {
    descriptor: &'d Descriptor,
    /// Input id → its slot (the position of the first input of that id).
    slots: HashMap<&'d str, usize>,
    /// Each input's slot (by position in the descriptor).
    slot_of: Vec<usize>,
    /// Each input's default, as text.
    defaults: Vec<Option<String>>,
    /// What each input disables when active: its `disables-inputs`, then the other members
    /// of its mutually exclusive groups (with the group).
    disables: Vec<Vec<(&'d str, Option<&'d str>)>>,
}

impl<'d> Rules<'d> {
    /// Works out what the descriptor alone says.
    pub fn new(descriptor: &'d Descriptor) -> Self {
        let mut slots = HashMap::with_capacity(descriptor.inputs.len());
        for (n, i) in descriptor.inputs.iter().enumerate() {
            slots.entry(i.id.as_str()).or_insert(n);
        }
        let slot_of = descriptor
            .inputs
            .iter()
            .map(|i| slots[i.id.as_str()])
            .collect();
        let defaults = descriptor
            .inputs
            .iter()
            .map(|i| default_text(&i.default_value))
            .collect();
        let disables = descriptor
            .inputs
            .iter()
            .map(|i| {
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
                disabled
            })
            .collect();
        Self {
            descriptor,
            slots,
            slot_of,
            defaults,
            disables,
        }
    }

    fn given<'g>(&self, given: &'g [Option<Given<'g>>], id: &str) -> Option<&'g Given<'g>> {
        self.slots.get(id).and_then(|&n| given[n].as_ref())
    }

    fn is_flag(&self, id: &str) -> bool {
        self.slots
            .get(id)
            .is_some_and(|&n| is_flag(&self.descriptor.inputs[n]))
    }

    fn position(&self, id: &str) -> usize {
        self.slots.get(id).copied().unwrap_or(usize::MAX)
    }

    /// Every rule that the invocation made of `inputs` (plus the descriptor's defaults)
    /// breaks, in descriptor order.
    pub fn violations(&self, inputs: &IndexMap<String, InputWire>) -> Vec<Violation> {
        let descriptor = self.descriptor;
        let mut given: Vec<Option<Given<'_>>> = vec![None; descriptor.inputs.len()];
        for (name, wire) in inputs {
            if let Some(&n) = self.slots.get(name.as_str()) {
                given[n] = Some(Given {
                    texts: Texts::Given(wire.values()),
                    defaulted: false,
                });
            }
        }
        for (n, default) in self.defaults.iter().enumerate() {
            let slot = self.slot_of[n];
            if given[slot].is_none()
                && let Some(t) = default
            {
                given[slot] = Some(Given {
                    texts: Texts::Default(t),
                    defaulted: true,
                });
            }
        }
        let given = &given[..];
        // Given, and (for a Flag) true: what `requires-inputs` and `one-is-required` need, and
        // what makes an input disable others.
        let active = |id: &str| -> bool {
            self.given(given, id)
                .is_some_and(|g| !self.is_flag(id) || g.texts.first() == Some("true"))
        };
        let how = |id: &str| -> &'static str {
            if self.given(given, id).is_some_and(|g| g.defaulted) {
                " (by its default)"
            } else {
                ""
            }
        };

        // The same, by position in the descriptor (no look-up by id).
        let given_at = |n: usize| given[self.slot_of[n]].as_ref();
        let active_at = |n: usize| {
            given_at(n).is_some_and(|g| {
                !is_flag(&descriptor.inputs[self.slot_of[n]]) || g.texts.first() == Some("true")
            })
        };

        let mut out = Vec::new();
        for (n, i) in descriptor.inputs.iter().enumerate() {
            let Some(g) = given_at(n) else {
                continue;
            };
            if !g.defaulted {
                values(i, g.texts, &mut out);
            }
        }

        // requires-inputs, disables-inputs and mutually exclusive groups.
        for (n, i) in descriptor.inputs.iter().enumerate() {
            if !active_at(n) {
                continue;
            }
            for r in &i.requires_inputs {
                if let Some(group) = self.descriptor.groups.iter().find(|g| &g.id == r) {
                    if !group.members.iter().any(|m| self.given(given, m).is_some()) {
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
                    let flag = self.is_flag(r);
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
            for &(d, group) in &self.disables[n] {
                let Some(gd) = self.given(given, d) else {
                    continue;
                };
                let flag = self.is_flag(d);
                if flag && gd.texts.first() != Some("true") {
                    continue;
                }
                // A pair of mutually exclusive inputs is reported once, at the later one.
                if group.is_some() && self.position(d) < self.position(&i.id) {
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
                    input: if self.given(given, d).is_some_and(|x| !x.defaulted) {
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

        for group in &self.descriptor.groups {
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
                    .filter(|m| self.given(given, m).is_some())
                    .collect();
                if !present.is_empty() && present.len() < group.members.len() {
                    let missing: Vec<String> = group
                        .members
                        .iter()
                        .filter(|m| self.given(given, m).is_none())
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
}

/// Every rule of `descriptor` that the invocation made of `inputs` (plus the descriptor's
/// defaults) breaks, in descriptor order. To check many items, make [`Rules`] once.
pub fn violations(descriptor: &Descriptor, inputs: &IndexMap<String, InputWire>) -> Vec<Violation> {
    Rules::new(descriptor).violations(inputs)
}

/// The rules on the values themselves: choices, range, list length.
fn values(i: &DescriptorInput, texts: Texts<'_>, out: &mut Vec<Violation>) {
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
                help: "whether VIP hands a list input's values to one job or runs one job per value is not documented (docs/vip.md#lists), so this is a warning; Boutiques would refuse it as one invocation: give the number of values the tool expects".to_owned(),
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
