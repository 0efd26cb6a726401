//! Finding the connection for one FastCGI request: for a spawned backend, a free process of its
//! pool (its kept connection, or a new one to its slot's socket, tried on other slots when the
//! connect fails: nothing has reached a process until the connection exists); for an external
//! one, its kept connection or a new one. And what ends a spawned backend's request early: its
//! process dying, or the request timeout.

use supervisor::{AcquireError, Lease, Reason, SlotAddr};

use super::backend::{Backend, BackendStream, Target};
use super::exchange::Outcome;
use crate::config::BackendAddr;
use crate::gateway::GatewayError;

/// How many slots a request tries when connecting to a spawned backend fails.
const CONNECT_ATTEMPTS: usize = 3;

/// A connection for one request, and the process it reaches (spawned backends).
pub(super) struct Connected {
    pub stream: BackendStream,
    pub lease: Option<Lease>,
}

/// The connection for a request described by `what` (method and URI, for the logs).
pub(super) async fn connect(backend: &Backend, what: &str) -> Result<Connected, GatewayError> {
    let (sup, pool, queue_timeout) = match &backend.target {
        Target::External(addr) => {
            return backend.connect(addr).await.map(|stream| Connected {
                stream,
                lease: None,
            });
        }
        Target::Spawned {
            sup,
            pool,
            queue_timeout,
            ..
        } => (sup, pool, *queue_timeout),
    };
    // Nothing has reached a process until the connection exists: a failed connect is
    // retried on another slot (a few times), never answered as if the request ran.
    let mut tried = Vec::new();
    loop {
        let mut l = match sup
            .acquire_avoiding(pool, queue_timeout, what, &tried)
            .await
        {
            Ok(l) => l,
            Err(e @ AcquireError::Unavailable { retry_after, .. }) => {
                return Err(GatewayError::Unavailable(e, retry_after));
            }
            Err(e) => return Err(GatewayError::Busy(e)),
        };
        // The connection the last request to this process left open: a libfcgi process with
        // FCGI_KEEP_CONN reads the next request from it, not from its listening socket.
        if backend.keep_alive
            && let Some(stream) = l
                .take_kept::<BackendStream>()
                .filter(BackendStream::is_reusable)
        {
            return Ok(Connected {
                stream,
                lease: Some(l),
            });
        }
        let addr = match l.addr() {
            SlotAddr::Unix(p) => BackendAddr::Unix(p.clone()),
            SlotAddr::Tcp(a) => BackendAddr::Tcp(a.to_string()),
        };
        match backend.connect_new(&addr).await {
            Err(e) if tried.len() + 1 < CONNECT_ATTEMPTS => {
                tried.push(l.slot());
                tracing::warn!(
                    "{} backend \"{}\": {what}: slot {} ({addr}): {e}; trying another slot",
                    backend.protocol.as_str(),
                    backend.name,
                    l.slot()
                );
                l.failed();
            }
            Ok(stream) => {
                return Ok(Connected {
                    stream,
                    lease: Some(l),
                });
            }
            Err(e) => {
                // The lease is dropped with the error: the process is free again.
                return Err(e);
            }
        }
    }
}

/// Resolves when a spawned backend's request must be abandoned: its process died (unless the
/// request was still queued on the slot's socket: the restarted process serves it), or it ran
/// over the request timeout (its process is then killed). Never, for an external backend.
pub(super) async fn cancelled(
    backend: &Backend,
    lease: Option<&Lease>,
    what: &str,
) -> GatewayError {
    let (
        Some(l),
        Target::Spawned {
            request_timeout, ..
        },
    ) = (lease, &backend.target)
    else {
        return std::future::pending().await;
    };
    let timeout = async {
        match request_timeout {
            Some(t) => {
                tokio::time::sleep(t.0).await;
                *t
            }
            None => std::future::pending().await,
        }
    };
    let died = async {
        let rec = l.died().await;
        if rec.request_queued {
            // Never accepted: the restarted process accepts it from the same socket.
            // Keep waiting (the read and request timeouts still apply).
            tracing::info!(
                "{} backend \"{}\": {what}: slot {} pid {} died before accepting it; the restarted process will serve it",
                backend.protocol.as_str(),
                backend.name,
                rec.slot,
                rec.pid
            );
            std::future::pending::<()>().await;
        }
        GatewayError::BackendDied(format!("slot {} pid {}: {}", rec.slot, rec.pid, rec.detail))
    };
    tokio::select! {
        e = died => e,
        (t, default) = timeout => {
            let which = if default { ", the default" } else { "" };
            l.kill(Reason::RequestTimeout, format!("request \"{what}\" ran over request_timeout ({t:?}{which})"));
            GatewayError::RequestTimeout(t)
        }
    }
}

/// After the exchange: a connection whose request ended cleanly is kept for the next request
/// (with its process, for a spawned backend); anything else is closed, and the process's lease
/// is marked failed unless the backend answered whole (then the request counts as served).
pub(super) fn give_back(
    backend: &Backend,
    stream: BackendStream,
    lease: Option<Lease>,
    outcome: Outcome,
) {
    if let Some(mut l) = lease {
        match outcome {
            Outcome::Reusable if backend.keep_alive => l.keep(stream),
            Outcome::Reusable | Outcome::Served => {}
            Outcome::Done => l.failed(),
        }
        return;
    }
    if outcome == Outcome::Reusable {
        backend.release(stream);
    }
}
