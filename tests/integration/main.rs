//! The integration tests: one binary, driving the real `vip-run` executable.

mod broken;
mod examples;
mod fuzz;
mod secrets;
mod support;
mod validate;
