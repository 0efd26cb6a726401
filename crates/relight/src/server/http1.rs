//! relight's own HTTP/1 connection, for plain listeners: one buffer per connection (none while
//! it waits idle between requests), the request head parsed in place by `httparse` with
//! framing rules at least as strict as hyper's (and lighttpd's: two framing headers are
//! refused), the request body decoded as the handler asks for it ([`Pump`]), and the response
//! head written once, with its body, in one `writev` (file bodies by sendfile, through
//! [`ConnIo`]). HTTP/2 and HTTP/1 over TLS stay hyper's (`accept.rs`).
//!
//! Why not hyper here: on the common path (a keep-alive GET answered from a file or a
//! FastCGI backend) hyper's dispatcher, its body channels and its buffers were half of
//! relight's user-space CPU per request and most of an idle connection's memory
//! (docs/ARCHITECTURE.md has the numbers).

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, StatusCode, Uri, Version};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::{oneshot, watch};

use super::Current;
use super::accept::{Watched, respond};
use super::conn::{ConnIo, ConnShared};
use crate::http::body::ChunkTooLarge;
use crate::http::client_body::{BodyTx, ClientBody, OnUpgrade, Room, Upgraded, read_body};
use crate::request::Conn;

/// The most header lines a request may have (hyper's default too); more is 431.
const MAX_HEADERS: usize = 100;
/// What a read asks for while a head arrives.
const HEAD_READ: usize = 4096;
/// What a read asks for while a body arrives.
const BODY_READ: usize = 64 << 10;
/// The most of an unread request body read and thrown away after its response so that the
/// connection can go on; a longer one closes it.
const DRAIN_LIMIT: u64 = 64 << 10;
/// The longest chunk-size line (with its extensions) and the most trailer bytes of a chunked
/// body.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16 << 10;

/// The head buffers of the connections that went idle, for the next heads to be read into: a
/// keep-alive connection gives its buffer up while it waits (see [`serve`]), and one taken
/// back from here costs no malloc and free of 4 KiB per request (measured with callgrind:
/// 770 instructions per static request). At most [`spare::MAX`] are kept per thread, of at
/// most 8 KiB each.
mod spare {
    use std::cell::RefCell;

    use bytes::BytesMut;

    use super::HEAD_READ;

    /// The most buffers kept (32 KiB of 4 KiB ones, 64 KiB at most).
    pub(super) const MAX: usize = 8;

    thread_local! {
        static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    }

    /// Keeps `buf` if it is empty, nothing else holds any part of its memory (the request
    /// head it held is gone) and that memory is of the usual size; otherwise it is freed.
    pub(super) fn put(mut buf: BytesMut) {
        // What is left after a head is less than a read's worth; `try_reclaim` then succeeds
        // only by taking the whole allocation back, which it does only when no other handle
        // shares it. A room already as large as a read (the end of a buffer grown for a large
        // head or a body) would pass without that, and keep all of its allocation.
        if buf.is_empty()
            && buf.capacity() < HEAD_READ
            && buf.try_reclaim(HEAD_READ)
            && buf.capacity() <= 2 * HEAD_READ
        {
            SPARE.with_borrow_mut(|s| {
                if s.len() < MAX {
                    s.push(buf);
                }
            });
        }
    }

    /// A kept buffer, or an empty one (no memory) when there is none.
    pub(super) fn take() -> BytesMut {
        SPARE.with_borrow_mut(Vec::pop).unwrap_or_default()
    }
}

/// The limits a connection reads with, from the configuration current when it was accepted.
struct Limits {
    header_timeout: Duration,
    max_header: usize,
    /// The largest body any scope allows: a chunk announced beyond it is refused at once.
    largest_body: u64,
}

/// Serves HTTP/1 requests on a plain connection until the client is done, a timeout, or
/// `stop` (then an idle connection closes at once and a busy one after its response).
pub(super) async fn serve(
    cur: Current,
    mut io: ConnIo,
    conn: Conn,
    shared: Arc<ConnShared>,
    mut stop: watch::Receiver<bool>,
) {
    let limits = {
        let state = super::current(&cur);
        let s = &state.config().server;
        Limits {
            header_timeout: s.header_timeout.0,
            max_header: s.max_header_size.0 as usize,
            largest_body: state.handler.largest_body(),
        }
    };
    // Empty (no memory) whenever the connection waits for a request with nothing read.
    let mut buf = BytesMut::new();
    let mut first = true;
    loop {
        // Stopping (SIGINT, or a new binary took over): a connection's first request and a
        // request already sent are still served (with `Connection: close`); an idle
        // connection closes.
        if *stop.borrow() && !first && buf.is_empty() && !io.has_input_now() {
            return;
        }
        let head = match read_head(&mut io, &mut buf, &limits, first, &mut stop).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                tracing::info!("{}: {}: {}", conn.remote, e.why, e.status.as_u16());
                let refusal = Box::pin(write_refusal(&mut io, e.status));
                let _ = refusal.await;
                return;
            }
        };
        first = false;
        let at = At {
            conn,
            shared: &shared,
            stop: &stop,
            largest_body: limits.largest_body,
        };
        // Boxed, with the request's pipeline in it: an idle connection's task holds only what
        // waiting for a head needs.
        // (Its own statement: a temporary in the awaited expression would keep the future's
        // size in this one's.)
        let ex = Box::pin(exchange(&cur, &mut io, &mut buf, head, at));
        match ex.await {
            Next::KeepAlive => {
                if buf.is_empty() {
                    // An idle connection holds no buffer, and its keep-alive timeout runs
                    // again (what the last request's body reads read was its own).
                    spare::put(std::mem::take(&mut buf));
                    shared.mark_idle();
                }
            }
            Next::Close => return,
            Next::Upgrade(tx) => {
                let rest = buf.split().freeze();
                let _ = tx.send(Box::new(Rewind { rest, io }));
                return;
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response being made while the request's body goes on being read (for a handler
    /// that reads it). A future of its own, awaited where it is made: pinned in a local, the
    /// handler's future took its size twice in the exchange's (measured, 9936 bytes, 2312
    /// without it), all of it copied and allocated per request.
    struct Answering<'a, F> {
        pump: &'a mut Option<Pump>,
        io: &'a mut ConnIo,
        buf: &'a mut BytesMut,
        #[pin]
        answer: F,
    }
}

