//! Chunked request bodies for FastCGI: CONTENT_LENGTH must be sent before the body, so a body
//! of unknown length is read first — into memory while small, then into an unlinked temporary
//! file (lighttpd's server.upload-dirs) — and sent from there. Memory stays bounded whatever
//! the body size.

use std::io;
use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::http::client_body::ClientBody;
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body_util::BodyExt;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::RequestBody;

/// Writing spooled bodies: failures (a full disk) are logged once per run.
static SPOOL: LazyLock<crate::log::Outage> =
    LazyLock::new(|| crate::log::Outage::new("spooling request bodies (upload_dir)"));

/// Bodies up to this size stay in memory.
pub(crate) const MEMORY_LIMIT: usize = 64 << 10;

/// Creates an unlinked temporary file in `dir`.
fn temp_file(dir: &Path) -> io::Result<std::fs::File> {
    static N: AtomicU64 = AtomicU64::new(0);
    loop {
        let path = dir.join(format!(
            "relight-upload-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads a whole body of unknown length, at most `limit` bytes, and returns it with its
/// length; the error is the status to answer with: 503 while the upload directory's disk is
/// full (the client may try again), 500 when it cannot be written for another reason.
pub(crate) async fn spool(
    mut body: ClientBody,
    limit: u64,
    timeout: Duration,
    dir: &Path,
) -> Result<(RequestBody, u64), StatusCode> {
    let mut mem = BytesMut::new();
    let mut file: Option<tokio::fs::File> = None;
    let mut total = 0u64;
    loop {
        let frame = tokio::time::timeout(timeout, body.frame())
            .await
            .map_err(|_| StatusCode::REQUEST_TIMEOUT)?;
        let data = match frame {
            None => break,
            Some(Err(e)) => {
                if let Some(c) = crate::http::body::ChunkTooLarge::behind(&e) {
                    tracing::info!("chunked request body: {c}: 413");
                    return Err(StatusCode::PAYLOAD_TOO_LARGE);
                }
                tracing::info!("chunked request body: {e}: 400");
                return Err(StatusCode::BAD_REQUEST);
            }
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
        };
        total += data.len() as u64;
        if total > limit {
            tracing::info!("chunked request body over max_request_body ({limit} bytes): 413");
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        if file.is_none() && mem.len() + data.len() > MEMORY_LIMIT {
            let f = temp_file(dir).map_err(|e| failed(&e, dir))?;
            let mut f = tokio::fs::File::from_std(f);
            f.write_all(&mem).await.map_err(|e| failed(&e, dir))?;
            mem.clear();
            file = Some(f);
        }
        match &mut file {
            Some(f) => f.write_all(&data).await.map_err(|e| failed(&e, dir))?,
            None => mem.extend_from_slice(&data),
        }
    }
    match file {
        None => Ok((RequestBody::Buffered(mem.freeze()), total)),
        Some(mut f) => {
            f.rewind().await.map_err(|e| failed(&e, dir))?;
            SPOOL.worked();
            Ok((RequestBody::Spooled(f), total))
        }
    }
}

/// A spool that could not be written in `dir`: counted in its run of failures, and the status
/// to answer with.
fn failed(e: &io::Error, dir: &Path) -> StatusCode {
    let full = matches!(
        e.raw_os_error(),
        Some(nix::libc::ENOSPC | nix::libc::EDQUOT)
    );
    let e = format!("{}: {e}", dir.display());
    if full {
        SPOOL.failed(&e, "request bodies that need the disk are answered 503");
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        SPOOL.failed(&e, "request bodies that need the disk are answered 500");
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// Chunks of a spooled body sent per STDIN record.
pub(crate) const CHUNK: usize = 65528;

/// The next chunk of a spooled file (empty at its end).
pub(crate) async fn read_chunk(f: &mut tokio::fs::File) -> io::Result<Bytes> {
    use tokio::io::AsyncReadExt;
    let mut buf = BytesMut::with_capacity(CHUNK);
    while buf.len() < CHUNK {
        if f.read_buf(&mut buf).await? == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}
