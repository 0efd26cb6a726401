//! Step 3, the settings a request is served with ([`Site`]): the global [`Settings`] with those
//! of every `[[scope]]` whose conditions hold put over them, in configuration order, by
//! [`Settings::over`]. What a combination of scopes gives (the static file handler, the
//! backends, the checked header lists) is built the first time a request meets it and kept, so
//! a request only tests conditions and looks its combination up.

use std::collections::HashMap;
use std::ops::{ControlFlow, Deref};
use std::sync::{Arc, Mutex};

use http::{HeaderName, HeaderValue, StatusCode};

use super::target::Target;
use super::{Conn, Step};
use crate::config::{
    AuthRule, Condition, ConditionError, Config, Facts, RedirectRule, RewriteRule, Settings,
};
use crate::files::StaticFiles;
use crate::gateway::cgi::Cgi;
use crate::gateway::fastcgi::Backend;
use crate::gateway::proxy::Proxy;
use crate::http::pages::status_page;

/// Why settings cannot be made ready for requests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// A document root that cannot be served (missing, or not readable).
    #[error("document_root {root}: {source}")]
    DocumentRoot {
        /// The root.
        root: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A scope's condition does not compile.
    #[error("scope {scope}: {source}")]
    Condition {
        /// The scope (1-based).
        scope: usize,
        /// Why.
        source: ConditionError,
    },
    /// A scope names a backend that is not configured.
    #[error("scope: no fastcgi backend named {0:?}")]
    NoBackend(String),
    /// A scope names a CGI rule that is not configured.
    #[error("scope: no cgi rule named {0:?}")]
    NoCgi(String),
    /// A scope names a proxy rule that is not configured.
    #[error("scope: no proxy rule named {0:?}")]
    NoProxy(String),
}

/// One scope, compiled.
#[derive(Debug)]
struct Scope {
    when: Vec<Condition>,
    settings: Settings,
    /// The backends that serve its requests, when it names them.
    backends: Option<Vec<Arc<Backend>>>,
    /// The CGI rules for its requests, when it names them.
    cgi: Option<Vec<Arc<Cgi>>>,
    /// The proxy rules for its requests, when it names them.
    proxy: Option<Vec<Arc<Proxy>>>,
}

/// What one combination of settings gives, ready for requests.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The static files (document root, index files, types, exclusions, aliases, ranges).
    pub files: Arc<StaticFiles>,
    /// The FastCGI backends, in order.
    pub backends: Vec<Arc<Backend>>,
    /// The CGI rules, in order.
    pub cgi: Vec<Arc<Cgi>>,
    /// The proxy rules, in order.
    pub proxy: Vec<Arc<Proxy>>,
    /// Paths with these suffixes are denied.
    pub deny_suffixes: Vec<String>,
    /// When not empty, only paths with these suffixes are allowed.
    pub allow_suffixes: Vec<String>,
    /// Headers set on the request (an empty value removes one).
    pub request_headers: Vec<(HeaderName, HeaderValue)>,
    /// Headers appended to the request's.
    pub add_request_headers: Vec<(HeaderName, HeaderValue)>,
    /// Headers added to the response.
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Headers set on the response (an empty value removes one).
    pub set_response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Expiry rules.
    pub expire: Vec<crate::config::ExpireRule>,
    /// Compression, when on.
    pub compress: Option<crate::config::CompressConfig>,
    /// The trusted proxies, when on.
    pub extforward: Option<crate::config::ExtforwardConfig>,
    /// Directory listings, when on.
    pub dir_listing: Option<crate::config::DirListingConfig>,
    /// lighttpd's status pages, when asked for.
    pub status_pages: Option<crate::config::StatusPages>,
    /// The document root by host, when on.
    pub vhost: Option<crate::config::VhostConfig>,
    /// `/~user/`, when on.
    pub userdir: Option<crate::config::UserdirConfig>,
    /// Rewrite rules.
    pub rewrite: Vec<RewriteRule>,
    /// Redirect rules.
    pub redirect: Vec<RedirectRule>,
    /// Parameters added to FastCGI requests.
    pub fastcgi_params: Vec<(String, String)>,
    /// The largest request body.
    pub max_request_body: u64,
    /// Basic authentication rules.
    pub auth: Vec<AuthRule>,
    /// Plain HTTP requests are redirected to HTTPS on this port.
    pub https_redirect: Option<u16>,
    /// SERVER_NAME instead of the Host header's name.
    pub server_name: Option<String>,
    /// SERVER_SOFTWARE.
    pub server_tag: String,
    /// The `Server` header (none for an empty tag).
    pub server_header: Option<HeaderValue>,
    /// The URL path a 404 is served as.
    pub error_handler_404: Option<String>,
    /// The URL path every error made here is served as.
    pub error_handler: Option<String>,
    /// The start of the error files' paths.
    pub errorfile_prefix: Option<String>,
    /// Requests in progress per client address, when limited.
    pub evasive: Option<crate::config::EvasiveConfig>,
    /// Signed links, when on.
    pub secdownload: Option<crate::config::SecdownloadConfig>,
    /// Wrong credentials are answered a second late, on a closing connection.
    pub auth_delay_invalid_creds: bool,
    /// The settings these were made from (a host's document root or a user's directory
    /// makes a variant of them: [`Scopes::derived`]).
    source: Settings,
    /// Which these are, never another's (the key of their variants).
    id: u64,
    /// The scopes (indices among those met) whose rewrite and redirect rules these are.
    rewrite_from: Option<usize>,
    redirect_from: Option<usize>,
}

