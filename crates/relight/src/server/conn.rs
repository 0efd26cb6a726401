//! One client connection's socket, with the timeouts hyper does not enforce itself: an idle
//! keep-alive connection (no request in flight, nothing read since the last response) is
//! closed after the keep-alive timeout, and a client that accepts no response bytes for the
//! write timeout is dropped. A slow client costs its own connection, never the server.
//!
//! While a request waits for its answer hyper reads nothing from the socket, so it would not
//! see the client leave: [`ConnShared::client_gone`] watches for the client's FIN or reset on
//! a duplicate of the socket (with readiness of its own, so hyper's reads are not disturbed).
//!
//! It also sends files with sendfile(2) behind hyper's back: a file body yields placeholder
//! bytes ([`ConnShared::poll_file_chunk`]) that point into a region no one reads, and when
//! hyper writes them the socket sends the file's bytes in their place, from the page cache,
//! without copying them through user space. hyper is told to queue body chunks as they are
//! (`writev(true)`), so a placeholder reaches the socket as one slice of its own; a
//! placeholder the socket cannot account for fails the connection, it is never sent.

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::http::body::SendsFiles;

/// What the request handlers tell the socket about the connection.
#[derive(Debug)]
pub(crate) struct ConnShared {
    /// The client socket (the connection's I/O and [`ConnShared::client_gone`] share it).
    stream: Arc<TcpStream>,
    /// The duplicate of the socket [`ConnShared::client_gone`] watches, made for the first
    /// request that waits and kept for the connection's next ones.
    watch: Mutex<Option<Arc<TcpStream>>>,
    in_flight: AtomicUsize,
    read_since_idle: AtomicBool,
    requests: AtomicUsize,
    file_send: Mutex<FileSend>,
    /// Files go out by sendfile(2) (a plain connection; TLS must encrypt them in user space).
    sendfile: bool,
    /// When a request last started or finished (HTTP/2's idle timeout counts from it; kept
    /// on HTTP/2 connections only).
    last_change: Mutex<std::time::Instant>,
    http2: AtomicBool,
}

/// The file range whose placeholder hyper holds, and the body waiting to yield the next one.
#[derive(Debug, Default)]
struct FileSend {
    pending: Option<Pending>,
    waker: Option<Waker>,
}

/// `len` bytes of `file` from `at`, standing in the placeholder region from its start.
#[derive(Debug)]
struct Pending {
    file: Arc<File>,
    at: u64,
    len: usize,
}

/// The largest placeholder (and so the most one sendfile call sends).
pub(crate) const PLACEHOLDER_LEN: usize = 256 << 10;

/// The placeholder region: allocated zeroed (untouched pages: no memory used), never read.
fn placeholder() -> &'static [u8] {
    static REGION: OnceLock<&'static [u8]> = OnceLock::new();
    REGION.get_or_init(|| Box::leak(vec![0u8; PLACEHOLDER_LEN].into_boxed_slice()))
}

/// Where `buf` starts in the placeholder region, if it points into it.
fn placeholder_offset(buf: &[u8]) -> Option<usize> {
    let region = placeholder();
    let start = region.as_ptr() as usize;
    let p = buf.as_ptr() as usize;
    (!buf.is_empty() && p >= start && p < start + region.len()).then(|| p - start)
}

impl ConnShared {
    /// The shared state of a connection on `stream`; `sendfile`: files are sent with
    /// sendfile(2) (a plain connection).
    pub(crate) fn new(stream: Arc<TcpStream>, sendfile: bool) -> ConnShared {
        ConnShared {
            stream,
            watch: Mutex::new(None),
            in_flight: AtomicUsize::new(0),
            read_since_idle: AtomicBool::new(false),
            requests: AtomicUsize::new(0),
            file_send: Mutex::new(FileSend::default()),
            sendfile,
            last_change: Mutex::new(std::time::Instant::now()),
            http2: AtomicBool::new(false),
        }
    }

