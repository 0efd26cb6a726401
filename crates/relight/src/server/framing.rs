//! The framing of the requests on an HTTP/1 connection over TLS (served by hyper; plain
//! connections are relight's own, `http1.rs`, which parses the framing itself), followed in
//! the bytes hyper reads, for what hyper does not let relight see:
//!
//! - a request with both `Content-Length` and `Transfer-Encoding`, or with two
//!   `Content-Length`s, reaches relight with one framing header (hyper drops the others);
//!   lighttpd and RFC 9112 §6.3 refuse such a request with 400, and so does relight: the
//!   headers hyper would drop are renamed in place ([`REFUSED_LENGTH`], [`REFUSED_ENCODING`],
//!   names of the same length), hyper hands them over, and the connection answers 400
//!   ([`refused`]);
//! - a chunk whose announced size is beyond the largest request body the configuration allows
//!   (`ffffffffffffffff`) is refused when its size line arrives, not after the limit's worth of
//!   bytes: hyper's read ends there with [`ChunkTooLarge`], and the request is answered 413.
//!
//! To rename a header its name must not have been handed to hyper yet: the first bytes of a
//! header line that may become `Content-Length:` or `Transfer-Encoding:` (at most 18) are kept
//! back until the rest arrives. Whatever this reader does not follow exactly as hyper does
//! (a malformed head, an upgrade, CONNECT, HTTP/2's preface, trailers it cannot place) turns
//! it off for the rest of the connection: it then passes bytes through untouched, which is
//! what hyper alone would see. It changes no byte but the names of refused framing headers.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::body::ChunkTooLarge;

/// What a refused `Content-Length` header is renamed to (as long as `content-length`).
pub(crate) const REFUSED_LENGTH: &str = "relight~refuse";
/// What a refused `Transfer-Encoding` header is renamed to (as long as `transfer-encoding`).
pub(crate) const REFUSED_ENCODING: &str = "relight~refuse~te";

const LENGTH: &[u8] = b"content-length";
const ENCODING: &[u8] = b"transfer-encoding";
const UPGRADE: &[u8] = b"upgrade";
const _: () = assert!(REFUSED_LENGTH.len() == LENGTH.len());
const _: () = assert!(REFUSED_ENCODING.len() == ENCODING.len());

/// Longest framing header value followed (a longer one turns the reader off).
const MAX_VALUE: usize = 256;

/// Why a request whose framing headers were renamed is refused, if it is one.
pub(crate) fn refused(headers: &http::HeaderMap) -> Option<&'static str> {
    if headers.contains_key(REFUSED_ENCODING)
        || (headers.contains_key(REFUSED_LENGTH)
            && headers.contains_key(http::header::TRANSFER_ENCODING))
    {
        Some("Content-Length and Transfer-Encoding in one request")
    } else if headers.contains_key(REFUSED_LENGTH) {
        Some("more than one Content-Length")
    } else {
        None
    }
}

/// The reader of one connection's request framing.
#[derive(Debug)]
pub(crate) struct Framing {
    state: State,
    /// Bytes of a header line kept back until its name is known.
    carry: Vec<u8>,
    /// The bytes of the header line being read that matter (its name, then a framing value).
    line: Vec<u8>,
    /// The largest chunk a request may announce.
    chunk_limit: u64,
    /// A refused chunk: every read from then on fails with it.
    error: Option<ChunkTooLarge>,
}

#[derive(Debug)]
enum State {
    Head(Head),
    /// A Content-Length body: bytes left.
    Body(u64),
    Chunked(Chunk),
    /// Bytes pass untouched from here on.
    Off,
}

