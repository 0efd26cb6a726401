//! The HTTP reverse proxy (lighttpd's mod_proxy): a request matched by a `[[proxy]]` rule goes
//! to one of its upstreams over HTTP/1.1 (kept-alive connections, at most `max_idle` idle per
//! upstream), its body streamed as it arrives, the answer streamed back with backpressure.
//! Hop-by-hop headers are removed both ways (RFC 9110 §7.6.1, and what `Connection` names);
//! `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` (and `X-Host`, as lighttpd)
//! are set, `Forwarded` when asked. The request is framed anew by the client side of hyper
//! (`Content-Length` or chunked, never both), so nothing the client framed twice gets through.
//! With `upgrade`, a 101 answer joins the client's connection to the upstream's until either
//! closes (WebSocket). An upstream that refuses, resets or sends a malformed answer is 502, one
//! that is slow 504, each with one log line; the other upstreams and the server go on.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::client_body::{ClientBody, OnUpgrade};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixStream};

use super::GatewayError;
use super::fastcgi::backend::BackendStream;
use crate::config::{BackendAddr, Balance, MatchRule, ProxyConfig};
use crate::http::body::Body;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of a request sent upstream.
type UpBody = BoxBody<Bytes, BoxError>;

/// One `[[proxy]]` rule as the gateway runs it.
#[derive(Debug)]
pub(crate) struct Proxy {
    /// Its name, in logs and status.
    pub name: String,
    /// The rules that select its requests.
    pub matches: Vec<MatchRule>,
    /// Serves requests outside of scopes.
    pub global: bool,
    upstreams: Vec<Upstream>,
    balance: Balance,
    next: AtomicUsize,
    connect_timeout: Duration,
    read_timeout: Duration,
    host: Option<HeaderValue>,
    forwarded: bool,
    upgrade: bool,
    max_idle: usize,
    maps: Maps,
    /// Requests sent, and those an upstream failed (502/504).
    pub stats: ProxyStats,
}

/// Counts of a rule's requests.
#[derive(Debug, Default)]
pub(crate) struct ProxyStats {
    /// Requests sent upstream.
    pub requests: AtomicU64,
    /// Requests an upstream failed (refused, reset, malformed, too slow).
    pub upstream_errors: AtomicU64,
    /// Connections upgraded (WebSocket) and joined.
    pub upgraded: AtomicU64,
}

#[derive(Debug)]
struct Upstream {
    addr: BackendAddr,
    idle: Mutex<Vec<SendRequest<UpBody>>>,
    in_flight: AtomicUsize,
}

/// The client side of a proxied request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client {
    /// The client's address.
    pub remote: SocketAddr,
    /// It came over HTTPS.
    pub https: bool,
    /// The largest body it may send.
    pub max_body: u64,
}

impl Proxy {
    /// The rule of `c`.
    pub(crate) fn new(c: &ProxyConfig) -> Proxy {
        Proxy {
            name: c.name.value.clone(),
            matches: c.matches.clone(),
            global: c.global,
            upstreams: c
                .upstreams
                .iter()
                .map(|a| Upstream {
                    addr: a.clone(),
                    idle: Mutex::new(Vec::new()),
                    in_flight: AtomicUsize::new(0),
                })
                .collect(),
            balance: c.balance,
            next: AtomicUsize::new(0),
            connect_timeout: c.connect_timeout.0,
            read_timeout: c.read_timeout.0,
            host: c
                .host
                .as_deref()
                .and_then(|h| HeaderValue::from_str(h).ok()),
            forwarded: c.forwarded,
            upgrade: c.upgrade,
            max_idle: c.max_idle,
            maps: Maps {
                // Longest prefix first.
                path: {
                    let mut m: Vec<_> = c.map_path.clone().into_iter().collect();
                    m.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
                    m
                },
                host_request: c.map_host_request.clone().into_iter().collect(),
                host_response: c.map_host_response.clone().into_iter().collect(),
            },
            stats: ProxyStats::default(),
        }
    }

