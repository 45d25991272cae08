//! The manifest's JSON Schema, generated from the model (draft-07, for editors).

use schemars::generate::SchemaSettings;

use crate::manifest::Manifest;

/// The schema as pretty JSON with a trailing newline, exactly as committed in `schemas/`.
pub fn manifest_schema() -> String {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Manifest>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serialises");
    text.push('\n');
    text
}
