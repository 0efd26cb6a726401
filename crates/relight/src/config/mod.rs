//! The native configuration: a strict TOML file (unknown keys are errors) read into the model
//! the server runs on. Every error names the file, line and column.
//!
//! Values that need checking (addresses, durations, sizes, match patterns) are parsed while the
//! TOML is deserialized, so their errors carry the position of the value that was wrong.

pub mod lighttpd;
pub mod load;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// A configuration that could not be used, with where in which file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid, at a position.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerConfig,
    /// FastCGI backends, tried in order.
    #[serde(default)]
    pub fastcgi: Vec<FastcgiConfig>,
    /// Settings for the requests that meet conditions (lighttpd's conditional blocks), in
    /// order: every scope whose conditions hold puts its settings over the global ones.
    #[serde(default)]
    pub scope: Vec<ScopeConfig>,
    /// Fixed responses for exact paths (nginx's `return`): health checks, robots.txt.
    #[serde(default)]
    pub answer: Vec<AnswerConfig>,
    /// The directory of the configuration file (relative paths in it start there).
    #[serde(skip)]
    pub config_dir: PathBuf,
    /// The configuration file itself (read again on SIGUSR1).
    #[serde(skip)]
    pub config_path: PathBuf,
}

/// `[[answer]]`: a fixed response for one path, made by relight itself (no file, no backend).
/// It is looked up before anything else (scopes, rewrites, access rules), as the status page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerConfig {
    /// The URL path (exact, after normalization; the query does not matter).
    pub path: Spanned<String>,
    /// The status code.
    #[serde(default = "default_answer_status")]
    pub status: Spanned<u16>,
    /// The body (for every method but HEAD).
    #[serde(default)]
    pub body: String,
    /// The Content-Type header.
    #[serde(default = "default_answer_type")]
    pub content_type: String,
}