    /// Whether `path` is one of this rule's.
    pub(crate) fn serves(&self, path: &str) -> bool {
        self.matches.iter().any(|m| match m {
            MatchRule::Prefix(p) => path.starts_with(p.as_str()),
            MatchRule::Extension(e) => path
                .match_indices(e.as_str())
                .any(|(i, _)| matches!(path.as_bytes().get(i + e.len()), None | Some(b'/'))),
        })
    }

    fn choose(&self, client: IpAddr) -> &Upstream {
        let n = self.upstreams.len();
        let i = match self.balance {
            Balance::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n,
            Balance::Hash => {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                client.hash(&mut h);
                (h.finish() % n as u64) as usize
            }
            Balance::LeastBusy => (0..n)
                .min_by_key(|&i| self.upstreams[i].in_flight.load(Ordering::Acquire))
                .unwrap_or(0),
        };
        &self.upstreams[i]
    }
}

/// lighttpd's proxy.header maps: URL path prefixes, and host names both ways.
#[derive(Debug, Default)]
struct Maps {
    path: Vec<(String, String)>,
    host_request: Vec<(String, String)>,
    host_response: Vec<(String, String)>,
}

impl Maps {
    /// `target` with its path's first mapped prefix replaced (up: client's to upstream's).
    fn path_up(&self, target: &str) -> String {
        for (from, to) in &self.path {
            if let Some(rest) = target.strip_prefix(from.as_str()) {
                return format!("{to}{rest}");
            }
        }
        target.to_owned()
    }

    /// `path` with an upstream prefix put back (down: upstream's to client's).
    fn path_down(&self, path: &str) -> Option<String> {
        let mut best: Option<(&str, &str)> = None;
        for (from, to) in &self.path {
            if path.starts_with(to.as_str()) && best.is_none_or(|(_, t)| to.len() > t.len()) {
                best = Some((from, to));
            }
        }
        best.map(|(from, to)| format!("{from}{}", &path[to.len()..]))
    }

    /// The upstream's Host for the client's `host`.
    fn host_up(&self, host: &str) -> Option<String> {
        self.host_request
            .iter()
            .find(|(from, _)| from == "-" || from.eq_ignore_ascii_case(host))
            .map(|(_, to)| {
                if to == "-" {
                    host.to_owned()
                } else {
                    to.clone()
                }
            })
    }

    /// The client's name for the upstream's `host` (`client`: the client's Host).
    fn host_down(&self, host: &str, client: Option<&str>) -> Option<String> {
        self.host_response
            .iter()
            .find(|(from, _)| from == "-" || from.eq_ignore_ascii_case(host))
            .and_then(|(_, to)| {
                if to == "-" {
                    client.map(str::to_owned)
                } else {
                    Some(to.clone())
                }
            })
    }

    fn is_empty(&self) -> bool {
        self.path.is_empty() && self.host_request.is_empty() && self.host_response.is_empty()
    }

    /// A `Location` or `Content-Location` value as the client must see it.
    fn location_down(&self, v: &str, client: Option<&str>) -> String {
        // Absolute: scheme://authority/path; else a path.
        let (prefix, rest) = match v.find("://") {
            Some(i) => {
                let after = &v[i + 3..];
                let end = after.find('/').unwrap_or(after.len());
                let authority = &after[..end];
                let authority = self
                    .host_down(authority, client)
                    .unwrap_or_else(|| authority.to_owned());
                (format!("{}{authority}", &v[..i + 3]), &after[end..])
            }
            None => (String::new(), v),
        };
        let path = if rest.starts_with('/') {
            self.path_down(rest).unwrap_or_else(|| rest.to_owned())
        } else {
            rest.to_owned()
        };
        format!("{prefix}{path}")
    }

