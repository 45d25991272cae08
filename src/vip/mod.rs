//! VIP's REST dialect of CARMIN, as far as vip-run needs it (docs/vip.md): the wire types,
//! the rules VIP enforces on names and values, URL encoding, errors and the client.
//!
//! - `wire`: the JSON as it travels, shared with the sandbox;
//! - `rules`: VIP's rules on names and values, shared with the sandbox;
//! - `encode`: paths and queries as VIP decodes them;
//! - `failure`: why a job failed, as a class (from its wrapper's exit code);
//! - `vip_error`: [`VipError`], what a failed call means to a user;
//! - `client`: the [`Client`], its [`ClientConfig`], how a call is sent and read;
//! - `calls`: one typed method of the client per call;
//! - `retry`: the [`RetryPolicy`], which calls are tried again and how;
//! - `health`: what the client heard over time (answers, and since when calls fail);
//! - `transfer`: streamed uploads and downloads, with progress.

pub mod calls;
pub mod client;
pub mod encode;
pub mod failure;
pub mod health;
pub mod retry;
pub mod rules;
pub mod transfer;
pub mod vip_error;
pub mod wire;

pub use calls::LogStream;
pub use client::{Client, ClientConfig, MAX_LIST_LIMIT, OnBytes};
pub use retry::RetryPolicy;
pub use transfer::{Upload, Uploaded};
pub use vip_error::{Meaning, TransportKind, VipError};