impl<F: Future> Future for Answering<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let Some(p) = this.pump.as_mut() {
            let _ = p.poll(cx, this.io, this.buf);
        }
        this.answer.poll(cx)
    }
}

/// What a connection does after a response.
enum Next {
    KeepAlive,
    Close,
    /// The 101 went out: the connection is the request's now.
    Upgrade(oneshot::Sender<Upgraded>),
}

/// A request head that cannot be served: answered with `status`, logged with `why`, and the
/// connection closed.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    why: String,
}

impl Refusal {
    fn new(status: StatusCode, why: impl Into<String>) -> Refusal {
        Refusal {
            status,
            why: why.into(),
        }
    }
}

/// How a request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head.
struct Head {
    req: Request<()>,
    framing: Framing,
    /// Why its framing is refused (answered 400 by `respond`).
    refused: Option<&'static str>,
    /// The client would keep the connection after this request.
    keep_alive: bool,
    expect_continue: bool,
    upgrade: bool,
}

/// Reads until a whole request head is in `buf`; `None` when the connection ends first (the
/// client closed it, a timeout, `stop` while idle).
async fn read_head(
    io: &mut ConnIo,
    buf: &mut BytesMut,
    limits: &Limits,
    first: bool,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<Head>, Refusal> {
    // The head must be whole within header_timeout of the connection's start (first
    // request) or of its first byte (later ones: till then the keep-alive timeout runs).
    let mut deadline = first.then(|| tokio::time::Instant::now() + limits.header_timeout);
    loop {
        if !buf.is_empty() {
            if let Some(head) = parse(buf, limits)? {
                return Ok(Some(head));
            }
            if buf.len() >= limits.max_header {
                return Err(Refusal::new(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    format!(
                        "request head larger than max_header_size ({} bytes)",
                        limits.max_header
                    ),
                ));
            }
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + limits.header_timeout);
        }
        if buf.is_empty() {
            // Nothing to read into until there is something to read: an idle connection
            // holds no buffer.
            match within(poll_fn(|cx| io.poll_readable(cx)), deadline, stop).await {
                Some(Ok(())) => {}
                // Stopped while waiting: see `serve` (the next wait ignores the stop, which
                // has been seen, and ends with the header timeout).
                None if *stop.borrow() && !expired(deadline) && (first || io.has_input_now()) => {
                    continue;
                }
                _ => return Ok(None),
            }
        }
        if buf.capacity() == 0 {
            *buf = spare::take();
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(HEAD_READ);
        }
        match within(io.read_buf(buf), deadline, stop).await {
            Some(Ok(n)) if n > 0 => {}
            None if *stop.borrow()
                && !expired(deadline)
                && (first || !buf.is_empty() || io.has_input_now()) =>
            {
                deadline.get_or_insert_with(|| tokio::time::Instant::now() + limits.header_timeout);
            }
            _ => return Ok(None),
        }
    }
}

/// Whether `deadline` has passed.
fn expired(deadline: Option<tokio::time::Instant>) -> bool {
    deadline.is_some_and(|d| tokio::time::Instant::now() >= d)
}

/// `f`'s output, unless `deadline` passes or `stop` changes first (`None`).
async fn within<F: Future>(
    f: F,
    deadline: Option<tokio::time::Instant>,
    stop: &mut watch::Receiver<bool>,
) -> Option<F::Output> {
    match deadline {
        None => tokio::select! {
            biased;
            r = f => Some(r),
            _ = stop.changed() => None,
        },
        Some(d) => tokio::select! {
            biased;
            r = tokio::time::timeout_at(d, f) => r.ok(),
            _ = stop.changed() => None,
        },
    }
}

