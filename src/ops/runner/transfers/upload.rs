//! Sending one input file, on a transfer task of its own (see `pool`): VIP's copy deleted
//! first when it is to be replaced, the file streamed and hashed in the same pass, then the
//! size VIP stored checked. What to send is decided by the tracker (`decide`): a file already
//! on VIP with the same size and SHA-256 (as recorded when it was sent) is not sent again.
//! A send whose answer was unclear (VIP's "Aborting operation : too long", an 8000, a 5xx, a
//! cut connection) is settled by the client ([`Client::put_file`]): VIP's copy is looked at
//! before anything is sent again, and a whole one is recorded as sent.

use tokio::sync::Semaphore;

use crate::error::Error;
use crate::report::progress::ByteBar;
use crate::vip::client::Client;
use crate::vip::transfer::Upload;

use super::pool::UploadJob;

/// Sends one file (a transfer task): VIP's copy deleted first when it is to be replaced
/// (VIP does not overwrite reliably), the file streamed and hashed in the same pass while
/// one of the pool's `bytes` permits is held, then the size VIP stored checked (the one call
/// besides the transfer). Returns the SHA-256.
pub(super) async fn send_file(
    client: &Client,
    bytes: &Semaphore,
    job: &UploadJob,
    bar: Option<ByteBar>,
) -> Result<String, Error> {
    if job.replace {
        client.delete_path(&job.remote).await?;
    }
    let sent = {
        let _moving = bytes.acquire().await.expect("the pool never closes it");
        if let Some(bar) = &bar {
            bar.grow(job.size);
        }
        client
            .put_file(Upload {
                local: &job.local,
                remote: &job.remote,
                on_bytes: bar.as_ref().map(ByteBar::on_bytes),
                // Hashed already: sent without hashing again, then checked unchanged (same
                // size and time), so the recorded hash is of what was sent.
                hash: job.sha.is_none(),
                // A replaced copy may still show (VIP deletes in the background): its size
                // would prove nothing after an unclear answer.
                fresh: !job.replace,
            })
            .await?
    };
    let sha = match (&job.sha, sent.sha256) {
        (Some(sha), _) => {
            let now = std::fs::metadata(&job.local).ok();
            if now.as_ref().map(std::fs::Metadata::len) != Some(job.size)
                || now.as_ref().and_then(crate::files::mtime_ms) != job.mtime
            {
                return Err(Error::Vip(crate::vip::VipError::Local {
                    operation: format!("PUT {}", job.remote),
                    detail: format!(
                        "{} changed while it was sent; it is sent again",
                        job.local.display()
                    ),
                }));
            }
            sha.clone()
        }
        (None, sha) => sha.expect("asked for"),
    };
    if sent.found {
        // VIP's size was just checked by the look that found it.
        return Ok(sha);
    }
    let check = client.properties(&job.remote).await?;
    if check.size != Some(job.size) {
        return Err(Error::UploadIncomplete {
            local: job.local.display().to_string(),
            size: job.size,
            stored: check.size.unwrap_or(0),
            remote: job.remote.clone(),
        });
    }
    Ok(sha)
}