fn default_answer_status() -> Spanned<u16> {
    Spanned::new(0..0, 200)
}
fn default_answer_type() -> String {
    "text/plain; charset=utf-8".into()
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Addresses to listen on.
    pub listen: Vec<ListenAddr>,
    /// Where static files are served from.
    pub document_root: Spanned<PathBuf>,
    /// The error log file; stderr when absent.
    pub error_log: Option<PathBuf>,
    /// The access log file (Combined Log Format); none when absent.
    pub access_log: Option<PathBuf>,
    /// Files tried, in order, for a request to a directory.
    #[serde(default = "default_index_files")]
    pub index_files: Vec<String>,
    /// Threads serving connections. Default 1: everything on one thread (tokio's
    /// current-thread runtime), as lighttpd; more use a work-stealing runtime. Measured on two
    /// cores (bench/run.sh), one thread serves as many requests as two, with less CPU per
    /// request and less memory.
    pub threads: Option<usize>,
    /// The most client connections open at once; more wait in the listen backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// The largest request head (request line and headers); larger gets 431.
    #[serde(default = "default_max_header_size")]
    pub max_header_size: Size,
    /// The largest request body; larger gets 413.
    #[serde(default = "default_max_request_body")]
    pub max_request_body: Size,
    /// The most requests on one connection; the response to the last says `Connection:
    /// close`. 0: no limit; 1: no keep-alive (lighttpd's server.max-keep-alive-requests).
    #[serde(default = "default_max_keep_alive_requests")]
    pub max_keep_alive_requests: usize,
    /// SERVER_NAME for FastCGI requests instead of the Host header's name (lighttpd's
    /// server.name).
    pub server_name: Option<String>,
    /// Answer Range requests with 206 (lighttpd's server.range-requests).
    #[serde(default = "default_true")]
    pub range_requests: bool,
    /// Keep static files open, with their metadata, for up to a second after serving them
    /// (lighttpd's stat cache, server.stat-cache-engine): a file replaced on disk can be
    /// served as it was for that second. `false` opens and stats every file per request.
    #[serde(default = "default_true")]
    pub file_cache: bool,
    /// A request the static files answer 404 is served as this URL path instead, with the
    /// handler's own status, as lighttpd 1.4 does (lighttpd's server.error-handler-404).
    pub error_handler_404: Option<String>,
    /// Time a client has to send a whole request head.
    #[serde(default = "default_header_timeout")]
    pub header_timeout: Timeout,
    /// Time an idle keep-alive connection is kept open waiting for the next request.
    #[serde(default = "default_keep_alive_timeout")]
    pub keep_alive_timeout: Timeout,
    /// Longest wait for the next piece of a request body.
    #[serde(default = "default_read_timeout")]
    pub read_timeout: Timeout,
    /// Longest wait for a client to accept more of a response.
    #[serde(default = "default_write_timeout")]
    pub write_timeout: Timeout,
    /// Where request bodies of unknown length (chunked) are spooled before they go to a
    /// FastCGI backend (lighttpd's server.upload-dirs).
    #[serde(default = "default_upload_dir")]
    pub upload_dir: PathBuf,
    /// Content types by file name suffix (".html", ".tar.gz", "README"), before the built-in
    /// table; the longest matching suffix wins (lighttpd's mimetype.assign).
    #[serde(default)]
    pub mime_types: std::collections::BTreeMap<String, String>,
    /// Files with these suffixes are never served as static files: 403 (lighttpd's
    /// static-file.exclude-extensions).
    #[serde(default)]
    pub static_exclude_extensions: Vec<String>,
    /// Requests whose path ends with one of these get 403, whatever would serve them
    /// (lighttpd's url.access-deny; "" denies everything).
    #[serde(default)]
    pub deny_suffixes: Vec<String>,
    /// When not empty, only paths ending with one of these are served; others get 403
    /// (lighttpd's url.access-allow).
    #[serde(default)]
    pub allow_suffixes: Vec<String>,
    /// Request headers set before the request is handled, so backends see them (lighttpd's
    /// setenv.set-request-header / add-request-header).
    #[serde(default)]
    pub request_headers: std::collections::BTreeMap<String, String>,
    /// How long SIGINT waits for requests in flight before closing connections (lighttpd's
    /// server.graceful-shutdown-timeout).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: Timeout,
    /// URL prefixes served from other directories (lighttpd's alias.url): "/doc/" =
    /// "/usr/share/doc/". The longest matching prefix wins.
    #[serde(default)]
    pub aliases: std::collections::BTreeMap<String, PathBuf>,
    /// URL rewrites, in order (lighttpd's url.rewrite-once / url.rewrite-repeat /
    /// url.rewrite-if-not-file).
    #[serde(default)]
    pub rewrite: Vec<RewriteRule>,
    /// Redirects, in order (lighttpd's url.redirect): the first match answers.
    #[serde(default)]
    pub redirect: Vec<RedirectRule>,
    /// HTTP Basic authentication for URL prefixes (lighttpd's auth.require); the first rule
    /// whose prefix matches decides.
    #[serde(default)]
    pub auth: Vec<AuthRule>,
    /// Headers added to every response (lighttpd's setenv.add-response-header).
    #[serde(default)]
    pub response_headers: std::collections::BTreeMap<String, String>,
    /// Parameters added to every FastCGI request (lighttpd's setenv.add-environment).
    #[serde(default)]
    pub fastcgi_params: std::collections::BTreeMap<String, String>,
    /// Drop root to this user once the listening sockets are bound (lighttpd's
    /// server.username).
    pub user: Option<String>,
    /// ... and this group (lighttpd's server.groupname; default: the user's group).
    pub group: Option<String>,
    /// Take listening sockets from systemd (LISTEN_FDS/LISTEN_PID) instead of binding the
    /// `listen` addresses they already cover (lighttpd's server.systemd-socket-activation).
    #[serde(default)]
    pub socket_activation: bool,
    /// Once the listening sockets are bound (and logs and pid file open), change the root
    /// directory to this one (lighttpd's server.chroot; needs root). document_root, aliases,
    /// backends' programs and sockets are then paths inside it.
    pub chroot: Option<PathBuf>,
    /// Write relight's pid here at start, remove it at exit (lighttpd's server.pid-file).
    pub pid_file: Option<PathBuf>,
    /// Where the status page (JSON) is served; `""` turns it off.
    #[serde(default = "default_status_path")]
    pub status_path: String,
    /// Where the Prometheus metrics are served; `""` turns them off.
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// Serve the status page and metrics to any client, not only loopback.
    #[serde(default)]
    pub status_public: bool,
    /// The `Server` header and SERVER_SOFTWARE; `""` sends no `Server` header.
    #[serde(default = "default_server_tag")]
    pub server_tag: String,
}

