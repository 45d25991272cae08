//! An item's identity: its fingerprint, its VIP execution name, and where its local files go
//! on VIP.
//!
//! These strings outlive a run: state files, resumed runs and VIP's execution list match items
//! by them, so each is a pure function of the item's meaning, kept in one place where a
//! change is seen for what it is (a change to every existing run's identity).

use std::path::{Component, Path};

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::expand::hex;
use super::validated::{InputWire, Value, ValueKind};
use crate::vip::rules;

/// Longest item key kept whole in an execution name.
const MAX_KEY_IN_NAME: usize = 60;

impl InputWire {
    /// The value as fingerprinted: a local file counts by where it is uploaded, not by
    /// the local path it was found at.
    #[cfg(test)]
    fn canonical(&self) -> serde_json::Value {
        match self {
            Self::One(v) => serde_json::Value::String(canonical_text(v).into_owned()),
            Self::List(vs) => vs
                .iter()
                .map(|v| serde_json::Value::String(canonical_text(v).into_owned()))
                .collect(),
        }
    }
}

/// One value as fingerprinted (see [`InputWire`]'s `canonical`).
fn canonical_text(v: &Value) -> std::borrow::Cow<'_, str> {
    match &v.kind {
        ValueKind::LocalFile { upload, .. } => format!("upload:{upload}").into(),
        _ => v.text.as_str().into(),
    }
}

/// Where a local file goes under the run's inputs folder on VIP: its path relative to the
/// manifest, each segment named as VIP will store it; files outside the manifest's folder go
/// under `external/<hash>/`.
/// Both paths are canonical.
pub fn upload_path(canonical_dir: &Path, canonical: &Path) -> String {
    let segments: Option<Vec<String>> = canonical.strip_prefix(canonical_dir).ok().map(|rel| {
        rel.components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(rules::sanitize_upload_name(&s.to_string_lossy())),
                _ => None,
            })
            .collect()
    });
    match segments {
        Some(s) if !s.is_empty() => s.join("/"),
        _ => {
            let digest = hex(&Sha256::digest(canonical.to_string_lossy().as_bytes()));
            let base = canonical
                .file_name()
                .map(|n| rules::sanitize_upload_name(&n.to_string_lossy()))
                .unwrap_or_default();
            format!("external/{}/{base}", &digest[..8])
        }
    }
}

/// SHA-256 over the pipeline id and the resolved inputs, sorted by name: the compact JSON
/// `{"pipeline":…,"inputs":{name: value or [values]…}}`, written straight into the hash
/// (the bytes `serde_json` gives that document, without building it: every item of a
/// 10,000-item matrix is fingerprinted when the manifest is read).
pub fn fingerprint(pipeline_id: &str, inputs: &IndexMap<String, InputWire>) -> String {
    fn string(h: &mut HashWriter, s: &str) {
        serde_json::to_writer(&mut *h, s).expect("a string serialises");
    }
    let mut sorted: Vec<(&str, &InputWire)> = inputs.iter().map(|(k, v)| (k.as_str(), v)).collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut h = HashWriter(Sha256::new());
    h.0.update(b"{\"pipeline\":");
    string(&mut h, pipeline_id);
    h.0.update(b",\"inputs\":{");
    for (i, (name, wire)) in sorted.into_iter().enumerate() {
        if i > 0 {
            h.0.update(b",");
        }
        string(&mut h, name);
        h.0.update(b":");
        match wire {
            InputWire::One(v) => string(&mut h, &canonical_text(v)),
            InputWire::List(vs) => {
                h.0.update(b"[");
                for (j, v) in vs.iter().enumerate() {
                    if j > 0 {
                        h.0.update(b",");
                    }
                    string(&mut h, &canonical_text(v));
                }
                h.0.update(b"]");
            }
        }
    }
    h.0.update(b"}}");
    hex(&h.0.finalize())
}

/// Feeds what is written into a SHA-256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `<name>-<key>-<fp6>`, with the key made valid for VIP's name rule ([`safe_key`]).
pub fn execution_name(name: &str, key: &str, fingerprint: &str) -> String {
    format!("{name}-{}-{}", safe_key(key), &fingerprint[..6])
}

/// An item key made valid for VIP's name rule (and so for a folder name): other characters
/// become `_`, and a key that had to be changed (or shortened) gets a hash of its exact text,
/// so distinct keys stay distinct.
pub fn safe_key(key: &str) -> String {
    let mut clean: String = key
        .chars()
        .map(|c| {
            if rules::is_execution_name_char(c) && c != ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean != key || clean.len() > MAX_KEY_IN_NAME {
        clean.truncate(MAX_KEY_IN_NAME - 8);
        let digest = hex(&Sha256::digest(key.as_bytes()));
        clean = format!("{clean}_{}", &digest[..6]);
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fingerprint as first defined: the JSON document built, printed, hashed.
    fn reference(pipeline_id: &str, inputs: &IndexMap<String, InputWire>) -> String {
        let sorted: std::collections::BTreeMap<&str, serde_json::Value> = inputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.canonical()))
            .collect();
        let canonical = serde_json::json!({ "pipeline": pipeline_id, "inputs": sorted });
        hex(&Sha256::digest(canonical.to_string().as_bytes()))
    }

    #[test]
    fn fingerprints_are_the_bytes_of_the_json_document() {
        let text = |t: &str| Value {
            text: t.to_owned(),
            kind: ValueKind::Text,
        };
        let file = Value {
            text: "data/sub-01 é.nii".into(),
            kind: ValueKind::LocalFile {
                path: "data/sub-01 é.nii".into(),
                size: 3,
                upload: "data/sub-01_e.nii".into(),
            },
        };
        let mut inputs = IndexMap::new();
        inputs.insert(
            "zeta".to_owned(),
            InputWire::One(text("a \"quoted\" \\ value\n")),
        );
        inputs.insert(
            "alpha".to_owned(),
            InputWire::List(vec![text("1"), file.clone(), text("µ")]),
        );
        inputs.insert("Beta".to_owned(), InputWire::One(file));
        inputs.insert("empty".to_owned(), InputWire::List(vec![]));
        assert_eq!(fingerprint("X/1.0", &inputs), reference("X/1.0", &inputs));
        assert_eq!(
            fingerprint("", &IndexMap::new()),
            reference("", &IndexMap::new())
        );
    }

    #[test]
    fn execution_names_are_valid_and_distinct_for_lookalike_keys() {
        let fp = "abcdef0123";
        let a = execution_name("study", "sub.01", fp);
        let b = execution_name("study", "sub_01", fp);
        let c = execution_name("study", "sub 01", fp);
        assert!(rules::is_valid_execution_name(&a));
        assert_eq!(b, "study-sub_01-abcdef");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
        let long = execution_name("s", &"x".repeat(200), fp);
        assert!(long.len() < 80);
    }
}
