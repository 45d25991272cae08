//! A second look at a manifest whose keys serde rejected, to report every unknown or missing
//! key at once instead of the first one only.
//!
//! serde stops at its first error. When that error is about keys, the file is read again
//! into a plain tree with positions, and the tree's mappings are checked against the
//! schema's key lists (so the lists cannot drift from the model). Valid manifests never pay
//! for this: it runs on the error path only.
//!
//! The help for a missing key lives here too, since both this look and `load`'s report of
//! serde's first error need it: `load` calls in here, never the other way round.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::diagnostic::{ManifestDiagnostic, SourceFile};
use super::{schema, suggest};

/// A YAML node with positions, and nothing else.
enum Node {
    Map(Vec<(Spanned<Key>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

/// A mapping key, whatever its YAML type, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(Key(match value {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML node")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<Key>>()? {
                    entries.push((key, map.next_value::<Spanned<Node>>()?));
                }
                Ok(Node::Map(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut elements = Vec::new();
                while let Some(element) = seq.next_element::<Spanned<Node>>()? {
                    elements.push(element);
                }
                Ok(Node::Seq(elements))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i128<E>(self, _: i128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u128<E>(self, _: u128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// The tags of `api_key` (kept equal to `TaggedKeySource` by a test).
pub const API_KEY_TAGS: [&str; 3] = ["env", "file", "literal"];

/// The keys a mapping allows, and those it requires, read from the generated schema.
struct Keys {
    allowed: Vec<String>,
    required: Vec<String>,
}

fn keys_of(schema: &serde_json::Value, definition: Option<&str>) -> Keys {
    let node = match definition {
        Some(name) => &schema["definitions"][name],
        None => schema,
    };
    let list = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Keys {
        allowed: node["properties"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default(),
        required: list(&node["required"]),
    }
}

/// Every unknown and missing key in `text`, or nothing when the file cannot even be read
/// as a tree (the caller then reports serde's own error).
pub fn key_problems(text: &str, file: &SourceFile) -> Vec<ManifestDiagnostic> {
    let Ok(root) = serde_saphyr::from_str::<Spanned<Node>>(text) else {
        return Vec::new();
    };
    let schema: serde_json::Value =
        serde_json::from_str(&schema::manifest_schema()).expect("the schema is JSON");
    let mut out = Vec::new();
    let Node::Map(entries) = &root.value else {
        return out;
    };
    check(
        entries,
        &keys_of(&schema, None),
        "the manifest",
        root.referenced,
        file,
        &mut out,
    );
    for (key, value) in entries {
        if let (Node::Seq(elements), "collect") = (&value.value, key.value.0.as_str()) {
            let keys = keys_of(&schema, Some("CollectEntry"));
            for element in elements {
                if let Node::Map(inner) = &element.value {
                    check(
                        inner,
                        &keys,
                        "a `collect` entry",
                        element.referenced,
                        file,
                        &mut out,
                    );
                }
            }
            continue;
        }
        let Node::Map(inner) = &value.value else {
            continue;
        };
        let keys = match key.value.0.as_str() {
            "results" => keys_of(&schema, Some("Results")),
            "execution" => keys_of(&schema, Some("Execution")),
            "api_key" => Keys {
                allowed: API_KEY_TAGS.iter().map(|s| (*s).to_owned()).collect(),
                required: Vec::new(),
            },
            _ => continue,
        };
        let what = format!("`{}`", key.value.0);
        check(inner, &keys, &what, value.referenced, file, &mut out);
    }
    out
}

fn check(
    entries: &[(Spanned<Key>, Spanned<Node>)],
    keys: &Keys,
    what: &str,
    at: serde_saphyr::Location,
    file: &SourceFile,
    out: &mut Vec<ManifestDiagnostic>,
) {
    for (key, _) in entries {
        let name = key.value.0.as_str();
        if !keys.allowed.iter().any(|k| k == name) {
            let help = suggest::did_you_mean(name, keys.allowed.iter().map(String::as_str))
                .map_or_else(
                    || {
                        format!(
                            "the keys allowed here are: {}",
                            keys.allowed
                                .iter()
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                    |s| format!("did you mean `{s}`?"),
                );
            out.push(
                ManifestDiagnostic::error(format!("unknown key `{name}`"))
                    .at_location(file, key.referenced)
                    .label("unknown key")
                    .help(help),
            );
        }
    }
    for required in &keys.required {
        if !entries.iter().any(|(k, _)| k.value.0 == *required) {
            out.push(
                ManifestDiagnostic::error(format!("missing required key `{required}` in {what}"))
                    .at_location(file, at)
                    .label(format!("`{required}` is required"))
                    .help(missing_help(required)),
            );
        }
    }
}

/// The `help:` line for a missing required key, whichever check found it missing (serde's
/// first error in `load`, or the second look here).
pub(crate) fn missing_help(field: &str) -> String {
    match field {
        "version" => "start the manifest with `version: 1`".into(),
        "name" => "add `name: my-study` (letters, digits, `_` and `-`)".into(),
        "pipeline_id" => {
            "add `pipeline_id: Name/version`; `vip-run pipelines` lists what you can run".into()
        }
        "group" => "add `group: GROUP`, the VIP application group the pipeline requires".into(),
        "to" => "add `to: [you@example.org]`, the mail's recipients".into(),
        "from" => "add `from: vip-run@example.org`, the mail's sender".into(),
        "host" => "add `host: smtp.example.org`, the SMTP relay".into(),
        other => format!("add `{other}: …`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_tags_match_the_schema() {
        let schema: serde_json::Value = serde_json::from_str(&schema::manifest_schema()).unwrap();
        let text = schema["definitions"]["TaggedKeySource"].to_string();
        for tag in API_KEY_TAGS {
            assert!(
                text.contains(&format!("\"{tag}\"")),
                "{tag} missing from {text}"
            );
        }
    }

    #[test]
    fn finds_every_unknown_and_missing_key() {
        let text = "version: 1\nnme: x\npipline_id: A/1\ngroup: G\nexecution:\n  retrys: 2\n  timeout: 1h\nresults:\n  downlaod: x\ncollect:\n  - { form: a.csv, to: b.csv }\n";
        let file = SourceFile::new(std::path::Path::new("s.yaml"), text);
        let problems: Vec<String> = key_problems(text, &file)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            problems,
            [
                "s.yaml:2:1: unknown key `nme`",
                "s.yaml:3:1: unknown key `pipline_id`",
                "s.yaml:1:1: missing required key `name` in the manifest",
                "s.yaml:1:1: missing required key `pipeline_id` in the manifest",
                "s.yaml:6:3: unknown key `retrys`",
                "s.yaml:9:3: unknown key `downlaod`",
                "s.yaml:11:7: unknown key `form`",
                "s.yaml:11:5: missing required key `from` in a `collect` entry",
            ]
        );
    }
}
