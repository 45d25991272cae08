//! How many jobs one item's execution will have on VIP (docs/vip.md#lists): a list given to a
//! parameter makes one execution whose jobs iterate over the values; lists are crossed, the
//! inputs named in the descriptor's `custom."vip:dot"` are paired element by element (one
//! dimension, their common length), and scalars go to every job.
//!
//! A list for a `list: true` input that is not dotted is counted as one job's value: whether
//! VIP's engine hands such a list to one job or iterates over it is **(open)**
//! (docs/vip.md#lists), and vip-run keeps the reading it has always had (the Boutiques
//! list-length rules then apply to it, as warnings). Dotted inputs iterate whatever their type:
//! pairing is how a descriptor says "one job per pair" (CQUEST's `data_file` and
//! `parameter_file`).
//!
//! Without a descriptor (offline `validate` with no lock file) nothing says which inputs are
//! dotted or lists, so every list is counted as crossed: an upper bound, marked as such.

use super::validated::{InputWire, Item};
use crate::vip::wire::Descriptor;

/// How a list input takes part in the job count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Crossed with the other lists: a factor of its length.
    Crossed,
    /// Paired with the other `vip:dot` inputs: their common length is one factor.
    Paired,
    /// A `list: true` input's value, given whole to every job (the (open) reading of
    /// docs/vip.md#lists).
    Whole,
}

/// One list input of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInput {
    /// The parameter.
    pub name: String,
    /// How many values it has.
    pub len: usize,
    /// How it combines.
    pub role: Role,
}

/// The jobs of one item's execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jobs {
    /// How many (saturating: a count past `u64` is past any limit anyway).
    pub count: u64,
    /// Whether the count is exact (a descriptor was known), else an upper bound.
    pub exact: bool,
    /// The list inputs, in manifest order.
    pub lists: Vec<ListInput>,
}

impl Jobs {
    /// How the count comes about, for a message: "`a` (3 values) × `b` (4 values)", with
    /// paired inputs grouped ("`x` and `y` paired (40 values)").
    pub fn explain(&self) -> String {
        let mut parts = Vec::new();
        let paired: Vec<&ListInput> = self
            .lists
            .iter()
            .filter(|l| l.role == Role::Paired)
            .collect();
        let mut paired_shown = false;
        for l in &self.lists {
            match l.role {
                Role::Crossed => parts.push(format!("`{}` ({} values)", l.name, l.len)),
                Role::Paired if !paired_shown => {
                    paired_shown = true;
                    let names: Vec<String> =
                        paired.iter().map(|p| format!("`{}`", p.name)).collect();
                    parts.push(format!("{} paired ({} values)", names.join(" and "), l.len));
                }
                Role::Paired | Role::Whole => {}
            }
        }
        parts.join(" × ")
    }
}

/// The jobs of `item`, knowing `descriptor` if given (else an upper bound).
pub fn of_item(item: &Item, descriptor: Option<&Descriptor>) -> Jobs {
    // Read from the descriptor at the first list only: most items have none.
    let mut dots: Option<Vec<String>> = None;
    let mut lists = Vec::new();
    let mut count: u64 = 1;
    let mut dot_length: Option<usize> = None;
    for (name, wire) in &item.inputs {
        let InputWire::List(values) = wire else {
            continue;
        };
        let len = values.len();
        let role = match descriptor {
            Some(d) if dots.get_or_insert_with(|| d.dot_inputs()).contains(name) => Role::Paired,
            Some(d) if d.input(name).is_some_and(|i| i.list) => Role::Whole,
            // Without a descriptor, or an ordinary parameter: crossed.
            _ => Role::Crossed,
        };
        match role {
            Role::Crossed => count = count.saturating_mul(len as u64),
            // Unequal dot lengths are refused on their own (against's `vip:dot` check);
            // the longest is what the count can at most be.
            Role::Paired => dot_length = Some(dot_length.map_or(len, |n| n.max(len))),
            Role::Whole => {}
        }
        lists.push(ListInput {
            name: name.clone(),
            len,
            role,
        });
    }
    if let Some(n) = dot_length {
        count = count.saturating_mul(n as u64);
    }
    Jobs {
        count,
        exact: descriptor.is_some() || lists.is_empty(),
        lists,
    }
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;

    use super::*;
    use crate::manifest::validated::{Value, ValueKind};

    fn item(pairs: &[(&str, usize)]) -> Item {
        let value = |n: usize| Value {
            text: format!("v{n}"),
            kind: ValueKind::Text,
        };
        let inputs: IndexMap<String, InputWire> = pairs
            .iter()
            .map(|(k, n)| {
                let wire = if *n == 0 {
                    InputWire::One(value(0))
                } else {
                    InputWire::List((0..*n).map(value).collect())
                };
                ((*k).to_owned(), wire)
            })
            .collect();
        Item {
            key: "main".into(),
            index: 0,
            variables: IndexMap::new(),
            inputs,
            results_location: String::new(),
            download: None,
            fingerprint: String::new(),
            path_fingerprint: String::new(),
            execution_name: String::new(),
            expect: Vec::new(),
            collect: Vec::new(),
        }
    }

    fn descriptor() -> Descriptor {
        serde_json::from_str(
            r#"{"name":"T","tool-version":"1","inputs":[
            {"id":"a","type":"File"},{"id":"b","type":"Number"},
            {"id":"d1","type":"File","list":true},{"id":"d2","type":"File"},
            {"id":"l","type":"Number","list":true},{"id":"s","type":"String"}],
            "custom":{"vip:dot":["d1","d2"]}}"#,
        )
        .unwrap()
    }

    #[test]
    fn lists_cross_and_dots_pair() {
        let d = descriptor();
        // Scalars only: one job.
        let jobs = of_item(&item(&[("a", 0), ("s", 0)]), Some(&d));
        assert_eq!((jobs.count, jobs.exact), (1, true));
        // 3 × 4 crossed.
        assert_eq!(of_item(&item(&[("a", 3), ("b", 4)]), Some(&d)).count, 12);
        // Paired dots count once, then crossed with the rest: 2 × 5.
        let jobs = of_item(&item(&[("a", 2), ("d1", 5), ("s", 0), ("d2", 5)]), Some(&d));
        assert_eq!(jobs.count, 10);
        assert_eq!(
            jobs.explain(),
            "`a` (2 values) × `d1` and `d2` paired (5 values)"
        );
        // A `list: true` input's list is one job's value.
        let jobs = of_item(&item(&[("l", 3), ("b", 2)]), Some(&d));
        assert_eq!(jobs.count, 2);
        assert_eq!(jobs.lists[0].role, Role::Whole);
    }

    #[test]
    fn without_a_descriptor_every_list_is_crossed_and_the_count_is_a_bound() {
        let jobs = of_item(&item(&[("d1", 5), ("d2", 5), ("s", 0)]), None);
        assert_eq!((jobs.count, jobs.exact), (25, false));
        let jobs = of_item(&item(&[("s", 0)]), None);
        assert_eq!((jobs.count, jobs.exact), (1, true));
    }

    #[test]
    fn huge_products_saturate() {
        let many: Vec<(String, usize)> = (0..5).map(|i| (format!("x{i}"), 10_000)).collect();
        let pairs: Vec<(&str, usize)> = many.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        assert_eq!(of_item(&item(&pairs), None).count, u64::MAX);
    }
}
