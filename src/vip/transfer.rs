//! Moving file contents to and from VIP: uploads and downloads streamed from and to disk,
//! with a progress callback per chunk. They are apart from the typed calls because they run
//! on the client's transfer connection (a read timeout instead of a whole-call timeout, as
//! VIP stages files from the grid for up to 45 s before the first byte) and each retry
//! starts the file over.
//!
//! An upload hashes (SHA-256) the chunks it sends as they go, so a file is read once: the
//! digest returned is of exactly the bytes VIP received. A download hashes what it writes,
//! the same way.

use std::path::Path;

use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::client::{Client, OnBytes, call_kind, check_status, transport_error};
use super::encode;
use super::retry::Class;
use super::vip_error::VipError;

/// Bytes read from disk at a time for an upload (the default 4 KiB costs two thirds of the
/// throughput on loopback).
const TRANSFER_CHUNK: usize = 1024 * 1024;

/// Chunks read ahead of the send: enough to keep the connection busy while the reader
/// thread hashes the next one, little enough to keep memory flat (4 × 1 MiB).
const READ_AHEAD: usize = 4;

/// Bytes of a download written between two flushes to disk (see
/// [`Client::download_with_progress`]): files smaller than this are flushed once, at the end.
const SYNC_EVERY: u64 = 64 * 1024 * 1024;

/// The outcome of a flush to disk run on a blocking thread.
fn flushed(joined: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    joined.map_err(|e| std::io::Error::other(format!("a flush to disk was lost: {e}")))?
}

/// What [`read_hashing`] hands over: the file's chunks, then the hash of what was read.
type Reading = (
    futures_util::stream::BoxStream<'static, std::io::Result<Vec<u8>>>,
    tokio::task::JoinHandle<Sha256>,
);

