//! The integration tests: one binary, driving the real `vip-run` executable.

mod arguments;
mod broken;
mod clean;
mod client;
mod cohorts;
mod examples;
mod faults;
mod fuzz;
mod logs;
mod online;
mod provenance;
mod python_client;
mod run;
mod sandbox;
mod secrets;
mod snapshots;
mod support;
#[cfg(unix)]
mod terminal;
mod validate;
