//! The response body every handler returns: empty, one buffer, or a bounded stream fed by a
//! task (a file reader or a FastCGI exchange). A stream that ends with an error makes hyper
//! abort the connection, so a truncated response never looks complete to the client.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// How many chunks a producer may run ahead of the client: the per-request memory bound of a
/// streamed body is this many chunks of at most 64 KiB.
pub(crate) const STREAM_DEPTH: usize = 4;

/// A response body.
#[derive(Debug)]
pub(crate) enum Body {
    /// No body.
    Empty,
    /// One buffer, sent at once.
    Full(Option<Bytes>),
    /// Chunks from a producer task; an `Err` aborts the client connection.
    Stream(Stream),
    /// The next `left` bytes of a file, read as they are sent, a chunk at a time (reads from
    /// the page cache are memory copies; lighttpd and nginx read files in their event loops
    /// too). Memory: one chunk. Positioned reads: requests may share one open file.
    File {
        /// The file.
        file: std::sync::Arc<std::fs::File>,
        /// Where the next read starts.
        at: u64,
        /// How many bytes are left to send.
        left: u64,
        /// The client connection that sends the file with sendfile(2) (set by the server
        /// for responses it writes itself); `None`: the file is read here, a chunk at a time.
        via: Option<std::sync::Arc<dyn SendsFiles>>,
    },
    /// Another body, compressed as it is sent (a chunk in, what the encoder gives out).
    Encoded(Box<Encoded>),
}

/// A body and the encoder it goes through.
#[derive(Debug)]
pub(crate) struct Encoded {
    inner: Body,
    /// `None` once finished.
    encoder: Option<super::encoding::Encoder>,
}

impl Body {
    /// `inner` compressed with `encoder` as it is sent.
    pub(crate) fn encoded(inner: Body, encoder: super::encoding::Encoder) -> Body {
        Body::Encoded(Box::new(Encoded {
            inner,
            encoder: Some(encoder),
        }))
    }
}

impl Encoded {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        loop {
            let Some(encoder) = self.encoder.as_mut() else {
                return Poll::Ready(None);
            };
            match std::task::ready!(http_body::Body::poll_frame(Pin::new(&mut self.inner), cx)) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    match encoder.write(&data) {
                        Ok(out) if out.is_empty() => continue,
                        Ok(out) => return Poll::Ready(Some(Ok(Frame::data(out)))),
                        Err(e) => return Poll::Ready(Some(Err(e))),
                    }
                }
                Some(Err(e)) => {
                    self.encoder = None;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    let encoder = self.encoder.take().expect("checked above");
                    return Poll::Ready(match encoder.finish() {
                        Ok(out) if out.is_empty() => None,
                        Ok(out) => Some(Ok(Frame::data(out))),
                        Err(e) => Some(Err(e)),
                    });
                }
            }
        }
    }
}

/// A client connection that sends a file body's bytes itself (with sendfile(2)): the body
/// yields placeholder chunks the connection's socket recognises and replaces with the file's
/// bytes. The server's client connections are one.
pub(crate) trait SendsFiles: Send + Sync + std::fmt::Debug {
    /// The next chunk of a file body: placeholder bytes standing for up to `n` bytes of `file`
    /// from `at`, or `Pending` while the socket has not sent the last one.
    fn poll_file_chunk(
        &self,
        cx: &mut Context<'_>,
        file: &std::sync::Arc<std::fs::File>,
        at: u64,
        n: usize,
    ) -> Poll<Bytes>;
}

/// The error of a file body whose file got shorter than its announced length while it was
/// sent (the client connection is then aborted: a short body never looks complete).
pub(crate) fn file_shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file got shorter while it was sent",
    )
}

/// Why a request body's read failed when a chunk announced more bytes than any request may
/// send (the server's connection refuses the chunk at its size line); answered 413.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("a chunk announced beyond the largest request body allowed ({limit} bytes)")]
pub(crate) struct ChunkTooLarge {
    /// The largest request body any scope allows.
    pub limit: u64,
}

impl ChunkTooLarge {
    /// The refusal behind a request body's read error, if that is what it is.
    pub(crate) fn behind(e: &(dyn std::error::Error + 'static)) -> Option<ChunkTooLarge> {
        let mut e = Some(e);
        while let Some(err) = e {
            if let Some(c) = err
                .downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<ChunkTooLarge>())
            {
                return Some(*c);
            }
            e = err.source();
        }
        None
    }
}

/// The receiving end of a streamed body.
#[derive(Debug)]
pub(crate) struct Stream {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    /// An error received, held back for one poll (see [`Stream::poll_frame`]).
    deferred: Option<io::Error>,
}

