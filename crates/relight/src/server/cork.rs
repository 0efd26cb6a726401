//! HTTP/2's write coalescing: what the h2 codec writes while its connection task runs is kept
//! and sent in one write when the task yields, so the responses of the streams that finished
//! since the last run go out together (one TLS record, one syscall), not one write each.
//!
//! Why: h2 writes a DATA frame larger than 256 bytes by reference and flushes it before it
//! queues the next one, so a connection with 100 streams of 1 KiB responses made 100 writes
//! (and 100 TLS records); lighttpd makes one. Must never hold bytes past the end of the task's
//! run that holds them (the [`Corked`] future sends them before it returns), nor keep more than
//! [`CORK_LIMIT`] bytes (a write beyond it sends first, and waits like any write).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes kept before a write sends them.
const CORK_LIMIT: usize = 64 << 10;

/// A kept buffer larger than this is freed when it has been sent (an idle connection keeps
/// no more than this).
const KEEP_CAPACITY: usize = 4 << 10;

/// The stream and the bytes written to it and not yet sent; shared by [`CorkedIo`] (what
/// hyper reads and writes) and [`Corked`] (what sends at the end of each run).
struct Shared<S> {
    io: S,
    out: Vec<u8>,
    sent: usize,
    /// The connection task is running: flushes wait for the end of the run.
    corked: bool,
    /// Bytes were written (kept, or given to the stream) and not yet flushed.
    dirty: bool,
    /// A send at the end of a run failed: what every later operation returns.
    broken: Option<io::ErrorKind>,
}

impl<S: AsyncWrite + Unpin> Shared<S> {
    /// Sends every kept byte, then flushes the stream (TLS: its pending records).
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        if self.out.capacity() > KEEP_CAPACITY {
            self.out = Vec::new();
        } else {
            self.out.clear();
        }
        self.sent = 0;
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        self.dirty = false;
        Poll::Ready(Ok(()))
    }
}

impl<S> Shared<S> {
    fn check(&self) -> io::Result<()> {
        match self.broken {
            Some(kind) => Err(kind.into()),
            None => Ok(()),
        }
    }
}

/// The stream as hyper sees it: writes are kept, flushes during the task's run are left to
/// the end of the run.
pub(super) struct CorkedIo<S> {
    shared: Arc<Mutex<Shared<S>>>,
}

/// Drives `fut` (the connection) and sends what it wrote at the end of each of its runs.
pub(super) struct Corked<S, F> {
    shared: Arc<Mutex<Shared<S>>>,
    fut: Pin<Box<F>>,
}

/// `io` for the connection, and the wrapper for the connection's future made on it.
pub(super) fn cork<S>(io: S) -> (CorkedIo<S>, Corker<S>) {
    let shared = Arc::new(Mutex::new(Shared {
        io,
        out: Vec::new(),
        sent: 0,
        corked: false,
        dirty: false,
        broken: None,
    }));
    (
        CorkedIo {
            shared: shared.clone(),
        },
        Corker { shared },
    )
}

/// Wraps the connection's future once it is made on the [`CorkedIo`].
pub(super) struct Corker<S> {
    shared: Arc<Mutex<Shared<S>>>,
}

impl<S> Corker<S> {
    /// The connection's future, sending what it wrote at the end of each run.
    pub(super) fn drive<F: Future>(self, fut: F) -> Corked<S, F> {
        Corked {
            shared: self.shared,
            fut: Box::pin(fut),
        }
    }
}

fn lock<S>(m: &Mutex<Shared<S>>) -> MutexGuard<'_, Shared<S>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<S: AsyncWrite + Unpin, F: Future> Corked<S, F> {
    /// The connection's future, for what hyper offers on it (graceful shutdown).
    pub(super) fn inner(&mut self) -> Pin<&mut F> {
        self.fut.as_mut()
    }
}

