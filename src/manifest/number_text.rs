//! Numbers as the user wrote them: YAML reads `08`, `010`, `1e3` and `1.50` as
//! numbers, and printing those back gives `8`, `10`, `1000` and `1.5`, which is not what a
//! recipe naming `run-08` meant. After parsing, every number in `matrix` (values, `include`,
//! `exclude`), `inputs` and `vars` (at any depth) gets its source text back, read from the
//! parser's span of the scalar (the anchored node's, for an alias). Keys, execution names,
//! templates and input values then use that text; typed checks parse it.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::model::{InputValue, Manifest, Scalar};

/// The text of the plain scalar at `location` in `text`, without an anchor or a tag.
fn written(text: &str, location: Location) -> Option<&str> {
    let span = location.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    let raw = text.get(start..start.checked_add(len)?)?.trim();
    let token = raw.rsplit(char::is_whitespace).next()?;
    let plain = !token.is_empty()
        && !token.starts_with(['"', '\'', '*', '&', '!', '[', '{', '#', '|', '>']);
    plain.then_some(token)
}

fn fix(scalar: &mut Spanned<Scalar>, text: &str) {
    if let Scalar::Number(n) = &mut scalar.value
        && let Some(w) = written(text, scalar.defined)
    {
        w.clone_into(n);
    }
}

/// Puts the written text back into every number of `m` parsed from `text`.
pub fn restore(m: &mut Manifest, text: &str) {
    if let Some(matrix) = &mut m.matrix {
        let matrix = &mut matrix.value;
        for (_, values) in &mut matrix.axes {
            for v in &mut values.value {
                fix(v, text);
            }
        }
        for entry in matrix.include.iter_mut().chain(matrix.exclude.iter_mut()) {
            for v in entry.value.values_mut() {
                fix(v, text);
            }
        }
    }
    for value in m.inputs.values_mut() {
        let defined = value.defined;
        match &mut value.value {
            InputValue::Scalar(Scalar::Number(n)) => {
                if let Some(w) = written(text, defined) {
                    w.clone_into(n);
                }
            }
            InputValue::Scalar(_) => {}
            InputValue::List(items) => {
                for i in items {
                    fix(i, text);
                }
            }
        }
    }
    if let Some(vars) = &mut m.vars
        && vars.value.values().any(has_number)
    {
        restore_vars(&mut vars.value, text);
    }
}

fn has_number(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(_) => true,
        serde_json::Value::Array(items) => items.iter().any(has_number),
        serde_json::Value::Object(map) => map.values().any(has_number),
        _ => false,
    }
}

/// The spans of a YAML tree: `vars` is free-form JSON in the model, so a second, narrow
/// parse gives the span of every node in it.
enum Node {
    Map(IndexMap<String, Spanned<Node>>),
    List(Vec<Spanned<Node>>),
    Leaf,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut map = IndexMap::new();
                while let Some(key) = a.next_key::<String>()? {
                    map.insert(key, a.next_value()?);
                }
                Ok(Node::Map(map))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut list = Vec::new();
                while let Some(item) = a.next_element()? {
                    list.push(item);
                }
                Ok(Node::List(list))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_i128<E>(self, _: i128) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_u128<E>(self, _: u128) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Gives every number in `vars` (at any depth) the text it was written with.
fn restore_vars(vars: &mut IndexMap<String, serde_json::Value>, text: &str) {
    #[derive(Deserialize)]
    struct VarsOnly {
        #[serde(default)]
        vars: IndexMap<String, Spanned<Node>>,
    }
    let Ok(spans) = serde_saphyr::from_str::<VarsOnly>(text) else {
        return;
    };
    for (name, value) in vars.iter_mut() {
        if let Some(span) = spans.vars.get(name) {
            restore_value(value, span, text);
        }
    }
}

fn restore_value(value: &mut serde_json::Value, span: &Spanned<Node>, text: &str) {
    match (value, &span.value) {
        (value @ serde_json::Value::Number(_), Node::Leaf) => {
            if let Some(w) = written(text, span.defined) {
                *value = serde_json::Value::String(w.to_owned());
            }
        }
        (serde_json::Value::Array(items), Node::List(spans)) => {
            for (item, span) in items.iter_mut().zip(spans) {
                restore_value(item, span, text);
            }
        }
        (serde_json::Value::Object(map), Node::Map(spans)) => {
            for (key, item) in map.iter_mut() {
                if let Some(span) = spans.get(key) {
                    restore_value(item, span, text);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_token_is_kept() {
        #[derive(Deserialize)]
        struct T {
            a: Spanned<Scalar>,
            b: Spanned<Scalar>,
            c: Spanned<Scalar>,
        }
        let text = "a: 08\nb: &x 1e3\nc: \"07\"\n";
        let t: T = serde_saphyr::from_str(text).unwrap();
        assert_eq!(written(text, t.a.defined), Some("08"));
        assert_eq!(written(text, t.b.defined), Some("1e3"));
        assert_eq!(written(text, t.c.defined), None);
    }

    #[test]
    fn nested_vars_keep_their_text() {
        let text =
            "vars:\n  top: 08\n  runs: [01, 2.50, {te: 1e3}]\n  deep: {a: {b: 010}}\n  s: \"07\"\n";
        let mut vars: IndexMap<String, serde_json::Value> = serde_json::from_value(
            serde_json::json!({"top": 8, "runs": [1, 2.5, {"te": 1000.0}], "deep": {"a": {"b": 10}}, "s": "07"}),
        )
        .unwrap();
        restore_vars(&mut vars, text);
        assert_eq!(
            serde_json::to_value(&vars).unwrap(),
            serde_json::json!({"top": "08", "runs": ["01", "2.50", {"te": "1e3"}], "deep": {"a": {"b": "010"}}, "s": "07"})
        );
    }
}