/// A request head being read.
#[derive(Debug, Default)]
struct Head {
    line: Line,
    /// The request line is read (empty lines before it are skipped, as httparse does).
    started: bool,
    /// The first framing header hyper keeps.
    framing: Option<Kind>,
    length: u64,
    /// Whether the last Transfer-Encoding kept ends in `chunked`.
    chunked: bool,
    /// CONNECT, HTTP/2's preface or an Upgrade header: what follows the head may not be HTTP/1.
    upgrade: bool,
    /// Where the current header line started in the bytes being scanned.
    line_start: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Line {
    /// At the start of a line.
    #[default]
    Start,
    /// After a CR that starts a line (an empty line, if LF follows).
    EmptyCr,
    /// In the request line's method.
    Method,
    /// In a header's name (it may still be a framing header's).
    Name,
    /// In a framing header's value.
    Value(Kind),
    /// In the rest of a line that does not matter.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Length,
    Encoding,
}

/// hyper's chunked decoder, state for state (`proto/h1/decode.rs`).
#[derive(Debug, Clone, Copy)]
enum Chunk {
    Start,
    Size(u64),
    Lws(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    EndCr,
    EndLf,
    Trailer,
    TrailerLf,
}

/// What scanning new bytes gave.
enum Scan {
    /// This many of them go to hyper now; the rest are carried to the next read.
    Keep(usize),
    /// This many go to hyper, then the read fails with the error.
    Refuse(usize, ChunkTooLarge),
}

impl Framing {
    /// The reader for a new connection, refusing chunks announced longer than `chunk_limit`.
    pub(crate) fn new(chunk_limit: u64) -> Framing {
        Framing {
            state: State::Head(Head::default()),
            carry: Vec::new(),
            line: Vec::new(),
            chunk_limit,
            error: None,
        }
    }

