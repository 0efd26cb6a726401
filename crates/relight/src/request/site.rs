//! Per-request settings (lighttpd's conditional blocks): the conditions a request is tested
//! against, and the [`Site`] it is served with — the global settings with those of every
//! `[[scope]]` whose conditions hold put over them, in configuration order.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

use super::target::Target;
use super::{Conn, Step};
use crate::config::{
    AuthRule, ConditionConfig, Config, RedirectRule, RewriteRule, ScopeConfig, ServerConfig,
};
use crate::files::StaticFiles;
use crate::gateway::fastcgi::Backend;
use crate::http::pages::status_page;

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Url,
    Host,
    RemoteIp,
    QueryString,
    Method,
    Scheme,
    Socket,
    Header(HeaderName),
}

/// How a condition compares.
#[derive(Debug, Clone)]
enum Test {
    Equal(String),
    Regex(regex_lite::Regex),
    Prefix(String),
    Suffix(String),
    /// remoteip == an address or network.
    Network(IpAddr, u8),
    /// socket == ":port" or "ip:port".
    Listener(Option<IpAddr>, u16),
}

/// One compiled condition.
#[derive(Debug, Clone)]
pub struct Cond {
    field: Field,
    test: Test,
    /// `!=`, `!~`, or an `else` branch's negation.
    invert: bool,
}

/// The facts about a request that conditions test.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The normalized (decoded) path.
    pub path: &'a str,
    /// The query string.
    pub query: Option<&'a str>,
    /// The method.
    pub method: &'a Method,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The client.
    pub remote: SocketAddr,
    /// The address the request came in on.
    pub local: SocketAddr,
}

fn field(name: &str) -> Result<Field, String> {
    let header = |n: &str| {
        HeaderName::from_bytes(n.as_bytes())
            .map(Field::Header)
            .map_err(|_| format!("invalid header name {n:?}"))
    };
    Ok(match name {
        "url" => Field::Url,
        "host" => Field::Host,
        "remoteip" | "remote-ip" => Field::RemoteIp,
        "querystring" | "query-string" => Field::QueryString,
        "request-method" => Field::Method,
        "scheme" => Field::Scheme,
        "socket" => Field::Socket,
        "useragent" | "user-agent" => Field::Header(header::USER_AGENT),
        "referer" => Field::Header(header::REFERER),
        "cookie" => Field::Header(header::COOKIE),
        "language" => Field::Header(header::ACCEPT_LANGUAGE),
        other => match other.strip_prefix("header:") {
            Some(n) => header(n)?,
            None => {
                return Err(format!(
                    "unknown condition field {other:?}: expected url, host, remoteip, querystring, \
                     request-method, scheme, useragent, referer, cookie, language, socket or header:NAME"
                ));
            }
        },
    })
}

impl Cond {
    /// Compiles a condition of the configuration; the error says what is wrong with it.
    pub fn compile(c: &ConditionConfig) -> Result<Cond, String> {
        let field = field(&c.field)?;
        let value = c.value.get_ref();
        let (test, invert) = match c.op.as_str() {
            "==" | "!=" => {
                let test = match field {
                    Field::RemoteIp => network(value)?,
                    Field::Socket => listener(value)?,
                    _ => Test::Equal(value.clone()),
                };
                (test, c.op == "!=")
            }
            "=~" | "!~" => (
                Test::Regex(
                    regex_lite::Regex::new(value)
                        .map_err(|e| format!("invalid regular expression {value:?}: {e}"))?,
                ),
                c.op == "!~",
            ),
            "=^" => (Test::Prefix(value.clone()), false),
            "=$" => (Test::Suffix(value.clone()), false),
            op => {
                return Err(format!(
                    "unknown condition operator {op:?}: expected ==, !=, =~, !~, =^ or =$"
                ));
            }
        };
        Ok(Cond {
            field,
            test,
            invert: invert != c.negate,
        })
    }