    /// Resolves when the client closes its side of the connection or resets it (a client that
    /// sends its request and then shuts its writing half down, as some HTTP/1.0 clients do, is
    /// taken as gone too, as nginx does). Watches a duplicate of the socket, registered on its
    /// own, so hyper's readiness of the socket is untouched; never resolves if that cannot be
    /// set up.
    pub(crate) async fn client_gone(&self) {
        let Some(watch) = self.watcher() else {
            return std::future::pending().await;
        };
        loop {
            let Ok(ready) = watch.ready(Interest::READABLE).await else {
                return;
            };
            if ready.is_read_closed() || ready.is_error() {
                return;
            }
            // Bytes to read (a pipelined request, the rest of a body) are hyper's: forget this
            // readiness and wait for the next event.
            let _ = watch.try_io(Interest::READABLE, || {
                Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
            });
        }
    }

    /// The duplicate of the socket that [`ConnShared::client_gone`] watches: the kept one, or
    /// a new one; `None` (logged) when it cannot be made.
    fn watcher(&self) -> Option<Arc<TcpStream>> {
        let mut kept = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = &*kept {
            return Some(w.clone());
        }
        // The duplicate shares the socket (and its O_NONBLOCK); closing it closes nothing else.
        let dup = self
            .stream
            .as_fd()
            .try_clone_to_owned()
            .and_then(|fd| TcpStream::from_std(std::net::TcpStream::from(fd)));
        match dup {
            Ok(w) => Some(kept.insert(Arc::new(w)).clone()),
            Err(e) => {
                tracing::debug!("cannot watch a client connection: {e}");
                None
            }
        }
    }

    /// A request started; returns how many the connection has seen, this one included.
    pub(crate) fn request_started(&self) -> usize {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.stamp();
        self.requests.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The connection serves HTTP/2: when requests start and end is kept, for its idle
    /// timeout ([`ConnShared::idle_for`]).
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn serving_http2(&self) {
        self.http2.store(true, Ordering::Release);
        self.stamp();
    }

    fn stamp(&self) {
        if self.http2.load(Ordering::Acquire) {
            *self.last_change.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
        }
    }

    /// A response finished (sent or abandoned).
    pub(crate) fn request_finished(&self) {
        self.stamp();
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.read_since_idle.store(false, Ordering::Release);
        }
    }

    /// How long the connection has had no request in flight (zero while one is), and whether
    /// it has had any: what HTTP/2's idle timeout looks at (its reads, PINGs and window
    /// updates included, say nothing about requests).
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn idle_for(&self) -> (std::time::Duration, bool) {
        let had = self.requests.load(Ordering::Acquire) > 0;
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return (std::time::Duration::ZERO, had);
        }
        let since = *self.last_change.lock().unwrap_or_else(|p| p.into_inner());
        (since.elapsed(), had)
    }

    /// The connection waits for its next request: nothing read since counts (an HTTP/1
    /// connection calls this once its response is done and its buffer empty).
    pub(crate) fn mark_idle(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            self.read_since_idle.store(false, Ordering::Release);
        }
    }

    /// Whether file bodies go out by sendfile(2) on this connection.
    pub(crate) fn sends_files(&self) -> bool {
        self.sendfile
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0 && !self.read_since_idle.load(Ordering::Acquire)
    }
}

