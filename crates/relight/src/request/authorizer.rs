//! Step 9, the FastCGI authorizer (lighttpd's mode "authorizer"): when an authorizer's rule
//! matches the path, it gets the request first (no body); its 200 lets the request go on, with
//! its `Variable-*` headers as parameters of the responder; anything else is the answer.

use std::ops::ControlFlow;

use fcgi_proto::Role;
use http::StatusCode;

use super::fastcgi::{cgi_request, send};
use super::route::{Route, authorizer};
use super::{Handler, Req, Step};
use crate::gateway::RequestBody;
use crate::gateway::response_head::Variables;

/// Asks the authorizer that covers the request, if one does; `Continue` with the parameters
/// the responder gets when it allowed the request with variables.
pub(crate) async fn step(h: &Handler, req: &Req) -> Step<Option<Vec<(String, String)>>> {
    let Route::Fastcgi(to) = authorizer(&req.site.backends, &req.site.files, &req.target.path)
    else {
        return ControlFlow::Continue(None);
    };
    let normalized = req.target.encoded();
    let cgi = cgi_request(req, &normalized, &to);
    let body = RequestBody::Buffered(bytes::Bytes::new());
    let what = format!("{} (authorizer)", req.what());
    let mut resp = Box::pin(send(h, req, &to, Role::Authorizer, &cgi, body, what)).await;
    if resp.status() != StatusCode::OK {
        return ControlFlow::Break(resp);
    }
    ControlFlow::Continue(resp.extensions_mut().remove::<Variables>().map(|vars| {
        let mut all = req.site.fastcgi_params.to_vec();
        all.extend(vars.0);
        all
    }))
}
