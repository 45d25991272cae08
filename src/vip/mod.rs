//! VIP's REST dialect of CARMIN, as far as vip-run needs it (vip-api.md): the wire types,
//! the rules VIP enforces on names and values, URL encoding, errors and the client.

pub mod client;
pub mod encode;
pub mod error;
pub mod rules;
pub mod wire;

pub use client::{Client, ClientConfig, LogStream, RetryPolicy};
pub use error::{Meaning, VipError};