    /// Reads with `read` into `buf` what hyper may have now: the bytes carried from the last
    /// read first, then new ones, scanned (and renamed) on their way.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        mut read: impl FnMut(&mut Context<'_>, &mut ReadBuf<'_>) -> Poll<io::Result<()>>,
    ) -> Poll<io::Result<()>> {
        // Once a chunk is refused, every read fails: nothing after it reaches hyper.
        if let Some(e) = self.error {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
        }
        if matches!(self.state, State::Off) {
            if self.carry.is_empty() {
                return read(cx, buf);
            }
            // What was kept back goes first, as it is, without waiting for new bytes.
            let n = buf.remaining().min(self.carry.len());
            buf.put_slice(&self.carry[..n]);
            self.carry.drain(..n);
            return Poll::Ready(Ok(()));
        }
        loop {
            let start = buf.filled().len();
            let carried = self.carry.len();
            if buf.remaining() <= carried {
                // No room to read after them (a head at hyper's limit): hand them over as
                // they are (the next read hands over the rest).
                self.state = State::Off;
                let n = buf.remaining().min(carried);
                buf.put_slice(&self.carry[..n]);
                self.carry.drain(..n);
                return Poll::Ready(Ok(()));
            }
            buf.put_slice(&self.carry);
            match read(cx, buf) {
                Poll::Ready(Ok(())) => {}
                other => {
                    buf.set_filled(start);
                    return other;
                }
            }
            self.carry.clear();
            let end = buf.filled().len();
            if end - start == carried {
                // The end of the stream: what was kept goes as it is.
                self.state = State::Off;
                return Poll::Ready(Ok(()));
            }
            let scanned = &mut buf.filled_mut()[start..];
            let keep = match self.scan(scanned) {
                Scan::Keep(n) => n,
                Scan::Refuse(n, e) => {
                    self.error = Some(e);
                    n
                }
            };
            if self.error.is_none() {
                self.carry
                    .extend_from_slice(&buf.filled()[start + keep..end]);
            }
            buf.set_filled(start + keep);
            if keep > 0 {
                return Poll::Ready(Ok(()));
            }
            if let Some(e) = self.error {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
            // All kept back: read on.
        }
    }

    /// Follows `b`, renaming refused framing headers in it.
    fn scan(&mut self, b: &mut [u8]) -> Scan {
        let mut i = 0;
        if let State::Head(h) = &mut self.state {
            h.line_start = 0;
        }
        while i < b.len() {
            match &mut self.state {
                State::Off => break,
                State::Body(left) => {
                    let n = (*left).min((b.len() - i) as u64);
                    i += n as usize;
                    *left -= n;
                    if *left == 0 {
                        self.state = State::Head(Head::default());
                    }
                }
                State::Chunked(c) => {
                    let c = *c;
                    match chunk_step(c, b, &mut i, self.chunk_limit) {
                        Ok(Some(next)) => self.state = State::Chunked(next),
                        Ok(None) => self.state = State::Head(Head::default()),
                        Err(Some(e)) => {
                            self.state = State::Off;
                            return Scan::Refuse(i, e);
                        }
                        Err(None) => self.state = State::Off,
                    }
                }
                State::Head(_) => self.head_step(b, &mut i),
            }
        }
        // A header name that may still become one to rename is kept back until it is whole.
        if let State::Head(h) = &mut self.state
            && h.line == Line::Name
            && (LENGTH.starts_with(&self.line) || ENCODING.starts_with(&self.line))
        {
            h.line = Line::Start;
            return Scan::Keep(h.line_start);
        }
        Scan::Keep(b.len())
    }

    /// Reads head bytes from `b[*i..]`: one byte, or on to a line's end or `b`'s.
    fn head_step(&mut self, b: &mut [u8], i: &mut usize) {
        let State::Head(h) = &mut self.state else {
            return;
        };
        match h.line {
            Line::Start => {
                let c = b[*i];
                *i += 1;
                match c {
                    b'\r' => h.line = Line::EmptyCr,
                    b'\n' => self.empty_line(),
                    _ if !h.started => {
                        h.started = true;
                        h.line = Line::Method;
                        self.line.clear();
                        self.line.push(c);
                    }
                    _ => {
                        h.line = Line::Name;
                        h.line_start = *i - 1;
                        self.line.clear();
                        self.line.push(c.to_ascii_lowercase());
                        if !is_prefix(&self.line) {
                            h.line = Line::Skip;
                        }
                    }
                }
            }
            Line::EmptyCr => {
                *i += 1;
                if b[*i - 1] == b'\n' {
                    self.empty_line();
                } else {
                    self.state = State::Off;
                }
            }
            Line::Method => {
                let c = b[*i];
                *i += 1;
                match c {
                    b' ' => {
                        h.upgrade |= self.line == b"CONNECT" || self.line == b"PRI";
                        h.line = Line::Skip;
                    }
                    b'\r' | b'\n' => self.state = State::Off,
                    _ if self.line.len() < 8 => self.line.push(c),
                    _ => h.line = Line::Skip,
                }
            }
            Line::Skip => match b[*i..].iter().position(|&c| c == b'\n') {
                Some(n) => {
                    *i += n + 1;
                    h.line = Line::Start;
                }
                None => *i = b.len(),
            },
            Line::Name => {
                while *i < b.len() {
                    let c = b[*i];
                    *i += 1;
                    if c == b':' {
                        self.named(b, *i - 1);
                        return;
                    }
                    if c == b'\r' || c == b'\n' {
                        // A header line without a colon: hyper refuses the head.
                        self.state = State::Off;
                        return;
                    }
                    self.line.push(c.to_ascii_lowercase());
                    if !is_prefix(&self.line) {
                        h.line = Line::Skip;
                        return;
                    }
                }
            }
            Line::Value(kind) => {
                while *i < b.len() {
                    let c = b[*i];
                    *i += 1;
                    if c == b'\n' {
                        self.value(kind);
                        return;
                    }
                    if self.line.len() == MAX_VALUE {
                        self.state = State::Off;
                        return;
                    }
                    self.line.push(c);
                }
            }
        }
    }

    /// A header's name ended at `colon` in `b`: renames it if it must be refused.
    fn named(&mut self, b: &mut [u8], colon: usize) {
        let State::Head(h) = &mut self.state else {
            return;
        };
        let name = &b[h.line_start..colon];
        let kind = match &self.line[..] {
            n if n == LENGTH => Kind::Length,
            n if n == ENCODING => Kind::Encoding,
            n if n == UPGRADE => {
                h.upgrade = true;
                h.line = Line::Skip;
                return;
            }
            _ => {
                h.line = Line::Skip;
                return;
            }
        };
        debug_assert_eq!(name.len(), self.line.len());
        // After a Content-Length every other framing header is refused; after a
        // Transfer-Encoding, every Content-Length (hyper keeps more Transfer-Encodings).
        let refuse = match (h.framing, kind) {
            (None, _) | (Some(Kind::Encoding), Kind::Encoding) => None,
            (Some(_), Kind::Length) => Some(REFUSED_LENGTH),
            (Some(Kind::Length), Kind::Encoding) => Some(REFUSED_ENCODING),
        };
        match refuse {
            Some(to) => {
                b[h.line_start..colon].copy_from_slice(to.as_bytes());
                h.line = Line::Skip;
            }
            None => {
                h.framing.get_or_insert(kind);
                self.line.clear();
                h.line = Line::Value(kind);
            }
        }
    }

    /// A framing header's value (in `self.line`) ended.
    fn value(&mut self, kind: Kind) {
        let State::Head(h) = &mut self.state else {
            return;
        };
        h.line = Line::Start;
        let v = trim(&self.line);
        match kind {
            Kind::Length => match digits(v) {
                Some(n) => h.length = n,
                None => self.state = State::Off,
            },
            Kind::Encoding => {
                let last = v.rsplit(|&c| c == b',').next().unwrap_or_default();
                h.chunked = trim(last).eq_ignore_ascii_case(b"chunked");
            }
        }
    }

    /// An empty line: before the request line it is skipped, after it the head ends.
    fn empty_line(&mut self) {
        let State::Head(h) = &mut self.state else {
            return;
        };
        h.line = Line::Start;
        if !h.started {
            return;
        }
        self.state = if h.upgrade {
            State::Off
        } else {
            match h.framing {
                None => State::Head(Head::default()),
                Some(Kind::Length) if h.length == 0 => State::Head(Head::default()),
                Some(Kind::Length) => State::Body(h.length),
                Some(Kind::Encoding) if h.chunked => State::Chunked(Chunk::Start),
                Some(Kind::Encoding) => State::Off,
            }
        };
    }
}

/// One step of the chunked decoder over `b[*i..]`: the next state, `None` at the body's end;
/// `Err(None)` where hyper fails the body, `Err(Some(_))` for a chunk over `limit` (`*i` then
/// at the digit that took it over).
fn chunk_step(
    c: Chunk,
    b: &[u8],
    i: &mut usize,
    limit: u64,
) -> Result<Option<Chunk>, Option<ChunkTooLarge>> {
    if let Chunk::Data(left) = c {
        let n = left.min((b.len() - *i) as u64);
        *i += n as usize;
        return Ok(Some(if left == n {
            Chunk::DataCr
        } else {
            Chunk::Data(left - n)
        }));
    }
    let byte = b[*i];
    let size = |s: u64| -> Result<Chunk, Option<ChunkTooLarge>> {
        let d = (byte as char).to_digit(16).ok_or(None)?;
        let s = s
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(d)))
            .ok_or(None)?;
        if s > limit {
            return Err(Some(ChunkTooLarge { limit }));
        }
        Ok(Chunk::Size(s))
    };
    let next = match c {
        Chunk::Start if byte == b'\r' => Chunk::SizeLf(0),
        Chunk::Start => size(0)?,
        Chunk::Size(s) => match byte {
            b'\t' | b' ' => Chunk::Lws(s),
            b';' => Chunk::Extension(s),
            b'\r' => Chunk::SizeLf(s),
            _ => size(s)?,
        },
        Chunk::Lws(s) => match byte {
            b'\t' | b' ' => Chunk::Lws(s),
            b';' => Chunk::Extension(s),
            b'\r' => Chunk::SizeLf(s),
            _ => return Err(None),
        },
        Chunk::Extension(s) => match byte {
            b'\r' => Chunk::SizeLf(s),
            b'\n' => return Err(None),
            _ => Chunk::Extension(s),
        },
        Chunk::SizeLf(s) => match byte {
            b'\n' if s == 0 => Chunk::EndCr,
            b'\n' => Chunk::Data(s),
            _ => return Err(None),
        },
        Chunk::Data(_) => unreachable!("handled above"),
        Chunk::DataCr if byte == b'\r' => Chunk::DataLf,
        Chunk::DataLf if byte == b'\n' => Chunk::Start,
        Chunk::DataCr | Chunk::DataLf => return Err(None),
        Chunk::EndCr if byte == b'\r' => Chunk::EndLf,
        Chunk::EndCr => Chunk::Trailer,
        Chunk::EndLf if byte == b'\n' => {
            *i += 1;
            return Ok(None);
        }
        Chunk::EndLf => return Err(None),
        Chunk::Trailer if byte == b'\r' => Chunk::TrailerLf,
        Chunk::Trailer => Chunk::Trailer,
        Chunk::TrailerLf if byte == b'\n' => Chunk::EndCr,
        Chunk::TrailerLf => return Err(None),
    };
    *i += 1;
    Ok(Some(next))
}