/// Parses the head at the start of `buf` and takes it out; `None` while it is incomplete.
fn parse(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Head>, Refusal> {
    let bad = |why: &str| Refusal::new(StatusCode::BAD_REQUEST, why);
    // Left uninitialized (httparse writes the lines it finds): not 3 KiB to clear per request.
    let mut lines =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut []);
    let len = match r.parse_with_uninit_headers(buf, &mut lines) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("more than {MAX_HEADERS} header lines"),
            ));
        }
        Err(e) => return Err(bad(&format!("malformed request head ({e})"))),
    };
    if len > limits.max_header {
        return Err(Refusal::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "request head larger than max_header_size ({} bytes)",
                limits.max_header
            ),
        ));
    }
    let version = match r.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let method = Method::from_bytes(r.method.unwrap_or_default().as_bytes())
        .map_err(|_| bad("malformed method"))?;
    // Where each piece lies in the head, so that the values can share its bytes.
    // (Offsets in u32: a head is far smaller, and the array is half as much to clear.)
    let base = buf.as_ptr() as usize;
    let at = |s: &[u8]| ((s.as_ptr() as usize - base) as u32, s.len() as u32);
    let target = at(r.path.unwrap_or_default().as_bytes());
    let mut spans = [((0u32, 0u32), (0u32, 0u32)); MAX_HEADERS];
    let count = r.headers.len();
    for (span, h) in spans.iter_mut().zip(r.headers.iter()) {
        *span = (at(h.name.as_bytes()), at(h.value));
    }
    let head = buf.split_to(len).freeze();
    let slice = |(o, l): (u32, u32)| head.slice(o as usize..(o + l) as usize);
    let uri = Uri::from_maybe_shared(slice(target)).map_err(|_| bad("malformed request target"))?;

    let mut headers = HeaderMap::with_capacity(count);
    let mut lengths = 0usize;
    let mut length: Option<u64> = None;
    let mut encodings = 0usize;
    let mut chunked = false;
    // Connection's tokens: "close" wins over "keep-alive" wherever each is.
    let (mut close, mut keep) = (false, false);
    let mut expect_continue = false;
    let mut upgrade = false;
    for &(name, value) in &spans[..count] {
        let name = HeaderName::from_bytes(&head[name.0 as usize..(name.0 + name.1) as usize])
            .map_err(|_| bad("malformed header name"))?;
        let value = HeaderValue::from_maybe_shared(slice(value))
            .map_err(|_| bad("malformed header value"))?;
        if name == header::CONTENT_LENGTH {
            lengths += 1;
            let n = digits(value.as_bytes()).ok_or_else(|| bad("malformed Content-Length"))?;
            length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            encodings += 1;
            // The last coding decides (RFC 9112 §6.3): chunked, or the body cannot be framed.
            chunked = value
                .as_bytes()
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| trim(last).eq_ignore_ascii_case(b"chunked"));
        } else if name == header::CONNECTION {
            for token in value.as_bytes().split(|&b| b == b',') {
                let token = trim(token);
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    upgrade = true;
                }
            }
        } else if name == header::EXPECT {
            expect_continue = trim(value.as_bytes()).eq_ignore_ascii_case(b"100-continue");
        }
        headers.append(name, value);
    }
    let keep_alive = !close && (version == Version::HTTP_11 || keep);
    let mut refused = None;
    let framing = if encodings > 0 && lengths > 0 {
        refused = Some("Content-Length and Transfer-Encoding in one request");
        Framing::None
    } else if lengths > 1 {
        refused = Some("more than one Content-Length");
        Framing::None
    } else if encodings > 0 {
        if version == Version::HTTP_10 {
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if !chunked {
            return Err(bad("Transfer-Encoding whose last coding is not chunked"));
        }
        Framing::Chunked
    } else {
        match length {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    };
    let upgrade = upgrade && version == Version::HTTP_11 && headers.contains_key(header::UPGRADE);
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    *req.headers_mut() = headers;
    Ok(Some(Head {
        req,
        framing,
        refused,
        keep_alive: keep_alive && refused.is_none(),
        expect_continue: expect_continue && version == Version::HTTP_11,
        upgrade,
    }))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// A decimal length, digits only (no sign, no list), that fits.
fn digits(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// What a request is served with besides its head.
struct At<'a> {
    conn: Conn,
    shared: &'a Arc<ConnShared>,
    stop: &'a watch::Receiver<bool>,
    largest_body: u64,
}

/// One request: its handler's answer, written, with its body read as the handler asks.
async fn exchange(
    cur: &Current,
    io: &mut ConnIo,
    buf: &mut BytesMut,
    head: Head,
    at: At<'_>,
) -> Next {
    let At {
        conn,
        shared,
        stop,
        largest_body,
    } = at;
    let Head {
        req,
        framing,
        refused,
        keep_alive,
        expect_continue,
        upgrade,
    } = head;
    let version = req.version();
    let is_head = req.method() == Method::HEAD;
    let connect = req.method() == Method::CONNECT;
    let state = super::current(cur);
    let (mut pump, body) = match framing {
        Framing::None => (None, ClientBody::Empty),
        Framing::Length(n) => {
            let (tx, body) = read_body(Some(n));
            (
                Some(Pump::new(tx, Decoder::Length(n), expect_continue)),
                body,
            )
        }
        Framing::Chunked => {
            let (tx, body) = read_body(None);
            let decoder = Decoder::Chunked(Chunked::new(largest_body));
            (Some(Pump::new(tx, decoder, expect_continue)), body)
        }
    };
    let mut req = req.map(|()| body);
    let mut upgrade_tx = None;
    if upgrade {
        let (tx, on) = OnUpgrade::conn();
        req.extensions_mut().insert(on);
        upgrade_tx = Some(tx);
    }
    let resp = Answering {
        pump: &mut pump,
        io: &mut *io,
        buf: &mut *buf,
        answer: respond(state, req, conn, shared.clone(), false, refused),
    }
    .await;
    // The head goes out next: a 100 Continue half written is finished first, one not begun
    // never goes (it would land inside the response).
    if let Some(p) = &mut pump
        && p.head_goes_out(io).await.is_err()
    {
        return Next::Close;
    }

    let (mut parts, mut body) = resp.into_parts();
    let status = parts.status;
    let headers = &mut parts.headers;
    let mut keep = keep_alive && !connect && !*stop.borrow();
    // One pass over the response's headers for what framing needs (no lookup by name: each
    // costs a hash); what relight adds is written after them, not put in the map.
    let (mut connection, mut coded, mut length, mut dated) = (false, false, false, false);
    let mut declared = None;
    for (name, value) in headers.iter() {
        if name == header::CONNECTION {
            connection = true;
            if value.as_bytes().eq_ignore_ascii_case(b"close") {
                keep = false;
            }
        } else if name == header::TRANSFER_ENCODING {
            coded = true;
        } else if name == header::CONTENT_LENGTH {
            if !length {
                declared = digits(value.as_bytes());
            }
            length = true;
        } else if name == header::DATE {
            dated = true;
        }
    }
    if coded {
        headers.remove(header::TRANSFER_ENCODING);
    }
    let bodiless = status.is_informational() || status == StatusCode::NO_CONTENT;
    if bodiless && length {
        headers.remove(header::CONTENT_LENGTH);
        declared = None;
    }
    let mut added = Added::default();
    let out = if bodiless || status == StatusCode::NOT_MODIFIED {
        Out::Length(0)
    } else if let Some(n) = declared {
        Out::Length(n)
    } else if let Some(n) = body.size_hint().exact() {
        if n > 0 || !is_head {
            added.length = Some(n);
        }
        Out::Length(n)
    } else if version == Version::HTTP_11 {
        added.chunked = true;
        Out::Chunked
    } else {
        keep = false;
        Out::Close
    };
    let upgrading = status == StatusCode::SWITCHING_PROTOCOLS && upgrade_tx.is_some();
    if upgrading {
        keep = false;
    }
    if !upgrading {
        if !keep && version == Version::HTTP_11 {
            if !connection {
                added.connection = Some("close");
            }
        } else if keep && version == Version::HTTP_10 {
            if connection {
                headers.remove(header::CONNECTION);
            }
            added.connection = Some("keep-alive");
        }
    }
    added.date = !dated;
    // Room for a static file's head and most gateways' (a head that outgrows its first buffer
    // is copied again: measured, static 1 KiB heads of 280 bytes did, once per request).
    let mut head_bytes = Vec::with_capacity(512);
    write_head(&mut head_bytes, version, status, headers, &added);
    let sent = {
        let mut w = Writer {
            io: &mut *io,
            buf: &mut *buf,
            pump: &mut pump,
        };
        if is_head || bodiless || status == StatusCode::NOT_MODIFIED {
            w.write(&mut [IoSlice::new(&head_bytes)]).await.is_ok()
        } else {
            w.body(head_bytes, &mut body, out).await
        }
    };
    drop(body);
    if !sent {
        return Next::Close;
    }
    if upgrading && let Some(tx) = upgrade_tx {
        return Next::Upgrade(tx);
    }
    if !keep {
        return Next::Close;
    }
    // What is left of the request's body is read and thrown away (a little of it), or the
    // connection cannot go on.
    if let Some(p) = &mut pump {
        if !p.finished() {
            p.give_up_continue();
            let _ = tokio::time::timeout(Duration::from_secs(5), poll_fn(|cx| p.poll(cx, io, buf)))
                .await;
        }
        // A body that failed (malformed, too much to throw away, never sent) leaves bytes
        // that are not a request: they must never be read as one.
        if !p.complete() {
            return Next::Close;
        }
    }
    Next::KeepAlive
}

/// How a response's body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Length(u64),
    Chunked,
    /// Until the connection closes (HTTP/1.0, length unknown).
    Close,
}

/// The response head's bytes: the status line and the headers (names as hyper writes them).
/// The headers relight adds to a response head, after the response's own (in this order).
#[derive(Default)]
struct Added {
    length: Option<u64>,
    chunked: bool,
    connection: Option<&'static str>,
    date: bool,
}

fn write_head(
    out: &mut Vec<u8>,
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
    added: &Added,
) {
    out.extend_from_slice(if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(n) = added.length {
        out.extend_from_slice(b"content-length: ");
        crate::http::push_decimal(out, n);
        out.extend_from_slice(b"\r\n");
    }
    if added.chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if let Some(c) = added.connection {
        out.extend_from_slice(b"connection: ");
        out.extend_from_slice(c.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if added.date {
        out.extend_from_slice(b"date: ");
        push_date(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the Date of this second (formatted once per second).
fn push_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: std::cell::RefCell<(u64, String)> =
            const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = crate::http::date::now_secs();
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != now {
            d.1 = crate::http::date::format(std::time::SystemTime::now());
            d.0 = now;
        }
        out.extend_from_slice(d.1.as_bytes());
    })
}

/// Writes a response on the connection while the request's body goes on being read for
/// the handler that may still want it (a backend that answers while it reads).
struct Writer<'a> {
    io: &'a mut ConnIo,
    buf: &'a mut BytesMut,
    pump: &'a mut Option<Pump>,
}

impl Writer<'_> {
    /// Writes all of `slices`.
    async fn write(&mut self, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
        IoSlice::advance_slices(&mut slices, 0);
        while !slices.is_empty() {
            let n = poll_fn(|cx| {
                if let Some(p) = self.pump.as_mut() {
                    let _ = p.poll(cx, self.io, self.buf);
                }
                Pin::new(&mut *self.io).poll_write_vectored(cx, slices)
            })
            .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut slices, n);
        }
        Ok(())
    }

    /// The next frame of `body`, the request's body read meanwhile.
    async fn frame(&mut self, body: &mut Watched) -> Option<io::Result<Bytes>> {
        poll_fn(|cx| {
            if let Some(p) = self.pump.as_mut() {
                let _ = p.poll(cx, self.io, self.buf);
            }
            poll_data(body, cx)
        })
        .await
    }

    /// The head, then the body framed as `out`; false if the connection cannot go on (an
    /// error, or a body that did not match its length: the client must see it cut off).
    async fn body(&mut self, head: Vec<u8>, body: &mut Watched, out: Out) -> bool {
        let mut head = Some(head);
        let mut sent = 0u64;
        loop {
            // The head goes with the first bytes of the body when they are there at once, and
            // alone before a wait for them.
            let frame = match poll_now(body) {
                Some(f) => f,
                None => {
                    if let Some(h) = head.take()
                        && self.write(&mut [IoSlice::new(&h)]).await.is_err()
                    {
                        return false;
                    }
                    self.frame(body).await
                }
            };
            let data = match frame {
                None => break,
                Some(Err(e)) => {
                    tracing::debug!("response body: {e}");
                    if let Some(h) = head.take() {
                        let _ = self.write(&mut [IoSlice::new(&h)]).await;
                    }
                    return false;
                }
                Some(Ok(d)) => d,
            };
            sent += data.len() as u64;
            let h = head.take().unwrap_or_default();
            let r = match out {
                Out::Length(n) if sent > n => {
                    tracing::info!("response body longer than its Content-Length ({n}): cut off");
                    let keep = data.len() - usize::try_from(sent - n).unwrap_or(data.len());
                    let _ = self
                        .write(&mut [IoSlice::new(&h), IoSlice::new(&data[..keep])])
                        .await;
                    return false;
                }
                Out::Length(_) | Out::Close => {
                    self.write(&mut [IoSlice::new(&h), IoSlice::new(&data)])
                        .await
                }
                Out::Chunked => {
                    let size = format!("{:x}\r\n", data.len());
                    let end: &[u8] = if body.is_end_stream() {
                        b"\r\n0\r\n\r\n"
                    } else {
                        b"\r\n"
                    };
                    let r = self
                        .write(&mut [
                            IoSlice::new(&h),
                            IoSlice::new(size.as_bytes()),
                            IoSlice::new(&data),
                            IoSlice::new(end),
                        ])
                        .await;
                    if r.is_ok() && end.len() > 2 {
                        // The end went out with the last bytes.
                        return self.frame(body).await.is_none();
                    }
                    r
                }
            };
            if r.is_err() {
                return false;
            }
            // A large body goes out in turns with the other connections' work, a piece at a
            // time as an event loop sends it, not all at once (measured, static 1 MiB with
            // sendfile pieces of 256 KiB: 1778 req/s sent at once, 4796 to 5566 in turns;
            // lighttpd 7199 to 7600 in the same runs).
            if !body.is_end_stream() {
                tokio::task::yield_now().await;
            }
        }
        let h = head.take().unwrap_or_default();
        let end: &[u8] = match out {
            Out::Chunked => b"0\r\n\r\n",
            _ => b"",
        };
        if self
            .write(&mut [IoSlice::new(&h), IoSlice::new(end)])
            .await
            .is_err()
        {
            return false;
        }
        match out {
            Out::Length(n) if sent < n => {
                tracing::info!(
                    "response body shorter ({sent} bytes) than its Content-Length ({n}): cut off"
                );
                false
            }
            Out::Close => false,
            _ => true,
        }
    }
}

/// The body's next bytes (`None` at its end); empty frames and trailers are skipped (HTTP/1
/// responses carry none).
fn poll_data(body: &mut Watched, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
    loop {
        match ready!(Pin::new(&mut *body).poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) if !d.is_empty() => return Poll::Ready(Some(Ok(d))),
                _ => continue,
            },
        }
    }
}