/// What one request is served with: its combination's settings, and the captures of the
/// conditions its rewrite and redirect rules were set under (`%1`..`%9`).
#[derive(Debug)]
pub(crate) struct Site {
    settings: Arc<Resolved>,
    /// Captures for the rewrite rules.
    pub rewrite_caps: Option<Vec<String>>,
    /// Captures for the redirect rules.
    pub redirect_caps: Option<Vec<String>>,
}

impl Deref for Site {
    type Target = Resolved;
    fn deref(&self) -> &Resolved {
        &self.settings
    }
}

/// The settings of a configuration, global and scoped, ready to be applied to requests.
#[derive(Debug)]
pub(crate) struct Scopes {
    global: Settings,
    global_backends: Vec<Arc<Backend>>,
    global_cgi: Vec<Arc<Cgi>>,
    global_proxy: Vec<Arc<Proxy>>,
    file_cache: bool,
    /// The port `https_redirect` sends clients to: the first `[[tls]]` address's.
    https_port: Option<u16>,
    base: Arc<Resolved>,
    scopes: Vec<Scope>,
    /// The settings of combinations of scopes met so far, by the scopes' indices.
    combinations: Mutex<HashMap<Vec<usize>, Arc<Resolved>>>,
    /// Variants of settings for a host's document root or a user's directory, by the
    /// settings they vary (their id) and the change.
    derived: Mutex<HashMap<(u64, Change), Arc<Resolved>>>,
}

/// How a variant of a request's settings differs from them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Change {
    /// Another document root (a virtual host's).
    Root(std::path::PathBuf),
    /// One more alias: this URL prefix served from this directory (a user's).
    Alias(String, std::path::PathBuf),
}

/// The most variants kept; more (a client trying many existing hosts) start the cache over.
const DERIVED_MAX: usize = 1024;

