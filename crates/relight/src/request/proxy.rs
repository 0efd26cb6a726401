//! Step 11 for a proxied request: the request as it is (method, target, headers, the body
//! still streaming from the client) handed to the proxy gateway with what it must know of
//! the client.

use std::sync::Arc;

use http::Response;

use super::Req;
use crate::gateway::proxy::{Client, Proxy, forward};
use crate::http::body::Body;

/// Sends `req` upstream by rule `proxy` and answers with what comes back.
pub(crate) async fn respond(req: &mut Req, proxy: Arc<Proxy>) -> Response<Body> {
    let body = req.body.take();
    let client = Client {
        remote: req.conn.remote,
        https: req.conn.https(),
        max_body: req.site.max_request_body,
    };
    // The parts go upstream; what relight answers needs none of them any more (the upgrade
    // of the client's connection is in their extensions).
    let parts = std::mem::replace(&mut req.parts, http::Request::new(()).into_parts().0);
    let what = format!("{} {}", parts.method, parts.uri);
    forward(proxy, parts, body, client, what).await
}
