//! The HTTP front end: binds the listeners, accepts connections up to the limit, serves each
//! with hyper, dispatches each request to a FastCGI backend or the static files, and shuts down
//! on SIGINT (gracefully) or SIGTERM (at once).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use fcgi_proto::Role;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::body::{Body, Finish, Tracked};
use crate::config::Config;
use crate::conn::{ConnIo, ConnShared};
use crate::gateway::params::{CgiRequest, encode_path, encode_request_head};
use crate::gateway::spool::spool;
use crate::gateway::{Backend, ClientLimits, RequestBody};
use crate::log::{AccessEntry, AccessLog};
use crate::respond::status_page;
use crate::route::{Route, route};
use crate::scope::{Facts, Site, Sites};
use crate::spawned::pool_config;
use crate::urlpath;
use supervisor::Supervisor;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The document root could not be opened.
    #[error("document_root {path}: {source}")]
    DocumentRoot {
        /// The root.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A spawned backend's configuration cannot be used here.
    #[error("{0}")]
    Backend(String),
    /// The process manager could not start.
    #[error("{0}")]
    Supervisor(#[from] supervisor::StartError),
    /// The pid file could not be written.
    #[error("pid_file {path}: {source}")]
    PidFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The access log could not be opened.
    #[error("access_log {path}: {source}")]
    AccessLog {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Everything a request handler needs, shared by all connections.
#[derive(Debug)]
pub struct State {
    config: Config,
    sites: Sites,
    backends: Vec<Arc<Backend>>,
    access_log: Option<Arc<AccessLog>>,
    server_header: Option<HeaderValue>,
    started: SystemTime,
    /// `[[answer]]`s: path, status, content type, body.
    answers: Vec<(String, StatusCode, HeaderValue, bytes::Bytes)>,
}

impl State {
    /// Builds the shared state from a checked configuration, with the supervisor that runs
    /// its spawned backends (if any).
    pub fn new(
        config: Config,
        sup: Option<&Arc<Supervisor>>,
        access_log: Option<Arc<AccessLog>>,
    ) -> Result<State, StartError> {
        let root = config.server.document_root.get_ref().clone();
        if let Err(source) = root.canonicalize() {
            return Err(StartError::DocumentRoot { path: root, source });
        }
        let backends: Vec<_> = config
            .fastcgi
            .iter()
            .map(|c| Arc::new(Backend::new(c, sup)))
            .collect();
        let sites = Sites::new(&config, &backends).map_err(StartError::Backend)?;
        let server_header = HeaderValue::from_str(&config.server.server_tag)
            .ok()
            .filter(|v| !v.is_empty());
        let answers = config
            .answer
            .iter()
            .map(|a| {
                (
                    a.path.get_ref().clone(),
                    StatusCode::from_u16(*a.status.get_ref()).unwrap_or(StatusCode::OK),
                    HeaderValue::from_str(&a.content_type)
                        .unwrap_or(HeaderValue::from_static("text/plain")),
                    bytes::Bytes::from(a.body.clone()),
                )
            })
            .collect();
        Ok(State {
            answers,
            config,
            sites,
            backends,
            access_log,
            server_header,
            started: SystemTime::now(),
        })
    }
}

/// The state requests are served with; a reload (SIGUSR1) replaces it.
type Current = Arc<RwLock<Arc<State>>>;

fn current(c: &Current) -> Arc<State> {
    c.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The spawned backends' pools of a configuration.
fn pools_of(config: &Config) -> Result<Vec<supervisor::PoolConfig>, StartError> {
    let mut pools = Vec::new();
    for c in &config.fastcgi {
        if let Some(p) = pool_config(c, &config.config_dir).map_err(StartError::Backend)? {
            pools.push(p);
        }
    }
    Ok(pools)
}

/// The access log of `config`: the one `previous` has open if the path is the same (a reload
/// after privileges were dropped cannot open it again), else newly opened.
fn access_log_for(
    config: &Config,
    previous: Option<&State>,
) -> Result<Option<Arc<AccessLog>>, StartError> {
    let Some(path) = &config.server.access_log else {
        return Ok(None);
    };
    if let Some(prev) = previous
        && prev.config.server.access_log.as_ref() == Some(path)
        && let Some(log) = &prev.access_log
    {
        return Ok(Some(log.clone()));
    }
    AccessLog::open(path)
        .map(|l| Some(Arc::new(l)))
        .map_err(|source| StartError::AccessLog {
            path: path.clone(),
            source,
        })
}

/// A running server's listeners, bound and ready.
pub struct Server {
    current: Current,
    listeners: Vec<TcpListener>,
    sup: Option<Arc<Supervisor>>,
    format: crate::load::Format,
}

impl Server {
    /// Binds every listen address (all or none); `format` is the configuration's language,
    /// for reloads.
    pub async fn bind(config: Config, format: crate::load::Format) -> Result<Server, StartError> {
        let mut listeners = Vec::new();
        if config.server.socket_activation {
            for l in crate::activation::listeners_from_env().map_err(StartError::Backend)? {
                let l = TcpListener::from_std(l).map_err(|source| StartError::Bind {
                    addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                    source,
                })?;
                tracing::info!("socket activation: listening on {:?}", l.local_addr().ok());
                listeners.push(l);
            }
        }
        let inherited: Vec<SocketAddr> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        for addr in &config.server.listen {
            if inherited.contains(&addr.0) {
                continue;
            }
            let l = TcpListener::bind(addr.0)
                .await
                .map_err(|source| StartError::Bind {
                    addr: addr.0,
                    source,
                })?;
            listeners.push(l);
        }
        // Everything that needs root happens before the drop: listeners, logs, the pid file.
        let access = access_log_for(&config, None)?;
        if let Some(p) = &config.server.pid_file {
            std::fs::write(p, format!("{}\n", std::process::id())).map_err(|source| {
                StartError::PidFile {
                    path: p.clone(),
                    source,
                }
            })?;
        }
        match crate::privileges::confine(
            config.server.chroot.as_deref(),
            config.server.user.as_deref(),
            config.server.group.as_deref(),
        ) {
            Ok(Some(note)) => tracing::info!("{note}"),
            Ok(None) => {}
            Err(e) => return Err(StartError::Backend(format!("dropping privileges: {e}"))),
        }
        let pools = pools_of(&config)?;
        let sup = if pools.is_empty() {
            None
        } else {
            Some(Supervisor::start(pools)?)
        };
        Ok(Server {
            current: Arc::new(RwLock::new(Arc::new(State::new(
                config,
                sup.as_ref(),
                access,
            )?))),
            listeners,
            sup,
            format,
        })
    }

    /// The bound addresses (useful when a port was 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Re-reads the configuration (SIGUSR1): unchanged backends keep running, changed ones
    /// are replaced, new ones start, removed ones stop. The listening sockets are kept; a
    /// configuration that does not load leaves everything as it was.
    async fn reload(&mut self) {
        let old = current(&self.current);
        let path = old.config.config_path.clone();
        let config = match crate::load::load(&path, self.format) {
            Ok(l) => {
                for w in &l.warnings {
                    tracing::warn!("{w}");
                }
                l.config
            }
            Err(e) => {
                tracing::error!("SIGUSR1: not reloading, the configuration has an error: {e}");
                return;
            }
        };
        if config.server.listen != old.config.server.listen
            || config.server.max_connections != old.config.server.max_connections
        {
            tracing::warn!(
                "SIGUSR1: server.listen and server.max_connections take effect at the next start; keeping the current ones"
            );
        }
        let pools = match pools_of(&config) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("SIGUSR1: not reloading: {e}");
                return;
            }
        };
        match (&self.sup, pools.is_empty()) {
            (None, true) => {}
            (None, false) => match Supervisor::start(pools) {
                Ok(s) => self.sup = Some(s),
                Err(e) => {
                    tracing::error!("SIGUSR1: not reloading: {e}");
                    return;
                }
            },
            (Some(sup), _) => match sup.reconcile(pools) {
                Ok(r) => tracing::info!(
                    "SIGUSR1: backends unchanged {:?}, replaced {:?}, added {:?}, removed {:?}",
                    r.unchanged,
                    r.changed,
                    r.added,
                    r.removed
                ),
                Err(e) => tracing::error!("SIGUSR1: {e}"),
            },
        }
        let access = match access_log_for(&config, Some(&old)) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("SIGUSR1: not reloading: {e}");
                return;
            }
        };
        match State::new(config, self.sup.as_ref(), access) {
            Ok(state) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(state);
                tracing::info!("SIGUSR1: configuration reloaded from {}", path.display());
            }
            Err(e) => tracing::error!("SIGUSR1: not reloading: {e}"),
        }
    }

    /// Serves until SIGINT (graceful: in-flight requests get `grace` to finish) or SIGTERM;
    /// SIGUSR1 reloads the configuration, SIGHUP reopens the log files.
    pub async fn run(mut self, grace: Duration) -> io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigusr1 = signal(SignalKind::user_defined1())?;
        let mut sighup = signal(SignalKind::hangup())?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let start = current(&self.current);
        let max = start.config.server.max_connections;
        let limit = Arc::new(Semaphore::new(max));
        tokio::spawn(crate::file_cache::sweeper());
        for l in std::mem::take(&mut self.listeners) {
            tokio::spawn(accept_loop(
                l,
                self.current.clone(),
                limit.clone(),
                stop_rx.clone(),
            ));
        }
        for a in &start.config.server.listen {
            tracing::info!(
                "relight {} listening on http://{}",
                env!("CARGO_PKG_VERSION"),
                a.0
            );
        }
        drop(start);
        let graceful = loop {
            tokio::select! {
                _ = sigint.recv() => break true,
                _ = sigterm.recv() => break false,
                _ = sigusr1.recv() => self.reload().await,
                _ = sighup.recv() => {
                    crate::log::reopen_error_log();
                    if let Some(log) = &current(&self.current).access_log {
                        log.reopen();
                    }
                    tracing::info!("SIGHUP: log files reopened");
                }
            }
        };
        let _ = stop_tx.send(true);
        if graceful {
            tracing::info!(
                "SIGINT: graceful shutdown, waiting up to {grace:?} for in-flight requests"
            );
            let deadline = tokio::time::Instant::now() + grace;
            while limit.available_permits() < max && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let open = max - limit.available_permits();
            if open > 0 {
                tracing::warn!("shutdown: closing {open} connection(s) still open after {grace:?}");
            }
        } else {
            tracing::info!("SIGTERM: shutting down now");
        }
        if let Some(sup) = &self.sup {
            let grace = current(&self.current)
                .config
                .fastcgi
                .iter()
                .map(|c| c.kill_grace.0)
                .max()
                .unwrap_or_default();
            let report = sup.shutdown(grace).await;
            tracing::info!(
                "shutdown: {} backend process(es) stopped, {} needed SIGKILL",
                report.stopped,
                report.killed.len()
            );
        }
        let s = &current(&self.current).config.server;
        if let Some(p) = &s.pid_file {
            if s.chroot.is_some() {
                tracing::info!(
                    "pid_file {}: left in place (outside the chroot)",
                    p.display()
                );
            } else if let Err(e) = std::fs::remove_file(p) {
                tracing::warn!("pid_file {}: cannot remove it: {e}", p.display());
            }
        }
        Ok(())
    }
}