/// Step 3: the settings for a request (with its target as it is now); a scope whose document
/// root cannot be used is logged and answered 500.
pub(crate) fn select(
    scopes: &Scopes,
    parts: &http::request::Parts,
    target: &Target,
    conn: Conn,
) -> Step<Site> {
    let facts = Facts {
        path: &target.path,
        query: target.query.as_deref(),
        method: &parts.method,
        headers: &parts.headers,
        remote: conn.remote,
        local: conn.local,
        https: conn.https(),
    };
    match scopes.site(&facts) {
        Ok(site) => ControlFlow::Continue(site),
        Err(e) => {
            tracing::error!("{}: {e}", conn.remote);
            ControlFlow::Break(status_page(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

impl Scopes {
    /// The settings of a checked `config`, with `backends` built from its `[[fastcgi]]`
    /// entries and `cgi` from its `[[cgi]]` ones (in the same order).
    pub(crate) fn new(
        config: &Config,
        backends: &[Arc<Backend>],
        cgi: &[Arc<Cgi>],
        proxy: &[Arc<Proxy>],
    ) -> Result<Scopes, ScopeError> {
        let named_proxy = |name: &str| {
            proxy
                .iter()
                .find(|p| p.name == name)
                .cloned()
                .ok_or_else(|| ScopeError::NoProxy(name.to_owned()))
        };
        let global_proxy: Vec<_> = proxy.iter().filter(|p| p.global).cloned().collect();
        let named_cgi = |name: &str| {
            cgi.iter()
                .find(|c| c.name == name)
                .cloned()
                .ok_or_else(|| ScopeError::NoCgi(name.to_owned()))
        };
        let global_cgi: Vec<_> = cgi.iter().filter(|c| c.global).cloned().collect();
        let named = |name: &str| {
            config
                .fastcgi
                .iter()
                .position(|c| c.name.value == name)
                .map(|i| backends[i].clone())
                .ok_or_else(|| ScopeError::NoBackend(name.to_owned()))
        };
        let global_backends: Vec<_> = config
            .fastcgi
            .iter()
            .zip(backends)
            .filter(|(c, _)| c.global)
            .map(|(_, b)| b.clone())
            .collect();
        let mut scopes = Vec::with_capacity(config.scope.len());
        for (i, sc) in config.scope.iter().enumerate() {
            let when = sc
                .when
                .iter()
                .map(Condition::compile)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| ScopeError::Condition {
                    scope: i + 1,
                    source,
                })?;
            let backends = match &sc.fastcgi {
                None => None,
                Some(names) => Some(
                    names
                        .iter()
                        .map(|n| named(&n.value))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            };
            let cgi = match &sc.cgi {
                None => None,
                Some(names) => Some(
                    names
                        .iter()
                        .map(|n| named_cgi(&n.value))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            };
            let proxy = match &sc.proxy {
                None => None,
                Some(names) => Some(
                    names
                        .iter()
                        .map(|n| named_proxy(&n.value))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            };
            scopes.push(Scope {
                when,
                settings: sc.settings.clone(),
                backends,
                cgi,
                proxy,
            });
        }
        let file_cache = config.server.file_cache;
        let https_port = config
            .tls
            .first()
            .and_then(|t| t.listen.value.first())
            .map(|a| a.0.port());
        let base = resolve(
            &config.settings,
            Gateways {
                backends: global_backends.clone(),
                cgi: global_cgi.clone(),
                proxy: global_proxy.clone(),
            },
            file_cache,
            https_port,
            None,
            None,
        )?;
        Ok(Scopes {
            global: config.settings.clone(),
            global_backends,
            global_cgi,
            global_proxy,
            file_cache,
            https_port,
            base: Arc::new(base),
            scopes,
            combinations: Mutex::new(HashMap::new()),
            derived: Mutex::new(HashMap::new()),
        })
    }

    /// The global settings (for the responses made before a request's are chosen).
    pub(crate) fn base(&self) -> &Resolved {
        &self.base
    }

    /// The largest request body any request may send, whichever scopes it meets.
    pub(crate) fn largest_body(&self) -> u64 {
        self.scopes
            .iter()
            .filter_map(|s| s.settings.max_request_body)
            .map(|s| s.0)
            .fold(self.base.max_request_body, u64::max)
    }

    /// Whether any settings depend on the request.
    pub(crate) fn is_scoped(&self) -> bool {
        !self.scopes.is_empty()
    }

    /// The settings for a request with these facts.
    pub(crate) fn site(&self, facts: &Facts<'_>) -> Result<Site, ScopeError> {
        let mut met = Vec::new();
        let mut caps_of = Vec::new();
        for (i, scope) in self.scopes.iter().enumerate() {
            let mut caps = None;
            if scope.when.iter().all(|c| c.holds(facts, &mut caps)) {
                met.push(i);
                caps_of.push(caps);
            }
        }
        if met.is_empty() {
            return Ok(Site {
                settings: self.base.clone(),
                rewrite_caps: None,
                redirect_caps: None,
            });
        }
        let settings = self.combination(met)?;
        let caps = |from: Option<usize>| from.and_then(|k| caps_of[k].clone());
        Ok(Site {
            rewrite_caps: caps(settings.rewrite_from),
            redirect_caps: caps(settings.redirect_from),
            settings,
        })
    }

    /// `site`'s settings with `change` made (kept for the next request that needs it).
    pub(crate) fn derived(&self, site: &mut Site, change: Change) -> Result<(), ScopeError> {
        let key = (site.settings.id, change);
        let mut cache = self.derived.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = cache.get(&key) {
            site.settings = r.clone();
            return Ok(());
        }
        let base = &site.settings;
        let mut s = base.source.clone();
        match &key.1 {
            Change::Root(root) => {
                s.document_root = Some(crate::config::At::new(
                    root.clone(),
                    crate::config::Loc::Span(0..0),
                ));
            }
            Change::Alias(prefix, dir) => {
                s.aliases
                    .get_or_insert_default()
                    .insert(prefix.clone(), dir.clone());
            }
        }
        let r = Arc::new(resolve(
            &s,
            Gateways {
                backends: base.backends.clone(),
                cgi: base.cgi.clone(),
                proxy: base.proxy.clone(),
            },
            self.file_cache,
            self.https_port,
            base.rewrite_from,
            base.redirect_from,
        )?);
        if cache.len() >= DERIVED_MAX {
            cache.clear();
        }
        cache.insert(key, r.clone());
        site.settings = r;
        Ok(())
    }

    /// The settings of the global ones with those of the scopes `met` over them.
    fn combination(&self, met: Vec<usize>) -> Result<Arc<Resolved>, ScopeError> {
        let mut cache = self.combinations.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = cache.get(&met) {
            return Ok(r.clone());
        }
        let mut settings = self.global.clone();
        let mut backends = self.global_backends.clone();
        let mut cgi = self.global_cgi.clone();
        let mut proxy = self.global_proxy.clone();
        let (mut rewrite_from, mut redirect_from) = (None, None);
        for (k, &i) in met.iter().enumerate() {
            let scope = &self.scopes[i];
            settings.over(&scope.settings);
            if let Some(b) = &scope.backends {
                backends.clone_from(b);
            }
            if let Some(c) = &scope.cgi {
                cgi.clone_from(c);
            }
            if let Some(p) = &scope.proxy {
                proxy.clone_from(p);
            }
            if scope.settings.rewrite.is_some() {
                rewrite_from = Some(k);
            }
            if scope.settings.redirect.is_some() {
                redirect_from = Some(k);
            }
        }
        let r = Arc::new(resolve(
            &settings,
            Gateways {
                backends,
                cgi,
                proxy,
            },
            self.file_cache,
            self.https_port,
            rewrite_from,
            redirect_from,
        )?);
        cache.insert(met, r.clone());
        Ok(r)
    }
}

/// The gateways of a combination of settings: its FastCGI (and SCGI) backends, CGI rules
/// and proxy rules.
struct Gateways {
    backends: Vec<Arc<Backend>>,
    cgi: Vec<Arc<Cgi>>,
    proxy: Vec<Arc<Proxy>>,
}

/// The settings `s` (every one set: the global ones, or a combination), ready for requests.
fn resolve(
    s: &Settings,
    Gateways {
        backends,
        cgi,
        proxy,
    }: Gateways,
    file_cache: bool,
    https_port: Option<u16>,
    rewrite_from: Option<usize>,
    redirect_from: Option<usize>,
) -> Result<Resolved, ScopeError> {
    let root = s
        .document_root
        .as_ref()
        .map(|r| r.value.clone())
        .unwrap_or_default();
    let files = StaticFiles::new(
        &root,
        s.index_files.clone().unwrap_or_default(),
        s.mime_types.clone().unwrap_or_default(),
        s.static_exclude_extensions.clone().unwrap_or_default(),
    )
    .map_err(|source| ScopeError::DocumentRoot {
        root: root.clone(),
        source,
    })?
    .with_aliases(&s.aliases.clone().unwrap_or_default())
    .with_range_requests(s.range_requests.unwrap_or(true))
    .with_symlinks(s.follow_symlinks != Some(false))
    .with_lowercase(s.lowercase_filenames == Some(true))
    .with_cache(file_cache);
    Ok(Resolved {
        files: Arc::new(files),
        backends,
        cgi,
        proxy,
        deny_suffixes: s.deny_suffixes.clone().unwrap_or_default(),
        allow_suffixes: s.allow_suffixes.clone().unwrap_or_default(),
        request_headers: s.request_headers.clone().unwrap_or_default().0,
        add_request_headers: s.add_request_headers.clone().unwrap_or_default().0,
        response_headers: s.response_headers.clone().unwrap_or_default().0,
        set_response_headers: s.set_response_headers.clone().unwrap_or_default().0,
        expire: s.expire.clone().unwrap_or_default(),
        compress: s.compress.clone(),
        extforward: s.extforward.clone(),
        dir_listing: s.dir_listing.clone().filter(|d| d.enabled),
        status_pages: s.status_pages.clone(),
        vhost: s.vhost.clone(),
        userdir: s.userdir.clone(),
        source: s.clone(),
        id: {
            static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        },
        rewrite: s.rewrite.clone().unwrap_or_default(),
        redirect: s.redirect.clone().unwrap_or_default(),
        fastcgi_params: s
            .fastcgi_params
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        max_request_body: s.max_request_body.map_or(u64::MAX, |s| s.0),
        auth: s.auth.clone().unwrap_or_default(),
        https_redirect: https_port.filter(|_| s.https_redirect == Some(true)),
        server_name: s.server_name.clone(),
        server_tag: s.server_tag.clone().unwrap_or_default(),
        server_header: s
            .server_tag
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok())
            .filter(|v| !v.is_empty()),
        error_handler_404: s.error_handler_404.clone().filter(|h| !h.is_empty()),
        error_handler: s.error_handler.clone().filter(|h| !h.is_empty()),
        errorfile_prefix: s.errorfile_prefix.clone().filter(|p| !p.is_empty()),
        evasive: s.evasive.clone().filter(|e| e.max_conns_per_ip > 0),
        secdownload: s.secdownload.clone(),
        auth_delay_invalid_creds: s.auth_delay_invalid_creds != Some(false),
        rewrite_from,
        redirect_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::testing::{handler, req};

    #[test]
    fn the_largest_body_is_the_largest_any_scope_allows() {
        let root = testkit::TempDir::new("largest");
        let h = handler(
            root.path(),
            "max_request_body = 100",
            "[[scope]]\nwhen = [{ field = \"url\", op = \"=~\", value = \"^/up/\" }]\n\
             max_request_body = 5000\n",
        );
        assert_eq!(h.largest_body(), 5000);
    }

    #[test]
    fn scopes_go_over_the_global_settings_in_order_and_combinations_are_kept() {
        let root = testkit::TempDir::new("site");
        let h = handler(
            root.path(),
            "max_request_body = 100\nresponse_headers = { \"X-G\" = \"g\" }",
            "[[scope]]\nwhen = [{ field = \"url\", op = \"=~\", value = \"^/a/(.*)$\" }]\n\
             max_request_body = 10\n\
             rewrite = [{ pattern = \"^/a/(.*)$\", to = \"/b/%1\" }]\n\
             [[scope]]\nwhen = [{ field = \"header:X-Two\", op = \"==\", value = \"1\" }]\n\
             response_headers = { \"X-Two\" = \"2\" }\n",
        );
        let plain = req(&h, "GET", "/x", &[]);
        assert_eq!(plain.site.max_request_body, 100);
        assert_eq!(h.largest_body(), 100, "the scope's 10 is less");
        assert_eq!(plain.site.response_headers[0].0, "x-g");
        assert!(plain.site.rewrite_caps.is_none());
        let a = req(&h, "GET", "/a/q", &[]);
        assert_eq!(a.site.max_request_body, 10);
        assert_eq!(a.site.response_headers[0].0, "x-g", "not set by the scope");
        assert_eq!(
            a.site.rewrite_caps.as_deref(),
            Some(&["/a/q".to_string(), "q".to_string()][..])
        );
        let both = req(&h, "GET", "/a/r", &[("x-two", "1")]);
        assert_eq!(both.site.max_request_body, 10);
        assert_eq!(
            both.site.response_headers[0].0, "x-two",
            "the later scope wins"
        );
        assert_eq!(
            both.site.rewrite_caps.as_ref().unwrap()[1],
            "r",
            "this request's captures"
        );
        let again = req(&h, "GET", "/a/s", &[("x-two", "1")]);
        assert!(
            Arc::ptr_eq(&both.site.settings, &again.site.settings),
            "one combination, built once"
        );
        assert!(!Arc::ptr_eq(&a.site.settings, &both.site.settings));
    }
}