    /// A `Set-Cookie` value with its Path and Domain as the client must see them.
    fn cookie_down(&self, v: &str, client: Option<&str>) -> String {
        v.split(';')
            .map(|part| {
                let t = part.trim_start();
                let lead = &part[..part.len() - t.len()];
                if let Some(p) = t.strip_prefix("Path=").or_else(|| t.strip_prefix("path=")) {
                    if let Some(m) = self.path_down(p) {
                        return format!("{lead}Path={m}");
                    }
                }
                if let Some(d) = t
                    .strip_prefix("Domain=")
                    .or_else(|| t.strip_prefix("domain="))
                {
                    if let Some(m) = self.host_down(d, client) {
                        return format!("{lead}Domain={m}");
                    }
                }
                part.to_owned()
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    /// The answer's headers with its locations and cookies mapped back.
    fn headers_down(&self, headers: &mut HeaderMap, client: Option<&str>) {
        if self.is_empty() {
            return;
        }
        for name in [header::LOCATION, header::CONTENT_LOCATION] {
            if let Some(v) = headers.get(&name).and_then(|v| v.to_str().ok())
                && let Ok(mapped) = HeaderValue::from_str(&self.location_down(v, client))
            {
                headers.insert(name, mapped);
            }
        }
        let cookies: Vec<HeaderValue> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| {
                v.to_str()
                    .ok()
                    .and_then(|s| HeaderValue::from_str(&self.cookie_down(s, client)).ok())
                    .unwrap_or_else(|| v.clone())
            })
            .collect();
        if !cookies.is_empty() {
            headers.remove(header::SET_COOKIE);
            for c in cookies {
                headers.append(header::SET_COOKIE, c);
            }
        }
    }
}

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `headers` without the hop-by-hop ones and those their `Connection` names.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (k, v) in headers {
        let name = k.as_str();
        if HOP_BY_HOP.contains(&name) || named.iter().any(|n| n == name) {
            continue;
        }
        out.append(k.clone(), v.clone());
    }
    out
}

/// Sends the request (`parts` and `body`) from `client` upstream and returns the answer; `what`
/// names it in log lines.
pub(crate) async fn forward(
    proxy: Arc<Proxy>,
    mut parts: http::request::Parts,
    body: Option<ClientBody>,
    client: Client,
    what: String,
) -> Response<Body> {
    proxy.stats.requests.fetch_add(1, Ordering::Relaxed);
    match exchange(&proxy, &mut parts, body, client, &what).await {
        Ok(resp) => resp,
        Err(e) => {
            proxy.stats.upstream_errors.fetch_add(1, Ordering::Relaxed);
            let status = match e {
                GatewayError::ConnectTimeout(_) | GatewayError::ReadTimeout(_) => {
                    StatusCode::GATEWAY_TIMEOUT
                }
                GatewayError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_GATEWAY,
            };
            tracing::error!(
                "proxy \"{}\": {what}: {e} -> {}",
                proxy.name,
                status.as_u16()
            );
            crate::http::pages::status_page(status)
        }
    }
}

async fn exchange(
    proxy: &Arc<Proxy>,
    parts: &mut http::request::Parts,
    body: Option<ClientBody>,
    client: Client,
    what: &str,
) -> Result<Response<Body>, GatewayError> {
    let upgrade = if proxy.upgrade && parts.version == http::Version::HTTP_11 {
        crate::http::upgrade_asked(&parts.headers)
    } else {
        None
    };
    let mut headers = end_to_end(&parts.headers);
    headers.remove(header::CONTENT_LENGTH);
    headers.remove("proxy");
    let ip = client.remote.ip();
    let xff = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip.to_string(),
    };
    let scheme = if client.https { "https" } else { "http" };
    let host = parts.headers.get(header::HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let put = |h: &mut HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(HeaderName::from_static(k), v);
        }
    };
    put(&mut headers, "x-forwarded-for", &xff);
    put(&mut headers, "x-forwarded-proto", scheme);
    if let Some(h) = &host {
        headers.insert(HeaderName::from_static("x-forwarded-host"), h.clone());
        headers.insert(HeaderName::from_static("x-host"), h.clone());
        headers.insert(header::HOST, h.clone());
    }
    if proxy.forwarded {
        let for_ = match ip {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("\"[{a}]\""),
        };
        let mut f = format!("for={for_};proto={scheme}");
        if let Some(h) = host.as_ref().and_then(|h| h.to_str().ok()) {
            f.push_str(&format!(";host=\"{h}\""));
        }
        let v = match parts.headers.get("forwarded").and_then(|v| v.to_str().ok()) {
            Some(prev) => format!("{prev}, {f}"),
            None => f,
        };
        put(&mut headers, "forwarded", &v);
    }
    let client_host = host
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .map(|h| h.to_owned());
    if let Some(mapped) = client_host.as_deref().and_then(|h| proxy.maps.host_up(h))
        && let Ok(v) = HeaderValue::from_str(&mapped)
    {
        headers.insert(header::HOST, v);
    }
    if let Some(h) = &proxy.host {
        headers.insert(header::HOST, h.clone());
    }
    if let Some(u) = &upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, u.clone());
    }
    let path = proxy
        .maps
        .path_up(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let body: UpBody = match body {
        Some(b) => Limited::new(b, usize::try_from(client.max_body).unwrap_or(usize::MAX)).boxed(),
        // A local redirect's GET has no body.
        None => http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed(),
    };
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = path
        .parse()
        .map_err(|_| GatewayError::Upstream("bad path".into()))?;
    *req.headers_mut() = headers;

    let up = proxy.choose(ip);
    up.in_flight.fetch_add(1, Ordering::AcqRel);
    let _in_flight = InFlight(up);
    let mut sender = sender(proxy, up, upgrade.is_none()).await?;
    let resp = match tokio::time::timeout(proxy.read_timeout, sender.send_request(req)).await {
        Err(_) => return Err(GatewayError::ReadTimeout(proxy.read_timeout)),
        Ok(Err(e)) => {
            // A body over the limit is the client's fault.
            if std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            {
                return Err(GatewayError::BodyTooLarge(client.max_body));
            }
            return Err(GatewayError::Upstream(format!("{} ({})", e, up.addr_str())));
        }
        Ok(Ok(r)) => r,
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(asked) = upgrade else {
            return Err(GatewayError::Upstream(
                "101 Switching Protocols to a request that asked for no upgrade".into(),
            ));
        };
        let client_up = OnUpgrade::take(&mut parts.extensions);
        let mut to_client = Response::new(Body::Empty);
        *to_client.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let mut headers = end_to_end(resp.headers());
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, asked);
        *to_client.headers_mut() = headers;
        let up_resp = resp;
        let name = proxy.name.clone();
        let what = what.to_owned();
        proxy.stats.upgraded.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let (Some(client_up), Ok(up_io)) = (client_up, hyper::upgrade::on(up_resp).await)
            else {
                tracing::info!("proxy \"{name}\": {what}: the upgrade did not happen");
                return;
            };
            let Ok(mut a) = client_up.connection().await else {
                tracing::info!("proxy \"{name}\": {what}: the client left before the upgrade");
                return;
            };
            let mut b = TokioIo::new(up_io);
            match tokio::io::copy_bidirectional(&mut a, &mut b).await {
                Ok((to_up, to_client)) => tracing::debug!(
                    "proxy \"{name}\": {what}: upgraded connection closed after {to_up} bytes up, {to_client} down"
                ),
                Err(e) => tracing::debug!("proxy \"{name}\": {what}: upgraded connection: {e}"),
            }
        });
        return Ok(to_client);
    }
    let (mut head, up_body) = resp.into_parts();
    head.headers = end_to_end(&head.headers);
    proxy
        .maps
        .headers_down(&mut head.headers, client_host.as_deref());
    let (tx, body) = Body::channel();
    let proxy = proxy.clone();
    let up_index = proxy
        .upstreams
        .iter()
        .position(|u| std::ptr::eq(u, up))
        .unwrap_or(0);
    let what = what.to_owned();
    tokio::spawn(async move {
        let mut up_body = up_body;
        loop {
            let frame = tokio::time::timeout(proxy.read_timeout, up_body.frame()).await;
            let frame = match frame {
                Err(_) => {
                    proxy.stats.upstream_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        "proxy \"{}\": {what}: no response bytes for {:?} (response cut off)",
                        proxy.name,
                        proxy.read_timeout
                    );
                    let _ = tx
                        .send(Err(io::Error::other("upstream read timeout")))
                        .await;
                    return;
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    proxy.stats.upstream_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!("proxy \"{}\": {what}: {e} (response cut off)", proxy.name);
                    let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                    return;
                }
                Ok(Some(Ok(f))) => f,
            };
            if let Ok(data) = frame.into_data()
                && !data.is_empty()
                && tx.send(Ok(data)).await.is_err()
            {
                // The client left: the upstream connection is not reused.
                return;
            }
        }
        drop(tx);
        // The answer is complete: the connection may serve the next request.
        let up = &proxy.upstreams[up_index];
        if !sender.is_closed() {
            let mut idle = up.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < proxy.max_idle {
                idle.push(sender);
            }
        }
    });
    Ok(Response::from_parts(head, body))
}

