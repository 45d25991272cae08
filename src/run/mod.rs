//! Orchestration: reaching VIP (server, key, the in-process sandbox) and the pre-flight
//! checks that run before anything is uploaded or launched.

pub mod connect;
pub mod engine;
pub mod extract;
pub mod lock;
pub mod preflight;
pub mod state;
pub mod time;

pub use connect::{ConnectOptions, Connection};