/// Whether `name` (lower case) may still become a header name this reader follows.
fn is_prefix(name: &[u8]) -> bool {
    LENGTH.starts_with(name) || ENCODING.starts_with(name) || UPGRADE.starts_with(name)
}

fn trim(v: &[u8]) -> &[u8] {
    let ws = |c: &u8| *c == b' ' || *c == b'\t' || *c == b'\r';
    let start = v.iter().position(|c| !ws(c)).unwrap_or(v.len());
    let end = v.iter().rposition(|c| !ws(c)).map_or(start, |e| e + 1);
    &v[start..end]
}

/// A Content-Length value as hyper reads it: digits only.
fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &c| {
        c.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(c - b'0')))
            .flatten()
    })
}

/// A stream whose reads are followed by a [`Framing`] reader: the HTTP/1 bytes of a TLS
/// connection, above TLS (a plain connection's socket has the reader built in, conn.rs).
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct Framed<T> {
    inner: T,
    framing: Framing,
}

#[cfg_attr(not(feature = "tls"), allow(dead_code))]
impl<T> Framed<T> {
    /// `inner`, refusing chunks announced longer than `chunk_limit`.
    pub(crate) fn new(inner: T, chunk_limit: u64) -> Framed<T> {
        Framed {
            inner,
            framing: Framing::new(chunk_limit),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Framed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let inner = &mut this.inner;
        this.framing
            .poll_read(cx, buf, |cx, buf| Pin::new(&mut *inner).poll_read(cx, buf))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Framed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a reader in pieces cut at `cuts`, as reads would bring it, and returns
    /// what hyper would have read, and whether a read failed with [`ChunkTooLarge`].
    fn through(input: &[u8], cuts: &[usize], limit: u64) -> (Vec<u8>, bool) {
        let mut f = Framing::new(limit);
        let mut pieces = Vec::new();
        let mut at = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            let c = c.clamp(at, input.len());
            pieces.push(&input[at..c]);
            at = c;
        }
        let mut pieces = pieces.into_iter().filter(|p| !p.is_empty());
        let mut out = Vec::new();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut mem = vec![std::mem::MaybeUninit::uninit(); 4 << 10];
        loop {
            let mut buf = ReadBuf::uninit(&mut mem);
            let mut ended = false;
            let r = f.poll_read(&mut cx, &mut buf, |_, b| match pieces.next() {
                Some(p) => {
                    b.put_slice(p);
                    Poll::Ready(Ok(()))
                }
                None => {
                    ended = true;
                    Poll::Ready(Ok(()))
                }
            });
            match r {
                Poll::Ready(Ok(())) => {
                    out.extend_from_slice(buf.filled());
                    if ended && buf.filled().is_empty() {
                        return (out, false);
                    }
                }
                Poll::Ready(Err(e)) => {
                    assert!(e.get_ref().is_some_and(|e| e.is::<ChunkTooLarge>()));
                    return (out, true);
                }
                Poll::Pending => unreachable!(),
            }
        }
    }

    /// Every way of cutting `input` in two and in three pieces gives `want`.
    fn check_all_cuts(input: &[u8], want: &[u8]) {
        for a in 0..=input.len() {
            assert_eq!(through(input, &[a], u64::MAX).0, want, "cut at {a}");
            for b in a..=input.len() {
                assert_eq!(
                    through(input, &[a, b], u64::MAX).0,
                    want,
                    "cuts at {a}, {b}"
                );
            }
        }
    }

    #[test]
    fn plain_pipelined_requests_pass_unchanged() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
            POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\n\r\n\
            Transfer-Encoding: chunked\r\n\r\n\
            POST /y HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n\
            1a;ext=1\r\nContent-Length: 5\r\n\r\nabcde\r\n0\r\nX-T: 1\r\n\r\n\
            \r\nGET /z HTTP/1.1\nContent-length: 0\n\n";
        check_all_cuts(input, input);
    }