/// `[[fastcgi]]`: one FastCGI backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FastcgiConfig {
    /// The name used in logs and status.
    pub name: Spanned<String>,
    /// URL path prefixes ("/app") and extensions (".php") routed to this backend.
    #[serde(rename = "match")]
    pub matches: Vec<MatchRule>,
    /// Where an external backend listens (exclusive with `command`).
    pub address: Option<BackendAddr>,
    /// The program relight spawns and supervises, with its arguments (no shell).
    pub command: Option<Vec<String>>,
    /// Spawned: slot N listens on the unix socket `<socket>-N`.
    pub socket: Option<PathBuf>,
    /// Spawned: slot N listens on TCP `host:(port+N)`.
    pub port: Option<u16>,
    /// Spawned with `port`: the address to listen on (default 127.0.0.1).
    pub host: Option<std::net::IpAddr>,
    /// Spawned: a fixed number of processes (exclusive with min_procs/max_procs).
    pub procs: Option<usize>,
    /// Spawned: processes kept running in a dynamic pool.
    pub min_procs: Option<usize>,
    /// Spawned: the most processes of a dynamic pool.
    pub max_procs: Option<usize>,
    /// A request running longer than this kills the process serving it (504).
    pub request_timeout: Option<Timeout>,
    /// Longest wait for a free process (then 503).
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout: Timeout,
    /// Environment variables set for the processes (lighttpd's bin-environment).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Variables copied from relight's environment; empty copies all (bin-copy-environment).
    #[serde(default)]
    pub copy_env: Vec<String>,
    /// Working directory (default: the program's directory).
    pub cwd: Option<PathBuf>,
    /// User to run the processes as, when relight runs as root.
    pub user: Option<String>,
    /// Group to run the processes as, when relight runs as root.
    pub group: Option<String>,
    /// The signal that asks a process to stop.
    #[serde(default)]
    pub kill_signal: KillSignal,
    /// Time from the kill signal to SIGKILL of the process group.
    #[serde(default = "default_kill_grace")]
    pub kill_grace: Timeout,
    /// Listen backlog of each slot's socket.
    #[serde(default = "default_backlog")]
    pub backlog: i32,
    /// Mode of the unix socket files, octal ("0660").
    pub socket_mode: Option<SocketMode>,
    /// Recycle a process after this many requests.
    pub max_requests: Option<u64>,
    /// A dynamic pool stops processes above min_procs idle this long.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Timeout,
    /// What happens to a dead process's descendants: "kill" (its process group) or "keep".
    #[serde(default)]
    pub descendants: Descendants,
    /// Longest wait for a connection to the backend (then 504).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Timeout,
    /// Longest wait for the next bytes from the backend (then 504).
    #[serde(default = "default_backend_io_timeout")]
    pub read_timeout: Timeout,
    /// Longest wait for the backend to accept more of a request (then 504).
    #[serde(default = "default_backend_io_timeout")]
    pub write_timeout: Timeout,
    /// Keep a connection to the backend open for the next request (FCGI_KEEP_CONN).
    #[serde(default = "default_true")]
    pub keep_alive: bool,
    /// A response with `X-Sendfile: /path` gets that file as its body (lighttpd's x-sendfile).
    #[serde(default)]
    pub x_sendfile: bool,
    /// X-Sendfile paths must be under one of these directories (empty: anywhere, as lighttpd).
    #[serde(default)]
    pub x_sendfile_docroot: Vec<PathBuf>,
    /// "responder" (default) answers requests; "authorizer" decides whether a request may go
    /// on (200: it goes on, with the authorizer's `Variable-*` headers as parameters of the
    /// responder; anything else is the answer).
    #[serde(default)]
    pub role: BackendRole,
    /// Answer 404 unless the script exists under the document root (lighttpd's check-local).
    /// Unset: checked for extension matches, not for prefix matches.
    pub check_local: Option<bool>,
    /// DOCUMENT_ROOT, and the base of SCRIPT_FILENAME and PATH_TRANSLATED, for this backend
    /// (lighttpd's docroot: the backend's files live elsewhere, e.g. on another machine).
    pub document_root: Option<PathBuf>,
    /// SCRIPT_FILENAME with PATH_INFO appended, for PHP's cgi.fix_pathinfo (lighttpd's
    /// broken-scriptfilename; not with document_root, as in lighttpd).
    #[serde(default)]
    pub broken_script_filename: bool,
    /// With match "/": SCRIPT_NAME is empty and PATH_INFO the whole path (lighttpd's
    /// fix-root-scriptname), instead of SCRIPT_NAME being the first path segment.
    #[serde(default)]
    pub fix_root_script_name: bool,
    /// This prefix is taken off REQUEST_URI (lighttpd's strip-request-uri).
    pub strip_request_uri: Option<String>,
    /// Serves requests outside of scopes; `false`: only in the `[[scope]]`s that name it in
    /// their `fastcgi` list (its processes run all the same).
    #[serde(default = "default_true")]
    pub global: bool,
}

/// `[[scope]]`: settings for the requests that meet every condition of `when`. A key set here
/// replaces the global one (or an earlier scope's) for those requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    /// The conditions, all of which must hold.
    pub when: Vec<ConditionConfig>,
    /// As `server.document_root`.
    pub document_root: Option<Spanned<PathBuf>>,
    /// As `server.index_files`.
    pub index_files: Option<Vec<String>>,
    /// As `server.mime_types` (replaces the whole table).
    pub mime_types: Option<std::collections::BTreeMap<String, String>>,
    /// As `server.static_exclude_extensions`.
    pub static_exclude_extensions: Option<Vec<String>>,
    /// As `server.deny_suffixes`.
    pub deny_suffixes: Option<Vec<String>>,
    /// As `server.aliases`.
    pub aliases: Option<std::collections::BTreeMap<String, PathBuf>>,
    /// As `server.allow_suffixes`.
    pub allow_suffixes: Option<Vec<String>>,
    /// As `server.request_headers`.
    pub request_headers: Option<std::collections::BTreeMap<String, String>>,
    /// As `server.range_requests`.
    pub range_requests: Option<bool>,
    /// As `server.rewrite`; `%1`..`%9` are the captures of this scope's last regex condition.
    pub rewrite: Option<Vec<RewriteRule>>,
    /// As `server.redirect` (`%n` as in `rewrite`).
    pub redirect: Option<Vec<RedirectRule>>,
    /// As `server.response_headers`.
    pub response_headers: Option<std::collections::BTreeMap<String, String>>,
    /// As `server.fastcgi_params`.
    pub fastcgi_params: Option<std::collections::BTreeMap<String, String>>,
    /// As `server.max_request_body`.
    pub max_request_body: Option<Size>,
    /// As `server.auth`.
    pub auth: Option<Vec<AuthRule>>,
    /// The backends (by name) that serve these requests, in order, instead of the global ones.
    pub fastcgi: Option<Vec<Spanned<String>>>,
}

