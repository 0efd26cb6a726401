//! One FastCGI exchange on an open connection: the request (BEGIN_REQUEST, PARAMS, the body as
//! STDIN) is written while the response is read, both at once, so a backend that answers before
//! reading the whole body, or streams while it reads, is served. The response head goes to the
//! waiting request as soon as it is complete; the body follows through a bounded channel.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fcgi_proto::server::{ResponseDecoder, ResponseEvent, encode};
use fcgi_proto::{Limits, ProtocolStatus};
use http::Response;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::HeadTx;
use super::backend::{Backend, BackendStream};
use crate::gateway::response_head::{
    CgiError, CgiHead, MAX_HEAD, Variables, find_head_end, parse_head,
};
use crate::gateway::{ClientLimits, GatewayError, RequestBody, spool};
use crate::http::body::Body;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The request ended cleanly on both sides: the connection may serve the next one.
    Reusable,
    /// The backend answered whole (END_REQUEST, nothing left over), but the connection cannot
    /// serve another request (the request was not yet written whole when the answer came):
    /// it is closed, and the request counts as served.
    Served,
    /// Anything else: the connection is closed.
    Done,
}

/// One request's inputs to [`run`].
pub(crate) struct Job<'a> {
    /// The encoded request up to its body (FastCGI appends the body's records to it when
    /// it has the body whole).
    pub request_head: &'a mut BytesMut,
    pub body: &'a mut RequestBody,
    pub limits: ClientLimits,
    pub head_tx: HeadTx,
    pub what: &'a str,
    /// Resolves when the request must be abandoned (its process died, or it timed out).
    pub cancel: Pin<&'a mut (dyn Future<Output = GatewayError> + Send + 'a)>,
}

/// Runs `job` on `stream`, split into its reading and writing halves.
pub(super) async fn run_on(backend: &Backend, stream: &mut BackendStream, job: Job<'_>) -> Outcome {
    match stream {
        BackendStream::Unix(s) => {
            let (r, w) = s.split();
            run(backend, r, w, job).await
        }
        BackendStream::Tcp(s) => {
            let (r, w) = s.split();
            run(backend, r, w, job).await
        }
    }
}

