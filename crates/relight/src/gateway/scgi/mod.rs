//! SCGI and uwsgi (lighttpd's mod_scgi): one request per connection to a backend of
//! `[[scgi]]`, found, pooled and supervised exactly as FastCGI's are (`gateway/fastcgi`:
//! `backend.rs`, `connect.rs`, the supervisor's slots); only the bytes differ. The request is
//! the head ([`codec`]) and the body as it is; the response is a CGI header block (or an
//! `HTTP/1.x` status line, as uwsgi apps write) and a body up to EOF, streamed back with
//! backpressure. Every failure is one status and one log line, as for FastCGI.

pub(crate) mod codec;

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::fastcgi::backend::{Backend, BackendStream};
use super::fastcgi::exchange::{Job, Outcome};
use super::response_head::read_head;
use super::{DeclaredLength, GatewayError, cut_off, write_body, write_timed};
use crate::http::body::Body;

/// How much of the response is read at once.
const CHUNK: usize = 16 << 10;

/// Runs `job` on `stream`: the request written while the response is read.
pub(crate) async fn run_on(backend: &Backend, stream: &mut BackendStream, job: Job<'_>) -> Outcome {
    match stream {
        BackendStream::Unix(s) => {
            let (r, w) = s.split();
            run(backend, r, w, job).await;
        }
        BackendStream::Tcp(s) => {
            let (r, w) = s.split();
            run(backend, r, w, job).await;
        }
    }
    // One request per connection.
    Outcome::Done
}

async fn run<R, W>(backend: &Backend, mut r: R, mut w: W, job: Job<'_>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Job {
        request_head,
        body,
        limits,
        mut head_tx,
        what,
        mut cancel,
    } = job;
    let name = &backend.name;
    let proto = backend.protocol.as_str();
    let timeout = backend.read_timeout;
    let writer = async {
        write_timed(&mut w, request_head, backend.write_timeout).await?;
        write_body(&mut w, body, limits, backend.write_timeout).await
    };
    tokio::pin!(writer);
    let mut writer_done = false;

    // The head.
    let mut buf = BytesMut::new();
    let (resp, first) = loop {
        let mut chunk = BytesMut::with_capacity(CHUNK);
        tokio::select! {
            res = &mut writer, if !writer_done => {
                writer_done = true;
                if let Err(e) = res
                    && !matches!(e, GatewayError::Read(_))
                {
                    let _ = head_tx.send(Err(e));
                    return;
                }
            }
            res = read_timed(&mut r, &mut chunk, timeout) => {
                let eof = match res {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(e) => {
                        let _ = head_tx.send(Err(e));
                        return;
                    }
                };
                buf.extend_from_slice(&chunk);
                if eof && buf.is_empty() {
                    let _ = head_tx.send(Err(GatewayError::Closed("before the response")));
                    return;
                }
                match read_head(&buf, eof, false) {
                    Ok(Some(h)) => break h,
                    Ok(None) => {}
                    Err(GatewayError::CgiNoHead) => {
                        let _ = head_tx.send(Err(GatewayError::NoHead));
                        return;
                    }
                    Err(e) => {
                        let _ = head_tx.send(Err(e));
                        return;
                    }
                }
            }
            e = &mut cancel => {
                let _ = head_tx.send(Err(e));
                return;
            }
            () = head_tx.closed() => {
                tracing::info!("{proto} backend \"{name}\": {what}: client went away before the response");
                return;
            }
        }
    };
    let mut length = DeclaredLength::of(resp.headers());
    let (body_tx, resp_body) = Body::channel();
    if head_tx.send(Ok(resp.map(|()| resp_body))).is_err() {
        return;
    }

    // The body, up to EOF (or the length it declared).
    let mut pending = (!first.is_empty()).then_some(first);
    loop {
        let chunk = match pending.take() {
            Some(c) => c,
            None => {
                let mut chunk = BytesMut::with_capacity(CHUNK);
                let next = tokio::select! {
                    res = &mut writer, if !writer_done => {
                        writer_done = true;
                        if let Err(e) = res
                            && !matches!(e, GatewayError::Read(_))
                        {
                            return cut_off(&body_tx, &format!("{proto} backend \"{name}\""), what, &e).await;
                        }
                        continue;
                    }
                    res = read_timed(&mut r, &mut chunk, timeout) => res,
                    e = &mut cancel => Err(e),
                    () = body_tx.closed() => {
                        tracing::info!("{proto} backend \"{name}\": {what}: client went away during the response");
                        return;
                    }
                };
                match next {
                    Ok(0) => break,
                    Ok(_) => chunk.freeze(),
                    Err(e) => {
                        return cut_off(&body_tx, &format!("{proto} backend \"{name}\""), what, &e)
                            .await;
                    }
                }
            }
        };
        let chunk = length.take(chunk);
        if !chunk.is_empty() && body_tx.send(Ok(chunk)).await.is_err() {
            tracing::info!(
                "{proto} backend \"{name}\": {what}: client went away during the response"
            );
            return;
        }
        if length.complete() {
            return;
        }
    }
    if let Some(e) = length.short() {
        cut_off(&body_tx, &format!("{proto} backend \"{name}\""), what, &e).await;
    }
}

/// Reads what comes within `timeout` into `buf`: its length, 0 at EOF.
async fn read_timed<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    timeout: Duration,
) -> Result<usize, GatewayError> {
    match tokio::time::timeout(timeout, r.read_buf(buf)).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(GatewayError::Read(e)),
        Err(_) => Err(GatewayError::ReadTimeout(timeout)),
    }
}
