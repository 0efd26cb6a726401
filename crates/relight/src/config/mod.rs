//! The configuration relight runs on, whichever language it was written in: the model both
//! readers fill (here: [`Config`], [`Settings`], [`ScopeConfig`]; `server.rs`: [`ServerConfig`];
//! `fastcgi.rs`: [`FastcgiConfig`]; `cgi.rs`: [`CgiConfig`]; `proxy.rs`: [`ProxyConfig`]; `tls.rs`: [`TlsConfig`]), the
//! readers ([`toml`] for relight's own format, [`lighttpd`] for lighttpd.conf), the checks they share ([`check`], what `relight -t` runs),
//! the values that check themselves while read (`values.rs`) and the conditions of scopes
//! (`condition.rs`). [`load`] reads a file in either language. Nothing here knows about
//! requests or sockets.
//!
//! The settings that may differ per request are one struct, [`Settings`]: `[server]` holds the
//! global ones (the defaults of [`Settings::defaults`] under them), a `[[scope]]` or a lighttpd
//! conditional block the ones it sets, and [`Settings::over`] merges them, in one place.

mod cgi;
pub(crate) mod check;
mod condition;
mod fastcgi;
pub mod lighttpd;
pub mod load;
mod proxy;
mod server;
mod tls;
pub(crate) mod toml;
mod values;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use cgi::CgiConfig;
pub use condition::{Condition, ConditionConfig, ConditionError, Facts, Network};
pub use fastcgi::{BackendRole, DEFAULT_REQUEST_TIMEOUT, Descendants, FastcgiConfig, Protocol};
pub use load::{Format, Loaded, load};
pub use proxy::{Balance, ProxyConfig};
pub use server::{ErrorLogFormat, ServerConfig};
pub use tls::{
    ClientVerify, MinVersion, TLS12_SUITES, TlsConfig, host_matches, openssl_cipher_list,
};
pub use values::{
    At, BackendAddr, Headers, KillSignal, Limit, ListenAddr, Loc, MatchRule, Pattern, Pos, Size,
    SocketMode, Timeout,
};

/// A configuration that cannot be used: where, and what is wrong. Both languages report their
/// errors as this, at the position of the value that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct Error {
    /// Where.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
}

impl Error {
    /// An error at line and column of `file`.
    pub(crate) fn at(file: &str, line: usize, column: usize, message: String) -> Error {
        Error::new(
            Pos {
                file: file.into(),
                line,
                column,
            },
            message,
        )
    }

    /// The file `path` cannot be read.
    pub(crate) fn unreadable(path: &Path, e: &std::io::Error) -> Error {
        Error::at(
            &path.display().to_string(),
            1,
            1,
            format!("cannot read the file: {e}"),
        )
    }

