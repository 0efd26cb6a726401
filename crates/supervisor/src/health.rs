//! The opt-in health check of a spawned pool's idle processes: an idle process is asked
//! `FCGI_GET_VALUES` on its slot's socket (libfcgi answers it before any request, on a
//! connection of its own), and one that does not answer within the check's timeout is recycled,
//! the reason logged as "health check".
//!
//! It does not touch liveness (the reaper owns it: invariant 1): it runs only on a process the
//! slot has, holding it as a request would (so no request is sent to it meanwhile, and a
//! connection kept open to it is closed first, so that it goes back to accept), and all it can
//! do is ask the supervisor to recycle that very process. A process that is dead is the
//! reaper's; a check never decides that one is alive.

use std::time::Duration;

use bytes::BytesMut;
use fcgi_proto::server::{ResponseDecoder, ResponseEvent, encode};
use fcgi_proto::{Limits, values};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::socket::SlotAddr;

/// How often and how patiently idle processes are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheck {
    /// A process idle this long (and not checked for as long) is checked.
    pub every: Duration,
    /// The answer must come within this.
    pub timeout: Duration,
}

/// Asks the process listening at `addr` for its FastCGI values; `Err` says what went wrong
/// (in the words the log uses).
pub(crate) async fn ask(addr: &SlotAddr, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, exchange(addr)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer to FCGI_GET_VALUES within {timeout:?}")),
    }
}

async fn exchange(addr: &SlotAddr) -> Result<(), String> {
    let mut query = BytesMut::new();
    encode::get_values(&mut query, [values::MAX_CONNS, values::MPXS_CONNS]);
    match addr {
        SlotAddr::Unix(p) => {
            let s = tokio::net::UnixStream::connect(p)
                .await
                .map_err(|e| format!("connecting to {addr}: {e}"))?;
            converse(s, &query).await
        }
        SlotAddr::Tcp(a) => {
            let s = tokio::net::TcpStream::connect(a)
                .await
                .map_err(|e| format!("connecting to {addr}: {e}"))?;
            converse(s, &query).await
        }
    }
}

async fn converse(
    mut s: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    query: &[u8],
) -> Result<(), String> {
    s.write_all(query)
        .await
        .map_err(|e| format!("sending FCGI_GET_VALUES: {e}"))?;
    let mut dec = ResponseDecoder::new(1, Limits::default());
    loop {
        match dec.next_event() {
            // Either answer says a FastCGI application is there and serving its socket.
            Ok(Some(ResponseEvent::GetValuesResult(_) | ResponseEvent::UnknownType(_))) => {
                return Ok(());
            }
            Ok(Some(other)) => {
                return Err(format!("answered FCGI_GET_VALUES with {other:?}"));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("answered FCGI_GET_VALUES with garbage: {e}")),
        }
        let n = s
            .read_buf(dec.buffer_mut())
            .await
            .map_err(|e| format!("reading the answer to FCGI_GET_VALUES: {e}"))?;
        if n == 0 {
            return Err("closed the connection without answering FCGI_GET_VALUES".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcgi_proto::app;

    fn listener() -> (tokio::net::UnixListener, SlotAddr, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "health-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let l = tokio::net::UnixListener::bind(&path).unwrap();
        (l, SlotAddr::Unix(path), dir)
    }

    #[tokio::test]
    async fn an_answer_is_health_and_silence_is_not() {
        let (l, addr, dir) = listener();
        let server = tokio::spawn(async move {
            // First connection: answered. Second: accepted and never answered.
            let (mut c, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = c.read(&mut buf).await.unwrap();
            let mut out = BytesMut::new();
            app::encode::get_values_result(&mut out, [(values::MAX_CONNS, &b"1"[..])]);
            c.write_all(&out).await.unwrap();
            let (silent, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(silent);
        });
        assert_eq!(ask(&addr, Duration::from_secs(2)).await, Ok(()));
        let silent = ask(&addr, Duration::from_millis(200)).await.unwrap_err();
        assert!(
            silent.contains("no answer to FCGI_GET_VALUES within 200ms"),
            "{silent}"
        );
        server.abort();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_closed_connection_or_no_listener_is_named() {
        let (l, addr, dir) = listener();
        let server = tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = c.read(&mut buf).await.unwrap();
            drop(c);
            l
        });
        let closed = ask(&addr, Duration::from_secs(2)).await.unwrap_err();
        assert!(closed.contains("closed the connection"), "{closed}");
        drop(server.await.unwrap());
        let refused = ask(&addr, Duration::from_secs(2)).await.unwrap_err();
        assert!(refused.starts_with("connecting to unix:"), "{refused}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
