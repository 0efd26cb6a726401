//! Step 11, the FastCGI responder: the request's CGI/1.1 parameters as its backend is configured
//! to get them, its body (streamed, or spooled first when its length is unknown), the exchange
//! through the gateway, and X-Sendfile on the way back.

use bytes::BytesMut;
use fcgi_proto::Role;
use http::Response;

use super::route::Responder;
use super::{Handler, Req};
use crate::gateway::fastcgi::{Backend, forward};
use crate::gateway::params::{CgiRequest, encode_request_head};
use crate::gateway::spool::spool;
use crate::gateway::{ClientLimits, RequestBody};
use crate::http::body::Body;
use crate::http::pages::status_page;

/// What earlier steps add to the responder's parameters.
#[derive(Debug, Default)]
pub(crate) struct Params<'a> {
    /// The request is served by server.error_handler_404, this target (REDIRECT_STATUS 404).
    pub via_404_handler: Option<&'a str>,
    /// The settings' FastCGI parameters with an authorizer's variables after them.
    pub authorizer_variables: Option<Vec<(String, String)>>,
}

/// The limits on the client's side of an exchange.
pub(crate) fn client_limits(h: &Handler, req: &Req) -> ClientLimits {
    ClientLimits {
        max_body: req.site.max_request_body,
        read_timeout: h.config.server.read_timeout.0,
    }
}

/// The CGI/1.1 parameters of `req` for `backend` (its own document root,
/// broken-scriptfilename, REQUEST_URI without its strip-request-uri prefix), with the script
/// and path info routing found. `normalized` is the target as the steps left it, encoded.
pub(crate) fn cgi_request<'r>(
    h: &'r Handler,
    req: &'r Req,
    normalized: &'r str,
    backend: &'r Backend,
    script_name: &'r str,
    path_info: &'r str,
) -> CgiRequest<'r> {
    let s = &h.config.server;
    let request_uri = req.request_uri();
    let mut r = CgiRequest {
        method: &req.parts.method,
        version: req.parts.version,
        request_uri,
        query: req.target.query.as_deref().unwrap_or(""),
        script_name,
        path_info,
        redirect_uri: (normalized != request_uri).then_some(normalized),
        document_root: req.site.files.root(),
        server_name: s.server_name.as_deref(),
        server_software: &s.server_tag,
        remote: req.conn.remote,
        local: req.conn.local,
        https: false,
        headers: &req.parts.headers,
        content_length: 0,
        broken_script_filename: false,
        redirect_status: 200,
        remote_user: req.remote_user.as_deref(),
        extra: &req.site.fastcgi_params,
    };
    if let Some(root) = &backend.document_root {
        r.document_root = root;
    } else {
        r.broken_script_filename = backend.broken_script_filename;
    }
    if let Some(strip) = &backend.strip_request_uri
        && r.request_uri.starts_with(strip.as_str())
    {
        // What is left starts with a slash: the prefix's own when it ends with one.
        let keep = strip.len() - usize::from(strip.ends_with('/'));
        if r.request_uri[keep..].starts_with('/') {
            r.request_uri = &r.request_uri[keep..];
        }
    }
    r
}

/// Sends the request to its responder and answers with what comes back.
pub(crate) async fn respond(
    h: &Handler,
    req: &mut Req,
    to: Responder,
    params: Params<'_>,
) -> Response<Body> {
    let s = &h.config.server;
    let Some(incoming) = req.body.take() else {
        return status_page(http::StatusCode::INTERNAL_SERVER_ERROR);
    };
    let (body, content_length) = match req.target.declared_len {
        Some(n) => (RequestBody::Stream(incoming), n),
        None if http_body::Body::is_end_stream(&incoming) => (RequestBody::Stream(incoming), 0),
        None => {
            // Chunked: CONTENT_LENGTH must be known before the params are sent.
            match spool(
                incoming,
                req.site.max_request_body,
                s.read_timeout.0,
                &s.upload_dir,
            )
            .await
            {
                Ok(b) => b,
                Err(status) => return status_page(status),
            }
        }
    };
    let backend = &to.backend;
    let normalized = req.target.encoded();
    let mut cgi = cgi_request(h, req, &normalized, backend, &to.script_name, &to.path_info);
    cgi.content_length = content_length;
    if let Some(vars) = &params.authorizer_variables {
        cgi.extra = vars;
    }
    if let Some(handler) = params.via_404_handler {
        cgi.query = "";
        cgi.redirect_uri = Some(handler);
        cgi.redirect_status = 404;
    }
    let mut head = BytesMut::with_capacity(1024);
    encode_request_head(&mut head, Role::Responder, backend.keep_alive, &cgi);
    let limits = client_limits(h, req);
    let resp = forward(backend.clone(), head, body, limits, req.what()).await;
    match &backend.x_sendfile {
        Some(docroots) => {
            super::x_sendfile::apply(resp, docroots, req.site.files.mime_types(), &backend.name)
                .await
        }
        None => resp,
    }
}