    /// An error at `pos`.
    pub fn new(pos: Pos, message: impl Into<String>) -> Error {
        Error {
            pos,
            message: message.into(),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// What is not per request: listeners, logs, limits, timeouts, identity.
    pub server: ServerConfig,
    /// The global per-request settings, every one set ([`Settings::defaults`] under what the
    /// file says).
    pub settings: Settings,
    /// FastCGI backends, tried in order; then the SCGI and uwsgi ones (`[[scgi]]`, the same
    /// keys, their `protocol` set).
    pub fastcgi: Vec<FastcgiConfig>,
    /// CGI rules, tried in order after the FastCGI backends.
    pub cgi: Vec<CgiConfig>,
    /// Reverse proxy rules, tried after the FastCGI backends, before CGI.
    pub proxy: Vec<ProxyConfig>,
    /// Settings for the requests that meet conditions (lighttpd's conditional blocks), in
    /// order: every scope whose conditions hold puts its settings over the global ones.
    pub scope: Vec<ScopeConfig>,
    /// Fixed responses for exact paths (nginx's `return`): health checks, robots.txt.
    pub answer: Vec<AnswerConfig>,
    /// HTTPS listeners and their certificates.
    pub tls: Vec<TlsConfig>,
    /// The directory of the configuration file (relative paths in it start there).
    pub config_dir: PathBuf,
    /// The configuration file itself (read again on SIGUSR1).
    pub config_path: PathBuf,
    /// The text of a TOML file, to turn its byte offsets into lines and columns.
    pub(crate) toml_text: Option<std::sync::Arc<str>>,
}

impl Config {
    /// Where `loc` is, as file:line:column.
    pub fn pos(&self, loc: &Loc) -> Pos {
        match loc {
            Loc::Pos(p) => p.clone(),
            Loc::Span(span) => {
                let (line, column) =
                    toml::line_col(self.toml_text.as_deref().unwrap_or(""), span.start);
                Pos {
                    file: self.config_path.display().to_string(),
                    line,
                    column,
                }
            }
        }
    }

    /// An error about the value at `loc`.
    pub fn error(&self, loc: &Loc, message: impl Into<String>) -> Error {
        Error::new(self.pos(loc), message)
    }

    /// The global document root.
    pub fn document_root(&self) -> &Path {
        self.settings
            .document_root
            .as_ref()
            .map_or(Path::new("/"), |r| &r.value)
    }
}

/// The settings that may differ per request: `[server]` sets them for every request, a
/// `[[scope]]` (or a lighttpd conditional block) for the requests that meet its conditions.
/// Each is named as its TOML key, in the code too. Unset (`None`) in a scope: the global
/// setting (or an earlier scope's) applies.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Settings {
    /// Where static files are served from.
    pub document_root: Option<At<PathBuf>>,
    /// Files tried, in order, for a request to a directory.
    pub index_files: Option<Vec<String>>,
    /// Content types by file name suffix (".html", ".tar.gz", "README"), before the built-in
    /// table; the longest matching suffix wins (lighttpd's mimetype.assign). A scope's table
    /// replaces the whole global one.
    pub mime_types: Option<std::collections::BTreeMap<String, String>>,
    /// Files with these suffixes are never served as static files: 403 (lighttpd's
    /// static-file.exclude-extensions).
    pub static_exclude_extensions: Option<Vec<String>>,
    /// URL prefixes served from other directories (lighttpd's alias.url): "/doc/" =
    /// "/usr/share/doc/". The longest matching prefix wins.
    pub aliases: Option<std::collections::BTreeMap<String, PathBuf>>,
    /// Answer Range requests with 206 (lighttpd's server.range-requests).
    pub range_requests: Option<bool>,
    /// Requests whose path ends with one of these get 403, whatever would serve them
    /// (lighttpd's url.access-deny; "" denies everything).
    pub deny_suffixes: Option<Vec<String>>,
    /// When not empty, only paths ending with one of these are served; others get 403
    /// (lighttpd's url.access-allow).
    pub allow_suffixes: Option<Vec<String>>,
    /// Request headers set before the request is handled, so backends see them, replacing
    /// the client's; an empty value removes the header (lighttpd's setenv.set-request-header).
    pub request_headers: Option<Headers>,
    /// Request headers added: appended with ", " to the client's of the same name (lighttpd's
    /// setenv.add-request-header).
    pub add_request_headers: Option<Headers>,
    /// Headers added to every response, a line each (lighttpd's setenv.add-response-header).
    pub response_headers: Option<Headers>,
    /// Response headers set, replacing those of the same name (a backend's too); an empty
    /// value removes the header (lighttpd's setenv.set-response-header).
    pub set_response_headers: Option<Headers>,
    /// `Cache-Control: max-age` (HTTP/1.0: `Expires`) for responses by URL prefix or content
    /// type (lighttpd's mod_expire): the first matching URL rule, else the first matching
    /// content type rule.
    pub expire: Option<Vec<ExpireRule>>,
    /// Response compression (lighttpd's mod_deflate); off unless set.
    pub compress: Option<CompressConfig>,
    /// The client's address from a trusted proxy's header (lighttpd's mod_extforward); off
    /// unless set.
    pub extforward: Option<ExtforwardConfig>,
    /// Directory listings (lighttpd's mod_dirlisting); a directory without an index file is
    /// 403 unless they are on.
    pub dir_listing: Option<DirListingConfig>,
    /// lighttpd's status pages (mod_status) at these paths, after the access rules and
    /// authentication of the request's scope; off unless set.
    pub status_pages: Option<StatusPages>,
    /// The document root by the request's host (lighttpd's mod_simple_vhost and mod_evhost).
    pub vhost: Option<VhostConfig>,
    /// `/~user/` served from the user's directory (lighttpd's mod_userdir).
    pub userdir: Option<UserdirConfig>,
    /// Symlinks inside the root are followed (default); `false`: a path with a symlink
    /// anywhere is refused, 403 (lighttpd's server.follow-symlink).
    pub follow_symlinks: Option<bool>,
    /// Files are looked up by their URL path in lower case (lighttpd's
    /// server.force-lowercase-filenames, for files copied from case-insensitive systems).
    pub lowercase_filenames: Option<bool>,
    /// An error relight makes itself (4xx, 5xx: not a backend's) is served as this URL path
    /// instead, as a GET with REDIRECT_STATUS set (lighttpd's server.error-handler): a static
    /// page with the error's status, a script with its own. Over error_handler_404. `""`:
    /// none (a scope's way to turn the global one off).
    pub error_handler: Option<String>,
    /// An error relight makes itself gets the file `<prefix><status>.html` as its body when
    /// there is one (lighttpd's server.errorfile-prefix).
    pub errorfile_prefix: Option<String>,
    /// The most requests one client address may have in progress at once (lighttpd's
    /// mod_evasive); off unless set.
    pub evasive: Option<EvasiveConfig>,
    /// Links that expire, signed with a secret (lighttpd's mod_secdownload); off unless set.
    pub secdownload: Option<SecdownloadConfig>,
    /// URL rewrites, in order (lighttpd's url.rewrite-once / url.rewrite-repeat /
    /// url.rewrite-if-not-file). In a scope, `%1`..`%9` are the captures of its last regex
    /// condition.
    pub rewrite: Option<Vec<RewriteRule>>,
    /// Redirects, in order (lighttpd's url.redirect): the first match answers (`%n` as in
    /// `rewrite`).
    pub redirect: Option<Vec<RedirectRule>>,
    /// Parameters added to every FastCGI request (lighttpd's setenv.add-environment).
    pub fastcgi_params: Option<std::collections::BTreeMap<String, String>>,
    /// The largest request body; larger gets 413.
    pub max_request_body: Option<Size>,
    /// HTTP Basic authentication for URL prefixes (lighttpd's auth.require); the first rule
    /// whose prefix matches decides.
    pub auth: Option<Vec<AuthRule>>,
    /// Answer a request that came over plain HTTP with 301 to the same URL over HTTPS (on the
    /// first `[[tls]]` address's port), before rewrites and redirects (`[[answer]]`s still
    /// answer over HTTP).
    pub https_redirect: Option<bool>,
    /// SERVER_NAME for backends instead of the Host header's name (lighttpd's server.name).
    pub server_name: Option<String>,
    /// The `Server` header and SERVER_SOFTWARE; `""` sends no `Server` header (lighttpd's
    /// server.tag).
    pub server_tag: Option<String>,
    /// A request the static files answer 404 is served as this URL path instead, with the
    /// handler's own status, as lighttpd 1.4 does (lighttpd's server.error-handler-404).
    pub error_handler_404: Option<String>,
    /// Wrong credentials (a wrong password, an unknown user) are answered a second late, on
    /// a connection that then closes (lighttpd's auth.delay-invalid-creds, on by default).
    pub auth_delay_invalid_creds: Option<bool>,
}

impl Settings {
    /// The global settings a configuration starts from: one index file, ranges on, a body
    /// limit of 1 GiB, everything else empty. Only document_root has no default.
    pub fn defaults() -> Settings {
        Settings {
            document_root: None,
            index_files: Some(vec!["index.html".into()]),
            mime_types: Some(Default::default()),
            static_exclude_extensions: Some(Vec::new()),
            aliases: Some(Default::default()),
            range_requests: Some(true),
            deny_suffixes: Some(Vec::new()),
            allow_suffixes: Some(Vec::new()),
            request_headers: Some(Headers::default()),
            add_request_headers: Some(Headers::default()),
            response_headers: Some(Headers::default()),
            set_response_headers: Some(Headers::default()),
            expire: Some(Vec::new()),
            compress: None,
            extforward: None,
            dir_listing: None,
            status_pages: None,
            vhost: None,
            userdir: None,
            follow_symlinks: Some(true),
            lowercase_filenames: Some(false),
            error_handler: None,
            errorfile_prefix: None,
            evasive: None,
            secdownload: None,
            rewrite: Some(Vec::new()),
            redirect: Some(Vec::new()),
            fastcgi_params: Some(Default::default()),
            max_request_body: Some(Size(1 << 30)),
            auth: Some(Vec::new()),
            https_redirect: Some(false),
            server_name: None,
            server_tag: Some(concat!("relight/", env!("CARGO_PKG_VERSION")).into()),
            error_handler_404: None,
            auth_delay_invalid_creds: Some(true),
        }
    }

