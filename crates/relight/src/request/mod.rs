//! One request, from its target to its answer: [`Handler::handle`] runs the steps below in this
//! order, each in its own file, each either answering the request (`Break`) or handing it on
//! (`Continue`). A new module is one more step here, or one more handler after routing.
//!
//! 1. [`target`]: the path, decoded and simplified (400 when it cannot be), and the declared
//!    body length.
//! 2. [`admin`]: the status page, the metrics and the `[[answer]]`s, before any other setting.
//! 3. [`scope`]: the settings for this request (global ones, with every matching scope's over
//!    them).
//! 4. [`rewrite`]: redirects answer; rewrites change the target (and the settings are chosen
//!    again for it).
//! 5. [`index`]: a directory's index file.
//! 6. [`access`]: url.access-deny/allow (403), the body limit (413).
//! 7. [`auth`]: HTTP Basic authentication (401).
//! 8. [`setenv`]: the headers the settings set on the request.
//! 9. [`authorizer`]: a FastCGI authorizer that must allow the request.
//! 10. [`route`]: the responder (a FastCGI backend) or the static files; a 404 goes to the
//!     [`error_handler`].
//! 11. [`fastcgi`]: the FastCGI responder, with X-Sendfile ([`x_sendfile`]).
//!
//! Then [`Handler::finish`] adds the response headers every response gets.
//!
//! Nothing here touches a socket: the steps take the request's parts and the connection's
//! addresses, so each is tested on its own.

pub(crate) mod access;
pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod authorizer;
pub(crate) mod cgi;
mod compress;
pub(crate) mod error_handler;
mod evasive;
mod expire;
mod extforward;
pub(crate) mod fastcgi;
pub(crate) mod index;
pub(crate) mod proxy;
pub(crate) mod rewrite;
pub(crate) mod route;
pub(crate) mod scope;
mod secdownload;
pub(crate) mod server_status;
pub(crate) mod server_status_html;
pub(crate) mod setenv;
mod status_pages;
pub(crate) mod target;
mod vhost;
pub(crate) mod x_sendfile;

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::http::client_body::ClientBody;
use http::{Method, Response, header};
use supervisor::Supervisor;

use crate::config::Config;
use crate::gateway::cgi::{Cgi, LocalRedirect};
use crate::gateway::fastcgi::Backend;
use crate::gateway::proxy::Proxy;
use crate::http::body::Body;
use scope::{Scopes, Site};
use target::Target;

/// What a step gives: `Continue` with what it found, or `Break` with the answer, which ends
/// the request.
pub(crate) type Step<T> = ControlFlow<Response<Body>, T>;

/// The connection a request came on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conn {
    /// The client.
    pub remote: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
    /// What the connection's TLS negotiated; `None`: plain HTTP.
    pub tls: Option<crate::http::TlsInfo>,
    /// What a trusted proxy said of its client's connection (mod_extforward): `Some(true)`,
    /// HTTPS; `None`: nothing.
    pub forwarded_https: Option<bool>,
}

impl Conn {
    /// Whether the client's connection is HTTPS: this one's TLS, or a trusted proxy's word.
    pub(crate) fn https(&self) -> bool {
        self.forwarded_https.unwrap_or(self.tls.is_some())
    }
}

/// One request as the steps after site selection see it: what came in, and what the steps
/// have decided so far.
pub(crate) struct Req {
    /// The connection.
    pub conn: Conn,
    /// Method, version, headers (as received, then with the settings' request headers) and the
    /// URI as received.
    pub parts: http::request::Parts,
    /// The request body, until the responder takes it.
    pub body: Option<ClientBody>,
    /// The target the request is served as (rewritten, index file found).
    pub target: Target,
    /// The settings it is served with.
    pub site: Site,
    /// The user Basic authentication let in.
    pub remote_user: Option<String>,
    /// How `remote_user` authenticated: "Basic" or "Digest" (AUTH_TYPE).
    pub auth_type: &'static str,
    /// The coding the response may be compressed with (compress.rs).
    pub coding: Option<crate::http::encoding::Coding>,
    /// An If-None-Match for compressed ETags was made to name the files' own.
    pub etag_unsuffixed: bool,
    /// REDIRECT_STATUS: 200, or the error an error handler serves.
    pub redirect_status: u16,
    /// The settings' request headers were applied (once per request).
    pub setenv_done: bool,
}

impl Req {
    /// "METHOD /uri?query" as received, for log lines and the status page.
    pub(crate) fn what(&self) -> String {
        // Made for every gateway request: joined by hand, not through the formatter.
        let (method, uri) = (self.parts.method.as_str(), self.request_uri());
        let mut what = String::with_capacity(method.len() + 1 + uri.len());
        what.push_str(method);
        what.push(' ');
        what.push_str(uri);
        what
    }