/// The body's next bytes if they are there without waiting (`None`: they are not).
fn poll_now(body: &mut Watched) -> Option<Option<io::Result<Bytes>>> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match poll_data(body, &mut cx) {
        Poll::Pending => None,
        Poll::Ready(r) => Some(r),
    }
}

/// The answer to a head that cannot be served: the status alone, and the connection closes.
async fn write_refusal(io: &mut ConnIo, status: StatusCode) -> io::Result<()> {
    let added = Added {
        length: Some(0),
        chunked: false,
        connection: Some("close"),
        date: true,
    };
    let mut out = Vec::with_capacity(128);
    write_head(
        &mut out,
        Version::HTTP_11,
        status,
        &HeaderMap::new(),
        &added,
    );
    tokio::io::AsyncWriteExt::write_all(io, &out).await
}

/// A request body's decoding from the connection, a chunk each time its handler asks.
struct Pump {
    tx: BodyTx,
    decoder: Decoder,
    state: PumpState,
    /// `Expect: 100-continue` not answered yet: how much of the answer went out.
    continue_sent: Option<usize>,
    /// The response went out before the 100 Continue did: it never will.
    continue_withheld: bool,
    thrown_away: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PumpState {
    Running,
    /// All of the body was read.
    Complete,
    /// It ended otherwise (an error, the client left, too much to throw away).
    Failed,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl Pump {
    fn new(tx: BodyTx, decoder: Decoder, expect_continue: bool) -> Pump {
        Pump {
            tx,
            decoder,
            state: PumpState::Running,
            continue_sent: expect_continue.then_some(0),
            continue_withheld: false,
            thrown_away: 0,
        }
    }

    fn finished(&self) -> bool {
        self.state != PumpState::Running
    }

    fn complete(&self) -> bool {
        self.state == PumpState::Complete
    }

    /// No 100 Continue will go out (the response did): a client still waiting for one sends
    /// no body, so the connection cannot wait for it.
    fn give_up_continue(&mut self) {
        if self.continue_sent.is_some() || self.continue_withheld {
            self.state = PumpState::Failed;
        }
    }

    /// The response's head is about to be written: the 100 Continue is finished if begun, or
    /// withheld for good (the connection then closes after the response unless the client
    /// sent its body anyway).
    async fn head_goes_out(&mut self, io: &mut ConnIo) -> io::Result<()> {
        match self.continue_sent.take() {
            Some(0) => self.continue_withheld = true,
            Some(at) => tokio::io::AsyncWriteExt::write_all(io, &CONTINUE[at..]).await?,
            None => {}
        }
        Ok(())
    }

    fn fail(&mut self, e: io::Error) -> Poll<()> {
        self.tx.send(Err(e));
        self.state = PumpState::Failed;
        Poll::Ready(())
    }

    /// Moves the body on: reads and decodes while the handler wants bytes (or throws them
    /// away once it dropped the body); ready when the body ended.
    fn poll(&mut self, cx: &mut Context<'_>, io: &mut ConnIo, buf: &mut BytesMut) -> Poll<()> {
        loop {
            if self.finished() {
                return Poll::Ready(());
            }
            let room = ready!(self.tx.poll_room(cx));
            if room == Room::Dropped && self.continue_sent.is_some() {
                // Never asked for: the client was not told to send it.
                self.state = PumpState::Failed;
                return Poll::Ready(());
            }
            if let Some(at) = self.continue_sent {
                match Pin::new(&mut *io).poll_write(cx, &CONTINUE[at..]) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return self.fail(e),
                    Poll::Ready(Ok(n)) => {
                        let at = at + n;
                        self.continue_sent = (at < CONTINUE.len()).then_some(at);
                        continue;
                    }
                }
            }
            match self.decoder.decode(buf) {
                Err(e) => return self.fail(e),
                Ok(Some(Decoded::End)) => {
                    self.tx.finish();
                    self.state = PumpState::Complete;
                    return Poll::Ready(());
                }
                Ok(Some(Decoded::Data(d))) => {
                    if room == Room::Wanted {
                        self.tx.send(Ok(d));
                    } else {
                        self.thrown_away += d.len() as u64;
                        if self.thrown_away > DRAIN_LIMIT {
                            self.state = PumpState::Failed;
                            return Poll::Ready(());
                        }
                    }
                    continue;
                }
                Ok(None) => {}
            }
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(BODY_READ);
            }
            match poll_read_buf(io, buf, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    return self.fail(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the client closed the connection in the middle of the request body",
                    ));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return self.fail(e),
            }
        }
    }
}