/// One condition on a request: `{ field = "url", op = "=~", value = "^/admin/" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// What is tested: "url" (the decoded path), "host", "remoteip", "querystring",
    /// "request-method", "scheme", "useragent", "referer", "cookie", "language", "socket"
    /// (the listening address), or "header:NAME".
    pub field: String,
    /// "==", "!=", "=~" (regex), "!~", "=^" (prefix), "=$" (suffix).
    pub op: String,
    /// The string, regex, or for remoteip with == / != an address or CIDR network.
    pub value: Spanned<String>,
    /// The condition holds when the test fails (lighttpd's `else` branches).
    #[serde(default)]
    pub negate: bool,
}

/// `[[server.auth]]`: HTTP Basic authentication for a URL prefix (lighttpd's mod_auth with
/// mod_authn_file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRule {
    /// URL paths starting with this need credentials ("/" for all).
    pub prefix: String,
    /// The realm the browser shows.
    pub realm: String,
    /// Who may pass: "valid-user", or "user=NAME" entries.
    #[serde(default = "default_require")]
    pub require: Vec<String>,
    /// The file of users: "user:hash" lines (htpasswd: {SHA}, $apr1$ and crypt(3) hashes)
    /// or "user:password" lines (plain).
    pub user_file: PathBuf,
    /// "htpasswd" (default) or "plain".
    #[serde(default)]
    pub format: UserFileFormat,
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
}

fn default_require() -> Vec<String> {
    vec!["valid-user".into()]
}

fn default_queue_timeout() -> Timeout {
    Timeout(Duration::from_secs(10))
}
fn default_kill_grace() -> Timeout {
    Timeout(Duration::from_secs(2))
}
fn default_idle_timeout() -> Timeout {
    Timeout(Duration::from_secs(60))
}
fn default_backlog() -> i32 {
    1024
}

/// A signal name: "SIGTERM", "TERM", or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct KillSignal(pub nix::sys::signal::Signal);

impl Default for KillSignal {
    fn default() -> Self {
        KillSignal(nix::sys::signal::Signal::SIGTERM)
    }
}

impl TryFrom<toml::Value> for KillSignal {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        use nix::sys::signal::Signal;
        let bad = || format!("invalid signal {v}: expected a name like \"SIGTERM\" or a number");
        match &v {
            toml::Value::Integer(n) => i32::try_from(*n)
                .ok()
                .and_then(|n| Signal::try_from(n).ok())
                .map(KillSignal)
                .ok_or_else(bad),
            toml::Value::String(s) => {
                let name = if s.starts_with("SIG") {
                    s.clone()
                } else {
                    format!("SIG{s}")
                };
                name.parse::<Signal>().map(KillSignal).map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }
}

/// An octal file mode: "0660".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SocketMode(pub u32);

impl TryFrom<String> for SocketMode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        u32::from_str_radix(&s, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .map(SocketMode)
            .ok_or_else(|| format!("invalid socket_mode {s:?}: expected octal like \"0660\""))
    }
}

/// `role = "responder" | "authorizer"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendRole {
    /// Answers requests.
    #[default]
    Responder,
    /// Allows or refuses requests before they are answered.
    Authorizer,
}

/// `descendants = "kill" | "keep"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Descendants {
    /// Signal the dead process's group.
    #[default]
    Kill,
    /// Leave them, and report them.
    Keep,
}

fn default_index_files() -> Vec<String> {
    vec!["index.html".into()]
}
fn default_shutdown_grace() -> Timeout {
    Timeout(Duration::from_secs(10))
}
fn default_max_keep_alive_requests() -> usize {
    1000
}
fn default_max_connections() -> usize {
    1024
}
fn default_max_header_size() -> Size {
    Size(16 << 10)
}
fn default_max_request_body() -> Size {
    Size(1 << 30)
}
fn default_header_timeout() -> Timeout {
    Timeout(Duration::from_secs(30))
}
fn default_keep_alive_timeout() -> Timeout {
    Timeout(Duration::from_secs(5))
}
fn default_read_timeout() -> Timeout {
    Timeout(Duration::from_secs(60))
}
fn default_write_timeout() -> Timeout {
    Timeout(Duration::from_secs(360))
}
fn default_connect_timeout() -> Timeout {
    Timeout(Duration::from_secs(5))
}
fn default_backend_io_timeout() -> Timeout {
    Timeout(Duration::from_secs(60))
}
fn default_status_path() -> String {
    "/server-status".into()
}
fn default_metrics_path() -> String {
    "/metrics".into()
}
fn default_upload_dir() -> PathBuf {
    PathBuf::from("/var/tmp")
}
fn default_true() -> bool {
    true
}
fn default_server_tag() -> String {
    concat!("relight/", env!("CARGO_PKG_VERSION")).into()
}