async fn run<R, W>(backend: &Backend, r: R, mut w: W, job: Job<'_>) -> Outcome
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = Reader::new(r, backend.read_timeout, &backend.name);
    let Job {
        request_head,
        body,
        limits,
        head_tx,
        what,
        mut cancel,
    } = job;
    let writer = write_request(&mut w, request_head, body, limits, backend.write_timeout);
    tokio::pin!(writer);
    let mut writer_state: Option<Result<(), GatewayError>> = None;
    let mut head_tx = head_tx;

    // Phase 1: until the response headers are complete.
    let head = loop {
        tokio::select! {
            res = &mut writer, if writer_state.is_none() => {
                match res {
                    Err(e) if is_fatal_write_error(&e) => {
                        let _ = head_tx.send(Err(e));
                        return Outcome::Done;
                    }
                    res => writer_state = Some(res),
                }
            }
            res = reader.next_head() => match res {
                Ok(h) => break h,
                Err(e) => {
                    let _ = head_tx.send(Err(e));
                    return Outcome::Done;
                }
            },
            e = &mut cancel => {
                let _ = head_tx.send(Err(e));
                return Outcome::Done;
            }
            _ = head_tx.closed() => {
                tracing::info!("fastcgi backend \"{}\": {what}: client went away before the response", backend.name);
                return Outcome::Done;
            }
        }
    };
    let (
        CgiHead {
            status,
            headers,
            variables,
        },
        first,
    ) = head;
    // A Content-Length the backend sets is checked against what it sends: a body that is
    // shorter or longer is cut off (the client sees a broken transfer), never passed as whole.
    // (A 204, a 304 or a 1xx has no body whatever its Content-Length says.)
    let has_body = !(status.is_informational()
        || status == http::StatusCode::NO_CONTENT
        || status == http::StatusCode::NOT_MODIFIED);
    let declared: Option<u64> = headers
        .get(http::header::CONTENT_LENGTH)
        .filter(|_| has_body)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    // What of the body is there (a small answer usually is all read already, END_REQUEST
    // included; a larger one written back to back comes while the other tasks run): if that
    // is the whole of it, it goes as one buffer with its length, with no channel.
    let (early, early_end) = reader.gather(first).await;
    if matches!(early_end, Some(Ok(None))) && declared.is_none_or(|d| d == early.len() as u64) {
        let mut resp = Response::new(Body::full(early));
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        if !variables.is_empty() {
            resp.extensions_mut().insert(Variables(variables));
        }
        if head_tx.send(Ok(resp)).is_err() {
            return Outcome::Done;
        }
        finish_writer(writer.as_mut(), &mut writer_state);
        return reader.outcome(&writer_state);
    }
    let mut sent = 0u64;
    let (body_tx, resp_body) = Body::channel();
    let mut resp = Response::new(resp_body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    if !variables.is_empty() {
        resp.extensions_mut().insert(Variables(variables));
    }
    if head_tx.send(Ok(resp)).is_err() {
        return Outcome::Done;
    }

    // Phase 2: stream the body; keep feeding stdin if the backend still reads it.
    let mut pending = (!early.is_empty()).then_some(early);
    // How the body read already ended, if it did (taken once what was read is sent).
    let mut early_end = early_end;
    loop {
        let chunk = match pending.take() {
            Some(c) => c,
            None => {
                let next = if let Some(end) = early_end.take() {
                    end
                } else {
                    tokio::select! {
                    res = &mut writer, if writer_state.is_none() => {
                        match res {
                            Err(e) if is_fatal_write_error(&e) => {
                                return cut_off(&body_tx, &backend.name, what, &e).await;
                            }
                            res => writer_state = Some(res),
                        }
                        continue;
                    }
                    res = reader.next_body_chunk() => res,
                    e = &mut cancel => Err(e),
                    // The client left (the response body was dropped) while the backend is
                    // silent: no reason to wait for it.
                    () = body_tx.closed() => {
                        tracing::info!(
                            "fastcgi backend \"{}\": {what}: client went away during the response",
                            backend.name
                        );
                        return Outcome::Done;
                    }
                    }
                };
                match next {
                    // With what follows it now, as one piece (and how the body ended, if it
                    // did, taken once the piece is sent).
                    Ok(Some(c)) => {
                        let (c, end) = reader.gather(c).await;
                        early_end = end;
                        c
                    }
                    Ok(None) => {
                        if let Some(declared) = declared.filter(|&d| d != sent) {
                            let e = GatewayError::BodyLength { declared, sent };
                            return cut_off(&body_tx, &backend.name, what, &e).await;
                        }
                        break;
                    }
                    Err(e) => return cut_off(&body_tx, &backend.name, what, &e).await,
                }
            }
        };
        sent += chunk.len() as u64;
        if let Some(declared) = declared.filter(|&d| sent > d) {
            let e = GatewayError::BodyLength { declared, sent };
            return cut_off(&body_tx, &backend.name, what, &e).await;
        }
        // Wait for room in the client's queue, still feeding the backend meanwhile.
        let permit = loop {
            tokio::select! {
                p = body_tx.reserve() => break p,
                e = &mut cancel => return cut_off(&body_tx, &backend.name, what, &e).await,
                res = &mut writer, if writer_state.is_none() => {
                    if let Err(e) = &res
                        && is_fatal_write_error(e)
                    {
                        return cut_off(&body_tx, &backend.name, what, e).await;
                    }
                    writer_state = Some(res);
                }
            }
        };
        match permit {
            Ok(p) => p.send(Ok(chunk)),
            Err(_) => {
                tracing::info!(
                    "fastcgi backend \"{}\": {what}: client went away during the response",
                    backend.name
                );
                return Outcome::Done;
            }
        }
    }
    finish_writer(writer.as_mut(), &mut writer_state);
    reader.outcome(&writer_state)
}

/// Polls the request's writer once more when the answer came before it was seen to finish
/// (both were ready together): a writer done by now lets the connection serve the next
/// request. Never waits (a backend that answered without reading its stdin may never read it).
fn finish_writer<F: Future<Output = Result<(), GatewayError>>>(
    writer: Pin<&mut F>,
    writer_state: &mut Option<Result<(), GatewayError>>,
) {
    if writer_state.is_none() {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(res) = writer.poll(&mut cx) {
            *writer_state = Some(res);
        }
    }
}

/// Ends a response whose head was sent: one log line, and an error into the body so the client
/// sees a cut-off transfer (a body that just ended would look complete).
async fn cut_off(
    body_tx: &tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    backend: &str,
    what: &str,
    e: &GatewayError,
) -> Outcome {
    tracing::error!("fastcgi backend \"{backend}\": {what}: {e} (response cut off)");
    let _ = body_tx.send(Err(io::Error::other(e.to_string()))).await;
    Outcome::Done
}

/// Errors on the writing side that end the request; a failed write to the backend is not one
/// of them, since the backend may have answered without reading the whole body.
fn is_fatal_write_error(e: &GatewayError) -> bool {
    !matches!(e, GatewayError::Read(_))
}

async fn write_all_timeout<W: AsyncWrite + Unpin>(
    w: &mut W,
    buf: &[u8],
    timeout: Duration,
) -> Result<(), GatewayError> {
    match tokio::time::timeout(timeout, w.write_all(buf)).await {
        Ok(Ok(())) => Ok(()),
        // Reported as `Read` so the caller keeps reading the response (see is_fatal_write_error).
        Ok(Err(e)) => Err(GatewayError::Read(e)),
        Err(_) => Err(GatewayError::WriteTimeout(timeout)),
    }
}

async fn write_request<W: AsyncWrite + Unpin>(
    w: &mut W,
    head: &mut BytesMut,
    body: &mut RequestBody,
    limits: ClientLimits,
    write_timeout: Duration,
) -> Result<(), GatewayError> {
    // A body held whole goes out with the head in one write; else the head goes first and
    // its buffer carries the body's records.
    let buf = head;
    match body {
        RequestBody::Buffered(b) => {
            encode::stdin(buf, 1, b);
            encode::stdin_end(buf, 1);
            return write_all_timeout(w, buf, write_timeout).await;
        }
        RequestBody::Spooled(file) => {
            write_all_timeout(w, buf, write_timeout).await?;
            buf.clear();
            loop {
                let chunk = spool::read_chunk(file).await.map_err(GatewayError::Spool)?;
                if chunk.is_empty() {
                    break;
                }
                encode::stdin(buf, 1, &chunk);
                write_all_timeout(w, buf, write_timeout).await?;
                buf.clear();
            }
        }
        RequestBody::Stream(incoming) => {
            if !http_body::Body::is_end_stream(incoming) {
                write_all_timeout(w, buf, write_timeout).await?;
                buf.clear();
            }
            let mut total = 0u64;
            loop {
                let frame = tokio::time::timeout(limits.read_timeout, incoming.frame())
                    .await
                    .map_err(|_| GatewayError::ClientTimeout(limits.read_timeout))?;
                match frame {
                    None => break,
                    Some(Err(e)) => return Err(GatewayError::ClientBody(e)),
                    Some(Ok(f)) => {
                        let Ok(data) = f.into_data() else { continue };
                        total += data.len() as u64;
                        if total > limits.max_body {
                            return Err(GatewayError::BodyTooLarge(limits.max_body));
                        }
                        encode::stdin(buf, 1, &data);
                        write_all_timeout(w, buf, write_timeout).await?;
                        buf.clear();
                    }
                }
            }
        }
    }
    encode::stdin_end(buf, 1);
    write_all_timeout(w, buf, write_timeout).await
}

/// The reading half of an exchange. Its methods only await the socket read, so they are
/// cancel-safe: the decoder keeps everything between calls.
struct Reader<'a, R> {
    r: R,
    dec: ResponseDecoder,
    timeout: Duration,
    name: &'a str,
    stderr_line: Vec<u8>,
    stdout_ended: bool,
    /// An event decoded while batching stdout, for the next call.
    stash: Option<ResponseEvent>,
    /// The read buffer outgrew [`FIRST_READ`] (a large response): not kept when done.
    grown: bool,
}