    /// Puts every setting `top` sets over this one's: how the global settings and the scopes a
    /// request meets combine (in configuration order), and how a file's settings go over the
    /// defaults.
    pub fn over(&mut self, top: &Settings) {
        fn take<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
        let Settings {
            document_root,
            index_files,
            mime_types,
            static_exclude_extensions,
            aliases,
            range_requests,
            deny_suffixes,
            allow_suffixes,
            request_headers,
            add_request_headers,
            response_headers,
            set_response_headers,
            expire,
            rewrite,
            redirect,
            fastcgi_params,
            max_request_body,
            auth,
            https_redirect,
            server_name,
            server_tag,
            error_handler_404,
            auth_delay_invalid_creds,
            compress,
            extforward,
            dir_listing,
            status_pages,
            vhost,
            userdir,
            follow_symlinks,
            lowercase_filenames,
            error_handler,
            errorfile_prefix,
            evasive,
            secdownload,
        } = top;
        take(&mut self.document_root, document_root);
        take(&mut self.index_files, index_files);
        take(&mut self.mime_types, mime_types);
        take(
            &mut self.static_exclude_extensions,
            static_exclude_extensions,
        );
        take(&mut self.aliases, aliases);
        take(&mut self.range_requests, range_requests);
        take(&mut self.deny_suffixes, deny_suffixes);
        take(&mut self.allow_suffixes, allow_suffixes);
        take(&mut self.request_headers, request_headers);
        take(&mut self.add_request_headers, add_request_headers);
        take(&mut self.response_headers, response_headers);
        take(&mut self.set_response_headers, set_response_headers);
        take(&mut self.expire, expire);
        take(&mut self.compress, compress);
        take(&mut self.extforward, extforward);
        take(&mut self.dir_listing, dir_listing);
        take(&mut self.status_pages, status_pages);
        take(&mut self.vhost, vhost);
        take(&mut self.userdir, userdir);
        take(&mut self.follow_symlinks, follow_symlinks);
        take(&mut self.lowercase_filenames, lowercase_filenames);
        take(&mut self.error_handler, error_handler);
        take(&mut self.errorfile_prefix, errorfile_prefix);
        take(&mut self.evasive, evasive);
        take(&mut self.secdownload, secdownload);
        take(&mut self.rewrite, rewrite);
        take(&mut self.redirect, redirect);
        take(&mut self.fastcgi_params, fastcgi_params);
        take(&mut self.max_request_body, max_request_body);
        take(&mut self.auth, auth);
        take(&mut self.https_redirect, https_redirect);
        take(&mut self.server_name, server_name);
        take(&mut self.server_tag, server_tag);
        take(&mut self.error_handler_404, error_handler_404);
        take(&mut self.auth_delay_invalid_creds, auth_delay_invalid_creds);
    }