/// A regular expression, compiled when the configuration is read.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Pattern(pub regex_lite::Regex);

impl TryFrom<String> for Pattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        regex_lite::Regex::new(&s)
            .map(Pattern)
            .map_err(|e| format!("invalid regular expression {s:?}: {e}"))
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

/// A listening address, `"ip:port"` or `"[ipv6]:port"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ListenAddr(pub SocketAddr);

impl TryFrom<String> for ListenAddr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse().map(ListenAddr).map_err(|_| {
            format!("invalid listen address {s:?}: expected \"ip:port\" or \"[ipv6]:port\"")
        })
    }
}

/// Where a backend listens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum BackendAddr {
    /// `"unix:/path"`.
    Unix(PathBuf),
    /// `"host:port"`.
    Tcp(String),
}

impl TryFrom<String> for BackendAddr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!(
                    "invalid backend address {s:?}: the unix socket path must be absolute"
                ));
            }
            return Ok(BackendAddr::Unix(path.into()));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(BackendAddr::Tcp(s))
            }
            _ => Err(format!(
                "invalid backend address {s:?}: expected \"unix:/path\" or \"host:port\""
            )),
        }
    }
}

impl fmt::Display for BackendAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendAddr::Unix(p) => write!(f, "unix:{}", p.display()),
            BackendAddr::Tcp(a) => f.write_str(a),
        }
    }
}

/// One routing rule of a backend.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum MatchRule {
    /// `"/prefix"`: the URL path starts with it.
    Prefix(String),
    /// `".ext"`: a path segment ends with it (the script, with PATH_INFO after it).
    Extension(String),
}

impl TryFrom<String> for MatchRule {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.starts_with('/') {
            Ok(MatchRule::Prefix(s))
        } else if s.len() > 1 && s.starts_with('.') && !s.contains('/') {
            Ok(MatchRule::Extension(s))
        } else {
            Err(format!(
                "invalid match {s:?}: expected a URL prefix (\"/app\") or an extension (\".php\")"
            ))
        }
    }
}

/// A duration: `"30s"`, `"500ms"`, `"5m"`, `"1h"`, or an integer number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct Timeout(pub Duration);

impl TryFrom<toml::Value> for Timeout {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let bad = || {
            format!("invalid duration {v}: expected \"500ms\", \"30s\", \"5m\", \"1h\" or seconds")
        };
        let d = match &v {
            toml::Value::Integer(n) if *n >= 0 => Duration::from_secs(*n as u64),
            toml::Value::String(s) => {
                let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
                let n: u64 = s[..split].parse().map_err(|_| bad())?;
                match &s[split..] {
                    "ms" => Duration::from_millis(n),
                    "s" => Duration::from_secs(n),
                    "m" => Duration::from_secs(n * 60),
                    "h" => Duration::from_secs(n * 3600),
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        };
        if d.is_zero() {
            return Err(format!("invalid duration {v}: must be more than zero"));
        }
        Ok(Timeout(d))
    }
}

/// A size in bytes: an integer, or `"64K"`, `"16M"`, `"1G"` (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct Size(pub u64);

impl TryFrom<toml::Value> for Size {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let bad = || format!("invalid size {v}: expected bytes, or a number with K, M or G");
        match &v {
            toml::Value::Integer(n) if *n >= 0 => Ok(Size(*n as u64)),
            toml::Value::String(s) => {
                let (num, mult) = match s.as_bytes().last() {
                    Some(b'K' | b'k') => (&s[..s.len() - 1], 1u64 << 10),
                    Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
                    Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
                    _ => (&s[..], 1),
                };
                let n: u64 = num.parse().map_err(|_| bad())?;
                n.checked_mul(mult).map(Size).ok_or_else(bad)
            }
            _ => Err(bad()),
        }
    }
}

