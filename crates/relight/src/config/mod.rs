//! The configuration relight runs on, whichever language it was written in: the model both
//! readers fill ([`toml`] for relight's own format, [`lighttpd`] for lighttpd.conf), the checks
//! they share ([`check`], what `relight -t` runs), the values that check themselves while read
//! ([`values`]) and the conditions of scopes ([`condition`]). [`load`] reads a file in either
//! language. Nothing here knows about requests or sockets.
//!
//! The settings that may differ per request are one struct, [`Settings`]: `[server]` holds the
//! global ones (the defaults of [`Settings::defaults`] under them), a `[[scope]]` or a lighttpd
//! conditional block the ones it sets, and [`Settings::over`] merges them, in one place.

pub mod check;
pub mod condition;
pub mod lighttpd;
pub mod load;
pub mod toml;
pub mod values;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use condition::{Condition, ConditionConfig, ConditionError, Facts};
pub use load::{Format, Loaded, load};
pub use values::{
    At, BackendAddr, Headers, KillSignal, ListenAddr, Loc, MatchRule, Pattern, Pos, Size,
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
    /// FastCGI backends, tried in order.
    pub fastcgi: Vec<FastcgiConfig>,
    /// Settings for the requests that meet conditions (lighttpd's conditional blocks), in
    /// order: every scope whose conditions hold puts its settings over the global ones.
    pub scope: Vec<ScopeConfig>,
    /// Fixed responses for exact paths (nginx's `return`): health checks, robots.txt.
    pub answer: Vec<AnswerConfig>,
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
    /// Request headers set before the request is handled, so backends see them (lighttpd's
    /// setenv.set-request-header / add-request-header).
    pub request_headers: Option<Headers>,
    /// Headers added to every response (lighttpd's setenv.add-response-header).
    pub response_headers: Option<Headers>,
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
            response_headers: Some(Headers::default()),
            rewrite: Some(Vec::new()),
            redirect: Some(Vec::new()),
            fastcgi_params: Some(Default::default()),
            max_request_body: Some(Size(1 << 30)),
            auth: Some(Vec::new()),
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
            response_headers,
            rewrite,
            redirect,
            fastcgi_params,
            max_request_body,
            auth,
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
        take(&mut self.response_headers, response_headers);
        take(&mut self.rewrite, rewrite);
        take(&mut self.redirect, redirect);
        take(&mut self.fastcgi_params, fastcgi_params);
        take(&mut self.max_request_body, max_request_body);
        take(&mut self.auth, auth);
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

/// `[server]`: what is not per request. (`[server]` also holds the global [`Settings`].)
#[derive(Debug, Clone, Deserialize)]
pub struct ServerConfig {
    /// Addresses to listen on.
    pub listen: Vec<ListenAddr>,
    /// The error log file; stderr when absent.
    pub error_log: Option<PathBuf>,
    /// The access log file (Combined Log Format); none when absent.
    pub access_log: Option<PathBuf>,
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
    /// The most requests on one connection; the response to the last says `Connection:
    /// close`. 0: no limit; 1: no keep-alive (lighttpd's server.max-keep-alive-requests).
    #[serde(default = "default_max_keep_alive_requests")]
    pub max_keep_alive_requests: usize,
    /// SERVER_NAME for FastCGI requests instead of the Host header's name (lighttpd's
    /// server.name).
    pub server_name: Option<String>,
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
    /// How long SIGINT waits for requests in flight before closing connections (lighttpd's
    /// server.graceful-shutdown-timeout).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: Timeout,
    /// Drop root to this user once the listening sockets are bound (lighttpd's
    /// server.username).
    pub user: Option<At<String>>,
    /// ... and this group (lighttpd's server.groupname; default: the user's group).
    pub group: Option<At<String>>,
    /// Take listening sockets from systemd (LISTEN_FDS/LISTEN_PID) instead of binding the
    /// `listen` addresses they already cover (lighttpd's server.systemd-socket-activation).
    #[serde(default)]
    pub socket_activation: bool,
    /// Once the listening sockets are bound (and logs and pid file open), change the root
    /// directory to this one (lighttpd's server.chroot; needs root). document_root, aliases,
    /// backends' programs and sockets are then paths inside it.
    pub chroot: Option<At<PathBuf>>,
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

impl ServerConfig {
    /// The server settings of a configuration that sets none: what a lighttpd.conf's keys go
    /// over.
    pub fn defaults() -> ServerConfig {
        ServerConfig {
            listen: Vec::new(),
            error_log: None,
            access_log: None,
            threads: None,
            max_connections: default_max_connections(),
            max_header_size: default_max_header_size(),
            max_keep_alive_requests: default_max_keep_alive_requests(),
            server_name: None,
            file_cache: true,
            error_handler_404: None,
            header_timeout: default_header_timeout(),
            keep_alive_timeout: default_keep_alive_timeout(),
            read_timeout: default_read_timeout(),
            write_timeout: default_write_timeout(),
            upload_dir: default_upload_dir(),
            shutdown_grace: default_shutdown_grace(),
            user: None,
            group: None,
            socket_activation: false,
            chroot: None,
            pid_file: None,
            status_path: default_status_path(),
            metrics_path: default_metrics_path(),
            status_public: false,
            server_tag: default_server_tag(),
        }
    }

    /// The chroot directory, if set.
    pub fn chroot_dir(&self) -> Option<&Path> {
        self.chroot.as_ref().map(|c| c.value.as_path())
    }
}

/// `[[fastcgi]]`: one FastCGI backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FastcgiConfig {
    /// The name used in logs and status.
    pub name: At<String>,
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

impl FastcgiConfig {
    /// A backend named `name` with `matches` and every other key at its default (neither
    /// address nor command set yet): what a lighttpd.conf's host options go over.
    pub fn new(name: At<String>, matches: Vec<MatchRule>) -> FastcgiConfig {
        FastcgiConfig {
            name,
            matches,
            address: None,
            command: None,
            socket: None,
            port: None,
            host: None,
            procs: None,
            min_procs: None,
            max_procs: None,
            request_timeout: None,
            queue_timeout: default_queue_timeout(),
            env: Default::default(),
            copy_env: Vec::new(),
            cwd: None,
            user: None,
            group: None,
            kill_signal: KillSignal::default(),
            kill_grace: default_kill_grace(),
            backlog: default_backlog(),
            socket_mode: None,
            max_requests: None,
            idle_timeout: default_idle_timeout(),
            descendants: Descendants::default(),
            connect_timeout: default_connect_timeout(),
            read_timeout: default_backend_io_timeout(),
            write_timeout: default_backend_io_timeout(),
            keep_alive: true,
            x_sendfile: false,
            x_sendfile_docroot: Vec::new(),
            role: BackendRole::default(),
            check_local: None,
            document_root: None,
            broken_script_filename: false,
            fix_root_script_name: false,
            strip_request_uri: None,
            global: true,
        }
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
