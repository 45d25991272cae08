//! The integration tests: one binary, driving the real `vip-run` executable.

mod account;
mod arguments;
mod bosh;
mod broken;
mod clean;
mod client;
mod cohorts;
mod collect;
#[cfg(unix)]
mod cron;
mod exact;
mod examples;
mod failures;
mod faults;
mod fuzz;
mod lists;
mod lockfile;
mod logs;
mod notify;
mod online;
mod packaging;
mod provenance;
mod python_client;
mod python_env;
mod record;
mod report;
mod report_browser;
mod results;
mod rules;
mod run;
mod sandbox;
mod sandbox_failures;
mod sandbox_knobs;
mod secrets;
mod signals;
mod snapshots;
mod structure;
mod support;
mod systemd;
#[cfg(unix)]
mod terminal;
mod transfers;
mod upgrade;
mod validate;