impl FastcgiConfig {
    /// Checks that the keys describe one backend: external (`address`) or spawned (`command`
    /// with `socket` or `port`), with a consistent process count.
    pub(crate) fn check_target(&self, _base: &Path) -> Result<(), String> {
        let spawned_keys = [
            ("socket", self.socket.is_some()),
            ("port", self.port.is_some()),
            ("host", self.host.is_some()),
            ("procs", self.procs.is_some()),
            ("min_procs", self.min_procs.is_some()),
            ("max_procs", self.max_procs.is_some()),
            ("cwd", self.cwd.is_some()),
            ("user", self.user.is_some()),
            ("group", self.group.is_some()),
            ("max_requests", self.max_requests.is_some()),
            ("request_timeout", self.request_timeout.is_some()),
            ("env", !self.env.is_empty()),
            ("copy_env", !self.copy_env.is_empty()),
        ];
        match (&self.address, &self.command) {
            (Some(_), Some(_)) => {
                return Err(
                    "set either address (an external backend) or command (a spawned one), not both"
                        .into(),
                );
            }
            (None, None) => {
                return Err(
                    "needs address (an external backend) or command (a spawned one)".into(),
                );
            }
            (Some(_), None) => {
                if let Some((k, _)) = spawned_keys.iter().find(|(_, set)| *set) {
                    return Err(format!(
                        "{k} applies to spawned backends (command), not to an external address"
                    ));
                }
                return Ok(());
            }
            (None, Some(cmd)) => {
                if cmd.is_empty() || cmd[0].is_empty() {
                    return Err("command is empty".into());
                }
            }
        }
        if self.socket.is_some() == self.port.is_some() {
            return Err("a spawned backend needs exactly one of socket or port".into());
        }
        if self.procs.is_some() && (self.min_procs.is_some() || self.max_procs.is_some()) {
            return Err("set procs, or min_procs/max_procs, not both".into());
        }
        let (min, max) = self.proc_range();
        if max == 0 || min > max {
            return Err(format!(
                "process counts make no sense (min {min}, max {max})"
            ));
        }
        if let Some(port) = self.port
            && usize::from(port) + max > 65536
        {
            return Err(format!("port {port} + {max} slots runs past 65535"));
        }
        if let Some(u) = &self.user
            && nix::unistd::User::from_name(u).ok().flatten().is_none()
        {
            return Err(format!("unknown user {u:?}"));
        }
        if let Some(g) = &self.group
            && nix::unistd::Group::from_name(g).ok().flatten().is_none()
        {
            return Err(format!("unknown group {g:?}"));
        }
        Ok(())
    }

    /// (min, max) processes of a spawned backend.
    pub fn proc_range(&self) -> (usize, usize) {
        match (self.procs, self.min_procs, self.max_procs) {
            (Some(n), _, _) => (n, n),
            (None, min, max) => {
                let max = max.unwrap_or(min.unwrap_or(1).max(1));
                (
                    min.unwrap_or(if self.max_procs.is_some() { 1 } else { max }),
                    max,
                )
            }
        }
    }
}

/// Line and column (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, col)
}

