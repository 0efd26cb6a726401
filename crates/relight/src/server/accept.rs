//! Connections: the accept loop of each listener (up to max_connections at once; more wait in
//! the listen backlog), and per client: the TLS handshake on an HTTPS address, then one hyper
//! HTTP/1 or HTTP/2 connection (ALPN `h2`, or h2c's preface where allowed) on [`ConnIo`], and
//! around each request what the connection owns: its count of requests (keep-alive's limit),
//! the file bodies it sends itself, the TLS site it was made for (a request for another is
//! 421), and the access log line written when the response is done.

#[cfg(any(feature = "tls", feature = "http2"))]
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Request, Response, header};
#[cfg(any(feature = "tls", feature = "http2"))]
use hyper::body::Incoming;
#[cfg(feature = "tls")]
use hyper::server::conn::http1;
#[cfg(any(feature = "tls", feature = "http2"))]
use hyper::service::service_fn;
#[cfg(any(feature = "tls", feature = "http2"))]
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::conn::{ConnIo, ConnShared};
use super::{Current, current};
#[cfg(any(feature = "tls", feature = "http2"))]
use crate::http::ClientCert;
use crate::http::body::{Body, Finish, SendsFiles, Tracked};
use crate::http::client_body::ClientBody;
use crate::log::{AccessEntry, AccessLog};
use crate::request::Conn;