    /// The request target as received (path and query, still encoded): REQUEST_URI.
    pub(crate) fn request_uri(&self) -> &str {
        self.parts
            .uri
            .path_and_query()
            .map_or(self.target.raw_path.as_str(), |pq| pq.as_str())
    }
}

/// How one configuration answers requests: its settings, backends and fixed answers, built
/// at start and at every reload, shared by every request.
#[derive(Debug)]
pub(crate) struct Handler {
    config: Config,
    scopes: Scopes,
    backends: Vec<Arc<Backend>>,
    cgi: Vec<Arc<Cgi>>,
    proxy: Vec<Arc<Proxy>>,
    answers: Vec<admin::Answer>,
    started: std::time::SystemTime,
}

impl Handler {
    /// The handler of a checked configuration, with the supervisor running its spawned
    /// backends (if any).
    pub(crate) fn new(
        config: Config,
        sup: Option<&Arc<Supervisor>>,
    ) -> Result<Handler, scope::ScopeError> {
        let backends: Vec<_> = config
            .fastcgi
            .iter()
            .map(|c| {
                // The check made `pool` name a backend with its own command.
                let owner = config
                    .fastcgi
                    .iter()
                    .find(|o| o.name.value == c.pool_name())
                    .unwrap_or(c);
                Arc::new(Backend::new(c, owner, sup))
            })
            .collect();
        let cgi: Vec<_> = config
            .cgi
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let ids =
                    crate::process::pools::user_group_ids(c.user.as_deref(), c.group.as_deref())
                        .map_err(|e| e.to_string());
                if let Err(e) = &ids {
                    tracing::error!(
                        "cgi \"{}\": {e}: its scripts will not run (500)",
                        c.name_or(i)
                    );
                }
                Arc::new(Cgi::new(c, i, sup, ids))
            })
            .collect();
        let proxy: Vec<_> = config
            .proxy
            .iter()
            .map(|p| Arc::new(Proxy::new(p)))
            .collect();
        let scopes = Scopes::new(&config, &backends, &cgi, &proxy)?;
        Ok(Handler {
            answers: admin::answers(&config),
            config,
            scopes,
            backends,
            cgi,
            proxy,
            started: std::time::SystemTime::now(),
        })
    }

    /// The spawned backends' pools as the supervisor has them now.
    pub(crate) fn pools(&self) -> Vec<supervisor::PoolStatus> {
        server_status::pools(&self.backends)
    }

    /// The largest request body any request may send.
    pub(crate) fn largest_body(&self) -> u64 {
        self.scopes.largest_body()
    }

    /// The configuration it answers with.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Answers one request: the steps in order, then the headers every response gets.
    pub(crate) async fn handle(
        &self,
        req: http::Request<ClientBody>,
        conn: Conn,
    ) -> Response<Body> {
        let head = req.method() == Method::HEAD;
        let (mut parts, body) = req.into_parts();
        let base = self.scopes.base();
        let target = match target::parse(&mut parts, conn) {
            ControlFlow::Break(r) => return self.finish(r, base, head),
            ControlFlow::Continue(t) => t,
        };
        if let ControlFlow::Break(r) = admin::answer(self, &target.path, &parts, conn) {
            return self.finish(r, base, head);
        }
        let mut conn = conn;
        let mut site = match scope::select(&self.scopes, &parts, &target, conn) {
            ControlFlow::Break(r) => return self.finish(r, base, head),
            ControlFlow::Continue(s) => s,
        };
        // The client behind a trusted proxy: the settings chosen again for it.
        let forwarded = site
            .extforward
            .as_ref()
            .and_then(|ef| extforward::client(&parts.headers, conn.remote.ip(), ef));
        if let Some((client, https)) = forwarded {
            conn.remote = client;
            conn.forwarded_https = https;
            site = match scope::select(&self.scopes, &parts, &target, conn) {
                ControlFlow::Break(r) => return self.finish(r, base, head),
                ControlFlow::Continue(s) => s,
            };
        }
        let _in_progress = match site
            .evasive
            .as_ref()
            .map(|e| evasive::enter(conn.remote.ip(), e))
        {
            Some(ControlFlow::Break(r)) => return self.finish(r, &site, head),
            Some(ControlFlow::Continue(g)) => Some(g),
            None => None,
        };
        let mut req = Req {
            conn,
            parts,
            body: Some(body),
            target,
            site,
            remote_user: None,
            auth_type: "",
            coding: None,
            etag_unsuffixed: false,
            redirect_status: 200,
            setenv_done: false,
        };
        let mut resp = match self.with_site(&mut req).await {
            ControlFlow::Break(r) | ControlFlow::Continue(r) => r,
        };
        // A CGI script's local redirect (cgi.local-redir): the request again, as a GET of the
        // path it names, without its body; at most 5 times. As lighttpd: REQUEST_URI stays the
        // one received, REDIRECT_URI is the new target, the headers stay, CONTENT_LENGTH is 0.
        let mut loops = 0;
        while let Some(LocalRedirect(to)) = resp.extensions().get::<LocalRedirect>().cloned() {
            loops += 1;
            // To its own path: the client gets the redirect (lighttpd does not loop on it).
            if req.target.encoded() == to.split('?').next().unwrap_or("") {
                break;
            }
            let Ok(uri) = to.parse::<http::Uri>() else {
                break;
            };
            if loops > 5 {
                tracing::error!(
                    "{}: \"{}\": more than 5 local redirects: 500",
                    conn.remote,
                    req.what()
                );
                resp = crate::http::pages::status_page(http::StatusCode::INTERNAL_SERVER_ERROR);
                break;
            }
            drop(resp);
            req.parts.method = Method::GET;
            req.body = None;
            let received = std::mem::replace(&mut req.parts.uri, uri);
            let target = target::parse(&mut req.parts, conn);
            req.parts.uri = received;
            req.target = match target {
                ControlFlow::Break(r) => return self.finish(r, &req.site, head),
                ControlFlow::Continue(t) => t,
            };
            req.site = match scope::select(&self.scopes, &req.parts, &req.target, conn) {
                ControlFlow::Break(r) => return self.finish(r, &req.site, head),
                ControlFlow::Continue(s) => s,
            };
            resp = match Box::pin(self.with_site(&mut req)).await {
                ControlFlow::Break(r) | ControlFlow::Continue(r) => r,
            };
        }
        if resp.status().as_u16() >= 400
            && resp
                .extensions()
                .get::<crate::http::pages::MadeHere>()
                .is_some()
        {
            // Boxed, as every path off the common one: the request's future is as large as its
            // largest path, and it is moved (copied) whole on every request.
            resp = Box::pin(self.on_error(resp, &mut req)).await;
        }
        let mut resp = if req.coding.is_some() {
            Box::pin(compress::apply(resp, &req)).await
        } else {
            resp
        };
        expire::apply(&mut resp, &req);
        if forwarded.is_some() {
            resp.extensions_mut()
                .insert(crate::http::ForwardedClient(conn.remote));
        }
        self.finish(resp, &req.site, head)
    }

    /// An error relight made (`resp`) as the settings want it served: through the error
    /// handler (a GET of its path with REDIRECT_STATUS; a static page keeps the error's
    /// status, a script answers with its own), or for a 403 the 404 handler (as lighttpd's
    /// server.error-handler-404, which serves 403s too: as a 404 it would), else with the
    /// error file, else as it is.
    async fn on_error(&self, resp: Response<Body>, req: &mut Req) -> Response<Body> {
        let status = resp.status();
        let (handler, as_error) = match (&req.site.error_handler, &req.site.error_handler_404) {
            (Some(h), _) => (Some(h.clone()), true),
            (None, Some(h)) if status == http::StatusCode::FORBIDDEN => (Some(h.clone()), false),
            _ => (None, false),
        };
        if let Some(handler) = handler
            && let Ok(uri) = handler.parse::<http::Uri>()
        {
            let head = req.parts.method == Method::HEAD;
            if as_error {
                req.parts.method = Method::GET;
                req.body = None;
            }
            // The handler's page is the error's body: all of it, whatever the client asked
            // of the URL it requested (a range, a validator).
            for h in [
                header::RANGE,
                header::IF_RANGE,
                header::IF_NONE_MATCH,
                header::IF_MODIFIED_SINCE,
                header::IF_MATCH,
                header::IF_UNMODIFIED_SINCE,
            ] {
                req.parts.headers.remove(h);
            }
            let received = std::mem::replace(&mut req.parts.uri, uri);
            let target = target::parse(&mut req.parts, req.conn);
            req.parts.uri = received;
            if let ControlFlow::Continue(t) = target {
                req.target = t;
                if let ControlFlow::Continue(site) =
                    scope::select(&self.scopes, &req.parts, &req.target, req.conn)
                {
                    req.site = site;
                    req.redirect_status = status.as_u16();
                    let is_static = route::is_static(req);
                    let r = match Box::pin(self.with_site(req)).await {
                        ControlFlow::Break(r) | ControlFlow::Continue(r) => r,
                    };
                    if head {
                        // Its answer goes out without a body: nothing to compress.
                        req.coding = None;
                    }
                    let failed = r.status().as_u16() >= 400
                        && r.extensions()
                            .get::<crate::http::pages::MadeHere>()
                            .is_some();
                    if !failed {
                        let mut r = r;
                        if is_static && as_error {
                            *r.status_mut() = status;
                            // What the error says beside its page stays.
                            for h in [header::WWW_AUTHENTICATE, header::ALLOW, header::RETRY_AFTER]
                            {
                                for v in resp.headers().get_all(&h) {
                                    r.headers_mut().append(h.clone(), v.clone());
                                }
                            }
                        }
                        return r;
                    }
                }
            }
        }
        error_handler::error_file(req, resp).await
    }

    /// The steps once the settings are known.
    async fn with_site(&self, req: &mut Req) -> Step<Response<Body>> {
        vhost::step(&self.scopes, req)?;
        secdownload::step(&self.scopes, req)?;
        rewrite::step(&self.scopes, req)?;
        index::step(req);
        access::step(req)?;
        auth::step(req).await?;
        setenv::step(req);
        compress::prepare(req);
        let variables = authorizer::step(self, req).await?;
        status_pages::step(self, req)?;
        let routed = route::step(req).await?;
        ControlFlow::Continue(match routed.to {
            // The gateways' futures are large: boxed, so that a static request's is not.
            route::To::Fastcgi(to) => {
                Box::pin(fastcgi::respond(
                    self,
                    req,
                    to,
                    routed.via_404_handler,
                    variables,
                ))
                .await
            }
            route::To::Cgi(script) => Box::pin(cgi::respond(self, req, script, variables)).await,
            route::To::Proxy(p) => Box::pin(proxy::respond(req, p)).await,
        })
    }

    /// The headers every response gets: `Server` (the settings' tag), then the settings'
    /// response headers; and
    /// for HEAD, a body streamed from a gateway is dropped so its exchange ends at once (hyper
    /// sends no body for HEAD; other bodies keep their Content-Length).
    fn finish(
        &self,
        mut resp: Response<Body>,
        site: &scope::Resolved,
        head: bool,
    ) -> Response<Body> {
        if let Some(v) = &site.server_header {
            resp.headers_mut().insert(header::SERVER, v.clone());
        }
        for (name, value) in &site.response_headers {
            resp.headers_mut().append(name.clone(), value.clone());
        }
        for (name, value) in &site.set_response_headers {
            if value.is_empty() {
                resp.headers_mut().remove(name);
            } else {
                resp.headers_mut().insert(name.clone(), value.clone());
            }
        }
        if head && resp.body().is_streamed() {
            *resp.body_mut() = Body::Empty;
        }
        resp
    }
}

