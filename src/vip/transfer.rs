//! Moving file contents to and from VIP: uploads and downloads streamed from and to disk,
//! with a progress callback per chunk. They are apart from the typed calls because they run
//! on the client's transfer connection (a read timeout instead of a whole-call timeout, as
//! VIP stages files from the grid for up to 45 s before the first byte) and each retry
//! starts the file over.
//!
//! An upload hashes (SHA-256) the chunks it sends as they go, so a file is read once: the
//! digest returned is of exactly the bytes VIP received. A download hashes what it writes,
//! the same way.
//!
//! An upload whose answer leaves its outcome unclear (VIP's "too long", an 8000, a 5xx, a
//! connection cut after the body) is settled by looking at VIP's copy before sending the file
//! again (docs/vip.md#upload): VIP's transfer to the grid carries on after it answers.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::client::{Client, OnBytes, call_kind, check_status, transport_error};
use super::encode;
use super::retry::Class;
use super::vip_error::{TransportKind, VipError};

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

/// One file to send.
pub struct Upload<'a> {
    /// The local file.
    pub local: &'a Path,
    /// Where on VIP, named as VIP will keep it (docs/vip.md#sanitising).
    pub remote: &'a str,
    /// Told of each chunk sent (a retry starts over).
    pub on_bytes: Option<OnBytes>,
    /// Whether to hash what is sent (not when the caller knows the hash already, and checks
    /// the file's size and time again afterwards).
    pub hash: bool,
    /// Whether nothing was at `remote` when the send began. Only then does a file of the
    /// expected size found there after an unclear answer prove that this send arrived: an
    /// older copy deleted just before (a replacement) may still show, VIP deleting in the
    /// background (docs/vip.md#delete), and may have the same size.
    pub fresh: bool,
}

/// A file VIP holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The hex SHA-256 of what was sent, when asked for.
    pub sha256: Option<String>,
    /// VIP's answer was unclear and its copy was then found whole (by its size): the file
    /// was not sent again, and VIP's size is checked already.
    pub found: bool,
}

/// Looks at VIP's copy after the last send's answer was unclear, before giving up: the
/// file may land a moment after VIP gave up waiting for the grid (docs/vip.md#upload).
/// Five looks over about 4 s (at once, then after 0.25, 0.5, 1 and 2 s more): enough for
/// a transfer that was all but done, little enough not to hold a transfer slot long. A file
/// that lands later still is found by the run's next look at the path.
const ARRIVAL_PAUSES: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Whether a failed send may have stored the file all the same, the whole body having gone
/// out: VIP's "Aborting operation : too long" (whatever code it comes with; today 8000),
/// any 8000 (VIP's transfer to the grid failed or timed out, docs/vip.md#generic-8000), a
/// 5xx, or a connection cut (or silent) after the body. A refusal with another code, an
/// access error, a proxy's 4xx: VIP did not store it.
fn outcome_unclear(e: &VipError) -> bool {
    match e {
        VipError::Api {
            status,
            code,
            message,
            ..
        } => {
            *status >= 500
                || *code == Some(8000)
                || message.to_ascii_lowercase().contains("too long")
        }
        VipError::Transport { kind, .. } => !matches!(kind, TransportKind::Connect(_)),
        _ => false,
    }
}

