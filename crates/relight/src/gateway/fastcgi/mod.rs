//! The FastCGI gateway: one HTTP request becomes one FastCGI request (id 1, no multiplexing) on
//! a backend connection. [`connect`] finds the connection (a free process of a spawned pool, or
//! an external address, with retries on other slots); [`exchange`] streams the request body into
//! FCGI_STDIN while the response streams back, both with backpressure and bounded memory. Every
//! failure becomes one status code and one log line; the server stays up.

pub(crate) mod backend;
mod connect;
pub(crate) mod exchange;

use std::sync::Arc;

use bytes::BytesMut;
use http::{Response, StatusCode};
use tokio::sync::oneshot;

pub(crate) use backend::{Backend, Target};

use super::{ClientLimits, GatewayError, RequestBody};
use crate::http::body::Body;
use crate::http::pages::status_page;
use exchange::Job;

/// Sends a request (already encoded as BEGIN_REQUEST + PARAMS) with its body to `backend` and
/// returns the response. The exchange runs in the request's own task until the response head
/// is there; if the whole response came with it (a small answer), that is all, and the body
/// is one buffer; else the exchange goes on in a task of its own, which owns the backend
/// connection and streams the body.
pub(crate) async fn forward(
    backend: Arc<Backend>,
    request_head: BytesMut,
    body: RequestBody,
    limits: ClientLimits,
    what: String,
) -> Response<Body> {
    let (head_tx, mut head_rx) = oneshot::channel();
    let mut running = Running(Some(Box::pin(exchange(
        backend.clone(),
        request_head,
        body,
        limits,
        head_tx,
        what.clone(),
    ))));
    let head = std::future::poll_fn(|cx| {
        if let Some(ex) = running.0.as_mut()
            && ex.as_mut().poll(cx).is_ready()
        {
            running.0 = None;
        }
        // Once the exchange ended, its sender is gone: this is ready either way.
        std::pin::Pin::new(&mut head_rx).poll(cx)
    })
    .await;
    let complete = running.0.is_none();
    // Whatever is left of the exchange (the body, or its end) goes on by itself.
    drop(running);
    match head {
        Ok(Ok(resp)) if complete => whole(resp),
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            tracing::error!(
                "{} backend \"{}\": {what}: {e} -> {}",
                backend.protocol.as_str(),
                backend.name,
                e.status().as_u16()
            );
            e.response()
        }
        Err(_) => {
            tracing::error!(
                "{} backend \"{}\": {what}: exchange ended without an answer",
                backend.protocol.as_str(),
                backend.name
            );
            status_page(StatusCode::BAD_GATEWAY)
        }
    }
}

/// An exchange running in the request's task; dropped before its end (the response streams
/// on, or the request was given up), it goes on in a task of its own, as if it had been
/// spawned from the start: it sees its client go and ends as it always does.
struct Running(Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(ex) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(ex);
        }
    }
}

/// A response whose exchange ended before it was answered: its body, all read, as one buffer
/// (so it goes out with its length, as lighttpd sends a response it has whole).
fn whole(resp: Response<Body>) -> Response<Body> {
    let (parts, body) = resp.into_parts();
    let body = match body {
        Body::Stream(s) => match s.take_all() {
            Ok(b) => Body::Full(Some(b)),
            Err(s) => Body::Stream(s),
        },
        other => other,
    };
    Response::from_parts(parts, body)
}

type HeadTx = oneshot::Sender<Result<Response<Body>, GatewayError>>;

/// The task that owns one request's backend connection: connects, runs the exchange (cut short
/// by the process's death or the request timeout), then keeps or closes the connection.
async fn exchange(
    backend: Arc<Backend>,
    mut request_head: BytesMut,
    mut body: RequestBody,
    limits: ClientLimits,
    head_tx: HeadTx,
    what: String,
) {
    let _in_flight = backend.enter();
    // Waiting for a free process or a connection ends when the request is given up (its
    // client left): no process is taken for it.
    let mut head_tx = head_tx;
    let connected = tokio::select! {
        c = connect::connect(&backend, &what) => c,
        () = head_tx.closed() => {
            tracing::info!("{} backend \"{}\": {what}: given up before it reached the backend", backend.protocol.as_str(), backend.name);
            return;
        }
    };
    let connected = match connected {
        Ok(c) => c,
        Err(e) => {
            let _ = head_tx.send(Err(e));
            return;
        }
    };
    let connect::Connected { mut stream, lease } = connected;
    let outcome = {
        let cancel = connect::cancelled(&backend, lease.as_ref(), &what);
        tokio::pin!(cancel);
        let job = Job {
            request_head: &mut request_head,
            body: &mut body,
            limits,
            head_tx,
            what: &what,
            cancel: cancel.as_mut(),
        };
        match backend.protocol {
            crate::config::Protocol::Fastcgi => exchange::run_on(&backend, &mut stream, job).await,
            _ => crate::gateway::scgi::run_on(&backend, &mut stream, job).await,
        }
    };
    connect::give_back(&backend, stream, lease, outcome);
}