    /// Whether any of the static file settings is set (they make a file handler of their
    /// own).
    pub fn sets_files(&self) -> bool {
        self.document_root.is_some()
            || self.index_files.is_some()
            || self.mime_types.is_some()
            || self.static_exclude_extensions.is_some()
            || self.aliases.is_some()
            || self.range_requests.is_some()
            || self.follow_symlinks.is_some()
            || self.lowercase_filenames.is_some()
    }
}

/// `[[scope]]`: settings for the requests that meet every condition of `when`. A setting set
/// here replaces the global one (or an earlier scope's) for those requests.
#[derive(Debug, Clone, Default)]
pub struct ScopeConfig {
    /// The conditions, all of which must hold.
    pub when: Vec<ConditionConfig>,
    /// The backends (by name) that serve these requests, in order, instead of the global ones.
    pub fastcgi: Option<Vec<At<String>>>,
    /// The CGI rules (by name) for these requests, in order, instead of the global ones.
    pub cgi: Option<Vec<At<String>>>,
    /// The proxy rules (by name) for these requests, in order, instead of the global ones.
    pub proxy: Option<Vec<At<String>>>,
    /// The settings.
    pub settings: Settings,
}

/// `[[answer]]`: a fixed response for one path, made by relight itself (no file, no backend).
/// It is looked up before anything else (scopes, rewrites, access rules), as the status page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerConfig {
    /// The URL path (exact, after normalization; the query does not matter).
    pub path: At<String>,
    /// The status code (default 200).
    pub status: Option<At<u16>>,
    /// The body (for every method but HEAD).
    #[serde(default)]
    pub body: String,
    /// The Content-Type header.
    #[serde(default = "default_answer_type")]
    pub content_type: String,
}