/// The read buffers of the exchanges that ended, for the next ones to read into: one taken
/// back from here costs no malloc and free of 8 KiB per request, a size outside malloc's
/// per-thread caches (measured with callgrind: 700 fewer instructions per FastCGI request,
/// 1.6 %). A buffer is kept when the exchange ends, while the
/// response's body may still hold the bytes read into it; it is taken back only once
/// nothing else does. At most [`spare::MAX`] are kept per thread, of [`FIRST_READ`] each.
mod spare {
    use std::cell::RefCell;

    use bytes::BytesMut;

    use super::FIRST_READ;

    /// The most buffers kept (64 KiB).
    pub(super) const MAX: usize = 8;

    thread_local! {
        static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    }

    /// Keeps `buf`, a buffer of [`FIRST_READ`] bytes that did not grow, emptied.
    pub(super) fn put(mut buf: BytesMut) {
        buf.clear();
        // The room left after a read is under a read's worth (records of at least 8 bytes
        // were read into it), so taking it back below means taking the whole allocation.
        if buf.capacity() < FIRST_READ {
            SPARE.with_borrow_mut(|s| {
                if s.len() < MAX {
                    s.push(buf);
                }
            });
        }
    }

    /// A kept buffer no response holds any part of any more, or an empty one (no memory).
    pub(super) fn take() -> BytesMut {
        SPARE
            .with_borrow_mut(|s| {
                let i = s.iter_mut().position(|b| b.try_reclaim(FIRST_READ))?;
                Some(s.swap_remove(i))
            })
            .unwrap_or_default()
    }
}