impl SendsFiles for ConnShared {
    fn poll_file_chunk(
        &self,
        cx: &mut Context<'_>,
        file: &Arc<File>,
        at: u64,
        n: usize,
    ) -> Poll<Bytes> {
        let mut fs = self.file_send.lock().unwrap_or_else(|p| p.into_inner());
        if fs.pending.is_some() {
            fs.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let len = n.min(PLACEHOLDER_LEN);
        fs.pending = Some(Pending {
            file: file.clone(),
            at,
            len,
        });
        Poll::Ready(Bytes::from_static(&placeholder()[..len]))
    }
}

/// The client socket with idle and write timeouts.
pub(crate) struct ConnIo {
    inner: Arc<TcpStream>,
    shared: Arc<ConnShared>,
    keep_alive: Duration,
    write_timeout: Duration,
    idle_timer: Timeout,
    write_timer: Timeout,
    /// A short read clears the socket's readiness (see [`read_socket`]).
    clear_drained: bool,
}

/// A timeout re-armed in place: its sleep is allocated once per connection and moved to the
/// new deadline (tokio then only records the later time), not made and dropped per request.
#[derive(Default)]
struct Timeout {
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Timeout {
    /// Polls the timeout, arming it for `d` from now if it is not running; true once it fired.
    fn fired(&mut self, d: Duration, cx: &mut Context<'_>) -> bool {
        if !self.armed {
            let deadline = tokio::time::Instant::now() + d;
            match &mut self.sleep {
                Some(s) => s.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed = true;
        }
        self.sleep
            .as_mut()
            .is_some_and(|s| s.as_mut().poll(cx).is_ready())
    }

    /// Stops it; a stale wake-up of the old deadline only makes the connection look again.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl ConnIo {
    /// Wraps an accepted socket.
    pub(crate) fn new(
        inner: Arc<TcpStream>,
        shared: Arc<ConnShared>,
        keep_alive: Duration,
        write_timeout: Duration,
    ) -> ConnIo {
        ConnIo {
            inner,
            shared,
            keep_alive,
            write_timeout,
            idle_timer: Timeout::default(),
            write_timer: Timeout::default(),
            clear_drained: single_threaded(),
        }
    }
}

impl ConnIo {
    /// Runs a write; while it cannot make progress the write timer runs, and when it fires the
    /// write fails with `TimedOut`.
    fn write_timed(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(&TcpStream, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match write(&self.inner, cx) {
            Poll::Pending => {
                if self.write_timer.fired(self.write_timeout, cx) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "write timeout",
                    )));
                }
                Poll::Pending
            }
            r => {
                self.write_timer.disarm();
                r
            }
        }
    }
}

impl ConnIo {
    /// Whether the client has sent something not yet read, asked of the socket itself (not of
    /// the runtime's readiness, which may not have seen it yet): a stopping server still
    /// serves a request that is already on its way.
    pub(crate) fn has_input_now(&self) -> bool {
        use nix::sys::socket::{MsgFlags, recv};
        use std::os::fd::AsRawFd;
        let mut byte = [0u8; 1];
        matches!(
            recv(
                self.inner.as_fd().as_raw_fd(),
                &mut byte,
                MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT
            ),
            Ok(1)
        )
    }

    /// Ready when the socket has something to read (or its end, or an error), under the same
    /// keep-alive timeout as a read: a connection waits for its next request this way without
    /// a buffer to read into.
    pub(crate) fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner.poll_read_ready(cx) {
            Poll::Ready(r) => {
                self.idle_timer.disarm();
                Poll::Ready(r)
            }
            Poll::Pending => self.wait_idle(cx),
        }
    }

    /// The socket has nothing to read: while the connection is idle its keep-alive timeout
    /// runs (an error once it fired), else it is stopped.
    fn wait_idle<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if !self.shared.is_idle() {
            self.idle_timer.disarm();
        } else if self.idle_timer.fired(self.keep_alive, cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "keep-alive timeout",
            )));
        }
        Poll::Pending
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match read_socket(&this.inner, cx, buf, this.clear_drained) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.shared.read_since_idle.store(true, Ordering::Release);
                }
                this.idle_timer.disarm();
                Poll::Ready(r)
            }
            Poll::Pending => this.wait_idle(cx),
        }
    }
}

/// Whether the runtime is tokio's single-threaded one (relight's default): its I/O driver only
/// runs between task polls, on this thread.
fn single_threaded() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