/// What the steps' tests build their requests with: a real configuration (TOML, read as relight
/// reads it) over a temporary document root, and requests without a socket or a body.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use super::{Conn, Handler, Req, scope, target};

    /// The handler of `[server]` on `root` (with `server_extra` keys) and `rest` after it.
    pub fn handler(root: &Path, server_extra: &str, rest: &str) -> Handler {
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"{}\"\n{server_extra}\n{rest}",
            root.display()
        );
        let config = crate::config::toml::parse(&text, &root.join("relight.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        Handler::new(config, None).unwrap()
    }

    /// A connection from `remote` to 127.0.0.1:8080.
    pub fn conn(remote: &str) -> Conn {
        Conn {
            remote: remote.parse().unwrap(),
            local: "127.0.0.1:8080".parse().unwrap(),
            tls: None,
            forwarded_https: None,
        }
    }

    /// `method uri` with `headers` (and a Host unless they have one), from loopback, through
    /// the steps before the settings are chosen (it must not be answered by them).
    pub fn req(h: &Handler, method: &str, uri: &str, headers: &[(&str, &str)]) -> Req {
        let mut b = http::Request::builder().method(method).uri(uri);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            b = b.header(http::header::HOST, "x");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut parts = b.body(()).unwrap().into_parts().0;
        let conn = conn("127.0.0.1:5000");
        let std::ops::ControlFlow::Continue(target) = target::parse(&mut parts, conn) else {
            panic!("{uri}: answered by the target step")
        };
        let std::ops::ControlFlow::Continue(site) = scope::select(&h.scopes, &parts, &target, conn)
        else {
            panic!("{uri}: no site")
        };
        Req {
            conn,
            parts,
            body: None,
            target,
            site,
            remote_user: None,
            auth_type: "",
            coding: None,
            etag_unsuffixed: false,
            redirect_status: 200,
            setenv_done: false,
        }
    }

    /// The answer of a step that must answer.
    pub fn answered<T: std::fmt::Debug>(
        step: super::Step<T>,
    ) -> http::Response<crate::http::body::Body> {
        match step {
            std::ops::ControlFlow::Break(r) => r,
            std::ops::ControlFlow::Continue(t) => panic!("not answered: {t:?}"),
        }
    }
}
