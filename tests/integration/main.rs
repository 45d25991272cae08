//! The integration tests: one binary, driving the real `vip-run` executable.

mod bosh;
mod broken;
mod client;
mod exact;
mod examples;
mod fuzz;
mod lockfile;
mod online;
mod python_client;
mod rules;
mod run;
mod sandbox;
mod secrets;
mod snapshots;
mod support;
#[cfg(unix)]
mod terminal;
mod validate;
