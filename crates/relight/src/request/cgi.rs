//! Step 11 for a CGI script: its environment (the CGI/1.1 variables FastCGI gets, as lighttpd's
//! mod_cgi sends them), its body (streamed, or spooled first when its length is unknown), the
//! run through the gateway, and X-Sendfile on the way back.

use http::Response;

use super::route::CgiScript;
use super::{Handler, Req};
use crate::gateway::ClientLimits;
use crate::gateway::cgi::{Run, forward};
use crate::gateway::params::environment;
use crate::http::body::Body;

/// Runs the script routing found and answers with its output; `variables`: the settings'
/// parameters with an authorizer's variables after them, when one allowed the request.
pub(crate) async fn respond(
    h: &Handler,
    req: &mut Req,
    script: CgiScript,
    variables: Option<Vec<(String, String)>>,
) -> Response<Body> {
    let incoming = req.body.take();
    let (body, content_length) = match super::fastcgi::request_body(h, req, incoming).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let normalized = req.target.encoded();
    let mut params =
        super::fastcgi::base_request(req, &normalized, &script.script_name, &script.path_info);
    params.content_length = content_length;
    if let Some(vars) = &variables {
        params.extra = vars;
    }
    let run = Run {
        script: script.file,
        env: environment(&params),
        body,
        limits: ClientLimits {
            max_body: req.site.max_request_body,
            read_timeout: h.config.server.read_timeout.0,
        },
        what: req.what(),
        upgrade: upgrade_of(&script.cgi, req),
    };
    let cgi = script.cgi;
    let resp = forward(cgi.clone(), run).await;
    match &cgi.x_sendfile {
        Some(docroots) => {
            let files = &req.site.files;
            super::x_sendfile::apply(resp, docroots, files.mime_types(), &cgi.name).await
        }
        None => resp,
    }
}

/// The client's connection and the protocol it asks for, when the rule passes upgrades and the
/// request is an HTTP/1.1 `Connection: upgrade` with `Upgrade`.
fn upgrade_of(
    cgi: &crate::gateway::cgi::Cgi,
    req: &mut Req,
) -> Option<(crate::http::client_body::OnUpgrade, http::HeaderValue)> {
    if !cgi.upgrade || req.parts.version != http::Version::HTTP_11 {
        return None;
    }
    let asked = crate::http::upgrade_asked(&req.parts.headers)?;
    let on = crate::http::client_body::OnUpgrade::take(&mut req.parts.extensions)?;
    Some((on, asked))
}
