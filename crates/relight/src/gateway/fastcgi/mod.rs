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
/// returns the response, whose body streams from a task that owns the backend connection.
pub(crate) async fn forward(
    backend: Arc<Backend>,
    request_head: BytesMut,
    body: RequestBody,
    limits: ClientLimits,
    what: String,
) -> Response<Body> {
    let (head_tx, head_rx) = oneshot::channel();
    tokio::spawn(exchange(
        backend.clone(),
        request_head,
        body,
        limits,
        head_tx,
        what.clone(),
    ));
    match head_rx.await {
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

type HeadTx = oneshot::Sender<Result<Response<Body>, GatewayError>>;

/// The task that owns one request's backend connection: connects, runs the exchange (cut short
/// by the process's death or the request timeout), then keeps or closes the connection.
async fn exchange(
    backend: Arc<Backend>,
    request_head: BytesMut,
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
            request_head: &request_head,
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