    /// Whether the condition holds for the request; a regex that matched leaves its captures
    /// in `caps`.
    fn holds(&self, f: &Facts<'_>, caps: &mut Option<Vec<String>>) -> bool {
        let host;
        let ip;
        let value: &str = match &self.field {
            Field::Url => f.path,
            Field::QueryString => f.query.unwrap_or(""),
            Field::Method => f.method.as_str(),
            Field::Scheme => "http",
            Field::Host => {
                host = host_of(f.headers);
                &host
            }
            Field::RemoteIp => {
                if let Test::Network(net, bits) = &self.test {
                    return in_network(f.remote.ip(), *net, *bits) != self.invert;
                }
                ip = f.remote.ip().to_string();
                &ip
            }
            Field::Socket => {
                if let Test::Listener(want_ip, port) = &self.test {
                    let hit = f.local.port() == *port && want_ip.is_none_or(|w| w == f.local.ip());
                    return hit != self.invert;
                }
                ip = f.local.to_string();
                &ip
            }
            Field::Header(name) => f
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        };
        let hit = match &self.test {
            Test::Equal(s) => value == s,
            Test::Prefix(s) => value.starts_with(s.as_str()),
            Test::Suffix(s) => value.ends_with(s.as_str()),
            Test::Regex(re) => match re.captures(value) {
                Some(c) => {
                    if !self.invert {
                        *caps = Some(
                            c.iter()
                                .map(|m| m.map_or(String::new(), |m| m.as_str().to_owned()))
                                .collect(),
                        );
                    }
                    true
                }
                None => false,
            },
            Test::Network(..) | Test::Listener(..) => false,
        };
        hit != self.invert
    }
}

/// The Host of a request as lighttpd's `$HTTP["host"]` sees it: lower case, without a port
/// (checked against lighttpd 1.4.69).
fn host_of(headers: &HeaderMap) -> String {
    let h = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    crate::http::host_name(h).to_ascii_lowercase()
}

