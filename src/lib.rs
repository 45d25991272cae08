//! vip-run: run declarative YAML recipes on VIP, the Virtual Imaging Platform.
//!
//! Layers, with dependencies pointing one way: `cli` → `ops` → {`manifest`, `vip`, `report`};
//! `sandbox` (the VIP simulator) shares only the wire types and rules with `vip`.
//! `main.rs` only calls [`main`] and exits with its code.
//!
//! - `cli`: arguments (clap, then validated settings) and dispatch; the one error boundary;
//! - `ops`: every command's flow, the checked manifest, the run's loop, state, locks;
//! - `manifest`: the model, loading, templates, expansion, the offline checks;
//! - `vip`: the CARMIN/VIP client (typed calls, errors, retries, transfers);
//! - `report`: everything users read (diagnostics, progress, summaries, tables, JSON);
//! - `sandbox`: the VIP simulator;
//! - leaves used by all: `error` and `exit_code` (what ends a command), `files` (atomic
//!   writes, file errors), `time` (UTC timestamps).

pub(crate) mod cli;
pub mod duration;
pub mod error;
pub mod exit_code;
pub mod files;
pub mod manifest;
pub(crate) mod ops;
pub mod report;
pub mod sandbox;
pub mod time;
pub mod vip;

pub use cli::main;
pub use error::Error;