/// An upstream's count of requests in flight, taken back when the request ends.
struct InFlight<'a>(&'a Upstream);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Upstream {
    fn addr_str(&self) -> String {
        match &self.addr {
            BackendAddr::Unix(p) => format!("unix:{}", p.display()),
            BackendAddr::Tcp(a) => a.clone(),
        }
    }
}

/// A connection to `up` ready for a request: an idle one (when `reuse`), else a new one.
async fn sender(
    proxy: &Proxy,
    up: &Upstream,
    reuse: bool,
) -> Result<SendRequest<UpBody>, GatewayError> {
    if reuse {
        loop {
            let kept = up.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(mut s) = kept else { break };
            if s.is_closed() {
                continue;
            }
            if let Ok(Ok(())) = tokio::time::timeout(Duration::ZERO, s.ready()).await {
                return Ok(s);
            }
        }
    }
    let connect = async {
        match &up.addr {
            BackendAddr::Unix(p) => UnixStream::connect(p).await.map(BackendStream::Unix),
            BackendAddr::Tcp(a) => {
                let s = TcpStream::connect(a.as_str()).await?;
                s.set_nodelay(true)?;
                Ok(BackendStream::Tcp(s))
            }
        }
    };
    let io = match tokio::time::timeout(proxy.connect_timeout, connect).await {
        Err(_) => return Err(GatewayError::ConnectTimeout(proxy.connect_timeout)),
        Ok(Err(e)) => {
            return Err(GatewayError::Upstream(format!(
                "cannot connect to {}: {e}",
                up.addr_str()
            )));
        }
        Ok(Ok(io)) => io,
    };
    let (s, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| GatewayError::Upstream(format!("{} ({})", e, up.addr_str())))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_hosts_are_mapped_both_ways_as_lighttpd_maps_them() {
        let m = Maps {
            path: vec![("/app/".into(), "/".into())],
            host_request: vec![("-".into(), "backend.local".into())],
            host_response: vec![("backend.local".into(), "-".into())],
        };
        assert_eq!(m.path_up("/app/x?y=1"), "/x?y=1");
        assert_eq!(m.path_up("/other"), "/other");
        assert_eq!(m.host_up("example.org").as_deref(), Some("backend.local"));
        assert_eq!(
            m.location_down("http://backend.local/login?next=/", Some("example.org")),
            "http://example.org/app/login?next=/"
        );
        assert_eq!(m.location_down("/x", None), "/app/x");
        assert_eq!(
            m.cookie_down(
                "sid=1; Path=/; Domain=backend.local; HttpOnly",
                Some("example.org")
            ),
            "sid=1; Path=/app/; Domain=example.org; HttpOnly"
        );
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_stay_behind() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("accept", "*/*"),
            ("cookie", "a=1"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        let out = end_to_end(&h);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept", "cookie"]);
        let mut u = HeaderMap::new();
        u.insert("connection", HeaderValue::from_static("Upgrade"));
        u.insert("upgrade", HeaderValue::from_static("websocket"));
        assert_eq!(crate::http::upgrade_asked(&u).unwrap(), "websocket");
        u.insert("connection", HeaderValue::from_static("keep-alive"));
        assert!(crate::http::upgrade_asked(&u).is_none());
    }
}