/// Accepts connections on `l` until `stop`, each holding one of `limit`'s permits (and
/// counted in `bursts`, which gives memory back after a burst).
pub(super) async fn accept_loop(
    l: TcpListener,
    state: Current,
    limit: Arc<Semaphore>,
    bursts: Arc<super::memory::Bursts>,
    mut stop: watch::Receiver<bool>,
) {
    let local = l.local_addr().ok();
    // Failing accepts (EMFILE and friends) come in runs, failing and succeeding in turn as
    // connections close: one line when a run starts and one when it ends.
    let failing = crate::log::Outage::new(format!(
        "accept on {}",
        local.map_or_else(|| "a listener".to_string(), |a| a.to_string())
    ));
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            a = l.accept() => a,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                failing.worked();
                bursts.opened();
                let at = stream.local_addr().ok().or(local).unwrap_or(remote);
                let conn = Conn {
                    remote,
                    local: at,
                    tls: None,
                    forwarded_https: None,
                };
                let state = state.clone();
                let stop = stop.clone();
                crate::log::traffic().opened();
                tokio::spawn(async move {
                    serve_connection(state, stream, conn, local, stop).await;
                    crate::log::traffic().closed();
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning; the connection waits in
                // the backlog until a descriptor is free.
                failing.failed(&e, "trying again every 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves one client connection: HTTP/1 on plain listeners; on HTTPS ones the TLS handshake
/// (within the header timeout), then HTTP/2 if the client chose it by ALPN, else HTTP/1.
async fn serve_connection(
    cur: Current,
    stream: TcpStream,
    mut conn: Conn,
    listener: Option<std::net::SocketAddr>,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let state = current(&cur);
    let s = &state.config().server;
    let tls = listener.and_then(|a| state.tls.listener(&a).cloned());
    // HTTP/2 with prior knowledge on a plain listener, where allowed: the client's first bytes
    // are HTTP/2's preface.
    #[cfg(feature = "http2")]
    let h2c = if tls.is_none() && s.h2c {
        match Box::pin(starts_with_preface(&stream, s.header_timeout.0)).await {
            Some(h2c) => h2c,
            // Nothing (or only part of the preface) within the header timeout: the client
            // had the time a request head gets, and is closed as one would be.
            None => {
                tracing::info!("{}: no request within the header timeout", conn.remote);
                return;
            }
        }
    } else {
        false
    };
    #[cfg(not(feature = "http2"))]
    let h2c = false;
    let stream = Arc::new(stream);
    let shared = Arc::new(ConnShared::new(stream.clone(), tls.is_none() && !h2c));
    let (keep_alive, write_timeout) = (s.keep_alive_timeout.0, s.write_timeout.0);
    let header_timeout = s.header_timeout.0;
    #[cfg(feature = "tls")]
    let largest_body = state.handler.largest_body();
    #[cfg(feature = "http2")]
    if h2c {
        drop(state);
        let io = ConnIo::new(stream, shared.clone(), keep_alive, write_timeout);
        return Box::pin(serve_http2(
            cur,
            Box::new(io),
            conn,
            None,
            None,
            shared,
            stop,
        ))
        .await;
    }
    let Some(tls) = tls else {
        let io = ConnIo::new(stream, shared.clone(), keep_alive, write_timeout);
        return super::http1::serve(cur, io, conn, shared, stop).await;
    };
    drop(state);
    // The request framing is followed above TLS, in the bytes hyper reads.
    let io = ConnIo::new(stream, shared.clone(), keep_alive, write_timeout);
    // Boxed: a TLS connection's future (the handshake, hyper's connection) is large, and a
    // plain connection's task should not be as large as it.
    #[cfg(feature = "tls")]
    Box::pin(async move {
        let (tls_stream, entry) = match crate::tls::handshake(&tls, io, header_timeout).await {
            Ok(t) => t,
            Err(e) => {
                tracing::info!("{}: {e}", conn.remote);
                return;
            }
        };
        conn.tls = Some(crate::tls::info(tls_stream.get_ref().1));
        let client = entry.client(tls_stream.get_ref().1).map(Arc::new);
        let site = Some(Arc::new(TlsSite {
            listener: tls.clone(),
            entry,
        }));
        if tls_stream.get_ref().1.alpn_protocol() == Some(b"h2") {
            #[cfg(feature = "http2")]
            return serve_http2(cur, Box::new(tls_stream), conn, client, site, shared, stop).await;
        }
        let io = super::framing::Framed::new(tls_stream, largest_body);
        serve_http1(cur, io, conn, client, site, shared, stop).await
    })
    .await;
    #[cfg(not(feature = "tls"))]
    {
        let _ = (io, header_timeout, &mut conn);
        match *tls {}
    }
}

/// Serves HTTP/1 with hyper on `io` (TLS) until the client is done or `stop`.
#[cfg(feature = "tls")]
async fn serve_http1<I>(
    cur: Current,
    io: I,
    conn: Conn,
    client: Option<Arc<ClientCert>>,
    site: Option<Arc<TlsSite>>,
    shared: Arc<ConnShared>,
    mut stop: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let state = current(&cur);
    let s = &state.config().server;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(s.header_timeout.0)
        .max_buf_size(s.max_header_size.0 as usize)
        .keep_alive(s.max_keep_alive_requests != 1)
        .half_close(true);
    drop(state);
    // Upgrades (a proxied WebSocket) take the connection over once its 101 is sent.
    let http = builder
        .serve_connection(TokioIo::new(io), service(cur, conn, client, site, shared))
        .with_upgrades();
    tokio::pin!(http);
    let result = tokio::select! {
        r = http.as_mut() => r,
        _ = stop.changed() => {
            http.as_mut().graceful_shutdown();
            http.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection from {}: {e}", conn.remote);
    }
}

/// Serves HTTP/2 on `io` until the client is done or `stop`: each stream is one request
/// through the same pipeline; at most 128 streams at once, a header list no larger than
/// `max_header_size`, bounded flow-control windows and send buffers, and hyper's defences
/// against streams reset in floods.
#[cfg(feature = "http2")]
async fn serve_http2(
    cur: Current,
    io: Box<dyn Stream>,
    conn: Conn,
    client: Option<Arc<ClientCert>>,
    site: Option<Arc<TlsSite>>,
    shared: Arc<ConnShared>,
    mut stop: watch::Receiver<bool>,
) {
    let (max_header, first_within, idle_within) = {
        let state = current(&cur);
        let s = &state.config().server;
        (
            s.max_header_size.0,
            s.header_timeout.0,
            s.keep_alive_timeout.0,
        )
    };
    let mut builder =
        hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(u32::try_from(max_header).unwrap_or(u32::MAX))
        // What a client may send before relight reads it: 256 KiB per stream, 1 MiB per
        // connection (request bodies wait in the window, not in relight's memory); and at
        // most 256 KiB of response queued per stream for a client that reads slowly.
        .initial_stream_window_size(256 << 10)
        .initial_connection_window_size(1 << 20)
        .max_send_buf_size(256 << 10);
    let watched = shared.clone();
    watched.serving_http2();
    let (io, corker) = super::cork::cork(io);
    let mut http = corker.drive(
        builder.serve_connection(TokioIo::new(io), service(cur, conn, client, site, shared)),
    );
    // hyper's HTTP/2 has no idle timeout, and a client's PINGs and window updates are reads:
    // the connection is closed (GOAWAY) once it has had no request in flight for the
    // keep-alive timeout, or none at all within the header timeout.
    let idle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let (idle, had) = watched.idle_for();
            if idle >= if had { idle_within } else { first_within } {
                return;
            }
        }
    };
    let result = tokio::select! {
        r = &mut http => r,
        _ = stop.changed() => {
            http.inner().graceful_shutdown();
            http.await
        }
        () = idle => {
            http.inner().graceful_shutdown();
            // A client that ignores the GOAWAY and opens no stream is closed after a grace.
            tokio::time::timeout(first_within, http).await.unwrap_or(Ok(()))
        }
    };
    if let Err(e) = result {
        tracing::debug!("HTTP/2 connection from {}: {e}", conn.remote);
    }
}

/// A connection's byte stream, whichever it is (h2c's socket, TLS): HTTP/2 is served on this
/// one type, so hyper's and h2's code is in the binary once, not once per stream type.
#[cfg(feature = "http2")]
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

#[cfg(feature = "http2")]
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// HTTP/2's connection preface (RFC 9113 §3.4).
#[cfg(feature = "http2")]
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the first bytes the client sends (looked at, not read) are HTTP/2's preface;
/// false as soon as they differ (or the client closes); `None` if they do not come within
/// `within`.
#[cfg(feature = "http2")]
async fn starts_with_preface(stream: &TcpStream, within: Duration) -> Option<bool> {
    let look = async {
        let mut buf = [0u8; 24];
        loop {
            let n = stream.peek(&mut buf).await.unwrap_or(0);
            if n == 0 || buf[..n] != PREFACE[..n] {
                return false;
            }
            if n == PREFACE.len() {
                return true;
            }
            // Part of it: the rest is on its way (peek would see the same bytes at once).
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::time::timeout(within, look).await.ok()
}

/// The most HTTP/2 streams a client may have open at once on one connection.
#[cfg(feature = "http2")]
const MAX_STREAMS: u32 = 128;

#[cfg(any(feature = "tls", feature = "http2"))]
/// The service of one connection: each request through [`respond`], with the state current
/// when it arrives (and the client's certificate, if it showed one, in its extensions).
fn service(
    cur: Current,
    conn: Conn,
    client: Option<Arc<ClientCert>>,
    site: Option<Arc<TlsSite>>,
    shared: Arc<ConnShared>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Watched>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Watched>, Infallible>> + Send,
> + Clone {
    service_fn(move |mut req: Request<Incoming>| {
        if let Some(c) = &client {
            req.extensions_mut().insert(c.clone());
        }
        let misdirected = site.as_ref().is_some_and(|s| !s.serves(&req));
        let refused = super::framing::refused(req.headers());
        let state = current(&cur);
        let shared = shared.clone();
        let req = req.map(ClientBody::Hyper);
        // Boxed: the request's future is large (the whole pipeline), and HTTP/2 moves it into
        // a task of its own; a pointer moves cheaper than kilobytes.
        let respond = Box::pin(respond(state, req, conn, shared, misdirected, refused));
        async move { Ok::<_, Infallible>(respond.await) }
    })
}

/// The TLS site a connection's handshake chose: its listener and certificate entry.
#[cfg(any(feature = "tls", feature = "http2"))]
struct TlsSite {
    #[cfg(feature = "tls")]
    listener: Arc<crate::tls::Listener>,
    #[cfg(feature = "tls")]
    entry: Arc<crate::tls::Entry>,
}

#[cfg(any(feature = "tls", feature = "http2"))]
impl TlsSite {
    /// Whether `req`'s host chooses the same certificate entry as the handshake did.
    fn serves(&self, req: &Request<Incoming>) -> bool {
        #[cfg(feature = "tls")]
        {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or(req.uri().authority().map(|a| a.as_str()))
                .map(|h| crate::http::host_name(h).to_ascii_lowercase());
            self.listener.serves(&self.entry, host.as_deref())
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = req;
            true
        }
    }
}

/// A request counted on its connection until its response body takes the count over.
struct Started(Option<Arc<ConnShared>>);

impl Started {
    /// The response's body ends the request now ([`Done`]).
    fn handed_over(mut self) {
        self.0 = None;
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.request_finished();
            crate::log::traffic().request_abandoned();
        }
    }
}

/// Runs when a response body is done: ends the request on the connection and writes the
/// access log line.
struct Done {
    shared: Arc<ConnShared>,
    access: Option<(Arc<AccessLog>, AccessEntry)>,
}

impl Finish for Done {
    fn finish(self, sent: u64, _completed: bool) {
        self.shared.request_finished();
        crate::log::traffic().request_done(sent);
        if let Some((log, entry)) = self.access {
            log.write(&entry, sent);
        }
    }
}

/// One request on a connection: the request handler's answer, with what the connection adds;
/// `refused`: why its framing is refused (400), when it is.
pub(super) async fn respond(
    state: Arc<super::State>,
    req: Request<ClientBody>,
    conn: Conn,
    shared: Arc<ConnShared>,
    misdirected: bool,
    refused: Option<&'static str>,
) -> Response<Watched> {
    let nth = shared.request_started();
    crate::log::traffic().request_started();
    // Ends the request on the connection if this future is dropped before the response's
    // body takes that over (an HTTP/2 stream reset while the handler waits).
    let started = Started(Some(shared.clone()));
    let entry = state.access_log.as_ref().map(|log| {
        (
            log.clone(),
            AccessEntry {
                remote: conn.remote,
                time: SystemTime::now(),
                request_line: format!("{} {} {:?}", req.method(), req.uri(), req.version()),
                status: 0,
                referer: header_string(&req, header::REFERER),
                user_agent: header_string(&req, header::USER_AGENT),
            },
        )
    });
    let (method, uri) = (req.method().clone(), req.uri().clone());

    // A request that waits (for a backend) is given up when its client leaves: the handler is
    // dropped with everything it holds (the backend connection, the process), at once.
    // One watch for the wait and, for a body streamed from a gateway, the body after it (made
    // when the answer is not there at once: a request answered at once never sets it up).
    // Not on HTTP/2: there hyper drops this future when the stream is reset or the
    // connection ends, and the socket's state says nothing about one stream.
    let h2 = req.version() == http::Version::HTTP_2;
    let mut gone = None;
    let mut resp = if misdirected {
        tracing::info!(
            "{}: \"{method} {uri}\": the Host is not a name of the certificate chosen in the TLS handshake: 421",
            conn.remote
        );
        crate::http::pages::status_page(http::StatusCode::MISDIRECTED_REQUEST)
    } else if let Some(why) = refused {
        tracing::info!("{}: \"{method} {uri}\": {why}: 400", conn.remote);
        let mut r = crate::http::pages::status_page(http::StatusCode::BAD_REQUEST);
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    } else if !h2 {
        let answer = UnlessGone {
            answer: state.handler.handle(req, conn),
            shared: &shared,
            gone: &mut gone,
        };
        match answer.await {
            Some(r) => r,
            None => {
                tracing::info!(
                    "{}: \"{method} {uri}\": the client closed the connection before the answer; request abandoned",
                    conn.remote
                );
                client_closed()
            }
        }
    } else {
        state.handler.handle(req, conn).await
    };
    let max = state.config().server.max_keep_alive_requests;
    // HTTP/1 only: lighttpd 1.4.69 does not count HTTP/2 streams against it (h2load's 4
    // connections carried 250,000 requests each in the bench), and neither does relight.
    if max > 0 && nth >= max && !h2 {
        // hyper closes the connection after a response that says so.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Body::File { via, .. } = resp.body_mut()
        && shared.sends_files()
    {
        *via = Some(shared.clone() as Arc<dyn SendsFiles>);
    }
    let status = resp.status().as_u16();
    let forwarded = resp
        .extensions()
        .get::<crate::http::ForwardedClient>()
        .map(|c| c.0);
    started.handed_over();
    // A body streamed from a gateway may wait long for its next bytes: meanwhile the client
    // is watched too.
    let gone =
        (!h2 && resp.body().is_streamed()).then(|| gone.unwrap_or_else(|| watching(&shared)));
    let done = Done {
        shared,
        access: entry.map(|(log, mut e)| {
            e.status = status;
            if let Some(client) = forwarded {
                e.remote = client;
            }
            (log, e)
        }),
    };
    resp.map(|b| Watched {
        inner: Tracked::new(b, done),
        gone,
    })
}

/// The client's leaving, watched (see [`ConnShared::client_gone`]).
fn watching(shared: &Arc<ConnShared>) -> Gone {
    let watch = shared.clone();
    Box::pin(async move { watch.client_gone().await })
}

/// The client's leaving, as [`watching`] sets it up.
type Gone = Pin<Box<dyn Future<Output = ()> + Send>>;

pin_project_lite::pin_project! {
    /// The answer, or `None` if the client leaves first. The watch on the client is set up
    /// the first time the answer is not there at once (a request answered at once costs no
    /// allocation for it), and stays in `gone` for the response's body.
    struct UnlessGone<'a, F> {
        #[pin]
        answer: F,
        shared: &'a Arc<ConnShared>,
        gone: &'a mut Option<Gone>,
    }
}

impl<F: Future> Future for UnlessGone<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(r) = this.answer.poll(cx) {
            return Poll::Ready(Some(r));
        }
        let gone = this.gone.get_or_insert_with(|| watching(this.shared));
        match gone.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A response body, and for one streamed from a gateway the client's leaving: hyper sees a
/// client leave only when it writes, and a streamed body can wait long for its next bytes. When
/// the client leaves, the body ends in an error, hyper drops the connection, and the gateway's
/// exchange is dropped with it (its backend connection closed).
pub(super) struct Watched {
    inner: Tracked<Done>,
    gone: Option<Gone>,
}

impl http_body::Body for Watched {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                if let Some(gone) = &mut this.gone
                    && gone.as_mut().poll(cx).is_ready()
                {
                    this.gone = None;
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "the client closed the connection during the response",
                    ))));
                }
                Poll::Pending
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

/// What the access log records for a request whose client left before its answer (nginx's
/// 499); hyper's write of it fails and ends the connection.
fn client_closed() -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = http::StatusCode::from_u16(499).unwrap_or(http::StatusCode::BAD_REQUEST);
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn header_string(req: &Request<ClientBody>, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}
