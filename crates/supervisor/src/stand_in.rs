//! Answering for a `relight spawn` pool whose every process is backing off. The web server in
//! front (nginx) connects to the shared socket itself; with no process to accept, its requests
//! would wait in the listen backlog until its own timeout. While every slot of such a pool
//! backs off, a thread of relight accepts on the socket and answers each FastCGI request with
//! `Status: 503` and `Retry-After`, as `relight -f` answers its own clients; it stops before a
//! process is started again.
//!
//! The socket stays blocking (libfcgi needs it so, and it is never registered with the
//! runtime): the thread polls it with a timeout and accepts only when a connection waits and no
//! process of the pool is alive to take it. One request at a time, each bounded by timeouts.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use fcgi_proto::app::{RequestDecoder, RequestEvent, encode};
use fcgi_proto::{Limits, ProtocolStatus};

/// How often the thread looks whether it must stop.
const POLL: Duration = Duration::from_millis(100);
/// The longest one FastCGI connection may take to send its request or take the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The thread answering for a pool; it stops when this is dropped.
#[derive(Debug)]
pub(crate) struct StandIn {
    stop: Arc<AtomicBool>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl StandIn {
    /// Answers on `listener` (a duplicate of the pool's socket) for backend `name`, whose next
    /// process is due at `retry_at`.
    pub(crate) fn start(name: String, listener: OwnedFd, retry_at: Instant) -> StandIn {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("relight-stand-in".into())
            .spawn(move || run(&name, listener, retry_at, &flag));
        if let Err(e) = spawned {
            tracing::warn!("cannot start answering 503 on a restarting backend's socket: {e}");
        }
        StandIn { stop }
    }
}

fn run(name: &str, listener: OwnedFd, retry_at: Instant, stop: &AtomicBool) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let listener = socket2::Socket::from(listener);
    let mut answered = 0u64;
    while !stop.load(Ordering::Acquire) {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(POLL).unwrap_or(PollTimeout::ZERO);
        if !matches!(poll(&mut fds, timeout), Ok(n) if n > 0) || stop.load(Ordering::Acquire) {
            continue;
        }
        match listener.accept() {
            Ok((conn, _)) => {
                let secs = retry_at.saturating_duration_since(Instant::now());
                let secs = (secs.as_secs() + u64::from(secs.subsec_nanos() > 0)).max(1);
                match answer(name, &conn, secs) {
                    Ok(()) => answered += 1,
                    Err(e) => tracing::debug!("backend \"{name}\": answering 503: {e}"),
                }
            }
            Err(e) => {
                tracing::debug!("backend \"{name}\": accepting for the 503 answers: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
    if answered > 0 {
        tracing::info!(
            "backend \"{name}\": answered {answered} request(s) 503 while every process was restarting"
        );
    }
}

/// Reads one FastCGI request from `conn` and answers it 503 with `Retry-After: secs`.
fn answer(name: &str, conn: &socket2::Socket, secs: u64) -> std::io::Result<()> {
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut dec = RequestDecoder::new(Limits::default());
    let mut buf = [0u8; 8192];
    let mut id = None;
    let mut reader = conn;
    loop {
        while let Some(ev) = dec.next_event().map_err(std::io::Error::other)? {
            match ev {
                RequestEvent::BeginRequest { request_id, .. } => id = Some(request_id),
                // The whole request is in: the answer does not cut the web server's writing.
                RequestEvent::StdinEnd => {
                    let Some(id) = id else { return Ok(()) };
                    let mut out = BytesMut::new();
                    let body = format!(
                        "Status: 503 Service Unavailable\r\nRetry-After: {secs}\r\nContent-Type: text/plain\r\n\r\n\
                         backend \"{name}\": every process is restarting; try again in {secs} s\n"
                    );
                    encode::stdout(&mut out, id, body.as_bytes());
                    encode::stdout_end(&mut out, id);
                    encode::end_request(&mut out, id, 0, ProtocolStatus::RequestComplete);
                    let mut writer = conn;
                    return writer.write_all(&out);
                }
                RequestEvent::AbortRequest => return Ok(()),
                _ => {}
            }
        }
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        dec.push(&buf[..n]);
    }
}