async fn accept_loop(
    l: TcpListener,
    state: Current,
    limit: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let local = l.local_addr().ok();
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            a = l.accept() => a,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                let local = stream.local_addr().ok().or(local).unwrap_or(remote);
                let state = state.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    serve_connection(state, stream, remote, local, stop).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::error!("accept on {local:?} failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(
    cur: Current,
    stream: TcpStream,
    remote: SocketAddr,
    local: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let state = current(&cur);
    let s = &state.config.server;
    let shared = Arc::new(ConnShared::default());
    let io = ConnIo::new(
        stream,
        shared.clone(),
        s.keep_alive_timeout.0,
        s.write_timeout.0,
    );
    let svc = service_fn(move |req| {
        let state = current(&cur);
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(state, req, remote, local, shared).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(s.header_timeout.0)
        .max_buf_size(s.max_header_size.0 as usize)
        .keep_alive(s.max_keep_alive_requests != 1)
        .half_close(true)
        // Body chunks reach the socket as they are: file placeholders among them (conn.rs).
        .writev(true)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection from {remote}: {e}");
    }
}

/// Runs when a response body is done: ends the request on the connection and writes the
/// access log line.
pub struct Done {
    shared: Arc<ConnShared>,
    access: Option<(Arc<State>, AccessEntry)>,
}

impl Finish for Done {
    fn finish(self, sent: u64, _completed: bool) {
        self.shared.request_finished();
        if let Some((state, entry)) = self.access
            && let Some(log) = &state.access_log
        {
            log.write(&entry, sent);
        }
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    remote: SocketAddr,
    local: SocketAddr,
    shared: Arc<ConnShared>,
) -> Response<Tracked<Done>> {
    let nth = shared.request_started();
    let entry = state.access_log.as_ref().map(|_| AccessEntry {
        remote,
        time: SystemTime::now(),
        request_line: format!("{} {} {:?}", req.method(), req.uri(), req.version()),
        status: 0,
        referer: header_string(&req, header::REFERER),
        user_agent: header_string(&req, header::USER_AGENT),
    });
    let mut extra_headers = state.sites.base_response_headers();
    let mut resp = dispatch(&state, req, remote, local, &mut extra_headers).await;
    if let Some(v) = &state.server_header {
        resp.headers_mut().insert(header::SERVER, v.clone());
    }
    for (name, value) in extra_headers {
        resp.headers_mut().append(name.clone(), value.clone());
    }
    let max = state.config.server.max_keep_alive_requests;
    if max > 0 && nth >= max {
        // hyper closes the connection after a response that says so.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Body::File { via, .. } = resp.body_mut() {
        *via = Some(shared.clone());
    }
    let status = resp.status().as_u16();
    let done = Done {
        shared,
        access: entry.map(|mut e| {
            e.status = status;
            (state.clone(), e)
        }),
    };
    resp.map(|b| Tracked::new(b, done))
}

fn header_string(req: &Request<Incoming>, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

enum Page {
    Status,
    Metrics,
}

/// After a 404, server.error_handler_404: the answer when the handler is a static file (its
/// own status, 200, as lighttpd 1.4 answers), or the route to the backend that answers
/// instead; `Err` when there is no handler (or it is not there either) and the 404 stands.
async fn error_handler_404<'a>(
    s: &'a crate::config::ServerConfig,
    backends: &'a [Arc<Backend>],
    files: &crate::static_files::StaticFiles,
    parts: &http::request::Parts,
) -> Result<Route<'a>, ()> {
    let handler = s.error_handler_404.as_deref().ok_or(())?;
    match route(backends, files, handler) {
        Route::Static => {
            let method = if parts.method == Method::HEAD {
                Method::HEAD
            } else {
                Method::GET
            };
            let r = files.serve(&method, handler, None, &parts.headers).await;
            if r.status() == StatusCode::NOT_FOUND {
                return Err(());
            }
            Ok(Route::Answer(r))
        }
        Route::MissingScript => Err(()),
        r => Ok(r),
    }
}

/// The parameters `base` as `backend` is configured to get them: its own document root,
/// broken-scriptfilename, REQUEST_URI without its strip-request-uri prefix.
fn for_backend<'a>(base: CgiRequest<'a>, backend: &'a Backend) -> CgiRequest<'a> {
    let mut r = base;
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

/// The settings for a request; `None` (logged, answered 500) when a scope's document root
/// cannot be used.
fn site_for<'a>(state: &'a State, facts: &Facts<'_>) -> Option<Site<'a>> {
    state
        .sites
        .site(facts)
        .map_err(|e| tracing::error!("{}: {e}", facts.remote))
        .ok()
}

/// Answers a request; `extra_headers` is set to the headers its scope adds to the response.
async fn dispatch<'a>(
    state: &'a Arc<State>,
    req: Request<Incoming>,
    remote: SocketAddr,
    local: SocketAddr,
    extra_headers: &mut &'a [(header::HeaderName, HeaderValue)],
) -> Response<Body> {
    let s = &state.config.server;
    let raw_path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let path = match urlpath::normalize(&raw_path) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!("{remote}: bad request path {raw_path:?}: {e}");
            return status_page(StatusCode::BAD_REQUEST);
        }
    };
    let declared_len = match req.headers().get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(n) => Some(n),
            None => return status_page(StatusCode::BAD_REQUEST),
        },
    };
    for (p, page) in [
        (&s.status_path, Page::Status),
        (&s.metrics_path, Page::Metrics),
    ] {
        if !p.is_empty() && path == *p {
            if !s.status_public && !remote.ip().is_loopback() {
                return status_page(StatusCode::FORBIDDEN);
            }
            return match page {
                Page::Status => crate::status::json(&state.backends, state.started),
                Page::Metrics => crate::status::metrics(&state.backends),
            };
        }
    }
    if let Some((_, status, content_type, body)) = state.answers.iter().find(|a| a.0 == path) {
        let mut r = Response::new(if req.method() == Method::HEAD {
            Body::Empty
        } else {
            Body::full(body.clone())
        });
        *r.status_mut() = *status;
        r.headers_mut()
            .insert(header::CONTENT_TYPE, content_type.clone());
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        return r;
    }
    let facts = |path, query| Facts {
        path,
        query,
        method: req.method(),
        headers: req.headers(),
        remote,
        local,
    };
    let mut site = match site_for(state, &facts(&path, query.as_deref())) {
        Some(site) => site,
        None => return status_page(StatusCode::INTERNAL_SERVER_ERROR),
    };
    *extra_headers = site.response_headers;
    // Redirects and rewrites see the request first, as lighttpd's mod_redirect/mod_rewrite.
    let (path, query) = if site.redirect.0.is_empty() && site.rewrite.0.is_empty() {
        (path, query)
    } else {
        let mut target = encode_path(&path);
        if let Some(q) = &query {
            target.push('?');
            target.push_str(q);
        }
        let files = site.files.clone();
        let is_file = |p: &str| urlpath::normalize(p).is_ok_and(|p| files.is_local_file(&p));
        match crate::rewrite::apply(
            &target,
            (site.redirect.0, site.redirect.1.as_deref()),
            (site.rewrite.0, site.rewrite.1.as_deref()),
            is_file,
        ) {
            crate::rewrite::Outcome::Unchanged => (path, query),
            crate::rewrite::Outcome::Redirect(code, location) => {
                let mut r = status_page(
                    StatusCode::from_u16(code).unwrap_or(StatusCode::MOVED_PERMANENTLY),
                );
                match HeaderValue::from_str(&location) {
                    Ok(v) => {
                        r.headers_mut().insert(header::LOCATION, v);
                    }
                    Err(_) => return status_page(StatusCode::INTERNAL_SERVER_ERROR),
                }
                return r;
            }
            crate::rewrite::Outcome::Rewritten(t) => {
                let (p, q) = match t.split_once('?') {
                    Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
                    None => (t, None),
                };
                let p = match urlpath::normalize(&p) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!(
                            "{remote}: rewrite of {target:?} gave a bad path {p:?}: {e}"
                        );
                        return status_page(StatusCode::INTERNAL_SERVER_ERROR);
                    }
                };
                // The conditions see the new target, as lighttpd's do after a rewrite.
                if state.sites.is_scoped() {
                    site = match site_for(state, &facts(&p, q.as_deref())) {
                        Some(site) => site,
                        None => return status_page(StatusCode::INTERNAL_SERVER_ERROR),
                    };
                    *extra_headers = site.response_headers;
                }
                (p, q)
            }
        }
    };
    let files = site.files.clone();
    let path = files.index_for(&path).unwrap_or(path);
    if site
        .deny_suffixes
        .iter()
        .any(|d| path.ends_with(d.as_str()))
        || !site.allow_suffixes.is_empty()
            && !site
                .allow_suffixes
                .iter()
                .any(|a| path.ends_with(a.as_str()))
    {
        return status_page(StatusCode::FORBIDDEN);
    }
    if declared_len.is_some_and(|n| n > site.max_request_body) {
        tracing::info!(
            "{remote}: request body of {} bytes over max_request_body ({})",
            declared_len.unwrap_or(0),
            site.max_request_body
        );
        return status_page(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let remote_user = match crate::auth::check(site.auth, &path, req.headers(), &remote).await {
        crate::auth::Verdict::Open => None,
        crate::auth::Verdict::User(u) => Some(u),
        crate::auth::Verdict::Refused(r) => return r,
    };
    let (mut parts, incoming) = req.into_parts();
    for (name, value) in site.request_headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    let request_uri = parts
        .uri
        .path_and_query()
        .map_or(raw_path.as_str(), |pq| pq.as_str())
        .to_owned();
    let mut normalized = encode_path(&path);
    if let Some(q) = &query {
        normalized.push('?');
        normalized.push_str(q);
    }
    let limits = ClientLimits {
        max_body: site.max_request_body,
        read_timeout: s.read_timeout.0,
    };
    let what = format!("{} {}", parts.method, request_uri);
    // The parameters every FastCGI request of this HTTP request shares.
    let base = CgiRequest {
        method: &parts.method,
        version: parts.version,
        request_uri: &request_uri,
        query: query.as_deref().unwrap_or(""),
        script_name: "",
        path_info: "",
        redirect_uri: (normalized != request_uri).then_some(normalized.as_str()),
        document_root: files.root(),
        server_name: s.server_name.as_deref(),
        server_software: &s.server_tag,
        remote,
        local,
        https: false,
        headers: &parts.headers,
        content_length: 0,
        broken_script_filename: false,
        redirect_status: 200,
        remote_user: remote_user.as_deref(),
        extra: site.fastcgi_params,
    };
    // An authorizer first: 200 lets the request go on, with its variables; anything else is
    // the answer.
    let mut auth_params = None;
    if let Route::Fastcgi {
        backend,
        script_name,
        path_info,
    } = crate::route::authorizer(site.backends, &files, &path)
    {
        let mut head = BytesMut::with_capacity(1024);
        let cgi = CgiRequest {
            script_name,
            path_info,
            ..for_backend(base, backend)
        };
        encode_request_head(&mut head, Role::Authorizer, backend.keep_alive, &cgi);
        let body = RequestBody::Buffered(bytes::Bytes::new());
        let mut resp = crate::gateway::forward(
            backend.clone(),
            head,
            body,
            limits,
            format!("{what} (authorizer)"),
        )
        .await;
        if resp.status() != StatusCode::OK {
            if parts.method == Method::HEAD {
                *resp.body_mut() = Body::Empty;
            }
            return resp;
        }
        if let Some(vars) = resp
            .extensions_mut()
            .remove::<crate::gateway::cgi::Variables>()
        {
            let mut all = site.fastcgi_params.to_vec();
            all.extend(vars.0);
            auth_params = Some(all);
        }
    }
    // With an error handler, what answers instead of a 404 gets the parameters lighttpd
    // gives it: the handler's target, REDIRECT_STATUS 404.
    let mut via_handler = false;
    let routed = match route(site.backends, &files, &path) {
        Route::Static => {
            let resp = files
                .serve(&parts.method, &path, query.as_deref(), &parts.headers)
                .await;
            if resp.status() != StatusCode::NOT_FOUND {
                return resp;
            }
            match error_handler_404(s, site.backends, &files, &parts).await {
                Ok(r) => {
                    via_handler = true;
                    r
                }
                Err(()) => return resp,
            }
        }
        Route::MissingScript => match error_handler_404(s, site.backends, &files, &parts).await {
            Ok(r) => {
                via_handler = true;
                r
            }
            Err(()) => return status_page(StatusCode::NOT_FOUND),
        },
        r => r,
    };
    let base = if via_handler {
        CgiRequest {
            query: "",
            redirect_uri: s.error_handler_404.as_deref(),
            redirect_status: 404,
            ..base
        }
    } else {
        base
    };
    match routed {
        Route::Answer(r) => r,
        Route::Static | Route::MissingScript => unreachable!("answered above"),
        Route::Fastcgi {
            backend,
            script_name,
            path_info,
        } => {
            let (body, content_length) = match declared_len {
                Some(n) => (RequestBody::Stream(incoming), n),
                None if http_body::Body::is_end_stream(&incoming) => {
                    (RequestBody::Stream(incoming), 0)
                }
                None => {
                    // Chunked: CONTENT_LENGTH must be known before the params are sent.
                    match spool(
                        incoming,
                        site.max_request_body,
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
            let cgi = CgiRequest {
                script_name,
                path_info,
                content_length,
                extra: auth_params.as_deref().unwrap_or(site.fastcgi_params),
                ..for_backend(base, backend)
            };
            let mut head = BytesMut::with_capacity(1024);
            encode_request_head(&mut head, Role::Responder, backend.keep_alive, &cgi);
            let mut resp = crate::gateway::forward(backend.clone(), head, body, limits, what).await;
            if let Some(docroots) = &backend.x_sendfile {
                resp = crate::gateway::sendfile::apply(
                    resp,
                    docroots,
                    files.mime_types(),
                    &backend.name,
                )
                .await;
            }
            if parts.method == Method::HEAD {
                *resp.body_mut() = Body::Empty;
            }
            resp
        }
    }
}
