//! Step 9, the FastCGI authorizer (lighttpd's mode "authorizer"): when an authorizer's rule
//! matches the path, it gets the request first (no body); its 200 lets the request go on, with
//! its `Variable-*` headers as parameters of the responder; anything else is the answer.

use std::ops::ControlFlow;

use bytes::BytesMut;
use fcgi_proto::Role;
use http::StatusCode;

use super::fastcgi::{cgi_request, client_limits};
use super::route::{Route, authorizer};
use super::{Handler, Req, Step};
use crate::gateway::RequestBody;
use crate::gateway::fastcgi::forward;
use crate::gateway::params::encode_request_head;
use crate::gateway::response_head::Variables;

/// Asks the authorizer that covers the request, if one does; `Continue` with the parameters
/// the responder gets when it allowed the request with variables.
pub(crate) async fn step(h: &Handler, req: &Req) -> Step<Option<Vec<(String, String)>>> {
    let Route::Fastcgi {
        backend,
        script_name,
        path_info,
    } = authorizer(&req.site.backends, &req.site.files, &req.target.path)
    else {
        return ControlFlow::Continue(None);
    };
    let normalized = req.target.encoded();
    let cgi = cgi_request(h, req, &normalized, backend, script_name, path_info);
    let mut head = BytesMut::with_capacity(1024);
    encode_request_head(&mut head, Role::Authorizer, backend.keep_alive, &cgi);
    let body = RequestBody::Buffered(bytes::Bytes::new());
    let what = format!("{} (authorizer)", req.what());
    let mut resp = forward(backend.clone(), head, body, client_limits(h, req), what).await;
    if resp.status() != StatusCode::OK {
        return ControlFlow::Break(resp);
    }
    ControlFlow::Continue(resp.extensions_mut().remove::<Variables>().map(|vars| {
        let mut all = req.site.fastcgi_params.to_vec();
        all.extend(vars.0);
        all
    }))
}