impl AnswerConfig {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status.as_ref().map_or(200, |s| s.value)
    }
}

fn default_answer_type() -> String {
    "text/plain; charset=utf-8".into()
}

/// `[[server.auth]]`: HTTP authentication (Basic or Digest) for a URL prefix (lighttpd's
/// mod_auth with mod_authn_file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRule {
    /// URL paths starting with this need credentials ("/" for all).
    pub prefix: String,
    /// The realm the browser shows (and, with Digest, part of what is hashed).
    pub realm: String,
    /// Who may pass: "valid-user", or "user=NAME" entries.
    #[serde(default = "default_require")]
    pub require: Vec<String>,
    /// The file of users: "user:hash" lines (htpasswd: {SHA}, $apr1$ and crypt(3) hashes),
    /// "user:password" lines (plain) or "user:realm:HA1" lines (htdigest).
    pub user_file: PathBuf,
    /// "htpasswd" (default), "plain" or "htdigest".
    #[serde(default)]
    pub format: UserFileFormat,
    /// "basic" (default) or "digest" (RFC 7616; needs a plain or htdigest file).
    #[serde(default)]
    pub method: AuthMethod,
    /// Digest: the algorithms offered, one challenge each: "MD5" (default) and "SHA-256".
    #[serde(default = "default_algorithms")]
    pub algorithm: Vec<DigestAlgorithm>,
}

/// How passwords are kept in an auth `user_file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserFileFormat {
    /// Hashes as made by Apache's htpasswd.
    #[default]
    Htpasswd,
    /// The passwords themselves.
    Plain,
    /// `user:realm:HA1` as made by Apache's htdigest (HA1: MD5, or SHA-256 by its length).
    Htdigest,
}

/// `method = "basic" | "digest"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// RFC 7617: the password, in base64.
    #[default]
    Basic,
    /// RFC 7616: a hash of the password with a nonce relight made.
    Digest,
}

/// A Digest algorithm: `"MD5"` or `"SHA-256"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DigestAlgorithm {
    /// MD5 (RFC 2617's, what every client speaks).
    #[serde(rename = "MD5")]
    Md5,
    /// SHA-256 (RFC 7616).
    #[serde(rename = "SHA-256")]
    Sha256,
}

impl DigestAlgorithm {
    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }
}

fn default_algorithms() -> Vec<DigestAlgorithm> {
    vec![DigestAlgorithm::Md5]
}

fn default_require() -> Vec<String> {
    vec!["valid-user".into()]
}

/// `[server.evasive]`: a client address with this many requests in progress gets 403 (or a
/// redirect) for the next (lighttpd's mod_evasive, until 1.4.67).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvasiveConfig {
    /// The most requests in progress per client address (0: no limit).
    pub max_conns_per_ip: usize,
    /// Answer a 302 to this URL instead of 403.
    pub location: Option<String>,
    /// No log line for each request turned away.
    #[serde(default)]
    pub silent: bool,
}

