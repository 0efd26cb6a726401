//! `[server]`'s own keys: what is not per request (listeners, logs, limits and timeouts,
//! identity, status pages), with their defaults. (`[server]` also holds the global
//! [`super::Settings`].)

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{At, ListenAddr, Size, Timeout, default_true};

/// The error log's line format (`error_log_format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorLogFormat {
    /// A timestamp, the level, the message.
    #[default]
    Text,
    /// One JSON object per line: time, level, message and the event's fields.
    Json,
}

/// `[server]`: what is not per request. (`[server]` also holds the global [`Settings`].)
#[derive(Debug, Clone, Deserialize)]
pub struct ServerConfig {
    /// Addresses to listen on (plain HTTP); `[[tls]]` adds its HTTPS ones. At least one
    /// address in all.
    #[serde(default)]
    pub listen: Vec<ListenAddr>,
    /// The error log file; `"syslog"` (or `"syslog:/socket"`) for syslog; stderr when absent
    /// (the journal's format when stderr is the journal).
    pub error_log: Option<PathBuf>,
    /// The error log's lines: `"text"` (default) or `"json"` (one object per line).
    #[serde(default)]
    pub error_log_format: ErrorLogFormat,
    /// The access log file (Combined Log Format); `"syslog"` (or `"syslog:/socket"`) for
    /// syslog; none when absent.
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
    /// Keep static files open, with their metadata, for up to a second after serving them
    /// (lighttpd's stat cache, server.stat-cache-engine): a file replaced on disk can be
    /// served as it was for that second. `false` opens and stats every file per request.
    #[serde(default = "default_true")]
    pub file_cache: bool,
    /// Contain each spawned process in a cgroup v2 of its own where relight may make one
    /// (systemd's Delegate=yes, a container, root): a descendant that leaves its process group
    /// is still stopped with it, and memory_max/pids_max apply. `false`: process groups only.
    #[serde(default = "default_true")]
    pub cgroups: bool,
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
    /// A liveness probe (Kubernetes' livenessProbe, a load balancer's check): 200 "ok" while
    /// relight answers, to any client; `""` (the default) leaves the path to the site.
    #[serde(default)]
    pub health_path: String,
    /// A readiness probe: 200 when every spawned backend has a process that can serve (or
    /// starts them on demand), else 503 naming the ones that cannot; to any client; `""` (the
    /// default) leaves the path to the site.
    #[serde(default)]
    pub ready_path: String,
    /// Serve HTTP/2 with prior knowledge (h2c) on the plain listeners too: a connection whose
    /// first bytes are HTTP/2's preface is HTTP/2 (HTTPS listeners offer h2 by ALPN anyway).
    #[serde(default)]
    pub h2c: bool,
}

impl ServerConfig {
    /// The server settings of a configuration that sets none: what a lighttpd.conf's keys go
    /// over.
    pub fn defaults() -> ServerConfig {
        ServerConfig {
            listen: Vec::new(),
            error_log: None,
            error_log_format: ErrorLogFormat::Text,
            access_log: None,
            threads: None,
            max_connections: default_max_connections(),
            max_header_size: default_max_header_size(),
            max_keep_alive_requests: default_max_keep_alive_requests(),
            file_cache: true,
            cgroups: true,
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
            health_path: String::new(),
            ready_path: String::new(),
            h2c: false,
        }
    }

    /// The chroot directory, if set.
    pub fn chroot_dir(&self) -> Option<&Path> {
        self.chroot.as_ref().map(|c| c.value.as_path())
    }
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
fn default_status_path() -> String {
    "/server-status".into()
}
fn default_metrics_path() -> String {
    "/metrics".into()
}
fn default_upload_dir() -> PathBuf {
    PathBuf::from("/var/tmp")
}