    #[test]
    fn a_second_content_length_is_renamed() {
        let input = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nCONTENT-LENGTH: 3\r\n\r\nabc\
            GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        let want = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nrelight~refuse: 3\r\n\r\nabc\
            GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        check_all_cuts(input, want);
    }

    #[test]
    fn length_and_encoding_rename_the_later_one() {
        let input = b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
            0\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n\
            0\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        // The first request is framed by its Content-Length (4 bytes: "0\r\n\r"), so "\n"
        // starts the next head (an empty line, skipped).
        let want = b"POST / HTTP/1.1\r\nContent-Length: 4\r\nrelight~refuse~te: chunked\r\n\r\n\
            0\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nrelight~refuse: 4\r\n\r\n\
            0\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        check_all_cuts(input, want);
    }

    #[test]
    fn header_names_in_bodies_are_not_touched() {
        let input = b"POST / HTTP/1.1\r\nContent-Length: 38\r\n\r\n\
            Content-Length: 1\r\nContent-Length: 2\r\n\
            POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
            13\r\nContent-Length: 1\r\n\r\n0\r\n\r\n";
        check_all_cuts(input, input);
    }

    #[test]
    fn upgrades_and_connect_turn_it_off() {
        for first in [
            &b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"[..],
            b"CONNECT a:1 HTTP/1.1\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\n",
        ] {
            let mut input = first.to_vec();
            input.extend_from_slice(b"Content-Length: 1\r\nContent-Length: 1\r\n\r\n");
            check_all_cuts(&input, &input);
        }
    }

