//! Step 10b, server.error_handler_404 (lighttpd's server.error-handler-404): a request the static
//! files answer 404, or whose script is missing, is served as the handler's URL path instead.
//! A static handler page is sent with its own status (200, as lighttpd 1.4 answers); a handler
//! that is a FastCGI script gets the request, with REDIRECT_STATUS 404. Without a handler, or
//! when the handler is not there either, the 404 stands.

use std::ops::ControlFlow;

use http::{Method, Response, StatusCode};

use super::route::{Responder, Route, route};
use super::{Handler, Req, Step};
use crate::http::body::Body;

/// `Break` with the handler's page or `not_found`; `Continue` with the responder that serves
/// the handler.
pub(crate) async fn step(h: &Handler, req: &Req<'_>, not_found: Response<Body>) -> Step<Responder> {
    let Some(handler) = h.config.server.error_handler_404.as_deref() else {
        return ControlFlow::Break(not_found);
    };
    let files = &req.site.files;
    match route(req.site.backends, files, handler) {
        Route::Static => {
            let method = if req.parts.method == Method::HEAD {
                Method::HEAD
            } else {
                Method::GET
            };
            let r = files
                .serve(&method, handler, None, &req.parts.headers)
                .await;
            ControlFlow::Break(if r.status() == StatusCode::NOT_FOUND {
                not_found
            } else {
                r
            })
        }
        Route::MissingScript => ControlFlow::Break(not_found),
        Route::Fastcgi {
            backend,
            script_name,
            path_info,
        } => ControlFlow::Continue(Responder {
            backend: backend.clone(),
            script_name: script_name.to_owned(),
            path_info: path_info.to_owned(),
        }),
    }
}