impl<S: AsyncWrite + Unpin, F: Future> Future for Corked<S, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        lock(&this.shared).corked = true;
        let out = this.fut.as_mut().poll(cx);
        let mut s = lock(&this.shared);
        s.corked = false;
        if s.broken.is_none() && s.dirty {
            // Pending: the socket wakes this task when it can take more.
            if let Poll::Ready(Err(e)) = s.poll_send(cx) {
                s.broken = Some(e.kind());
                // The connection learns it at its next operation.
                cx.waker().wake_by_ref();
            }
        }
        out
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CorkedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut s = lock(&self.shared);
        s.check()?;
        Pin::new(&mut s.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> CorkedIo<S> {
    /// Room for `want` more bytes: sends the kept ones first if they would pass the limit.
    fn poll_room(s: &mut Shared<S>, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<()>> {
        s.check()?;
        if s.out.len() + want > CORK_LIMIT && s.out.len() > s.sent {
            ready!(s.poll_send(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CorkedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = lock(&self.shared);
        ready!(Self::poll_room(&mut s, cx, buf.len()))?;
        let n = buf.len().min(CORK_LIMIT);
        s.out.extend_from_slice(&buf[..n]);
        s.dirty = true;
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut s = lock(&self.shared);
        ready!(Self::poll_room(&mut s, cx, total))?;
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(CORK_LIMIT.saturating_sub(n));
            s.out.extend_from_slice(&b[..take]);
            n += take;
            if take < b.len() {
                break;
            }
        }
        s.dirty = true;
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = lock(&self.shared);
        s.check()?;
        if s.corked {
            return Poll::Ready(Ok(()));
        }
        s.poll_send(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = lock(&self.shared);
        s.check()?;
        ready!(s.poll_send(cx))?;
        Pin::new(&mut s.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Counts the writes that reach the stream.
    struct Counting {
        writes: Arc<std::sync::atomic::AtomicUsize>,
        data: Arc<Mutex<Vec<u8>>>,
    }

    impl AsyncWrite for Counting {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.data.lock().unwrap().extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn writes_of_one_run_go_out_in_one_write_and_in_order() {
        let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let data = Arc::new(Mutex::new(Vec::new()));
        let (mut io, corker) = cork(Counting {
            writes: writes.clone(),
            data: data.clone(),
        });
        let run = corker.drive(async move {
            for i in 0..100u8 {
                io.write_all(&[i; 1000]).await.unwrap();
                io.flush().await.unwrap();
            }
            // Yield: the end of a run sends what it wrote.
            tokio::task::yield_now().await;
            io.write_all(b"last").await.unwrap();
            io.flush().await.unwrap();
            io
        });
        let _io = run.await;
        let data = data.lock().unwrap();
        assert_eq!(data.len(), 100 * 1000 + 4);
        for i in 0..100usize {
            assert!(data[i * 1000..(i + 1) * 1000].iter().all(|&b| b == i as u8));
        }
        assert_eq!(&data[100_000..], b"last");
        // 100 kB in 64 KiB batches, then the rest at the yield, then "last" at the end.
        let n = writes.load(std::sync::atomic::Ordering::Relaxed);
        assert!((2..=4).contains(&n), "{n} writes");
    }

    #[tokio::test]
    async fn a_flush_outside_a_run_sends_at_once() {
        let (client, server) = tokio::io::duplex(1 << 20);
        let (mut io, _corker) = cork(server);
        io.write_all(b"hello").await.unwrap();
        io.flush().await.unwrap();
        let mut client = client;
        let mut got = [0u8; 5];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
    }

    #[tokio::test]
    async fn a_slow_reader_holds_the_writer_back_at_the_limit() {
        let (client, server) = tokio::io::duplex(4096);
        let (mut io, corker) = cork(server);
        let writer = tokio::spawn(corker.drive(async move {
            for _ in 0..64 {
                io.write_all(&[7u8; 4096]).await?;
            }
            io.flush().await?;
            io.shutdown().await
        }));
        // Nothing read yet: the writer is stopped with at most the limit kept.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!writer.is_finished());
        let mut client = client;
        let mut all = Vec::new();
        client.read_to_end(&mut all).await.unwrap();
        writer.await.unwrap().unwrap();
        assert_eq!(all.len(), 64 * 4096);
    }
}