/// `[server.secdownload]`: `<uri_prefix><mac>/<hex time><path>` serves `<document_root><path>`
/// when the mac is the path's signature with the secret and the time is recent (lighttpd's
/// mod_secdownload, until 1.4.67): 403 for a wrong mac, 410 for an old link.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecdownloadConfig {
    /// The shared secret.
    pub secret: String,
    /// Where the files are.
    pub document_root: PathBuf,
    /// The URL prefix of signed links (default "/").
    #[serde(default = "default_secdl_prefix")]
    pub uri_prefix: String,
    /// Seconds a link is good for, either side of its time (default 60).
    #[serde(default = "default_secdl_timeout")]
    pub timeout: u64,
    /// "md5" (default), "hmac-sha1" or "hmac-sha256".
    #[serde(default = "default_secdl_algorithm")]
    pub algorithm: String,
    /// Only the path's first N segments are signed (0: all).
    #[serde(default)]
    pub path_segments: usize,
    /// The query string is signed too.
    #[serde(default)]
    pub hash_querystr: bool,
}

impl SecdownloadConfig {
    /// The signatures relight checks.
    pub const ALGORITHMS: [&'static str; 3] = ["md5", "hmac-sha1", "hmac-sha256"];
}

fn default_secdl_prefix() -> String {
    "/".into()
}
fn default_secdl_timeout() -> u64 {
    60
}
fn default_secdl_algorithm() -> String {
    "md5".into()
}

/// `[server.vhost]`: the document root chosen by the request's host (its name in lower case,
/// without port or trailing dot), when that directory exists; else the scope's own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VhostConfig {
    /// `<server_root>/<host>/<document_root>` (lighttpd's simple-vhost.server-root).
    pub server_root: Option<PathBuf>,
    /// The host whose directory serves a host that has none, or a request without a Host
    /// (simple-vhost.default-host).
    pub default_host: Option<String>,
    /// The document root inside a host's directory ("htdocs"; "" the host's directory).
    #[serde(default)]
    pub document_root: String,
    /// The root as a pattern of the host's labels (lighttpd's evhost.path-pattern): `%0` the
    /// domain (the last two labels), `%1` the last label, `%2` the one before..., `%_` the
    /// whole host, `%{n.m}` the m-th character of label n, `%%` a `%`.
    pub pattern: Option<String>,
}

/// `[server.userdir]`: `/~user/...` served from `<home>/<path>/...` (lighttpd's mod_userdir).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserdirConfig {
    /// The directory in a user's home ("public_html"); "" the home itself.
    pub path: String,
    /// Homes are `<basepath>/<user>` (no user database looked up) instead of the users'
    /// home directories.
    pub basepath: Option<PathBuf>,
    /// With basepath: `<basepath>/<first letter>/<user>`.
    #[serde(default)]
    pub letterhomes: bool,
    /// Users never served.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// When not empty, the only users served.
    #[serde(default)]
    pub include: Vec<String>,
}

/// `[server.status_pages]`: lighttpd's status pages (mod_status), at the paths given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPages {
    /// The status: HTML, `?auto` text, `?json` (lighttpd's status.status-url).
    pub status: Option<String>,
    /// The spawned backends' counts as `key: value` lines (status.statistics-url).
    pub statistics: Option<String>,
    /// A summary of the configuration (status.config-url).
    pub config: Option<String>,
}