/// Stdout records already read are sent on as one chunk up to this size: fewer body frames,
/// channel hand-offs and writes to the client than one per record (libfcgi writes 8 KiB
/// records).
const BATCH: usize = 64 << 10;

/// How many times [`Reader::gather`] lets the other tasks run for more of a body before it sends
/// what it has (each round needs new bytes from the backend to go on).
const MAX_GATHER_ROUNDS: usize = 16;

/// What the first read of a response asks for (a libfcgi record is at most 8 KiB and its
/// header).
const FIRST_READ: usize = 8 << 10;

/// Longest stderr line logged as one line; longer ones are cut.
const MAX_STDERR_LINE: usize = 4096;

impl<R> Drop for Reader<'_, R> {
    fn drop(&mut self) {
        if !self.grown {
            spare::put(std::mem::take(self.dec.buffer_mut()));
        }
    }
}

impl<'a, R: AsyncRead + Unpin> Reader<'a, R> {
    /// A reader of the response on `r` from the backend `name`, each read given `timeout`.
    fn new(r: R, timeout: Duration, name: &'a str) -> Self {
        let mut dec = ResponseDecoder::new(1, Limits::default());
        *dec.buffer_mut() = spare::take();
        Reader {
            r,
            dec,
            timeout,
            name,
            stderr_line: Vec::new(),
            stdout_ended: false,
            stash: None,
            grown: false,
        }
    }