/// One read from `io` into `buf`'s spare room.
fn poll_read_buf(
    io: &mut ConnIo,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    // The read future borrows both and holds nothing else: made and polled once here.
    std::pin::pin!(io.read_buf(buf)).poll(cx)
}

/// What a decoder found in the buffer.
enum Decoded {
    Data(Bytes),
    End,
}

/// A request body's framing, decoded.
enum Decoder {
    /// Bytes left of a Content-Length.
    Length(u64),
    Chunked(Chunked),
}

impl Decoder {
    /// The next piece of the body out of `buf`; `None`: more bytes are needed.
    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Decoded>> {
        match self {
            Decoder::Length(0) => Ok(Some(Decoded::End)),
            Decoder::Length(left) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                *left -= n as u64;
                Ok(Some(Decoded::Data(buf.split_to(n).freeze())))
            }
            Decoder::Chunked(c) => c.decode(buf),
        }
    }
}

/// The chunked transfer coding (RFC 9112 §7.1), strictly: hex sizes that fit and stay within
/// the largest body allowed, CRLF line ends only, extensions and trailers bounded and skipped.
struct Chunked {
    state: ChunkState,
    limit: u64,
    /// Bytes of the current size line or of the trailers so far.
    line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// In the size's hex digits (`digits` so far).
    Size {
        size: u64,
        digits: u8,
    },
    /// Whitespace after the size: more of it, `;` or CR may follow.
    SizeWs {
        size: u64,
    },
    /// In an extension, until CR.
    Ext {
        size: u64,
    },
    /// CR seen after the size line: LF must follow.
    SizeLf {
        size: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// In a trailer line.
    Trailer,
    /// CR seen in a trailer line.
    TrailerLf,
    /// CR seen at the start of a line: the body's last LF must follow.
    EndLf,
    Done,
}

impl Chunked {
    fn new(limit: u64) -> Chunked {
        Chunked {
            state: ChunkState::Size { size: 0, digits: 0 },
            limit,
            line: 0,
        }
    }

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Decoded>> {
        let bad = |why: &'static str| io::Error::new(io::ErrorKind::InvalidData, why);
        let mut i = 0;
        while i < buf.len() {
            if let ChunkState::Data(left) = self.state {
                let n = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(buf.len() - i);
                let _ = buf.split_to(i);
                let data = buf.split_to(n).freeze();
                self.state = if left == n as u64 {
                    ChunkState::DataCr
                } else {
                    ChunkState::Data(left - n as u64)
                };
                return Ok(Some(Decoded::Data(data)));
            }
            let b = buf[i];
            i += 1;
            self.state = match self.state {
                ChunkState::Size { size, digits } => {
                    self.line += 1;
                    if let Some(d) = (b as char).to_digit(16) {
                        if digits >= 16 {
                            return Err(bad("chunk size too long"));
                        }
                        let size = size << 4 | u64::from(d);
                        if size > self.limit {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                ChunkTooLarge { limit: self.limit },
                            ));
                        }
                        ChunkState::Size {
                            size,
                            digits: digits + 1,
                        }
                    } else if digits == 0 {
                        return Err(bad("chunk size without digits"));
                    } else if b == b'\r' {
                        ChunkState::SizeLf { size }
                    } else if b == b';' {
                        ChunkState::Ext { size }
                    } else if b == b' ' || b == b'\t' {
                        ChunkState::SizeWs { size }
                    } else {
                        return Err(bad("malformed chunk size"));
                    }
                }
                ChunkState::SizeWs { size } => {
                    self.line += 1;
                    match b {
                        b' ' | b'\t' if self.line <= MAX_CHUNK_LINE => ChunkState::SizeWs { size },
                        b';' => ChunkState::Ext { size },
                        b'\r' => ChunkState::SizeLf { size },
                        _ => return Err(bad("malformed chunk size")),
                    }
                }
                ChunkState::Ext { size } => {
                    self.line += 1;
                    if self.line > MAX_CHUNK_LINE {
                        return Err(bad("chunk extensions too long"));
                    }
                    match b {
                        b'\r' => ChunkState::SizeLf { size },
                        b'\n' => return Err(bad("bare LF in a chunk size line")),
                        _ => ChunkState::Ext { size },
                    }
                }
                ChunkState::SizeLf { size } => {
                    if b != b'\n' {
                        return Err(bad("chunk size line without LF"));
                    }
                    self.line = 0;
                    if size == 0 {
                        ChunkState::TrailerStart
                    } else {
                        ChunkState::Data(size)
                    }
                }
                ChunkState::DataCr => {
                    if b != b'\r' {
                        return Err(bad("chunk data longer than its size"));
                    }
                    ChunkState::DataLf
                }
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return Err(bad("chunk data without CRLF"));
                    }
                    ChunkState::Size { size: 0, digits: 0 }
                }
                ChunkState::TrailerStart => match b {
                    b'\r' => ChunkState::EndLf,
                    b'\n' => return Err(bad("bare LF in the trailers")),
                    _ => {
                        self.line += 1;
                        ChunkState::Trailer
                    }
                },
                ChunkState::Trailer => {
                    self.line += 1;
                    if self.line > MAX_TRAILERS {
                        return Err(bad("trailers too long"));
                    }
                    match b {
                        b'\r' => ChunkState::TrailerLf,
                        b'\n' => return Err(bad("bare LF in the trailers")),
                        _ => ChunkState::Trailer,
                    }
                }
                ChunkState::TrailerLf => {
                    if b != b'\n' {
                        return Err(bad("trailer line without LF"));
                    }
                    ChunkState::TrailerStart
                }
                ChunkState::EndLf => {
                    if b != b'\n' {
                        return Err(bad("chunked body without its last LF"));
                    }
                    let _ = buf.split_to(i);
                    self.state = ChunkState::Done;
                    return Ok(Some(Decoded::End));
                }
                ChunkState::Data(_) | ChunkState::Done => unreachable!("handled above"),
            };
        }
        let _ = buf.split_to(i);
        if self.state == ChunkState::Done {
            return Ok(Some(Decoded::End));
        }
        Ok(None)
    }
}