/// `[server.dir_listing]`: listings of directories without an index file (lighttpd's
/// mod_dirlisting).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirListingConfig {
    /// Listings on (a scope can turn them off).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Names starting with "." are left out (default).
    #[serde(default = "default_true")]
    pub hide_dotfiles: bool,
    /// Names matching one of these are left out.
    #[serde(default)]
    pub exclude: Vec<Pattern>,
    /// The charset the page says it is in (`<meta charset>` and Content-Type).
    pub encoding: Option<String>,
    /// A stylesheet's URL instead of the page's own style.
    pub external_css: Option<String>,
    /// A script's URL, loaded after the footer.
    pub external_js: Option<String>,
    /// The footer's HTML, as it is (default: the server tag).
    pub footer: Option<String>,
    /// A file of the directory shown under the list: "enable" is README.txt.
    pub show_readme: Option<String>,
    /// A file of the directory shown above the list: "enable" is HEADER.txt.
    pub show_header: Option<String>,
    /// The README file is left out of the list.
    #[serde(default)]
    pub hide_readme_file: bool,
    /// The HEADER file is left out of the list.
    #[serde(default)]
    pub hide_header_file: bool,
    /// The README is shown escaped in a `<pre>` (default), or as it is (HTML).
    #[serde(default = "default_true")]
    pub encode_readme: bool,
    /// The HEADER is shown escaped in a `<pre>` (default), or as it is (HTML).
    #[serde(default = "default_true")]
    pub encode_header: bool,
    /// The whole page (default), or only the list's HTML.
    #[serde(default = "default_true")]
    pub auto_layout: bool,
}

impl DirListingConfig {
    /// Listings on, every option at its default.
    pub fn enabled() -> DirListingConfig {
        DirListingConfig {
            enabled: true,
            hide_dotfiles: true,
            exclude: Vec::new(),
            encoding: None,
            external_css: None,
            external_js: None,
            footer: None,
            show_readme: None,
            show_header: None,
            hide_readme_file: false,
            hide_header_file: false,
            encode_readme: true,
            encode_header: true,
            auto_layout: true,
        }
    }
}

/// `[server.extforward]`: when a request comes from a trusted proxy, the client is the one
/// its header names (lighttpd's mod_extforward): conditions, logs and backends see that
/// address (REMOTE_ADDR), and a forwarded `https` scheme.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtforwardConfig {
    /// The proxies trusted: addresses, networks ("10.0.0.0/8"), or "all" (whoever connects;
    /// never the addresses inside the header).
    pub trusted: Vec<Trusted>,
    /// The headers read, the first one present used (default: X-Forwarded-For,
    /// Forwarded-For; "Forwarded" is read as RFC 7239's).
    #[serde(default = "default_forward_headers")]
    pub headers: Vec<String>,
}

/// A trusted proxy: `"all"`, an address or a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Trusted {
    /// Whoever connects.
    All,
    /// These addresses.
    Net(Network),
}

impl TryFrom<String> for Trusted {
    type Error = String;
    fn try_from(s: String) -> Result<Trusted, String> {
        if s == "all" {
            return Ok(Trusted::All);
        }
        Network::parse(&s)
            .map(Trusted::Net)
            .ok_or_else(|| format!("{s:?}: expected \"all\", an IP address or a network"))
    }
}

fn default_forward_headers() -> Vec<String> {
    vec!["X-Forwarded-For".into(), "Forwarded-For".into()]
}

/// `[server.compress]`: responses compressed as they are sent (lighttpd's mod_deflate).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressConfig {
    /// Content-Type prefixes compressed ("text/", "application/json"; a trailing `*` is
    /// ignored; "" first: every response, one without a type too). Empty: nothing is.
    pub mime_types: Vec<String>,
    /// The codings offered, in relight's order of preference (the first one the client
    /// accepts is used): "zstd", "br", "gzip", "deflate" (default: all four, in that order).
    #[serde(default = "default_codings")]
    pub encodings: Vec<crate::http::encoding::Coding>,
    /// Bodies of this many bytes or fewer are sent as they are.
    #[serde(default = "default_min_compress")]
    pub min_size: u64,
    /// Bodies longer than this are sent as they are ("0": no limit).
    #[serde(default = "default_max_compress")]
    pub max_size: Size,
    /// gzip and deflate's level, 1 to 9 (default 6); brotli's quality, 1 to 11 (default 5).
    pub level: Option<u32>,
    /// Static files compressed once are kept here, named by URL path, ETag and coding, and
    /// sent from there (with sendfile) while the file is unchanged.
    pub cache_dir: Option<PathBuf>,
}

impl CompressConfig {
    /// Compression of `mime_types` with every other key at its default.
    pub fn new(mime_types: Vec<String>) -> CompressConfig {
        CompressConfig {
            mime_types,
            encodings: default_codings(),
            min_size: default_min_compress(),
            max_size: default_max_compress(),
            level: None,
            cache_dir: None,
        }
    }
}