    async fn fill(&mut self) -> Result<(), GatewayError> {
        let buf = self.dec.buffer_mut();
        // Small first (most answers are a few hundred bytes; a 64 KiB allocation per request
        // costs more than the read), large once a response proves large.
        if buf.capacity() == 0 {
            buf.reserve(FIRST_READ);
        } else if buf.capacity() - buf.len() < 8192 {
            buf.reserve(64 << 10);
            self.grown = true;
        }
        match tokio::time::timeout(self.timeout, self.r.read_buf(buf)).await {
            Err(_) => Err(GatewayError::ReadTimeout(self.timeout)),
            Ok(Err(e)) => Err(GatewayError::Read(e)),
            Ok(Ok(0)) => Err(GatewayError::Closed(if self.dec.buffered() > 0 {
                "in the middle of a record"
            } else {
                "before END_REQUEST"
            })),
            Ok(Ok(_)) => Ok(()),
        }
    }

    fn on_stderr(&mut self, data: &[u8]) {
        for &b in data {
            if b == b'\n' || self.stderr_line.len() >= MAX_STDERR_LINE {
                self.flush_stderr();
                if b == b'\n' {
                    continue;
                }
            }
            self.stderr_line.push(b);
        }
    }

    fn flush_stderr(&mut self) {
        if self.stderr_line.is_empty() {
            return;
        }
        let line = String::from_utf8_lossy(&self.stderr_line);
        tracing::warn!(
            "fastcgi backend \"{}\" stderr: {}",
            self.name,
            line.trim_end_matches('\r')
        );
        self.stderr_line.clear();
    }

    /// The next event that matters to the caller: stdout data (`Some`), or END_REQUEST
    /// (`None`). Stderr is logged on the way.
    async fn next_stdout(&mut self) -> Result<Option<Bytes>, GatewayError> {
        loop {
            while let Some(ev) = match self.stash.take() {
                Some(ev) => Some(ev),
                None => self.dec.next_event()?,
            } {
                match ev {
                    ResponseEvent::Stdout(b) => return Ok(Some(b)),
                    ResponseEvent::StdoutEnd => self.stdout_ended = true,
                    ResponseEvent::Stderr(b) => self.on_stderr(&b),
                    ResponseEvent::StderrEnd => self.flush_stderr(),
                    ResponseEvent::EndRequest(end) => {
                        if end.protocol_status != ProtocolStatus::RequestComplete {
                            return Err(GatewayError::Refused(end.protocol_status));
                        }
                        // END_REQUEST ends stdout too: php-cgi sends it right after its last
                        // stdout data, without the empty record that should close the stream.
                        self.stdout_ended = true;
                        return Ok(None);
                    }
                    ResponseEvent::GetValuesResult(_) | ResponseEvent::UnknownType(_) => {}
                }
            }
            self.fill().await?;
        }
    }

    async fn next_head(&mut self) -> Result<(CgiHead, Bytes), GatewayError> {
        let mut acc = BytesMut::new();
        loop {
            let Some(chunk) = self.next_stdout().await? else {
                return Err(GatewayError::NoHead);
            };
            // Most heads arrive whole in the first record: parse in place, no copy.
            let buf: &[u8] = if acc.is_empty() {
                &chunk
            } else {
                acc.extend_from_slice(&chunk);
                &acc
            };
            if let Some((head_len, body_start)) = find_head_end(buf) {
                let head = parse_head(&buf[..head_len])?;
                let rest = if acc.is_empty() {
                    chunk.slice(body_start..)
                } else {
                    acc.split_off(body_start).freeze()
                };
                return Ok((head, rest));
            }
            if buf.len() > MAX_HEAD {
                return Err(CgiError::TooLarge.into());
            }
            if acc.is_empty() {
                acc.extend_from_slice(&chunk);
            }
        }
    }