/// Reads from the socket when it is readable, straight into hyper's buffer: what tokio's own
/// read does, through the socket this connection shares with [`ConnShared::client_gone`]
/// (tokio's safe reads need the socket to themselves; the safe alternative, zeroing hyper's
/// unfilled buffer before each read, measured +35 % instructions per static request).
fn read_socket(
    s: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
    clear_drained: bool,
) -> Poll<io::Result<()>> {
    loop {
        match s.poll_read_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        // SAFETY: the unfilled part is handed to recv(2) only, which writes bytes into it and
        // never de-initializes any.
        #[allow(unsafe_code)]
        let unfilled = unsafe { buf.unfilled_mut() };
        let room = unfilled.len();
        match s.try_io(Interest::READABLE, || {
            socket2::SockRef::from(s).recv(unfilled)
        }) {
            Ok(n) => {
                // SAFETY: recv(2) wrote, and so initialized, the first `n` bytes of the
                // unfilled part.
                #[allow(unsafe_code)]
                unsafe {
                    buf.assume_init(n);
                }
                buf.advance(n);
                if clear_drained && n > 0 && n < room {
                    // Less than there was room for: the socket is drained. Its readiness is
                    // cleared now rather than by one more recv(2) answering EAGAIN (half a
                    // system call per request). Bytes that come after the recv are a new
                    // epoll edge, seen when the driver next runs: on a single-threaded
                    // runtime that is after this task yields, so this never clears it.
                    let _ = s.try_io(Interest::READABLE, || {
                        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
                    });
                }
                return Poll::Ready(Ok(()));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Sends `len` bytes of `file` from `at` on `sock`: sendfile(2), or a read and a write where
/// the file system cannot (EINVAL, ENOSYS, EOPNOTSUPP).
fn send_file(sock: &TcpStream, file: &File, at: u64, len: usize) -> io::Result<usize> {
    use nix::errno::Errno;
    let mut off = at as i64;
    match nix::sys::sendfile::sendfile64(sock.as_fd(), file.as_fd(), Some(&mut off), len) {
        Ok(0) => Err(crate::http::body::file_shrank()),
        Ok(n) => Ok(n),
        Err(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => {
            let mut buf = vec![0; len.min(64 << 10)];
            let n = std::os::unix::fs::FileExt::read_at(file, &mut buf, at)?;
            if n == 0 {
                return Err(crate::http::body::file_shrank());
            }
            nix::sys::socket::send(
                std::os::fd::AsRawFd::as_raw_fd(sock),
                &buf[..n],
                nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
            )
            .map_err(io::Error::from)
        }
        Err(e) => Err(io::Error::from(e)),
    }
}

impl ConnIo {
    /// Writes `bufs`, sending a placeholder slice among them as the file it stands for.
    fn write_with_files(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let Some(i) = bufs.iter().position(|b| placeholder_offset(b).is_some()) else {
            return self.write_timed(cx, |s, cx| poll_io(s, cx, |s| s.try_write_vectored(bufs)));
        };
        if i > 0 {
            // What comes before (the head of the response) first, marked as more to come so
            // that it leaves in one segment with the file's first bytes; the placeholder goes
            // on the next call.
            let head = &bufs[..i];
            return self.write_timed(cx, |s, cx| {
                poll_io(s, cx, |s| {
                    nix::sys::socket::sendmsg::<()>(
                        std::os::fd::AsRawFd::as_raw_fd(s),
                        head,
                        &[],
                        // nix has no name for MSG_MORE.
                        nix::sys::socket::MsgFlags::from_bits_retain(nix::libc::MSG_MORE)
                            | nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
                        None,
                    )
                    .map_err(io::Error::from)
                })
            });
        }
        let buf = &bufs[0];
        let offset = placeholder_offset(buf).unwrap_or_default();
        let (file, at, end) = {
            let fs = self
                .shared
                .file_send
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match &fs.pending {
                Some(p) if offset + buf.len() <= p.len => (
                    p.file.clone(),
                    p.at + offset as u64,
                    offset + buf.len() == p.len,
                ),
                _ => {
                    return Poll::Ready(Err(io::Error::other(
                        "a file placeholder without its file (not sent)",
                    )));
                }
            }
        };
        let len = buf.len();
        let r = self.write_timed(cx, |s, cx| poll_io(s, cx, |s| send_file(s, &file, at, len)));
        if let Poll::Ready(Ok(n)) = r
            && end
            && n == len
        {
            let mut fs = self
                .shared
                .file_send
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            fs.pending = None;
            if let Some(w) = fs.waker.take() {
                w.wake();
            }
        }
        r
    }
}

/// Runs a non-blocking write system call on the socket when it is writable.
fn poll_io(
    s: &TcpStream,
    cx: &mut Context<'_>,
    mut op: impl FnMut(&TcpStream) -> io::Result<usize>,
) -> Poll<io::Result<usize>> {
    loop {
        match s.poll_write_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        match s.try_io(Interest::WRITABLE, || op(s)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return Poll::Ready(r),
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
            .write_with_files(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_with_files(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here: every write goes to the socket.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&*self.inner).shutdown(std::net::Shutdown::Write))
    }
}
