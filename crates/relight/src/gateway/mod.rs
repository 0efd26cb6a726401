//! The gateways: how a request leaves relight for a backend and how its answer comes back. What
//! every gateway shares lives here: the failures and how each is answered ([`GatewayError`]),
//! where a request body comes from, the CGI/1.1 parameters ([`params`]) and the CGI response
//! header block ([`response_head`]), and spooling a body of unknown length ([`spool`]). Each
//! protocol is a folder of its own: [`fastcgi`], [`scgi`] (SCGI and uwsgi, on FastCGI's
//! backends and pools), [`cgi`], [`proxy`] (HTTP upstreams).

pub(crate) mod cgi;
pub(crate) mod fastcgi;
pub(crate) mod params;
pub(crate) mod proxy;
pub(crate) mod response_head;
pub(crate) mod scgi;
pub(crate) mod spool;

use std::io;
use std::time::Duration;

use crate::http::client_body::ClientBody;
use bytes::Bytes;
use fcgi_proto::ProtocolStatus;
use http::{Response, StatusCode};

use crate::http::body::Body;
use crate::http::pages::{status_page, unavailable};
use response_head::CgiError;

/// Why a request through the gateway failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GatewayError {
    /// The backend refused the connection or its socket is missing.
    #[error("connect failed: {0}")]
    Connect(io::Error),
    /// The connection was not established in time.
    #[error("connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The backend sent nothing for too long.
    #[error("no response from backend for {0:?}")]
    ReadTimeout(Duration),
    /// The backend accepted no request bytes for too long.
    #[error("backend accepted no request data for {0:?}")]
    WriteTimeout(Duration),
    /// The backend closed the connection before END_REQUEST.
    #[error("backend closed the connection {0}")]
    Closed(&'static str),
    /// Reading from the backend failed.
    #[error("reading from backend: {0}")]
    Read(io::Error),
    /// The backend sent records that are not valid FastCGI.
    #[error("malformed FastCGI from backend: {0}")]
    Protocol(#[from] fcgi_proto::Error),
    /// The backend's CGI header block is invalid.
    #[error("bad response headers from backend: {0}")]
    Head(#[from] CgiError),
    /// The backend's body did not match the Content-Length it announced.
    #[error("backend announced Content-Length {declared} and sent {sent} bytes")]
    BodyLength {
        /// What its Content-Length said.
        declared: u64,
        /// What it sent (so far, when it sent more).
        sent: u64,
    },
    /// The backend ended the request without a header block.
    #[error("backend ended the request without response headers")]
    NoHead,
    /// The backend refused the request at the protocol level.
    #[error("backend refused the request: {0:?}")]
    Refused(ProtocolStatus),
    /// Every process of a spawned backend is restarting after crashes.
    #[error("{0}")]
    Unavailable(supervisor::AcquireError, Duration),
    /// No process of a spawned backend became free in time.
    #[error("{0}")]
    Busy(supervisor::AcquireError),
    /// The process serving the request died.
    #[error("backend process died: {0}")]
    BackendDied(String),
    /// The request ran over request_timeout; its process was killed.
    #[error("request ran over request_timeout ({0:?}); its process was killed")]
    RequestTimeout(Duration),
    /// The request body is over the configured limit.
    #[error("request body over {0} bytes")]
    BodyTooLarge(u64),
    /// The client's request body was malformed or cut off.
    #[error("reading request body: {0}")]
    ClientBody(std::io::Error),
    /// Reading a spooled request body back failed.
    #[error("reading the spooled request body: {0}")]
    Spool(io::Error),
    /// The client sent no body bytes for too long.
    #[error("client sent no request body for {0:?}")]
    ClientTimeout(Duration),
    /// A CGI script could not be started.
    #[error("{0}")]
    CgiStart(String),
    /// A CGI script wrote nothing.
    #[error("the script wrote no response")]
    NoOutput,
    /// A CGI script's output ended inside its header block.
    #[error("the script's output ended before its header block did")]
    CgiNoHead,
    /// A proxied upstream refused, reset or answered what is not HTTP.
    #[error("upstream: {0}")]
    Upstream(String),
    /// Every place for a CGI rule's scripts stayed taken.
    #[error("{0} scripts of this rule were running for {1:?}")]
    CgiBusy(usize, Duration),
}

impl GatewayError {
    /// The status the client gets.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            GatewayError::Connect(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::ConnectTimeout(_)
            | GatewayError::ReadTimeout(_)
            | GatewayError::WriteTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Refused(ProtocolStatus::Overloaded)
            | GatewayError::Unavailable(..)
            | GatewayError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::RequestTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::ClientBody(_) => StatusCode::BAD_REQUEST,
            GatewayError::ClientTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            GatewayError::Spool(_)
            | GatewayError::CgiStart(_)
            | GatewayError::NoOutput
            | GatewayError::CgiNoHead => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::CgiBusy(..) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    fn response(&self) -> Response<Body> {
        match self {
            GatewayError::Connect(_) | GatewayError::Busy(_) | GatewayError::CgiBusy(..) => {
                return unavailable(1);
            }
            GatewayError::Unavailable(_, retry) => {
                // Whole seconds, rounded up, at least 1.
                let secs = retry.as_secs() + u64::from(retry.subsec_nanos() > 0);
                return unavailable(secs.max(1));
            }
            _ => {}
        }
        status_page(self.status())
    }
}

/// Where the request body comes from.
#[derive(Debug)]
pub(crate) enum RequestBody {
    /// Streamed from the client as it arrives.
    Stream(ClientBody),
    /// Already read into memory (a small chunked body).
    Buffered(Bytes),
    /// Already read into an unlinked temporary file (a large chunked body).
    Spooled(tokio::fs::File),
}

/// Limits on the client side of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientLimits {
    /// Largest request body.
    pub max_body: u64,
    /// Longest wait for the next body bytes.
    pub read_timeout: Duration,
}

/// Writes a request body as it is (CGI's stdin, SCGI's and uwsgi's socket after the head): a
/// stream with the client's read timeout and the body limit, a spooled file, or a buffer.
/// A failed write is `Read` (the peer may have answered without reading it all: its answer is
/// still read); a peer that takes nothing for `write_timeout` is `WriteTimeout`.
pub(crate) async fn write_body<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    body: &mut RequestBody,
    limits: ClientLimits,
    write_timeout: Duration,
) -> Result<(), GatewayError> {
    use http_body_util::BodyExt;
    match body {
        RequestBody::Buffered(b) => write_timed(w, b, write_timeout).await?,
        RequestBody::Spooled(file) => loop {
            let chunk = spool::read_chunk(file).await.map_err(GatewayError::Spool)?;
            if chunk.is_empty() {
                break;
            }
            write_timed(w, &chunk, write_timeout).await?;
        },
        RequestBody::Stream(incoming) => {
            let mut total = 0u64;
            while !http_body::Body::is_end_stream(incoming) {
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
                        write_timed(w, &data, write_timeout).await?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Writes all of `buf` within `timeout`.
pub(crate) async fn write_timed<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    buf: &[u8],
    timeout: Duration,
) -> Result<(), GatewayError> {
    use tokio::io::AsyncWriteExt;
    match tokio::time::timeout(timeout, w.write_all(buf)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(GatewayError::Read(e)),
        Err(_) => Err(GatewayError::WriteTimeout(timeout)),
    }
}

/// Ends a response whose head was sent: one log line (`who`: the gateway and its name), and
/// an error into the body so the client sees a cut-off transfer (a body that just ended would
/// look complete).
pub(crate) async fn cut_off(
    body_tx: &tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    who: &str,
    what: &str,
    e: &GatewayError,
) {
    tracing::error!("{who}: {what}: {e} (response cut off)");
    let _ = body_tx.send(Err(io::Error::other(e.to_string()))).await;
}

/// The body length a CGI, SCGI or uwsgi response declared (`Content-Length`), followed as the
/// body streams: the response ends when it is reached (what comes after is not sent, as
/// lighttpd does), and a body that ends short of it is an error.
#[derive(Debug)]
pub(crate) struct DeclaredLength {
    declared: Option<u64>,
    sent: u64,
}

impl DeclaredLength {
    /// What `headers` declare.
    pub(crate) fn of(headers: &http::HeaderMap) -> DeclaredLength {
        DeclaredLength {
            declared: headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            sent: 0,
        }
    }

    /// `chunk`, cut at the declared length, counted as sent.
    pub(crate) fn take(&mut self, chunk: Bytes) -> Bytes {
        let chunk = match self.declared {
            Some(d) if self.sent + chunk.len() as u64 > d => {
                chunk.slice(..(d - self.sent) as usize)
            }
            _ => chunk,
        };
        self.sent += chunk.len() as u64;
        chunk
    }

    /// The declared length has been sent.
    pub(crate) fn complete(&self) -> bool {
        self.declared.is_some_and(|d| self.sent >= d)
    }

    /// At the body's end: the error if it is shorter than declared.
    pub(crate) fn short(&self) -> Option<GatewayError> {
        self.declared
            .filter(|&d| self.sent < d)
            .map(|declared| GatewayError::BodyLength {
                declared,
                sent: self.sent,
            })
    }
}