impl Stream {
    /// The next frame. An error (the producer cut the body off) is given one poll late: this
    /// poll says "not yet" and asks to be polled again, so that hyper first flushes what it
    /// has (the head and the bytes that did arrive: the client sees them, then the cut),
    /// where an error at once would make it drop them with the connection.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if let Some(e) = self.deferred.take() {
            return Poll::Ready(Some(Err(e)));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Err(e))) => {
                self.deferred = Some(e);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            other => other.map(|o| o.map(|r| r.map(Frame::data))),
        }
    }
}

impl Stream {
    /// All of the body at once, if its producer is done and sent it whole (no error); else the
    /// stream as it was.
    pub(crate) fn take_all(mut self) -> Result<Bytes, Stream> {
        if self.deferred.is_some() || !self.rx.is_closed() {
            return Err(self);
        }
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut failed = None;
        while let Ok(c) = self.rx.try_recv() {
            match c {
                Ok(b) => chunks.push(b),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if failed.is_some() || !self.rx.is_empty() {
            // Put back what was taken: a stream that ends in an error stays one.
            let (tx, rx) = mpsc::channel(chunks.len() + 2);
            for c in chunks {
                let _ = tx.try_send(Ok(c));
            }
            if let Some(e) = failed {
                let _ = tx.try_send(Err(e));
            }
            return Err(Stream { rx, deferred: None });
        }
        Ok(match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.pop().unwrap_or_default(),
            _ => chunks.concat().into(),
        })
    }
}

/// A file body is read in pieces this big.
const FILE_CHUNK: u64 = 128 << 10;

impl Body {
    /// A body of one buffer.
    pub(crate) fn full(b: impl Into<Bytes>) -> Body {
        Body::Full(Some(b.into()))
    }

    /// Whether its bytes come from a producer that may wait (a gateway's stream), compressed
    /// or not.
    pub(crate) fn is_streamed(&self) -> bool {
        match self {
            Body::Stream(_) => true,
            Body::Encoded(e) => e.inner.is_streamed(),
            _ => false,
        }
    }

    /// A streamed body and the sender that feeds it.
    pub(crate) fn channel() -> (mpsc::Sender<io::Result<Bytes>>, Body) {
        let (tx, rx) = mpsc::channel(STREAM_DEPTH);
        (tx, Body::Stream(Stream { rx, deferred: None }))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Empty => Poll::Ready(None),
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(s) => s.poll_frame(cx),
            Body::Encoded(e) => e.poll_frame(cx),
            Body::File {
                file,
                at,
                left,
                via,
            } => {
                if *left == 0 {
                    return Poll::Ready(None);
                }
                if let Some(conn) = via {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX);
                    return conn.poll_file_chunk(cx, file, *at, n).map(|b| {
                        *at += b.len() as u64;
                        *left -= b.len() as u64;
                        Some(Ok(Frame::data(b)))
                    });
                }
                let want = (*left).min(FILE_CHUNK) as usize;
                let mut buf = bytes::BytesMut::zeroed(want);
                let r = match std::os::unix::fs::FileExt::read_at(&**file, &mut buf, *at) {
                    Ok(0) => Err(file_shrank()),
                    Ok(n) => {
                        buf.truncate(n);
                        *at += n as u64;
                        *left -= n as u64;
                        Ok(Frame::data(buf.freeze()))
                    }
                    Err(e) => Err(e),
                };
                Poll::Ready(Some(r))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::Stream(_) => false,
            Body::Encoded(e) => e.encoder.is_none(),
            Body::File { left, .. } => *left == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream(_) | Body::Encoded(_) => SizeHint::default(),
            Body::File { left, .. } => SizeHint::with_exact(*left),
        }
    }
}

/// What runs once a response body is finished or dropped.
pub(crate) trait Finish {
    /// `sent` body bytes went out; `completed` is false if the body failed or was dropped.
    fn finish(self, sent: u64, completed: bool);
}

/// Wraps a body to count what was sent and call [`Finish::finish`] once the body is finished
/// or dropped (the client went away): the access log and the connection's idle tracking hang
/// on this.
pub(crate) struct Tracked<F: Finish> {
    inner: Body,
    sent: u64,
    failed: bool,
    on_done: Option<F>,
}

impl<F: Finish> Tracked<F> {
    /// Tracks `inner`.
    pub(crate) fn new(inner: Body, on_done: F) -> Self {
        Tracked {
            inner,
            sent: 0,
            failed: false,
            on_done: Some(on_done),
        }
    }

    fn finish(&mut self, completed: bool) {
        if let Some(f) = self.on_done.take() {
            f.finish(self.sent, completed && !self.failed);
        }
    }
}

impl<F: Finish> Drop for Tracked<F> {
    fn drop(&mut self) {
        self.finish(false);
    }
}

impl<F: Finish + Unpin> http_body::Body for Tracked<F> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    this.sent += d.len() as u64;
                }
            }
            Poll::Ready(Some(Err(_))) => this.failed = true,
            Poll::Ready(None) => this.finish(true),
            Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
