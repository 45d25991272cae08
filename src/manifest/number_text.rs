//! Numbers as the user wrote them (issue 10 §3): YAML reads `08`, `010`, `1e3` and `1.50` as
//! numbers, and printing those back gives `8`, `10`, `1000` and `1.5`, which is not what a
//! recipe naming `run-08` meant. After parsing, every number in `matrix` (values, `include`,
//! `exclude`), `inputs` and the top level of `vars` gets its source text back, read from
//! the parser's span of the scalar (the anchored node's, for an alias). Keys, execution names,
//! templates and input values then use that text; typed checks parse it.
//!
//! Numbers nested deeper inside `vars` (in lists or maps) keep the parsed spelling: the model
//! has no span for them.

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
        && vars.value.values().any(serde_json::Value::is_number)
    {
        restore_vars(&mut vars.value, text);
    }
}

/// `vars` is free-form JSON in the model; a second, narrow parse gives its top-level spans.
fn restore_vars(vars: &mut IndexMap<String, serde_json::Value>, text: &str) {
    #[derive(Deserialize)]
    struct VarsOnly {
        #[serde(default)]
        vars: IndexMap<String, Spanned<serde::de::IgnoredAny>>,
    }
    let Ok(spans) = serde_saphyr::from_str::<VarsOnly>(text) else {
        return;
    };
    for (name, value) in vars.iter_mut() {
        if value.is_number()
            && let Some(w) = spans.vars.get(name).and_then(|s| written(text, s.defined))
        {
            *value = serde_json::Value::String(w.to_owned());
        }
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
}