    #[test]
    fn a_huge_chunk_is_refused_at_its_size_line() {
        let input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
            4\r\nabcd\r\nffffffffffffffff\r\nxxxx";
        for a in 0..=input.len() {
            let (out, refused) = through(input, &[a], 1 << 20);
            assert!(refused, "cut at {a}");
            // hyper gets the bytes up to the digit that went over the limit.
            let at = input.len() - "fffffffffff\r\nxxxx".len();
            assert_eq!(out, &input[..at], "cut at {a}");
        }
        let (out, refused) = through(input, &[], u64::MAX);
        assert!(!refused);
        assert_eq!(out, input);
    }

    #[test]
    fn refusals_are_named() {
        let mut h = http::HeaderMap::new();
        assert_eq!(refused(&h), None);
        h.insert(REFUSED_LENGTH, http::HeaderValue::from_static("1"));
        assert_eq!(refused(&h), Some("more than one Content-Length"));
        h.insert(
            http::header::TRANSFER_ENCODING,
            http::HeaderValue::from_static("chunked"),
        );
        assert!(refused(&h).is_some_and(|r| r.contains("Transfer-Encoding")));
    }

    /// Random streams of the pieces requests are made of, cut at random places: nothing
    /// changes but the names of framing headers, whatever the reader makes of them.
    #[test]
    fn only_framing_header_names_ever_change() {
        let parts: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\n",
            b"POST /p HTTP/1.1\r\n",
            b"Content-Length: 5\r\n",
            b"content-length: 0\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Host: x\r\n",
            b"Upgrade: h2c\r\n",
            b"\r\n",
            b"\n",
            b"5\r\n",
            b"0\r\n",
            b"abcde",
            b"Content-",
            b";x\r\n",
            b"ffffffff\r\n",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut input = Vec::new();
            for _ in 0..(next() % 24) {
                input.extend_from_slice(parts[(next() % parts.len() as u64) as usize]);
            }
            let cuts: Vec<usize> = (0..(next() % 5))
                .map(|_| (next() % (input.len() as u64 + 1)) as usize)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let limit = if next() % 2 == 0 { u64::MAX } else { 1000 };
            let (out, refused) = through(&input, &cuts, limit);
            if !refused {
                assert_eq!(
                    out.len(),
                    input.len(),
                    "{:?}",
                    String::from_utf8_lossy(&input)
                );
            }
            let mut k = 0;
            while k < out.len() {
                if out[k] == input[k] {
                    k += 1;
                    continue;
                }
                // The longer name first: the shorter is its prefix.
                let to = [REFUSED_ENCODING, REFUSED_LENGTH]
                    .into_iter()
                    .find(|r| out[k..].starts_with(r.as_bytes()))
                    .expect("a renamed header");
                let from = &input[k..k + to.len()];
                assert!(
                    from.eq_ignore_ascii_case(LENGTH) || from.eq_ignore_ascii_case(ENCODING),
                    "{:?} cut at {cuts:?}, chunks up to {limit}: {:?}",
                    String::from_utf8_lossy(&input),
                    String::from_utf8_lossy(&out)
                );
                k += to.len();
            }
        }
    }
}