impl Client {
    /// Uploads the local file `local` to `remote` (where nothing is yet), streamed (the file
    /// is re-read on a retry); returns the hex SHA-256 of what was sent. VIP renames the last
    /// segment (docs/vip.md#sanitising): the caller names the file as VIP will.
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
        let sent = self
            .put_file(Upload {
                local,
                remote,
                on_bytes,
                hash: true,
                fresh: true,
            })
            .await?;
        Ok(sent.sha256.unwrap_or_default())
    }

    /// Sends `upload.local` to `upload.remote`, streamed, hashing what is read when asked.
    ///
    /// The call is retried as an idempotent write (the file re-read from the start). When an
    /// attempt sent the whole body and its outcome is unclear ([`outcome_unclear`]) VIP may
    /// hold the file all the same, as its transfer to the grid carries on after it answered:
    /// before sending it again, and once more after the last attempt (over
    /// [`ARRIVAL_PAUSES`]), VIP's copy is looked at, and one of the expected size is taken
    /// as this send's when the path was `fresh`. Never a second copy sent on top of one
    /// that arrived.
    pub async fn put_file(&self, upload: Upload<'_>) -> Result<Uploaded, VipError> {
        let operation = format!("PUT {}", encode::data_path(upload.remote));
        // The file's size, the hash and the error of the last attempt whose whole body went
        // out without a clear answer (taken by the look that follows it).
        let unclear: std::sync::Mutex<Option<(u64, Sha256, VipError)>> =
            std::sync::Mutex::default();
        let take_unclear = || {
            unclear
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        };
        let found = |len: u64, hasher: Sha256, failed: &VipError| {
            tracing::warn!(
                "{failed}; VIP holds the whole file ({len} bytes) all the same: not sent again"
            );
            Uploaded {
                sha256: upload.hash.then(|| format!("{:x}", hasher.finalize())),
                found: true,
            }
        };
        let attempt = || async {
            if let Some((len, hasher, failed)) = take_unclear()
                && upload.fresh
                && self.holds(upload.remote, len).await
            {
                return Ok(found(len, hasher, &failed));
            }
            let (hasher, unclear_send) = self.send_once_file(&upload, &operation).await?;
            match unclear_send {
                None => Ok(Uploaded {
                    sha256: upload.hash.then(|| format!("{:x}", hasher.finalize())),
                    found: false,
                }),
                Some((len, e)) => {
                    *unclear
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Some((len, hasher, e.clone()));
                    Err(e)
                }
            }
        };
        let failed = match self.retry.run(Class::IdempotentWrite, attempt).await {
            Ok(sent) => return Ok(sent),
            Err(e) => e,
        };
        if let Some((len, hasher, _)) = take_unclear()
            && upload.fresh
        {
            for pause in ARRIVAL_PAUSES {
                tokio::time::sleep(pause).await;
                if self.holds(upload.remote, len).await {
                    return Ok(found(len, hasher, &failed));
                }
            }
        }
        Err(failed)
    }

    /// Whether VIP holds a file of `len` bytes at `remote` (a failed look: no).
    async fn holds(&self, remote: &str, len: u64) -> bool {
        match self.properties(remote).await {
            Ok(p) => p.exists && p.is_directory != Some(true) && p.size == Some(len),
            Err(e) => {
                tracing::debug!("{e}");
                false
            }
        }
    }

    /// One attempt at sending `upload`: the hash of what was read, or the error. An error
    /// after the whole body went out whose outcome is unclear comes back as `Ok` with the
    /// file's size and the error beside the hash, so the caller can look for the file.
    async fn send_once_file(
        &self,
        upload: &Upload<'_>,
        operation: &str,
    ) -> Result<(Sha256, Option<(u64, VipError)>), VipError> {
        let local = upload.local;
        let file = std::fs::File::open(local).map_err(|e| VipError::Local {
            operation: operation.to_owned(),
            detail: format!("cannot read {}: {e}", local.display()),
        })?;
        let len = file
            .metadata()
            .map_err(|e| VipError::Local {
                operation: operation.to_owned(),
                detail: e.to_string(),
            })?
            .len();
        if len == 0 {
            return Err(VipError::Local {
                operation: operation.to_owned(),
                detail: format!(
                    "{} is empty, and VIP stores an empty upload as a folder",
                    local.display()
                ),
            });
        }
        // Each attempt hashes from the start, as it re-reads the file from the start.
        let (chunks, reading) = read_hashing(file, upload.hash);
        let tell = upload.on_bytes.clone();
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
        let answered = match self
            .transfer
            .put(format!("{}{}", self.base, encode::data_path(upload.remote)))
            .header("apikey", self.key.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await
        {
            Ok(response) => {
                self.hear(response.status());
                check_status(operation, response).await.map(drop)
            }
            Err(e) => Err(transport_error(operation, &e)),
        };
        let whole = sent.load(std::sync::atomic::Ordering::Relaxed) == len;
        let hashed = || async {
            reading.await.map_err(|_| VipError::Local {
                operation: operation.to_owned(),
                detail: "the upload's hash was lost".into(),
            })
        };
        match answered {
            Ok(()) if whole => Ok((hashed().await?, None)),
            // VIP answered before reading the whole body: what it has is not the file.
            Ok(()) => Err(VipError::Local {
                operation: operation.to_owned(),
                detail: format!(
                    "sent {} of {len} bytes of {}",
                    sent.load(std::sync::atomic::Ordering::Relaxed),
                    local.display()
                ),
            }),
            Err(e) if whole && outcome_unclear(&e) => Ok((hashed().await?, Some((len, e)))),
            Err(e) => Err(e),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<i64>, message: &str) -> VipError {
        VipError::Api {
            operation: "PUT /path/vip/Home/a".into(),
            status,
            code,
            message: message.into(),
        }
    }

    #[test]
    fn which_failed_sends_may_have_stored_the_file() {
        let transport = |kind| VipError::Transport {
            operation: "PUT /path/vip/Home/a".into(),
            kind,
        };
        // VIP gave up waiting for the grid, under 8000 or under a code of its own.
        assert!(outcome_unclear(&api(
            400,
            Some(8000),
            "Aborting operation : too long"
        )));
        assert!(outcome_unclear(&api(
            400,
            Some(8021),
            "Aborting operation : too long"
        )));
        assert!(outcome_unclear(&api(
            400,
            Some(8000),
            "An error has been encountered"
        )));
        assert!(outcome_unclear(&api(502, None, "Bad Gateway")));
        assert!(outcome_unclear(&transport(TransportKind::Timeout)));
        assert!(outcome_unclear(&transport(TransportKind::Broken(
            "reset".into()
        ))));
        // Refused outright, or never sent.
        assert!(!outcome_unclear(&api(
            400,
            Some(8013),
            "Unauthorized data access"
        )));
        assert!(!outcome_unclear(&api(401, Some(8002), "Bad credentials")));
        assert!(!outcome_unclear(&api(
            413,
            None,
            "Request Entity Too Large"
        )));
        assert!(!outcome_unclear(&transport(TransportKind::Connect(
            "refused".into()
        ))));
    }

    #[test]
    fn the_wait_for_a_late_arrival_is_short() {
        let total: Duration = ARRIVAL_PAUSES.iter().sum();
        assert!(total <= Duration::from_secs(5), "{total:?}");
        assert_eq!(
            ARRIVAL_PAUSES[0],
            Duration::ZERO,
            "the first look is at once"
        );
    }
}
