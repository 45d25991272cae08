//! `init`'s placeholders left in: a value that still says `CHANGE-ME` validates (a starter
//! manifest must), but it is surely not what the user means to send, so it warns, at the value.

use serde_saphyr::Location;

use super::findings::Findings;
use crate::manifest::model::{InputValue, Manifest, Scalar};

/// The marker `init` writes where a value is needed.
pub const PLACEHOLDER: &str = "CHANGE-ME";

/// Warns at each value of `m` still holding the placeholder.
pub(super) fn check(out: &mut Findings, m: &Manifest) {
    let mut found: Vec<(String, Location)> = Vec::new();
    if m.group.value.contains(PLACEHOLDER) {
        found.push(("group".into(), m.group.referenced));
    }
    for (name, value) in &m.inputs {
        match &value.value {
            InputValue::Scalar(Scalar::Str(s)) if s.contains(PLACEHOLDER) => {
                found.push((format!("input `{name}`"), value.referenced));
            }
            InputValue::List(items) => {
                for i in items {
                    if matches!(&i.value, Scalar::Str(s) if s.contains(PLACEHOLDER)) {
                        found.push((format!("input `{name}`"), i.referenced));
                    }
                }
            }
            InputValue::Scalar(_) => {}
        }
    }
    for (what, location) in found {
        out.warn(
            location,
            format!("{what} still holds `init`'s `{PLACEHOLDER}` placeholder"),
            "replace it with the real value (or remove an optional input)",
        );
    }
}