    /// `first` and the body after it as far as it is there now: the records read already,
    /// then, while the body neither ended nor reached [`BATCH`], what the socket has after the
    /// other tasks ran once (a yield). Stops at the first yield after which nothing came, so a
    /// backend that pauses is never waited for (a streaming response goes on as it arrives),
    /// while one that writes its records back to back (libfcgi: 8 KiB each) is sent on in one
    /// piece instead of one client write per record. Returns how the body ended if it did:
    /// `Ok(None)` at END_REQUEST, or the error that ended it.
    #[allow(clippy::type_complexity)]
    async fn gather(
        &mut self,
        first: Bytes,
    ) -> (Bytes, Option<Result<Option<Bytes>, GatewayError>>) {
        let mut joined: Option<BytesMut> = None;
        let mut end = self.join_read(&first, &mut joined);
        let mut rounds = 0;
        while end.is_none()
            && joined.as_ref().map_or(first.len(), BytesMut::len) < BATCH
            && rounds < MAX_GATHER_ROUNDS
        {
            rounds += 1;
            tokio::task::yield_now().await;
            match self.try_fill() {
                None => break,
                Some(Err(e)) => end = Some(Err(e)),
                Some(Ok(())) => end = self.join_read(&first, &mut joined),
            }
        }
        (joined.map_or(first, BytesMut::freeze), end)
    }