/// The connection handed to an upgrade: the bytes already read after the request's head
/// first, then the socket.
struct Rewind {
    rest: Bytes,
    io: ConnIo,
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.rest.is_empty() {
            let n = this.rest.len().min(buf.remaining());
            buf.put_slice(&this.rest.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(1),
            max_header: 8192,
            largest_body: 1 << 20,
        }
    }

    fn parsed(raw: &str) -> Result<Option<Head>, Refusal> {
        let mut buf = BytesMut::from(raw.as_bytes());
        parse(&mut buf, &limits())
    }

    /// A head buffer is kept for the next head only once the head it held is gone, and at
    /// most `spare::MAX` of them.
    #[test]
    fn spare_buffers_come_back_only_whole() {
        let read = || {
            let mut buf = BytesMut::with_capacity(HEAD_READ);
            buf.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            let head = buf.split().freeze();
            (buf, head)
        };
        while spare::take().capacity() > 0 {}
        // The head is still alive: its bytes are not the buffer's to give again.
        let (buf, head) = read();
        spare::put(buf);
        assert_eq!(spare::take().capacity(), 0);
        drop(head);
        // The head is gone: the whole buffer comes back.
        let (buf, head) = read();
        drop(head);
        spare::put(buf);
        assert!(spare::take().capacity() >= HEAD_READ);
        // A buffer grown for a body is freed, not kept.
        let mut big = BytesMut::with_capacity(BODY_READ);
        big.extend_from_slice(&[0; 100]);
        big.clear();
        spare::put(big);
        assert_eq!(spare::take().capacity(), 0);
        // Nor is the end of one grown for a large head: what is left is a read's worth, but
        // keeping it would keep all 16 KiB (and the head still uses the rest).
        let mut large = BytesMut::with_capacity(16 << 10);
        large.extend_from_slice(&[b'x'; 12000]);
        let head = large.split().freeze();
        assert!(large.capacity() >= HEAD_READ);
        spare::put(large);
        assert_eq!(spare::take().capacity(), 0);
        drop(head);
        for _ in 0..spare::MAX + 4 {
            let (buf, head) = read();
            drop(head);
            spare::put(buf);
        }
        let mut kept = 0;
        while spare::take().capacity() > 0 {
            kept += 1;
        }
        assert_eq!(kept, spare::MAX);
    }

