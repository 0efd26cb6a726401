//! One client connection's socket, with the timeouts hyper does not enforce itself: an idle
//! keep-alive connection (no request in flight, nothing read since the last response) is
//! closed after the keep-alive timeout, and a client that accepts no response bytes for the
//! write timeout is dropped. A slow client costs its own connection, never the server.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// What the request handlers tell the socket about the connection.
#[derive(Debug, Default)]
pub struct ConnShared {
    in_flight: AtomicUsize,
    read_since_idle: AtomicBool,
    requests: AtomicUsize,
}

impl ConnShared {
    /// A request started; returns how many the connection has seen, this one included.
    pub fn request_started(&self) -> usize {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// A response finished (sent or abandoned).
    pub fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.read_since_idle.store(false, Ordering::Release);
        }
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0 && !self.read_since_idle.load(Ordering::Acquire)
    }
}

/// The client socket with idle and write timeouts.
pub struct ConnIo {
    inner: TcpStream,
    shared: Arc<ConnShared>,
    keep_alive: Duration,
    write_timeout: Duration,
    idle_timer: Option<Pin<Box<Sleep>>>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl ConnIo {
    /// Wraps an accepted socket.
    pub fn new(
        inner: TcpStream,
        shared: Arc<ConnShared>,
        keep_alive: Duration,
        write_timeout: Duration,
    ) -> ConnIo {
        ConnIo {
            inner,
            shared,
            keep_alive,
            write_timeout,
            idle_timer: None,
            write_timer: None,
        }
    }
}

impl ConnIo {
    /// Runs a write; while it cannot make progress the write timer runs, and when it fires the
    /// write fails with `TimedOut`.
    fn write_timed(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match write(Pin::new(&mut self.inner), cx) {
            Poll::Pending => {
                if timer_fired(&mut self.write_timer, self.write_timeout, cx) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "write timeout",
                    )));
                }
                Poll::Pending
            }
            r => {
                self.write_timer = None;
                r
            }
        }
    }
}

fn timer_fired(slot: &mut Option<Pin<Box<Sleep>>>, d: Duration, cx: &mut Context<'_>) -> bool {
    let t = slot.get_or_insert_with(|| Box::pin(tokio::time::sleep(d)));
    t.as_mut().poll(cx).is_ready()
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.shared.read_since_idle.store(true, Ordering::Release);
                }
                this.idle_timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                if this.shared.is_idle() {
                    if timer_fired(&mut this.idle_timer, this.keep_alive, cx) {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "keep-alive timeout",
                        )));
                    }
                } else {
                    this.idle_timer = None;
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_timed(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_timed(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