    /// Joins after `first` (into `joined`) the body records read already, without waiting, up
    /// to [`BATCH`], and says how the body ended if it did. Looks only when records are
    /// buffered: it never reads the socket.
    fn join_read(
        &mut self,
        first: &Bytes,
        joined: &mut Option<BytesMut>,
    ) -> Option<Result<Option<Bytes>, GatewayError>> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        while self.stash.is_some() || self.dec.buffered() > 0 {
            if joined.as_ref().map_or(first.len(), BytesMut::len) >= BATCH {
                break;
            }
            let next = {
                let f = self.next_body_chunk();
                std::pin::pin!(f).poll(&mut cx)
            };
            match next {
                std::task::Poll::Ready(Ok(Some(c))) => {
                    joined
                        .get_or_insert_with(|| {
                            let mut j = BytesMut::with_capacity(BATCH.max(first.len() + c.len()));
                            j.extend_from_slice(first);
                            j
                        })
                        .extend_from_slice(&c);
                }
                std::task::Poll::Ready(r) => return Some(r),
                std::task::Poll::Pending => break,
            }
        }
        None
    }

    /// One read of the socket if it has something now (`None`: it has not, or the read
    /// would wait). No timer: nothing is waited for.
    fn try_fill(&mut self) -> Option<Result<(), GatewayError>> {
        let buf = self.dec.buffer_mut();
        if buf.capacity() - buf.len() < 8192 {
            buf.reserve(64 << 10);
        }
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let read = {
            let f = self.r.read_buf(buf);
            std::pin::pin!(f).poll(&mut cx)
        };
        match read {
            std::task::Poll::Pending => None,
            std::task::Poll::Ready(Ok(0)) => {
                Some(Err(GatewayError::Closed(if self.dec.buffered() > 0 {
                    "in the middle of a record"
                } else {
                    "before END_REQUEST"
                })))
            }
            std::task::Poll::Ready(Ok(_)) => Some(Ok(())),
            std::task::Poll::Ready(Err(e)) => Some(Err(GatewayError::Read(e))),
        }
    }

    /// After the response: the connection serves the next request only if the request was
    /// written whole, the response ended cleanly and nothing is left unread.
    fn outcome(&mut self, writer_state: &Option<Result<(), GatewayError>>) -> Outcome {
        self.flush_stderr();
        let clean_write = matches!(writer_state, Some(Ok(())));
        let answered = self.stdout_ended && self.dec.buffered() == 0;
        match (answered, clean_write) {
            (true, true) => Outcome::Reusable,
            (true, false) => Outcome::Served,
            (false, _) => Outcome::Done,
        }
    }

    /// The next piece of the body: the next stdout record, joined with those after it that
    /// are already read (up to [`BATCH`]); `None` at END_REQUEST.
    async fn next_body_chunk(&mut self) -> Result<Option<Bytes>, GatewayError> {
        let Some(first) = self.next_stdout().await? else {
            return Ok(None);
        };
        let mut joined: Option<BytesMut> = None;
        loop {
            let len = joined.as_ref().map_or(first.len(), BytesMut::len);
            if len >= BATCH {
                break;
            }
            match self.dec.next_event()? {
                Some(ResponseEvent::Stdout(b)) => {
                    let j = joined.get_or_insert_with(|| {
                        let mut j = BytesMut::with_capacity(BATCH.max(first.len() + b.len()));
                        j.extend_from_slice(&first);
                        j
                    });
                    j.extend_from_slice(&b);
                }
                Some(ev) => {
                    self.stash = Some(ev);
                    break;
                }
                None => break,
            }
        }
        Ok(Some(joined.map_or(first, BytesMut::freeze)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcgi_proto::app::encode as app;

    /// A read buffer kept at an exchange's end is taken again only once the response's bytes
    /// read into it are gone; one that grew for a large response is not kept.
    #[tokio::test(flavor = "current_thread")]
    async fn read_buffers_come_back_once_nothing_holds_them() {
        let mut wire = BytesMut::new();
        app::stdout(&mut wire, 1, b"Status: 200\r\n\r\nhello");
        app::stdout_end(&mut wire, 1);
        app::end_request(&mut wire, 1, 0, ProtocolStatus::RequestComplete);
        let wire = wire.freeze();
        let mut reader = Reader::new(&wire[..], Duration::from_secs(1), "t");
        let (_, body) = reader.next_head().await.unwrap();
        assert_eq!(&body[..], b"hello");
        let at = body.as_ptr() as usize;
        drop(reader);
        // The body still holds its bytes: no buffer to take.
        assert_eq!(spare::take().capacity(), 0, "taken while the body holds it");
        drop(body);
        let again = spare::take();
        assert!(again.capacity() >= FIRST_READ);
        let start = again.as_ptr() as usize;
        assert!(
            (start..start + FIRST_READ).contains(&at),
            "the same allocation, from its start"
        );
        assert_eq!(spare::take().capacity(), 0, "taken once");

        // A response of 100 KiB: the buffer grows, and is freed at the end.
        let mut wire = BytesMut::new();
        for _ in 0..20 {
            app::stdout(&mut wire, 1, &[b'x'; 5000]);
        }
        let wire = wire.freeze();
        let mut reader = Reader::new(&wire[..], Duration::from_secs(1), "t");
        while let Ok(Some(_)) = reader.next_stdout().await {}
        assert!(reader.grown);
        drop(reader);
        assert_eq!(spare::take().capacity(), 0, "a grown buffer is not kept");
    }

    /// Stdout records already read come out as one chunk; what follows them in the same read
    /// (stderr, the end of stdout, END_REQUEST) is still seen, in order.
    #[tokio::test(flavor = "current_thread")]
    async fn stdout_records_are_joined_and_what_follows_is_kept() {
        let mut wire = BytesMut::new();
        app::stdout(&mut wire, 1, b"Status: 200\r\n\r\nab");
        app::stdout(&mut wire, 1, b"cd");
        app::stdout(&mut wire, 1, b"ef");
        app::stderr(&mut wire, 1, b"a warning\n");
        app::stdout(&mut wire, 1, b"gh");
        app::stdout_end(&mut wire, 1);
        app::end_request(&mut wire, 1, 0, ProtocolStatus::RequestComplete);
        let wire = wire.freeze();
        let mut reader = Reader::new(&wire[..], Duration::from_secs(1), "t");
        let (_, first) = reader.next_head().await.unwrap();
        assert_eq!(&first[..], b"ab");
        let joined = reader.next_body_chunk().await.unwrap().unwrap();
        assert_eq!(&joined[..], b"cdef", "joined up to the stderr record");
        let next = reader.next_body_chunk().await.unwrap().unwrap();
        assert_eq!(&next[..], b"gh");
        assert!(
            reader.next_body_chunk().await.unwrap().is_none(),
            "END_REQUEST"
        );
        assert!(reader.stdout_ended, "the end of stdout was seen");
    }
}
