//! The manifest's JSON Schema, generated from the model (draft-07, for editors).
//!
//! It lives in the manifest layer because it is the model seen from outside: `vip-run schema`
//! prints it, `schemas/` commits it, and `structure` reads its key lists back, so editors and
//! the second-look key check can never disagree with serde. It depends on the model only.

use schemars::generate::SchemaSettings;

use super::model::Manifest;

/// The schema as pretty JSON with a trailing newline, exactly as committed in `schemas/`.
pub fn manifest_schema() -> String {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Manifest>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serialises");
    text.push('\n');
    text
}