/// Reads `file` on a blocking thread of its own, hashing each chunk there as it is read, and
/// yields the chunks for a request body: the hash runs beside the send instead of in its way,
/// and each byte is read once and copied once. Stops early when the body is dropped (the
/// server answered before the end); the caller counts what the body handed over.
fn read_hashing(mut file: std::fs::File, hash: bool) -> Reading {
    use std::io::Read as _;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(READ_AHEAD);
    let reading = tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        loop {
            let mut chunk = Vec::with_capacity(TRANSFER_CHUNK);
            match (&mut file)
                .take(TRANSFER_CHUNK as u64)
                .read_to_end(&mut chunk)
            {
                Ok(0) => break,
                Ok(_) => {
                    if hash {
                        hasher.update(&chunk);
                    }
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
        hasher
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (Box::pin(chunks), reading)
}

impl Client {
    /// Uploads the local file `local` to `remote`, streamed (the file is re-read on a retry);
    /// returns the hex SHA-256 of what was sent. VIP renames the last segment
    /// (docs/vip.md#sanitising): the caller names the file as VIP will.
    pub async fn upload(&self, local: &Path, remote: &str) -> Result<String, VipError> {
        self.upload_with_progress(local, remote, None).await
    }

    /// [`Client::upload`], telling `on_bytes` of each chunk sent (a retry starts over).
    pub async fn upload_with_progress(
        &self,
        local: &Path,
        remote: &str,
        on_bytes: Option<OnBytes>,
    ) -> Result<String, VipError> {
        self.send_file(local, remote, on_bytes, true)
            .await
            .map(|h| format!("{:x}", h.finalize()))
    }

    /// [`Client::upload_with_progress`] without hashing what is sent, for a file whose hash
    /// the caller already knows (and whose size and time it checks again afterwards).
    pub async fn upload_known(
        &self,
        local: &Path,
        remote: &str,
        on_bytes: Option<OnBytes>,
    ) -> Result<(), VipError> {
        self.send_file(local, remote, on_bytes, false)
            .await
            .map(drop)
    }

    /// Sends `local` to `remote`, hashing what is read when `hash` is set.
    async fn send_file(
        &self,
        local: &Path,
        remote: &str,
        on_bytes: Option<OnBytes>,
        hash: bool,
    ) -> Result<Sha256, VipError> {
        let operation = format!("PUT {}", encode::data_path(remote));
        let attempt = || async {
            let file = std::fs::File::open(local).map_err(|e| VipError::Local {
                operation: operation.clone(),
                detail: format!("cannot read {}: {e}", local.display()),
            })?;
            let len = file
                .metadata()
                .map_err(|e| VipError::Local {
                    operation: operation.clone(),
                    detail: e.to_string(),
                })?
                .len();
            if len == 0 {
                return Err(VipError::Local {
                    operation: operation.clone(),
                    detail: format!(
                        "{} is empty, and VIP stores an empty upload as a folder",
                        local.display()
                    ),
                });
            }
            // Each attempt hashes from the start, as it re-reads the file from the start.
            let (chunks, reading) = read_hashing(file, hash);
            let tell = on_bytes.clone();
            // What the body actually handed to the connection (the reader runs ahead).
            let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let counted = sent.clone();
            let stream = chunks.inspect(move |chunk| {
                if let Ok(bytes) = chunk {
                    counted.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    if let Some(tell) = &tell {
                        tell(bytes.len() as u64);
                    }
                }
            });
            let body = reqwest::Body::wrap_stream(stream);
            self.count(call_kind("PUT", "/path", &[], false));
            let response = self
                .transfer
                .put(format!("{}{}", self.base, encode::data_path(remote)))
                .header("apikey", self.key.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, len)
                .body(body)
                .send()
                .await
                .map_err(|e| transport_error(&operation, &e))?;
            self.hear(response.status());
            check_status(&operation, response).await?;
            let hasher = reading.await.map_err(|_| VipError::Local {
                operation: operation.clone(),
                detail: "the upload's hash was lost".into(),
            })?;
            let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
            if sent != len {
                // VIP answered before reading the whole body: what it has is not the file.
                return Err(VipError::Local {
                    operation: operation.clone(),
                    detail: format!("sent {sent} of {len} bytes of {}", local.display()),
                });
            }
            Ok(hasher)
        };
        self.retry.run(Class::IdempotentWrite, attempt).await
    }

    /// Downloads `remote` into the local file `dest` (created or truncated), streamed;
    /// returns the bytes written. The caller writes to a `.part` file and checks the size.
    pub async fn download(&self, remote: &str, dest: &Path) -> Result<u64, VipError> {
        Ok(self.download_with_progress(remote, dest, None).await?.0)
    }

    /// [`Client::download`], telling `on_bytes` of each chunk written; returns the bytes
    /// written and their hex SHA-256.
    pub async fn download_with_progress(
        &self,
        remote: &str,
        dest: &Path,
        on_bytes: Option<OnBytes>,
    ) -> Result<(u64, String), VipError> {
        let operation = format!("GET {}", encode::data_path(remote));
        let attempt = || async {
            self.count(call_kind("GET", "/path", &[("action", "content")], false));
            let response = self
                .transfer
                .get(format!(
                    "{}{}{}",
                    self.base,
                    encode::data_path(remote),
                    encode::query(&[("action", "content")])
                ))
                .header("apikey", self.key.clone())
                .send()
                .await
                .map_err(|e| transport_error(&operation, &e))?;
            self.hear(response.status());
            // The status is checked before the file is opened: a failure leaves no file.
            let response = check_status(&operation, response).await?;
            let local = |e: std::io::Error| VipError::Local {
                operation: operation.clone(),
                detail: format!("cannot write {}: {e}", dest.display()),
            };
            let created = tokio::fs::File::create(dest).await.map_err(local)?;
            // The same open file, for the flushes to disk that run beside the writes.
            let syncing =
                std::sync::Arc::new(created.try_clone().await.map_err(local)?.into_std().await);
            // Large writes: each write to a tokio file is a trip to a blocking thread.
            let mut file = tokio::io::BufWriter::with_capacity(4 * TRANSFER_CHUNK, created);
            let mut stream = response.bytes_stream();
            let mut written = 0u64;
            let mut unsynced = 0u64;
            let mut flushing: Option<tokio::task::JoinHandle<std::io::Result<()>>> = None;
            let mut hasher = Sha256::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| transport_error(&operation, &e))?;
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(local)?;
                written += chunk.len() as u64;
                unsynced += chunk.len() as u64;
                if let Some(tell) = &on_bytes {
                    tell(chunk.len() as u64);
                }
                // A big file goes to disk while the rest of it arrives, one flush at a time,
                // so the `fsync` at the end has little left to wait for (it waited for the
                // whole file, after the whole transfer).
                if unsynced >= SYNC_EVERY
                    && flushing
                        .as_ref()
                        .is_none_or(tokio::task::JoinHandle::is_finished)
                {
                    if let Some(done) = flushing.take() {
                        flushed(done.await).map_err(local)?;
                    }
                    file.flush().await.map_err(local)?;
                    let syncing = std::sync::Arc::clone(&syncing);
                    flushing = Some(tokio::task::spawn_blocking(move || syncing.sync_data()));
                    unsynced = 0;
                }
            }
            file.flush().await.map_err(local)?;
            if let Some(done) = flushing.take() {
                flushed(done.await).map_err(local)?;
            }
            file.get_ref().sync_all().await.map_err(local)?;
            Ok((written, format!("{:x}", hasher.finalize())))
        };
        self.retry.run(Class::Read, attempt).await
    }
}
