//! Serving a `tower::Service<http::Request<RequestBody>>` — an axum `Router`, say — as a
//! FastCGI application, on a tokio runtime, with the same listening socket guarantee as the
//! blocking core. Request and response bodies stream both ways with backpressure.
//!
//! ```ignore
//! let app = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
//! fcgi_app::tower::run(app)?;
//! ```
//!
//! The request's CGI parameters are in its extensions as [`Params`] (SCRIPT_NAME, REMOTE_ADDR,
//! ...); the URI is REQUEST_URI, the headers come from the `HTTP_*` parameters.

use std::fmt::Display;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use fcgi_proto::app::{RequestDecoder, RequestEvent, encode};
use fcgi_proto::{Limits, ProtocolStatus, Role};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tower_service::Service;

use crate::{Builder, Error, Listener};

/// The CGI parameters of the request, in its extensions.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(Bytes, Bytes)>);

impl Params {
    /// A parameter, if present and UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.as_ref() == name.as_bytes())
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// The request body handed to the service: what the web server sends as FCGI_STDIN, as it
/// arrives.
#[derive(Debug)]
pub struct RequestBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    remaining: Option<u64>,
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => {
                if let Some(r) = &mut self.remaining {
                    *r = r.saturating_sub(b.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self.remaining {
            Some(n) => http_body::SizeHint::with_exact(n),
            None => http_body::SizeHint::default(),
        }
    }
}

/// What [`run`] and [`serve`] serve: a cloneable service of HTTP requests whose futures can
/// move between threads (an axum `Router` is one).
pub trait AppService<B>:
    Service<
        http::Request<RequestBody>,
        Response = http::Response<B>,
        Future: Send + 'static,
        Error: Display + Send,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B> AppService<B> for S
where
    S: Service<http::Request<RequestBody>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Display + Send,
{
}

/// The response body such a service answers with.
pub trait AppBody: Body<Data: Send, Error: Display> + Send + 'static {}

impl<B> AppBody for B
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Display,
{
}

/// Serves `service` with the default [`Builder`] options on a multi-threaded tokio runtime;
/// returns only if it cannot start.
pub fn run<S, B>(service: S) -> Result<(), Error>
where
    S: AppService<B>,
    B: AppBody,
{
    let builder = Builder::new();
    let listener = builder.listener()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(builder.workers)
        .enable_all()
        .build()?;
    rt.block_on(serve(listener, service, builder.limits, builder.workers))
}

/// A connection's two directions.
type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Arc<tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>>;

/// Serves `service` on `listener` until the runtime stops.
pub async fn serve<S, B>(
    listener: Listener,
    service: S,
    limits: Limits,
    workers: usize,
) -> Result<(), Error>
where
    S: AppService<B>,
    B: AppBody,
{
    enum L {
        Unix(tokio::net::UnixListener),
        Tcp(tokio::net::TcpListener, Option<Vec<std::net::IpAddr>>),
    }
    let l = match listener {
        Listener::Unix(l) => {
            l.set_nonblocking(true)?;
            L::Unix(tokio::net::UnixListener::from_std(l)?)
        }
        Listener::Tcp(l, allowed) => {
            l.set_nonblocking(true)?;
            L::Tcp(tokio::net::TcpListener::from_std(l)?, allowed)
        }
    };
    loop {
        let (r, w): (Reader, Box<dyn AsyncWrite + Send + Unpin>) = match &l {
            L::Unix(l) => match l.accept().await {
                Ok((s, _)) => {
                    let (r, w) = s.into_split();
                    (Box::new(r), Box::new(w))
                }
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            L::Tcp(l, allowed) => match l.accept().await {
                Ok((s, peer)) => {
                    if let Some(a) = allowed
                        && !a.contains(&peer.ip())
                    {
                        eprintln!(
                            "fcgi-app: connection from {peer} refused: not in FCGI_WEB_SERVER_ADDRS"
                        );
                        continue;
                    }
                    let _ = s.set_nodelay(true);
                    let (r, w) = s.into_split();
                    (Box::new(r), Box::new(w))
                }
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        let svc = service.clone();
        tokio::spawn(connection(
            r,
            Arc::new(tokio::sync::Mutex::new(w)),
            svc,
            limits,
            workers,
        ));
    }
}

async fn accept_failed(e: io::Error) {
    if !matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
    ) {
        eprintln!("fcgi-app: accept: {e}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A request read from the connection, handed to the runner.
struct Job {
    id: u16,
    keep_conn: bool,
    params: Vec<(Bytes, Bytes)>,
    body: RequestBody,
    aborted: Arc<AtomicBool>,
}

async fn write(w: &Writer, bytes: &[u8]) -> io::Result<()> {
    w.lock().await.write_all(bytes).await
}

/// Reads records and answers management ones; each request goes to the runner with a body
/// channel fed from here.
async fn connection<S, B>(mut r: Reader, w: Writer, svc: S, limits: Limits, workers: usize)
where
    S: AppService<B>,
    B: AppBody,
{
    let decoder = Arc::new(Mutex::new(RequestDecoder::new(limits)));
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(1);
    let runner = tokio::spawn(runner(jobs_rx, w.clone(), decoder.clone(), svc));
    let mut body_tx: Option<mpsc::Sender<io::Result<Bytes>>> = None;
    let mut pending: Option<(u16, bool, Arc<AtomicBool>)> = None;
    let mut aborted: Option<Arc<AtomicBool>> = None;
    let mut buf = vec![0u8; 16 << 10];
    'conn: loop {
        loop {
            let ev = decoder
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .next_event();
            let ev = match ev {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("fcgi-app: connection dropped: {e}");
                    break 'conn;
                }
            };
            let mut out = BytesMut::new();
            if crate::conn::answer_management(&ev, workers, &mut out) {
                if write(&w, &out).await.is_err() {
                    break 'conn;
                }
                continue;
            }
            match ev {
                RequestEvent::GetValues(_)
                | RequestEvent::UnknownType(_)
                | RequestEvent::BusyBeginRequest { .. } => {} // answered above
                RequestEvent::BeginRequest {
                    request_id,
                    role,
                    keep_conn,
                } => {
                    if matches!(role, Role::Responder | Role::Authorizer) {
                        let flag = Arc::new(AtomicBool::new(false));
                        aborted = Some(flag.clone());
                        pending = Some((request_id, keep_conn, flag));
                    } else {
                        encode::end_request(&mut out, request_id, 0, ProtocolStatus::UnknownRole);
                        decoder
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .finish_request();
                    }
                }
                RequestEvent::Params(params) => {
                    if let Some((id, keep_conn, flag)) = pending.take() {
                        let (tx, rx) = mpsc::channel(4);
                        body_tx = Some(tx);
                        let remaining = params
                            .iter()
                            .find(|(n, _)| n.as_ref() == b"CONTENT_LENGTH")
                            .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok());
                        let job = Job {
                            id,
                            keep_conn,
                            params,
                            body: RequestBody { rx, remaining },
                            aborted: flag,
                        };
                        if jobs_tx.send(job).await.is_err() {
                            break 'conn;
                        }
                    }
                }
                RequestEvent::Stdin(b) => {
                    if let Some(tx) = &body_tx {
                        // The service may not read the body: then it is dropped here.
                        let _ = tx.send(Ok(b)).await;
                    }
                }
                RequestEvent::StdinEnd => body_tx = None,
                RequestEvent::AbortRequest => {
                    if let Some(flag) = &aborted {
                        flag.store(true, Ordering::Release);
                    }
                    if let Some(tx) = body_tx.take() {
                        let _ = tx.try_send(Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "the web server aborted the request",
                        )));
                    }
                }
                RequestEvent::Data(_) | RequestEvent::DataEnd => {}
            }
            if !out.is_empty() && write(&w, &out).await.is_err() {
                break 'conn;
            }
        }
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(&buf[..n]);
    }
    drop(jobs_tx);
    drop(body_tx);
    let _ = runner.await;
}

/// Runs the service for each request of a connection in turn and writes its response.
async fn runner<S, B>(
    mut jobs: mpsc::Receiver<Job>,
    w: Writer,
    decoder: Arc<Mutex<RequestDecoder>>,
    mut svc: S,
) where
    S: AppService<B>,
    B: AppBody,
{
    while let Some(job) = jobs.recv().await {
        let (id, keep_conn, aborted) = (job.id, job.keep_conn, job.aborted.clone());
        let result = respond(&mut svc, job, &w).await;
        // The decoder takes the next BEGIN_REQUEST as a new request once END_REQUEST is out.
        decoder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finish_request();
        let mut out = BytesMut::new();
        if !aborted.load(Ordering::Acquire) {
            encode::stdout_end(&mut out, id);
        }
        let app_status = u32::from(result.is_err());
        encode::end_request(&mut out, id, app_status, ProtocolStatus::RequestComplete);
        if write(&w, &out).await.is_err() || !keep_conn {
            let _ = w.lock().await.shutdown().await;
            return;
        }
    }
}

/// Calls the service and streams its response; Err when it failed (answered 500 if nothing
/// was sent yet).
async fn respond<S, B>(svc: &mut S, job: Job, w: &Writer) -> Result<(), ()>
where
    S: AppService<B>,
    B: AppBody,
{
    let id = job.id;
    let req = match http_request(job.params, job.body) {
        Ok(r) => r,
        Err(why) => {
            let _ = send_error(w, id, 400, &why).await;
            return Err(());
        }
    };
    if std::future::poll_fn(|cx| svc.poll_ready(cx)).await.is_err() {
        let _ = send_error(w, id, 503, "the service is not ready").await;
        return Err(());
    }
    // Its own task, so that a panic in the service is a 500, not a dead connection.
    let called = tokio::spawn(svc.call(req));
    let resp = match called.await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            let _ = send_error(w, id, 500, &format!("the service failed: {e}")).await;
            return Err(());
        }
        Err(e) => {
            let _ = send_error(w, id, 500, &format!("the service panicked: {e}")).await;
            return Err(());
        }
    };
    let (parts, body) = resp.into_parts();
    let mut body = std::pin::pin!(body);
    let mut head = format!(
        "Status: {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let mut out = BytesMut::new();
    encode::stdout(&mut out, id, &head);
    write(w, &out).await.map_err(|_| ())?;
    loop {
        // The error as text: B::Error need not be Send.
        let frame = match body.frame().await {
            None => break,
            Some(f) => f.map_err(|e| e.to_string()),
        };
        if job.aborted.load(Ordering::Acquire) {
            return Ok(());
        }
        match frame {
            Ok(f) => {
                if let Ok(mut data) = f.into_data() {
                    let mut out = BytesMut::new();
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        let n = chunk.len();
                        encode::stdout(&mut out, id, chunk);
                        data.advance(n);
                    }
                    write(w, &out).await.map_err(|_| ())?;
                }
            }
            Err(e) => {
                let mut out = BytesMut::new();
                encode::stderr(
                    &mut out,
                    id,
                    format!("response body failed: {e}\n").as_bytes(),
                );
                let _ = write(w, &out).await;
                return Err(());
            }
        }
    }
    Ok(())
}

