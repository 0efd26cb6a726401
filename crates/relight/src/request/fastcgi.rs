//! Step 11, the FastCGI responder: the request's CGI/1.1 parameters as its backend is configured
//! to get them, its body (streamed, or spooled first when its length is unknown), the exchange
//! through the gateway, and X-Sendfile on the way back.

use bytes::BytesMut;
use fcgi_proto::Role;
use http::Response;

use super::route::Responder;
use super::{Handler, Req};
use crate::config::Protocol;
use crate::gateway::fastcgi::forward;
use crate::gateway::params::{CgiRequest, encode_request_head, with_params};
use crate::gateway::scgi::codec;
use crate::gateway::spool::spool;
use crate::gateway::{ClientLimits, RequestBody};
use crate::http::body::Body;
use crate::http::client_body::ClientBody;
use crate::http::pages::status_page;

/// The Retry-After of a 503 for a body the full upload directory could not take.
const SPOOL_RETRY_SECS: u64 = 10;

/// Sends `req` to `to` in `role`, with the parameters `cgi` and `body`; `what` names the
/// request in log lines.
pub(crate) async fn send(
    h: &Handler,
    req: &Req,
    to: &Responder,
    role: Role,
    cgi: &CgiRequest<'_>,
    body: RequestBody,
    what: String,
) -> Response<Body> {
    let mut head = BytesMut::with_capacity(1024);
    match to.backend.protocol {
        Protocol::Fastcgi => encode_request_head(&mut head, role, to.backend.keep_alive, cgi),
        Protocol::Scgi => with_params(cgi, Role::Responder, |params| {
            let params: Vec<_> = params.collect();
            codec::encode_scgi(&mut head, params.iter().copied());
        }),
        Protocol::Uwsgi => {
            let encoded = with_params(cgi, Role::Responder, |params| {
                let params: Vec<_> = params.collect();
                codec::encode_uwsgi(&mut head, params.iter().copied())
            });
            if let Err(e) = encoded {
                tracing::error!("uwsgi backend \"{}\": {what}: {e}", to.backend.name);
                return status_page(match e {
                    codec::HeadError::VariableTooLong(_) => http::StatusCode::BAD_REQUEST,
                    codec::HeadError::TooLarge(_) => {
                        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                    }
                });
            }
        }
    }
    let limits = ClientLimits {
        max_body: req.site.max_request_body,
        read_timeout: h.config.server.read_timeout.0,
    };
    forward(to.backend.clone(), head, body, limits, what).await
}

/// The CGI/1.1 parameters of `req` for the responder `to` (its backend's own document root,
/// broken-scriptfilename, REQUEST_URI without its strip-request-uri prefix; the script and
/// path info routing found). `normalized` is the target as the steps left it, encoded.
pub(crate) fn cgi_request<'r>(
    req: &'r Req,
    normalized: &'r str,
    to: &'r Responder,
) -> CgiRequest<'r> {
    let backend = &to.backend;
    let mut r = base_request(req, normalized, &to.script_name, &to.path_info);
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

/// The CGI/1.1 parameters of `req` for a script `script_name` with `path_info`, as every
/// gateway sends them before its own options change them.
pub(crate) fn base_request<'r>(
    req: &'r Req,
    normalized: &'r str,
    script_name: &'r str,
    path_info: &'r str,
) -> CgiRequest<'r> {
    let request_uri = req.request_uri();
    CgiRequest {
        method: &req.parts.method,
        version: req.parts.version,
        request_uri,
        query: req.target.query.as_deref().unwrap_or(""),
        script_name,
        path_info,
        redirect_uri: (normalized != request_uri).then_some(normalized),
        document_root: req.site.files.root(),
        server_name: req.site.server_name.as_deref(),
        server_software: &req.site.server_tag,
        remote: req.conn.remote,
        local: req.conn.local,
        tls: req.conn.tls,
        https: req.conn.https(),
        headers: &req.parts.headers,
        content_length: 0,
        broken_script_filename: false,
        redirect_status: req.redirect_status,
        remote_user: req.remote_user.as_deref(),
        auth_type: req.auth_type,
        client_cert: req
            .parts
            .extensions
            .get::<std::sync::Arc<crate::http::ClientCert>>()
            .map(|c| &**c),
        extra: &req.site.fastcgi_params,
    }
}

/// Sends the request to the responder routing found (`via_404_handler`: it serves
/// server.error_handler_404) and answers with what comes back; `variables` are the settings'
/// FastCGI parameters with an authorizer's variables after them, when one allowed the request.
pub(crate) async fn respond(
    h: &Handler,
    req: &mut Req,
    to: Responder,
    via_404_handler: bool,
    variables: Option<Vec<(String, String)>>,
) -> Response<Body> {
    let incoming = req.body.take();
    let (body, content_length) = match request_body(h, req, incoming).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let normalized = req.target.encoded();

    let mut cgi = cgi_request(req, &normalized, &to);
    cgi.content_length = content_length;
    if let Some(vars) = &variables {
        cgi.extra = vars;
    }
    // Served in place of a 404 by server.error_handler_404: its target, REDIRECT_STATUS 404.
    if let Some(handler) = req.site.error_handler_404.as_deref()
        && via_404_handler
    {
        cgi.query = "";
        cgi.redirect_uri = Some(handler);
        cgi.redirect_status = 404;
    }
    let resp = send(h, req, &to, Role::Responder, &cgi, body, req.what()).await;
    match &to.backend.x_sendfile {
        Some(docroots) => {
            let files = &req.site.files;
            super::x_sendfile::apply(resp, docroots, files.mime_types(), &to.backend.name).await
        }
        None => resp,
    }
}

/// The request body as a gateway gets it, with its length (CGI's CONTENT_LENGTH): streamed
/// when the client declared its length, else (chunked) spooled first, since the length must
/// be known before the request starts; none (`incoming` taken: a CGI local redirect's
/// request) is empty. `Err`: the answer when it cannot be.
pub(crate) async fn request_body(
    h: &Handler,
    req: &Req,
    incoming: Option<ClientBody>,
) -> Result<(RequestBody, u64), Response<Body>> {
    let s = &h.config.server;
    let Some(incoming) = incoming else {
        return Ok((RequestBody::Buffered(bytes::Bytes::new()), 0));
    };
    match req.target.declared_len {
        Some(n) => Ok((RequestBody::Stream(incoming), n)),
        None if http_body::Body::is_end_stream(&incoming) => Ok((RequestBody::Stream(incoming), 0)),
        None => match spool(
            incoming,
            req.site.max_request_body,
            s.read_timeout.0,
            &s.upload_dir,
        )
        .await
        {
            Ok(b) => Ok(b),
            Err(http::StatusCode::SERVICE_UNAVAILABLE) => {
                Err(crate::http::pages::unavailable(SPOOL_RETRY_SECS))
            }
            Err(status) => Err(status_page(status)),
        },
    }
}
