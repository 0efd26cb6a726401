//! A request's body as the client sends it, whichever connection carries it: none, the bytes
//! relight's own HTTP/1 connection reads for it ([`BodyTx`] feeds them, one chunk at a time,
//! only when the body asks: a slow reader of the body holds the client back, never fills
//! memory), or hyper's (HTTP/2, HTTP/1 over TLS). And the connection a request may take over
//! (an upgrade: WebSocket), whichever connection carries it.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

/// A request's body.
#[derive(Debug)]
pub(crate) enum ClientBody {
    /// The request has none.
    Empty,
    /// Read by relight's HTTP/1 connection.
    Read(BodyRx),
    /// hyper's (HTTP/2, HTTP/1 over TLS).
    #[cfg(any(feature = "tls", feature = "http2"))]
    Hyper(hyper::body::Incoming),
}

/// What the connection and the body share: at most one chunk between them.
#[derive(Debug, Default)]
struct Slot {
    chunk: Option<io::Result<Bytes>>,
    /// The last chunk was given (or an error).
    ended: bool,
    /// The body asked for bytes at least once (an `Expect: 100-continue` is answered then).
    wanted: bool,
    /// The body was dropped: what is left is read and thrown away.
    dropped: bool,
    rx: Option<Waker>,
    tx: Option<Waker>,
}

fn lock(s: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The body's end: what the request's handler reads.
#[derive(Debug)]
pub(crate) struct BodyRx {
    slot: Arc<Mutex<Slot>>,
    /// Bytes still to come, when the client declared them (Content-Length).
    left: Option<u64>,
    done: bool,
}

/// The connection's end: what it read for the body goes in here.
#[derive(Debug)]
pub(crate) struct BodyTx {
    slot: Arc<Mutex<Slot>>,
}

/// A body fed by its connection; `len`: its declared length (Content-Length), `None` when
/// chunked.
pub(crate) fn read_body(len: Option<u64>) -> (BodyTx, ClientBody) {
    let slot = Arc::new(Mutex::new(Slot::default()));
    (
        BodyTx { slot: slot.clone() },
        ClientBody::Read(BodyRx {
            slot,
            left: len,
            done: false,
        }),
    )
}

/// What [`BodyTx::poll_room`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Room {
    /// The body wants the next chunk and has room for it.
    Wanted,
    /// The body was dropped: what is left of it is to be read and thrown away.
    Dropped,
}

impl BodyTx {
    /// Ready when the body has asked for bytes and holds no chunk it has not taken, or was
    /// dropped.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<Room> {
        let mut s = lock(&self.slot);
        if s.dropped {
            return Poll::Ready(Room::Dropped);
        }
        if s.wanted && s.chunk.is_none() {
            return Poll::Ready(Room::Wanted);
        }
        s.tx = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Gives the body its next chunk (or the error that ends it).
    pub(crate) fn send(&self, chunk: io::Result<Bytes>) {
        let mut s = lock(&self.slot);
        if chunk.is_err() {
            s.ended = true;
        }
        s.chunk = Some(chunk);
        if let Some(w) = s.rx.take() {
            w.wake();
        }
    }

    /// The body is complete.
    pub(crate) fn finish(&self) {
        let mut s = lock(&self.slot);
        s.ended = true;
        if let Some(w) = s.rx.take() {
            w.wake();
        }
    }
}

impl Drop for BodyTx {
    fn drop(&mut self) {
        let mut s = lock(&self.slot);
        if !s.ended {
            s.ended = true;
            if s.chunk.is_none() {
                s.chunk = Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the connection ended before the request body",
                )));
            }
        }
        if let Some(w) = s.rx.take() {
            w.wake();
        }
    }
}

impl Drop for BodyRx {
    fn drop(&mut self) {
        let mut s = lock(&self.slot);
        s.dropped = true;
        s.chunk = None;
        if let Some(w) = s.tx.take() {
            w.wake();
        }
    }
}

impl BodyRx {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut s = lock(&self.slot);
        if let Some(chunk) = s.chunk.take() {
            if let Some(w) = s.tx.take() {
                w.wake();
            }
            return Poll::Ready(Some(match chunk {
                Ok(b) => {
                    if let Some(left) = &mut self.left {
                        *left = left.saturating_sub(b.len() as u64);
                    }
                    Ok(Frame::data(b))
                }
                Err(e) => {
                    self.done = true;
                    Err(e)
                }
            }));
        }
        if s.ended {
            self.done = true;
            return Poll::Ready(None);
        }
        s.wanted = true;
        s.rx = Some(cx.waker().clone());
        if let Some(w) = s.tx.take() {
            w.wake();
        }
        Poll::Pending
    }
}

