//! The manifest: its model, loading, templates, expansion into items, and every offline check.
//!
//! `load` is the whole offline half of a run: it turns a path into a [`Validated`] manifest
//! (or every problem found, pointing into the file). Nothing here touches the network or
//! reads the API key.

pub mod api_key;
pub mod diagnostic;
pub use crate::duration;
pub mod expand;
pub mod load;
pub mod model;
pub mod secrets;
pub mod structure;
pub mod suggest;
pub mod template;
pub mod validate;

pub use diagnostic::{ManifestDiagnostic, ManifestErrors, SourceFile};
pub use model::Manifest;
pub use validate::{InputWire, Item, LoadOptions, Validated, Value, ValueKind, load};