fn network(s: &str) -> Result<Test, String> {
    let bad =
        || format!("invalid address {s:?}: expected an IP address or a network like 10.0.0.0/8");
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    if bits > max {
        return Err(bad());
    }
    Ok(Test::Network(addr, bits))
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn listener(s: &str) -> Result<Test, String> {
    let bad = || format!("invalid socket {s:?}: expected \":port\" or \"ip:port\"");
    if let Some(p) = s.strip_prefix(':') {
        return Ok(Test::Listener(None, p.parse().map_err(|_| bad())?));
    }
    let a: SocketAddr = s.parse().map_err(|_| bad())?;
    let ip = (!a.ip().is_unspecified()).then_some(a.ip());
    Ok(Test::Listener(ip, a.port()))
}

/// The static file settings, each possibly set.
#[derive(Debug, Clone, Default)]
struct FileKeys {
    root: Option<PathBuf>,
    index_files: Option<Vec<String>>,
    mime_types: Option<std::collections::BTreeMap<String, String>>,
    exclude: Option<Vec<String>>,
    aliases: Option<std::collections::BTreeMap<String, PathBuf>>,
    ranges: Option<bool>,
    /// Global only: keep served files open ([`crate::file_cache`]).
    cache: Option<bool>,
}

impl FileKeys {
    fn is_empty(&self) -> bool {
        self.root.is_none()
            && self.index_files.is_none()
            && self.mime_types.is_none()
            && self.exclude.is_none()
            && self.aliases.is_none()
            && self.ranges.is_none()
            && self.cache.is_none()
    }

    fn over(&mut self, top: &FileKeys) {
        macro_rules! take {
            ($($f:ident),*) => {$(if top.$f.is_some() { self.$f = top.$f.clone(); })*};
        }
        take!(
            root,
            index_files,
            mime_types,
            exclude,
            aliases,
            ranges,
            cache
        );
    }

    fn build(&self) -> std::io::Result<StaticFiles> {
        let root = self.root.clone().unwrap_or_default();
        StaticFiles::new(
            &root,
            self.index_files.clone().unwrap_or_default(),
            self.mime_types.clone().unwrap_or_default(),
            self.exclude.clone().unwrap_or_default(),
        )
        .map(|f| {
            f.with_aliases(&self.aliases.clone().unwrap_or_default())
                .with_ranges(self.ranges.unwrap_or(true))
                .with_cache(self.cache.unwrap_or(false))
        })
    }
}

/// One layer of settings: the global one has every key, a scope the keys it sets.
#[derive(Debug, Default)]
struct Layer {
    files: FileKeys,
    backends: Option<Vec<Arc<Backend>>>,
    deny_suffixes: Option<Vec<String>>,
    allow_suffixes: Option<Vec<String>>,
    request_headers: Option<Vec<(HeaderName, HeaderValue)>>,
    rewrite: Option<Vec<RewriteRule>>,
    redirect: Option<Vec<RedirectRule>>,
    response_headers: Option<Vec<(HeaderName, HeaderValue)>>,
    fastcgi_params: Option<Vec<(String, String)>>,
    max_request_body: Option<u64>,
    auth: Option<Vec<AuthRule>>,
}

/// Step 3: the settings for a request (with its target as it is now); a scope whose document
/// root cannot be used is logged and answered 500.
pub(crate) fn select<'a>(
    sites: &'a Sites,
    parts: &http::request::Parts,
    target: &Target,
    conn: Conn,
) -> Step<Site<'a>> {
    let facts = Facts {
        path: &target.path,
        query: target.query.as_deref(),
        method: &parts.method,
        headers: &parts.headers,
        remote: conn.remote,
        local: conn.local,
    };
    match sites.site(&facts) {
        Ok(site) => ControlFlow::Continue(site),
        Err(e) => {
            tracing::error!("{}: {e}", conn.remote);
            ControlFlow::Break(status_page(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

/// The settings of a configuration, global and scoped, ready to be applied to requests.
#[derive(Debug)]
pub struct Sites {
    base: Layer,
    base_files: Arc<StaticFiles>,
    scopes: Vec<(Vec<Cond>, Layer)>,
    /// The file handlers of combinations of scopes met so far, by the scopes' indices.
    files: Mutex<HashMap<Vec<usize>, Arc<StaticFiles>>>,
}

/// What one request is served with.
#[derive(Debug)]
pub struct Site<'a> {
    /// The static files (document root, index files, types, exclusions, aliases).
    pub files: Arc<StaticFiles>,
    /// The FastCGI backends, in order.
    pub backends: &'a [Arc<Backend>],
    /// Paths with these suffixes are denied.
    pub deny_suffixes: &'a [String],
    /// When not empty, only paths with these suffixes are allowed.
    pub allow_suffixes: &'a [String],
    /// Headers set on the request.
    pub request_headers: &'a [(HeaderName, HeaderValue)],
    /// Rewrite rules, and the captures `%n` refers to.
    pub rewrite: (&'a [RewriteRule], Option<Vec<String>>),
    /// Redirect rules, and the captures `%n` refers to.
    pub redirect: (&'a [RedirectRule], Option<Vec<String>>),
    /// Headers added to the response.
    pub response_headers: &'a [(HeaderName, HeaderValue)],
    /// Parameters added to FastCGI requests.
    pub fastcgi_params: &'a [(String, String)],
    /// The largest request body.
    pub max_request_body: u64,
    /// Basic authentication rules.
    pub auth: &'a [AuthRule],
}

fn headers(
    map: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    map.iter()
        .map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid header name {k:?}"))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| format!("invalid header value for {k}: {v:?}"))?;
            Ok((name, value))
        })
        .collect()
}

fn pairs(map: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl Sites {
    /// Builds the settings of `config`, with `backends` built from its `[[fastcgi]]` entries (in
    /// the same order).
    pub fn new(config: &Config, backends: &[Arc<Backend>]) -> Result<Sites, String> {
        let s: &ServerConfig = &config.server;
        let files = FileKeys {
            root: Some(s.document_root.get_ref().clone()),
            index_files: Some(s.index_files.clone()),
            mime_types: Some(s.mime_types.clone()),
            exclude: Some(s.static_exclude_extensions.clone()),
            aliases: Some(s.aliases.clone()),
            ranges: Some(s.range_requests),
            cache: Some(s.file_cache),
        };
        let base_files = files
            .build()
            .map_err(|e| format!("document_root {}: {e}", s.document_root.get_ref().display()))?;
        let global = config
            .fastcgi
            .iter()
            .zip(backends)
            .filter(|(c, _)| c.global)
            .map(|(_, b)| b.clone())
            .collect();
        let base = Layer {
            files,
            backends: Some(global),
            deny_suffixes: Some(s.deny_suffixes.clone()),
            allow_suffixes: Some(s.allow_suffixes.clone()),
            request_headers: Some(headers(&s.request_headers)?),
            rewrite: Some(s.rewrite.clone()),
            redirect: Some(s.redirect.clone()),
            response_headers: Some(headers(&s.response_headers)?),
            fastcgi_params: Some(pairs(&s.fastcgi_params)),
            max_request_body: Some(s.max_request_body.0),
            auth: Some(s.auth.clone()),
        };
        let mut scopes = Vec::with_capacity(config.scope.len());
        for (i, sc) in config.scope.iter().enumerate() {
            let conds = sc
                .when
                .iter()
                .map(Cond::compile)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("scope {}: {e}", i + 1))?;
            scopes.push((conds, layer(sc, config, backends)?));
        }
        Ok(Sites {
            base,
            base_files: Arc::new(base_files),
            scopes,
            files: Mutex::new(HashMap::new()),
        })
    }

    /// The headers the global settings add to responses.
    pub fn base_response_headers(&self) -> &[(HeaderName, HeaderValue)] {
        self.base.response_headers.as_deref().unwrap_or_default()
    }

    /// Whether any settings depend on the request.
    pub fn is_scoped(&self) -> bool {
        !self.scopes.is_empty()
    }

    /// The settings for a request with these facts.
    pub fn site<'a>(&'a self, facts: &Facts<'_>) -> Result<Site<'a>, String> {
        let b = &self.base;
        let mut site = Site {
            files: self.base_files.clone(),
            backends: b.backends.as_deref().unwrap_or_default(),
            deny_suffixes: b.deny_suffixes.as_deref().unwrap_or_default(),
            allow_suffixes: b.allow_suffixes.as_deref().unwrap_or_default(),
            request_headers: b.request_headers.as_deref().unwrap_or_default(),
            rewrite: (b.rewrite.as_deref().unwrap_or_default(), None),
            redirect: (b.redirect.as_deref().unwrap_or_default(), None),
            response_headers: b.response_headers.as_deref().unwrap_or_default(),
            fastcgi_params: b.fastcgi_params.as_deref().unwrap_or_default(),
            max_request_body: b.max_request_body.unwrap_or(u64::MAX),
            auth: b.auth.as_deref().unwrap_or_default(),
        };
        let mut file_scopes = Vec::new();
        for (i, (conds, l)) in self.scopes.iter().enumerate() {
            let mut caps = None;
            if !conds.iter().all(|c| c.holds(facts, &mut caps)) {
                continue;
            }
            if !l.files.is_empty() {
                file_scopes.push(i);
            }
            if let Some(v) = &l.backends {
                site.backends = v;
            }
            if let Some(v) = &l.deny_suffixes {
                site.deny_suffixes = v;
            }
            if let Some(v) = &l.allow_suffixes {
                site.allow_suffixes = v;
            }
            if let Some(v) = &l.request_headers {
                site.request_headers = v;
            }
            if let Some(v) = &l.rewrite {
                site.rewrite = (v, caps.clone());
            }
            if let Some(v) = &l.redirect {
                site.redirect = (v, caps.clone());
            }
            if let Some(v) = &l.response_headers {
                site.response_headers = v;
            }
            if let Some(v) = &l.fastcgi_params {
                site.fastcgi_params = v;
            }
            if let Some(v) = l.max_request_body {
                site.max_request_body = v;
            }
            if let Some(v) = &l.auth {
                site.auth = v;
            }
        }
        if !file_scopes.is_empty() {
            site.files = self.files_of(file_scopes)?;
        }
        Ok(site)
    }

    /// The file handler for the global settings with those of `scopes` over them.
    fn files_of(&self, scopes: Vec<usize>) -> Result<Arc<StaticFiles>, String> {
        let mut cache = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = cache.get(&scopes) {
            return Ok(f.clone());
        }
        let mut keys = self.base.files.clone();
        for &i in &scopes {
            keys.over(&self.scopes[i].1.files);
        }
        let root = keys.root.clone().unwrap_or_default();
        let files = Arc::new(
            keys.build()
                .map_err(|e| format!("document_root {}: {e}", root.display()))?,
        );
        cache.insert(scopes, files.clone());
        Ok(files)
    }
}

fn layer(sc: &ScopeConfig, config: &Config, backends: &[Arc<Backend>]) -> Result<Layer, String> {
    let backends = match &sc.fastcgi {
        None => None,
        Some(names) => Some(
            names
                .iter()
                .map(|n| {
                    config
                        .fastcgi
                        .iter()
                        .position(|c| c.name.get_ref() == n.get_ref())
                        .map(|i| backends[i].clone())
                        .ok_or_else(|| format!("scope: no fastcgi backend named {:?}", n.get_ref()))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(Layer {
        files: FileKeys {
            root: sc.document_root.as_ref().map(|r| r.get_ref().clone()),
            index_files: sc.index_files.clone(),
            mime_types: sc.mime_types.clone(),
            exclude: sc.static_exclude_extensions.clone(),
            aliases: sc.aliases.clone(),
            ranges: sc.range_requests,
            cache: None,
        },
        backends,
        deny_suffixes: sc.deny_suffixes.clone(),
        allow_suffixes: sc.allow_suffixes.clone(),
        request_headers: sc.request_headers.as_ref().map(headers).transpose()?,
        rewrite: sc.rewrite.clone(),
        redirect: sc.redirect.clone(),
        response_headers: sc.response_headers.as_ref().map(headers).transpose()?,
        fastcgi_params: sc.fastcgi_params.as_ref().map(pairs),
        max_request_body: sc.max_request_body.map(|s| s.0),
        auth: sc.auth.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use toml::Spanned;

    fn cond(field: &str, op: &str, value: &str) -> Cond {
        Cond::compile(&ConditionConfig {
            field: field.into(),
            op: op.into(),
            value: Spanned::new(0..0, value.into()),
            negate: false,
        })
        .unwrap()
    }

    fn facts<'a>(path: &'a str, headers: &'a HeaderMap, remote: &str) -> Facts<'a> {
        Facts {
            path,
            query: Some("a=1"),
            method: &Method::GET,
            headers,
            remote: remote.parse().unwrap(),
            local: "127.0.0.1:8080".parse().unwrap(),
        }
    }

    #[test]
    fn conditions() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("Example.COM:80"));
        h.insert(header::USER_AGENT, HeaderValue::from_static("curl/8"));
        let f = facts("/admin/x", &h, "10.1.2.3:5555");
        let mut caps = None;
        for (field, op, value, want) in [
            ("url", "=~", "^/admin/(.*)$", true),
            ("url", "!~", "^/admin/", false),
            ("url", "=^", "/adm", true),
            ("url", "=$", "/x", true),
            ("url", "==", "/admin", false),
            ("host", "==", "example.com", true),
            ("remoteip", "==", "10.0.0.0/8", true),
            ("remoteip", "!=", "10.0.0.0/8", false),
            ("remoteip", "==", "10.1.2.4", false),
            ("remoteip", "=~", "^10\\.", true),
            ("querystring", "==", "a=1", true),
            ("request-method", "==", "GET", true),
            ("scheme", "==", "https", false),
            ("useragent", "=~", "^curl", true),
            ("header:X-Nope", "==", "", true),
            ("socket", "==", ":8080", true),
            ("socket", "==", "127.0.0.2:8080", false),
        ] {
            assert_eq!(
                cond(field, op, value).holds(&f, &mut caps),
                want,
                "{field} {op} {value}"
            );
        }
        let mut caps = None;
        assert!(cond("url", "=~", "^/admin/(.*)$").holds(&f, &mut caps));
        assert_eq!(caps, Some(vec!["/admin/x".to_string(), "x".to_string()]));
        for (field, op, value, msg) in [
            ("uri", "==", "/", "unknown condition field"),
            ("url", "<>", "/", "unknown condition operator"),
            ("url", "=~", "(", "invalid regular expression"),
            ("remoteip", "==", "10.0.0.0/33", "invalid address"),
            ("socket", "==", "nowhere", "invalid socket"),
        ] {
            let e = Cond::compile(&ConditionConfig {
                field: field.into(),
                op: op.into(),
                value: Spanned::new(0..0, value.into()),
                negate: false,
            })
            .unwrap_err();
            assert!(e.starts_with(msg), "{e}");
        }
    }

    #[test]
    fn ipv4_networks_match_mapped_v6_clients() {
        let net: IpAddr = "192.168.0.0".parse().unwrap();
        assert!(in_network("::ffff:192.168.4.5".parse().unwrap(), net, 16));
        assert!(!in_network("192.169.0.1".parse().unwrap(), net, 16));
        assert!(in_network("1.2.3.4".parse().unwrap(), net, 0));
    }
}