impl Config {
    /// Reads, parses and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and checks configuration text; `path` is used in errors and to resolve relative
    /// paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        };
        let mut config: Config = toml::from_str(text)
            .map_err(|e| invalid(e.span().map_or(0, |s| s.start), e.message().to_owned()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let root = config.server.document_root.get_ref();
        let span = config.server.document_root.span();
        let root = base.join(root);
        let root = if root.ends_with(".") {
            root.parent().map_or(root.clone(), Path::to_path_buf)
        } else {
            root
        };
        // Under chroot the root is a path inside it, and is checked there.
        let seen = match &config.server.chroot {
            Some(c) => c.join(root.strip_prefix("/").unwrap_or(&root)),
            None => root.clone(),
        };
        match std::fs::metadata(&seen) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(invalid(
                    span.start,
                    format!("document_root {}: not a directory", root.display()),
                ));
            }
            Err(e) => {
                return Err(invalid(
                    span.start,
                    format!("document_root {}: {e}", root.display()),
                ));
            }
        }
        config.server.document_root = Spanned::new(span, root);
        config.config_dir = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
        config.config_path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if config.server.listen.is_empty() {
            return Err(invalid(
                0,
                "server.listen: at least one address is needed".into(),
            ));
        }
        if config.server.max_header_size.0 < 8192 {
            return Err(invalid(
                0,
                "server.max_header_size: must be at least 8192".into(),
            ));
        }
        for (i, b) in config.fastcgi.iter().enumerate() {
            if let Some(prev) = config.fastcgi[..i]
                .iter()
                .find(|p| p.name.get_ref() == b.name.get_ref())
            {
                let (line, _) = line_col(text, prev.name.span().start);
                return Err(invalid(
                    b.name.span().start,
                    format!(
                        "duplicate fastcgi name {:?} (first defined on line {line})",
                        b.name.get_ref()
                    ),
                ));
            }
            let name_at = b.name.span().start;
            b.check_target(base)
                .map_err(|m| invalid(name_at, format!("fastcgi {:?}: {m}", b.name.get_ref())))?;
            if b.matches.is_empty() {
                return Err(invalid(
                    b.name.span().start,
                    format!("fastcgi {:?}: match is empty", b.name.get_ref()),
                ));
            }
        }
        for b in &mut config.fastcgi {
            if let Some(sock) = &mut b.socket {
                *sock = base.join(&*sock);
            }
            if let Some(cwd) = &mut b.cwd {
                *cwd = base.join(&*cwd);
            }
        }
        for a in &config.answer {
            let at = a.path.span().start;
            if crate::http::urlpath::normalize(a.path.get_ref()).as_deref() != Ok(a.path.get_ref())
            {
                return Err(invalid(
                    at,
                    format!(
                        "answer path {:?}: must be a normalized absolute path (\"/healthz\")",
                        a.path.get_ref()
                    ),
                ));
            }
            if !(200..=599).contains(a.status.get_ref()) {
                return Err(invalid(
                    a.status.span().start,
                    format!("answer {:?}: status must be 200 to 599", a.path.get_ref()),
                ));
            }
            if http::HeaderValue::from_str(&a.content_type).is_err() {
                return Err(invalid(
                    at,
                    format!(
                        "answer {:?}: content_type {:?} is not a valid header value",
                        a.path.get_ref(),
                        a.content_type
                    ),
                ));
            }
        }
        for (i, sc) in config.scope.iter_mut().enumerate() {
            let n = i + 1;
            for c in &sc.when {
                crate::request::site::Cond::compile(c)
                    .map_err(|m| invalid(c.value.span().start, format!("scope {n}: {m}")))?;
            }
            if let Some(root) = &mut sc.document_root {
                let dir = base.join(root.get_ref());
                if !dir.is_dir() {
                    return Err(invalid(
                        root.span().start,
                        format!(
                            "scope {n}: document_root {}: not a directory",
                            dir.display()
                        ),
                    ));
                }
                *root = Spanned::new(root.span(), dir);
            }
            for name in sc.fastcgi.iter().flatten() {
                if !config
                    .fastcgi
                    .iter()
                    .any(|b| b.name.get_ref() == name.get_ref())
                {
                    return Err(invalid(
                        name.span().start,
                        format!("scope {n}: no [[fastcgi]] named {:?}", name.get_ref()),
                    ));
                }
            }
            for a in sc.auth.iter_mut().flatten() {
                a.user_file = base.join(&a.user_file);
            }
            if let Some(aliases) = &mut sc.aliases {
                for dir in aliases.values_mut() {
                    *dir = base.join(&*dir);
                }
            }
        }
        for b in &config.fastcgi {
            if !b.global
                && !config.scope.iter().any(|sc| {
                    sc.fastcgi
                        .iter()
                        .flatten()
                        .any(|n| n.get_ref() == b.name.get_ref())
                })
            {
                return Err(invalid(
                    b.name.span().start,
                    format!(
                        "fastcgi {:?}: global = false, but no [[scope]] names it in fastcgi",
                        b.name.get_ref()
                    ),
                ));
            }
        }
        for a in &mut config.server.auth {
            a.user_file = base.join(&a.user_file);
        }
        for p in [
            &mut config.server.error_log,
            &mut config.server.access_log,
            &mut config.server.pid_file,
        ]
        .into_iter()
        .flatten()
        {
            *p = base.join(&*p);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/tmp/test.toml"))
    }

    #[test]
    fn minimal_and_defaults() {
        let c = parse(
            "[server]\nlisten = [\"127.0.0.1:8080\", \"[::1]:8081\"]\ndocument_root = \"/tmp\"\n",
        )
        .unwrap();
        assert_eq!(c.server.listen.len(), 2);
        assert_eq!(c.server.index_files, vec!["index.html"]);
        assert_eq!(c.server.keep_alive_timeout.0, Duration::from_secs(5));
        assert!(c.fastcgi.is_empty());
    }

