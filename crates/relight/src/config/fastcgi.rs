//! `[[fastcgi]]`: one FastCGI backend, external (an address) or spawned (a command relight
//! supervises), with its defaults.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{
    At, BackendAddr, KillSignal, Limit, MatchRule, Size, SocketMode, Timeout, default_true,
};

/// The request timeout of a spawned backend that sets none: long enough for real work, short
/// enough that a process stuck in a request (a hung UI) comes back without tuning.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

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
    /// Served by the processes of the spawned backend of this name (its command, sockets and
    /// process options), with this entry's own `match`, `role` and gateway options: one
    /// program behind an authorizer and a responder entry, as lighttpd runs two
    /// `fastcgi.server` entries with the same bin-path. Exclusive with `address` and `command`.
    pub pool: Option<String>,
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
    /// Spawned: a request running longer than this (from when its process gets it, upload
    /// included) kills the process serving it (504), so that a process stuck in a request
    /// comes back. Unset: [`DEFAULT_REQUEST_TIMEOUT`]; `0` turns it off.
    pub request_timeout: Option<Limit>,
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
    /// Recycle a process whose resident memory grows over this ("200M"): after its request,
    /// or at once when idle (checked every second and when a request ends).
    pub max_rss: Option<Size>,
    /// Check each process idle this long with FCGI_GET_VALUES, and recycle one that does not
    /// answer within `health_check_timeout` (off unless set).
    pub health_check: Option<Timeout>,
    /// The most memory the backend's processes may use together (cgroup v2 memory.max; needs
    /// relight's cgroups and their memory controller).
    pub memory_max: Option<Size>,
    /// The most processes and threads the backend may have together (cgroup v2 pids.max).
    pub pids_max: Option<u64>,
    /// How long the health check waits for the answer.
    #[serde(default = "default_health_check_timeout")]
    pub health_check_timeout: Timeout,
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
    /// The protocol spoken to it: set by the table (`[[fastcgi]]`: FastCGI; `[[scgi]]`:
    /// `protocol = "scgi"` (default) or `"uwsgi"`).
    #[serde(default)]
    pub protocol: Protocol,
}

/// What a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// FastCGI (`[[fastcgi]]`).
    #[default]
    Fastcgi,
    /// SCGI (`[[scgi]]`).
    Scgi,
    /// uwsgi (`[[scgi]]` with `protocol = "uwsgi"`).
    Uwsgi,
}

impl Protocol {
    /// Its name in logs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Fastcgi => "fastcgi",
            Protocol::Scgi => "scgi",
            Protocol::Uwsgi => "uwsgi",
        }
    }
}

impl FastcgiConfig {
    /// How long a request may run on a spawned process before the process is killed, and
    /// whether that is the default; `None`: no limit.
    pub fn request_timeout(&self) -> Option<(Duration, bool)> {
        match self.request_timeout {
            None => Some((DEFAULT_REQUEST_TIMEOUT, true)),
            Some(Limit(limit)) => limit.map(|d| (d, false)),
        }
    }

    /// A backend named `name` with `matches` and every other key at its default (neither
    /// address nor command set yet): what a lighttpd.conf's host options go over.
    pub fn new(name: At<String>, matches: Vec<MatchRule>) -> FastcgiConfig {
        FastcgiConfig {
            name,
            matches,
            address: None,
            command: None,
            pool: None,
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
            max_rss: None,
            health_check: None,
            memory_max: None,
            pids_max: None,
            health_check_timeout: default_health_check_timeout(),
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
            protocol: Protocol::Fastcgi,
        }
    }

    /// The name of the supervisor pool whose processes serve this entry: its own, or the one
    /// `pool` names.
    pub fn pool_name(&self) -> &str {
        self.pool.as_deref().unwrap_or(&self.name.value)
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

fn default_queue_timeout() -> Timeout {
    Timeout(Duration::from_secs(10))
}
fn default_kill_grace() -> Timeout {
    Timeout(Duration::from_secs(2))
}
fn default_health_check_timeout() -> Timeout {
    Timeout(Duration::from_secs(5))
}
fn default_idle_timeout() -> Timeout {
    Timeout(Duration::from_secs(60))
}
fn default_backlog() -> i32 {
    1024
}
fn default_connect_timeout() -> Timeout {
    Timeout(Duration::from_secs(5))
}
fn default_backend_io_timeout() -> Timeout {
    Timeout(Duration::from_secs(60))
}