fn default_codings() -> Vec<crate::http::encoding::Coding> {
    crate::http::encoding::Coding::ALL
        .into_iter()
        .filter(|c| c.built())
        .collect()
}
fn default_min_compress() -> u64 {
    256
}
fn default_max_compress() -> Size {
    Size(128 << 20)
}

/// `[[server.expire]]`: how long clients may keep responses (lighttpd's expire.url and
/// expire.mimetypes): `url = "/static/"` or `content_type = "image/"` (a prefix; "" matches
/// every type), and `expires = "access plus 1 days"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpireRule {
    /// Requests whose path (after rewrites) starts with this.
    pub url: Option<String>,
    /// Responses whose Content-Type starts with this (a trailing `*` is ignored).
    pub content_type: Option<String>,
    /// `"access plus 1 hours"`, `"modification plus 2 days 3 hours"` (lighttpd's syntax).
    pub expires: Expiry,
}

/// An expiry as lighttpd's mod_expire writes it: from the access (now) or the file's
/// modification, plus a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Expiry {
    /// From the file's modification time (only responses with a Last-Modified get one).
    pub from_modification: bool,
    /// How long after.
    pub secs: i64,
}

impl TryFrom<String> for Expiry {
    type Error = String;
    /// `(access|now|modification) [plus] N unit [N unit ...]`, one space between words, as
    /// lighttpd 1.4.69 reads it (a month is 30 days, a year 360).
    fn try_from(s: String) -> Result<Expiry, String> {
        let mut words = s.split(' ').peekable();
        let from_modification = match words.next() {
            Some("access" | "now") => false,
            Some("modification") => true,
            Some("") | None => return Err("empty expiry".into()),
            Some(w) => {
                return Err(format!(
                    "{s:?}: expected access, now or modification, not {w:?}"
                ));
            }
        };
        if words.peek() == Some(&"plus") {
            words.next();
        }
        let mut secs: i64 = 0;
        let mut any = false;
        while let Some(n) = words.next() {
            if n.is_empty() && words.peek().is_none() {
                break;
            }
            let n: i64 = n
                .parse()
                .map_err(|_| format!("{s:?}: expected a number, not {n:?}"))?;
            let unit = words
                .next()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| format!("{s:?}: a unit must follow {n}"))?;
            let per = match unit.strip_suffix('s').unwrap_or(unit) {
                "year" => 12 * 30 * 86400,
                "month" => 30 * 86400,
                "week" => 7 * 86400,
                "day" => 86400,
                "hour" => 3600,
                "minute" => 60,
                "second" => 1,
                _ => return Err(format!("{s:?}: unknown unit {unit:?}")),
            };
            secs = secs.saturating_add(n.saturating_mul(per));
            any = true;
        }
        if !any {
            return Err(format!("{s:?}: expected a time after the base"));
        }
        Ok(Expiry {
            from_modification,
            secs,
        })
    }
}

/// `[[server.rewrite]]`: requests whose target ("path?query") matches `pattern` are handled as
/// `to` (`$1`..`$9` are the captures).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteRule {
    /// Matched against the request target, "path?query".
    pub pattern: Pattern,
    /// The new target.
    pub to: String,
    /// After this rule, the rules apply again to the new target (url.rewrite-repeat);
    /// otherwise rewriting stops (url.rewrite-once).
    #[serde(default)]
    pub repeat: bool,
    /// Only when the path does not name an existing file (url.rewrite-if-not-file).
    #[serde(default)]
    pub if_not_file: bool,
}

/// `[[server.redirect]]`: requests whose target matches `pattern` get `code` with
/// `Location: to` (captures `$1`..`$9`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectRule {
    /// Matched against the request target, "path?query".
    pub pattern: Pattern,
    /// The Location.
    pub to: String,
    /// 301 (default), 302, 303, 307 or 308.
    #[serde(default = "default_redirect_code")]
    pub code: u16,
}

fn default_redirect_code() -> u16 {
    301
}

/// serde's default for the switches that are on unless turned off.
fn default_true() -> bool {
    true
}