    #[test]
    fn unknown_key_is_an_error_at_its_line() {
        let err =
            parse("[server]\nlisten = [\"127.0.0.1:8080\"]\ndocument_root = \"/tmp\"\nlisen = 1\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:4:1: unknown field `lisen`"),
            "{err}"
        );
    }

    #[test]
    fn answers_are_checked_where_they_are() {
        let base = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n";
        let c = parse(&format!(
            "{base}[[answer]]\npath = \"/healthz\"\nbody = \"ok\"\n"
        ))
        .unwrap();
        assert_eq!(*c.answer[0].status.get_ref(), 200);
        assert_eq!(c.answer[0].content_type, "text/plain; charset=utf-8");
        let err = parse(&format!("{base}[[answer]]\npath = \"/a/../b\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:5:8: answer path \"/a/../b\": must be a normalized"),
            "{err}"
        );
        let err = parse(&format!("{base}[[answer]]\npath = \"/x\"\nstatus = 99\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:6:10: answer \"/x\": status must be 200 to 599"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_position() {
        let err = parse("[server]\nlisten = [\"127.0.0.1\"]\ndocument_root = \"/tmp\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:2:10: invalid listen address"),
            "{err}"
        );
        let base = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n";
        let err = parse(&format!(
            "{base}[[fastcgi]]\nname = \"a\"\nmatch = [\"php\"]\naddress = \"unix:/x\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:6:9: invalid match \"php\""),
            "{err}"
        );
        let err = parse(&format!(
            "{base}[[fastcgi]]\nname = \"a\"\nmatch = [\".php\"]\naddress = \"nowhere\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains(":7:11: invalid backend address"), "{err}");
        let err = parse(&format!("{base}[[fastcgi]]\nname = \"a\"\nmatch = [\"/a\"]\naddress = \"unix:/x\"\nread_timeout = \"10 parsecs\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(":8:16: invalid duration"), "{err}");
        let err = parse(
            "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/nonexistent-relight\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "/tmp/test.toml:3:17: document_root /nonexistent-relight: No such file"
            ),
            "{err}"
        );
    }

    #[test]
    fn rewrite_rules_and_bad_regexes() {
        let base = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n";
        let c = parse(&format!("{base}[[server.rewrite]]\npattern = \"^/a/(.*)$\"\nto = \"/b/$1\"\n[[server.redirect]]\npattern = \"^/old\"\nto = \"/new\"\ncode = 302\n")).unwrap();
        assert_eq!(c.server.rewrite.len(), 1);
        assert!(!c.server.rewrite[0].repeat);
        assert_eq!(c.server.redirect[0].code, 302);
        let err = parse(&format!(
            "{base}[[server.rewrite]]\npattern = \"^/a/(\"\nto = \"/b\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains(":5:11: invalid regular expression"), "{err}");
    }

    #[test]
    fn scopes_are_checked_where_they_are_written() {
        let base = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n\
            [[fastcgi]]\nname = \"a\"\nmatch = [\"/a\"]\naddress = \"127.0.0.1:9000\"\nglobal = false\n";
        let ok = format!(
            "{base}[[scope]]\nwhen = [{{ field = \"url\", op = \"=^\", value = \"/x\" }}]\nfastcgi = [\"a\"]\n\
             [[scope.auth]]\nprefix = \"/\"\nrealm = \"r\"\nuser_file = \"users\"\n"
        );
        let c = parse(&ok).unwrap();
        assert_eq!(c.scope.len(), 1);
        assert_eq!(
            c.scope[0].auth.as_ref().unwrap()[0].user_file,
            PathBuf::from("/tmp/users")
        );
        for (bad, msg) in [
            (
                "[[scope]]\nwhen = [{ field = \"url\", op = \"=~\", value = \"(\" }]\nfastcgi = [\"a\"]\n",
                ":10:45: scope 1: invalid regular expression",
            ),
            (
                "[[scope]]\nwhen = [{ field = \"uri\", op = \"==\", value = \"/\" }]\nfastcgi = [\"a\"]\n",
                ":10:45: scope 1: unknown condition field \"uri\"",
            ),
            (
                "[[scope]]\nwhen = []\nfastcgi = [\"b\"]\n",
                ":11:12: scope 1: no [[fastcgi]] named \"b\"",
            ),
            (
                "[[scope]]\nwhen = []\ndocument_root = \"/nonexistent-relight\"\n",
                ":11:17: scope 1: document_root /nonexistent-relight: not a directory",
            ),
            (
                "[[scope]]\nwhen = []\n",
                ":5:8: fastcgi \"a\": global = false, but no [[scope]] names it",
            ),
        ] {
            let err = parse(&format!("{base}{bad}")).unwrap_err().to_string();
            assert!(err.contains(msg), "{bad}: {err}");
        }
    }

    #[test]
    fn the_readme_example_parses() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
                .unwrap();
        let start = readme.find("```toml\n[server]").expect("the example") + 8;
        let end = start + readme[start..].find("```").unwrap();
        let example = readme[start..end].replace("\"/srv/www\"", "\"/tmp\"");
        let c = parse(&example).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.fastcgi.len(), 2);
        assert_eq!(c.scope.len(), 1);
        assert_eq!(c.scope[0].when.len(), 2);
    }

    #[test]
    fn duplicate_backend_names() {
        let text = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n\
            [[fastcgi]]\nname = \"a\"\nmatch = [\"/a\"]\naddress = \"127.0.0.1:9000\"\n\
            [[fastcgi]]\nname = \"a\"\nmatch = [\"/b\"]\naddress = \"127.0.0.1:9001\"\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains(":9:8: duplicate fastcgi name \"a\" (first defined on line 5)"),
            "{err}"
        );
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(
            Size::try_from(toml::Value::String("64K".into())),
            Ok(Size(65536))
        );
        assert_eq!(Size::try_from(toml::Value::Integer(10)), Ok(Size(10)));
        assert!(Size::try_from(toml::Value::String("lots".into())).is_err());
        assert_eq!(
            Timeout::try_from(toml::Value::String("250ms".into())),
            Ok(Timeout(Duration::from_millis(250)))
        );
        assert_eq!(
            Timeout::try_from(toml::Value::Integer(3)),
            Ok(Timeout(Duration::from_secs(3)))
        );
        assert!(Timeout::try_from(toml::Value::String("0s".into())).is_err());
    }
}
