//! vip-run: run declarative YAML recipes on VIP, the Virtual Imaging Platform.
//!
//! Layers, with dependencies pointing one way: `cli` → `run` → {`manifest`, `vip`, `report`};
//! `sandbox` (the VIP simulator) shares only the wire types and rules with `vip`.
//! `main.rs` only calls [`run`] and exits with its code.

pub mod calendar;
pub mod cli;
pub mod duration;
pub mod error;
pub mod exit_code;
pub mod manifest;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod schema;
pub mod vip;

pub use cli::run;
pub use error::Error;
