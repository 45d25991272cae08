//! The manifest: its model, loading, templates, expansion into items, and every offline check.
//!
//! [`load`] is the whole offline half of a run: it turns a path into a [`Validated`] manifest
//! (or every problem found, pointing into the file). Nothing here touches the network or
//! reads the API key.
//!
//! The layer, in the order a manifest goes through it (dependencies point down this list,
//! never up; `diagnostic`, `suggest` and `secrets` serve them all):
//!
//! - `model` is the raw serde image of the file, and `schema` its generated JSON Schema;
//! - `load` reads the file within limits and parses it, asking `structure` for a second look
//!   when serde rejects keys (every unknown or missing key at once);
//! - `check` runs every offline check and builds the items, with `api_key`
//!   (key sources), `template`, `expand` (matrix and CSV rows), `cohort` (files found by a pattern) and the crate's `duration`
//!   as its tools;
//! - `table_format` says which file names are which tables, for `collect`;
//! - `notify` holds the checked `notify:` channels, and `secret_source` where their secrets
//!   come from (read when a notice is sent);
//! - `identity` names each item (fingerprint, execution name, upload paths);
//! - `validated` holds the result, the types other layers read, and the shared defaults.

pub mod api_key;
pub mod boutiques;
mod check;
pub mod cohort;
pub mod diagnostic;
pub mod expand;
pub mod identity;
pub mod jobs;
pub mod load;
pub mod model;
pub mod notify;
mod number_text;
pub mod schema;
pub mod secret_source;
pub mod secrets;
pub mod sources;
pub mod structure;
pub mod suggest;
pub mod table_format;
pub mod template;
mod validated;

pub use check::load;
pub use diagnostic::{ManifestDiagnostic, ManifestErrors, SourceFile};
pub use model::Manifest;
pub use validated::{
    CollectTable, Content, DEFAULT_DOWNLOAD, DEFAULT_MAX_ITEMS, DEFAULT_RESULTS_LOCATION,
    DEFAULT_SERVER, ExecutionSettings, InputWire, Item, LoadOptions, MAX_NAME_LEN, MAX_TRANSFERS,
    Validated, Value, ValueKind,
};