async fn send_error(w: &Writer, id: u16, status: u16, why: &str) -> io::Result<()> {
    let mut out = BytesMut::new();
    encode::stderr(&mut out, id, format!("{why}\n").as_bytes());
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    encode::stdout(
        &mut out,
        id,
        format!("Status: {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{status} {reason}\n").as_bytes(),
    );
    write(w, &out).await
}

/// The http::Request of a FastCGI request: method, REQUEST_URI, headers from HTTP_* and the
/// CONTENT_* parameters, the parameters themselves in the extensions.
fn http_request(
    params: Vec<(Bytes, Bytes)>,
    body: RequestBody,
) -> Result<http::Request<RequestBody>, String> {
    let p = Params(params);
    let method = p.get("REQUEST_METHOD").unwrap_or("GET");
    let uri = match p.get("REQUEST_URI") {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => {
            let mut u = format!(
                "{}{}",
                p.get("SCRIPT_NAME").unwrap_or(""),
                p.get("PATH_INFO").unwrap_or("")
            );
            if u.is_empty() {
                u.push('/');
            }
            if let Some(q) = p.get("QUERY_STRING").filter(|q| !q.is_empty()) {
                u.push('?');
                u.push_str(q);
            }
            u
        }
    };
    let mut b = http::Request::builder().method(method).uri(&uri);
    for (n, v) in &p.0 {
        let name: String = if let Some(h) = n.strip_prefix(b"HTTP_") {
            String::from_utf8_lossy(h)
                .replace('_', "-")
                .to_ascii_lowercase()
        } else if n.as_ref() == b"CONTENT_TYPE" {
            "content-type".into()
        } else if n.as_ref() == b"CONTENT_LENGTH" {
            if v.as_ref() == b"0" || v.is_empty() {
                continue;
            }
            "content-length".into()
        } else {
            continue;
        };
        b = b.header(name, v.as_ref());
    }
    b.extension(p.clone())
        .body(body)
        .map_err(|e| format!("bad request from the web server: {e} ({method} {uri})"))
}
