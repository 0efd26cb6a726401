//! A spawned process's stderr, line by line into the error log, tagged with what it is
//! (backend, slot and pid; or CGI script and pid), and rate-limited: a process that floods
//! stderr cannot fill the disk or slow the server.
//! What is dropped is counted and said once the flood is over.

use std::os::fd::OwnedFd;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// Lines per second logged for one process, in a burst; the rest are counted and dropped.
const LINES_PER_SECOND: u32 = 50;
/// The longest line logged; longer lines are cut.
const MAX_LINE: usize = 4096;

/// Reads `fd` until EOF, logging each line after `tag` (what the process is).
pub(crate) fn forward(fd: OwnedFd, tag: String) {
    let receiver = match tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("{tag}: cannot read stderr: {e}");
            return;
        }
    };
    tokio::spawn(async move {
        let mut lines = BufReader::new(receiver);
        let mut line = Vec::new();
        let mut window_end = tokio::time::Instant::now() + Duration::from_secs(1);
        let mut in_window = 0u32;
        let mut dropped = 0u64;
        loop {
            // Partial lines survive a timeout: read_until appends what it has read to `line`.
            let read = tokio::time::timeout_at(
                window_end,
                (&mut lines)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut line),
            )
            .await;
            if tokio::time::Instant::now() >= window_end {
                if dropped > 0 {
                    tracing::warn!(
                        "{tag}: {dropped} stderr lines dropped (over {LINES_PER_SECOND}/s)"
                    );
                    dropped = 0;
                }
                window_end = tokio::time::Instant::now() + Duration::from_secs(1);
                in_window = 0;
            }
            match read {
                Err(_) => continue,
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => {}
            }
            in_window += 1;
            if in_window > LINES_PER_SECOND {
                dropped += 1;
            } else {
                let text = String::from_utf8_lossy(&line);
                tracing::warn!("{tag} stderr: {}", text.trim_end_matches(['\n', '\r']));
            }
            line.clear();
        }
        if !line.is_empty() {
            let text = String::from_utf8_lossy(&line);
            tracing::warn!("{tag} stderr: {text}");
        }
        if dropped > 0 {
            tracing::warn!("{tag}: {dropped} stderr lines dropped (over {LINES_PER_SECOND}/s)");
        }
    });
}