    /// Each framing the parser refuses, and why; the ones it takes, and their framing.
    #[test]
    fn framing_is_read_strictly() {
        let refused = |raw: &str| parsed(raw).ok().flatten().and_then(|h| h.refused);
        let status = |raw: &str| parsed(raw).err().map(|e| e.status.as_u16());
        let framing = |raw: &str| parsed(raw).unwrap().unwrap().framing;
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some("Content-Length and Transfer-Encoding in one request")
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
            Some("more than one Content-Length")
        );
        for bad in [
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\r\n continued\r\n\r\n",
            "GARBAGE\r\n\r\n",
        ] {
            assert_eq!(status(bad), Some(400), "{bad:?}");
        }
        assert_eq!(
            framing("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Framing::Chunked
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"),
            Framing::Length(12)
        );
        assert_eq!(framing("GET / HTTP/1.1\r\n\r\n"), Framing::None);
        assert!(parsed("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: a\r\n")).collect();
        assert_eq!(status(&format!("GET / HTTP/1.1\r\n{many}\r\n")), Some(431));
    }

    /// Keep-alive as each version means it, `close` winning.
    #[test]
    fn keep_alive_by_version_and_connection() {
        let keep = |raw: &str| parsed(raw).unwrap().unwrap().keep_alive;
        assert!(keep("GET / HTTP/1.1\r\n\r\n"));
        assert!(!keep("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
        assert!(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!keep(
            "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
        ));
    }

    fn decode_all(c: &mut Chunked, input: &[u8], cuts: &[usize]) -> io::Result<(Vec<u8>, bool)> {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            buf.extend_from_slice(&input[at..cut]);
            at = cut;
            while let Some(d) = c.decode(&mut buf)? {
                match d {
                    Decoded::Data(b) => body.extend_from_slice(&b),
                    Decoded::End => return Ok((body, true)),
                }
            }
        }
        Ok((body, false))
    }

    /// The chunked coding decodes the same however the bytes arrive, leaves what follows
    /// (the next request) in the buffer, and refuses every malformed line.
    #[test]
    fn chunked_bodies_decode_at_every_cut() {
        let input = b"5;ext=1\r\nhello\r\n6 \t; x=\"y\"\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for cut in 0..input.len() {
            let mut c = Chunked::new(1 << 20);
            let (body, ended) = decode_all(&mut c, input, &[cut]).unwrap();
            assert_eq!(body, b"hello world", "cut at {cut}");
            assert!(ended);
        }
        let mut c = Chunked::new(1 << 20);
        let mut buf = BytesMut::from(&input[..]);
        while let Some(Decoded::Data(_)) = c.decode(&mut buf).unwrap() {}
        assert_eq!(&buf[..], b"NEXT", "what follows the body stays");

        for bad in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"x\r\n",
            b"\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            b"11111111111111111\r\n",
            b"5 x\r\nhello\r\n0\r\n\r\n",
            b"5 6\r\nhello\r\n0\r\n\r\n",
        ] {
            let mut c = Chunked::new(u64::MAX);
            assert!(
                decode_all(&mut c, bad, &[]).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut c = Chunked::new(1000);
        let e = decode_all(&mut c, b"4\r\nabcd\r\nffffffffffffffff\r\n", &[])
            .err()
            .unwrap();
        assert!(ChunkTooLarge::behind(&e).is_some(), "{e}");
    }
}