impl http_body::Body for ClientBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            ClientBody::Empty => Poll::Ready(None),
            ClientBody::Read(rx) => rx.poll_frame(cx),
            #[cfg(any(feature = "tls", feature = "http2"))]
            ClientBody::Hyper(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(io::Error::other))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Empty => true,
            ClientBody::Read(rx) => rx.done || rx.left == Some(0),
            #[cfg(any(feature = "tls", feature = "http2"))]
            ClientBody::Hyper(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Empty => SizeHint::with_exact(0),
            ClientBody::Read(rx) => rx.left.map_or_else(SizeHint::default, SizeHint::with_exact),
            #[cfg(any(feature = "tls", feature = "http2"))]
            ClientBody::Hyper(b) => b.size_hint(),
        }
    }
}

/// A connection taken over by an upgrade, as a byte stream.
pub(crate) trait UpgradedIo: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> UpgradedIo for T {}

/// The client's connection once the 101 is sent.
pub(crate) type Upgraded = Box<dyn UpgradedIo>;

/// The client's connection a request may take over once its 101 Switching Protocols is sent:
/// in the request's extensions when it asked for an upgrade (which want it `Clone`: the
/// receiver is taken out of its cell once).
#[derive(Debug, Clone)]
pub(crate) enum OnUpgrade {
    /// relight's HTTP/1 connection hands itself over through this.
    Conn(Arc<Mutex<Option<oneshot::Receiver<Upgraded>>>>),
    /// hyper's.
    #[cfg(any(feature = "tls", feature = "http2"))]
    Hyper(hyper::upgrade::OnUpgrade),
}

impl std::fmt::Debug for dyn UpgradedIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upgraded")
    }
}

impl OnUpgrade {
    /// What relight's HTTP/1 connection keeps (it sends itself there after the 101) and
    /// what it puts in the request.
    pub(crate) fn conn() -> (oneshot::Sender<Upgraded>, OnUpgrade) {
        let (tx, rx) = oneshot::channel();
        (tx, OnUpgrade::Conn(Arc::new(Mutex::new(Some(rx)))))
    }

    /// The request's way to its connection, taken out of its extensions.
    pub(crate) fn take(ext: &mut http::Extensions) -> Option<OnUpgrade> {
        let on = ext.remove::<OnUpgrade>();
        #[cfg(any(feature = "tls", feature = "http2"))]
        let on = on.or_else(|| {
            ext.remove::<hyper::upgrade::OnUpgrade>()
                .map(OnUpgrade::Hyper)
        });
        on
    }

    /// The connection, once the 101 went out; an error if it did not.
    pub(crate) async fn connection(self) -> io::Result<Upgraded> {
        match self {
            OnUpgrade::Conn(cell) => {
                let rx = cell.lock().unwrap_or_else(|p| p.into_inner()).take();
                let gone = || {
                    io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the connection did not upgrade",
                    )
                };
                rx.ok_or_else(gone)?.await.map_err(|_| gone())
            }
            #[cfg(any(feature = "tls", feature = "http2"))]
            OnUpgrade::Hyper(on) => on
                .await
                .map(|u| Box::new(hyper_util::rt::TokioIo::new(u)) as Upgraded)
                .map_err(io::Error::other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// The connection gives a chunk only when the body asks, one at a time; the body ends when
    /// the connection says so, and a connection that ends early is an error, never a short
    /// body that looks whole.
    #[tokio::test(flavor = "current_thread")]
    async fn chunks_go_one_at_a_time_when_asked() {
        let (tx, mut body) = read_body(Some(5));
        let waker = futures_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(tx.poll_room(&mut cx), Poll::Pending, "not asked yet");
        assert!(!http_body::Body::is_end_stream(&body));
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(f) = body.frame().await {
                got.extend_from_slice(&f.unwrap().into_data().unwrap());
            }
            got
        });
        tokio::task::yield_now().await;
        assert_eq!(tx.poll_room(&mut cx), Poll::Ready(Room::Wanted));
        tx.send(Ok(Bytes::from_static(b"he")));
        assert_eq!(tx.poll_room(&mut cx), Poll::Pending, "one chunk at a time");
        tokio::task::yield_now().await;
        assert_eq!(tx.poll_room(&mut cx), Poll::Ready(Room::Wanted));
        tx.send(Ok(Bytes::from_static(b"llo")));
        tokio::task::yield_now().await;
        tx.finish();
        assert_eq!(reader.await.unwrap(), b"hello");

        let (tx, mut body) = read_body(None);
        drop(tx);
        let e = body.frame().await.unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
    }

    /// A dropped body tells the connection to throw the rest away.
    #[test]
    fn a_dropped_body_is_thrown_away() {
        let (tx, body) = read_body(Some(3));
        drop(body);
        let waker = futures_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(tx.poll_room(&mut cx), Poll::Ready(Room::Dropped));
    }

    fn futures_waker() -> Waker {
        Waker::noop().clone()
    }
}
