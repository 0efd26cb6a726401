//! `[[cgi]]`: CGI scripts (lighttpd's mod_cgi): which requests run a program per request, with
//! which interpreter, and the limits on those processes.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{At, Descendants, KillSignal, Limit, MatchRule, Timeout, default_true};

/// `[[cgi]]`: the scripts one rule runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CgiConfig {
    /// The name used in logs, status and scopes (default "cgi", then "cgi-2", ...).
    pub name: Option<At<String>>,
    /// Extensions (".cgi", ".pl") and URL path prefixes ("/cgi-bin/") whose files are run.
    /// The file must exist under the document root: the request's path up to the matching
    /// file is the script (SCRIPT_NAME), the rest PATH_INFO.
    #[serde(rename = "match")]
    pub matches: Vec<MatchRule>,
    /// The program that runs the script, with the script's path as its argument ("/usr/bin/perl");
    /// unset: the script is run itself (it must be executable).
    pub interpreter: Option<PathBuf>,
    /// Only files with an execute bit are run (403 otherwise), as lighttpd's
    /// cgi.execute-x-only; with an interpreter, unset means false.
    #[serde(default)]
    pub execute_x_only: bool,
    /// A script running longer than this is killed with its process group (504, or the
    /// response cut off). `0` turns it off. Default 300s.
    pub request_timeout: Option<Limit>,
    /// Longest wait for the next bytes of the script's output (then 504, or the response cut
    /// off); lighttpd's cgi.limits read-timeout. Default 60s.
    #[serde(default = "default_io_timeout")]
    pub read_timeout: Timeout,
    /// Longest wait for the script to take more of the request body (then 504);
    /// lighttpd's cgi.limits write-timeout. Default 60s.
    #[serde(default = "default_io_timeout")]
    pub write_timeout: Timeout,
    /// The most scripts of this rule running at once; more requests wait up to
    /// `queue_timeout` for one to end, then get 503.
    #[serde(default = "default_max_procs")]
    pub max_procs: usize,
    /// Longest wait for a free place among `max_procs` (then 503).
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout: Timeout,
    /// Variables added to every script's environment (after the CGI ones).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Variables copied from relight's own environment; by default LD_PRELOAD and
    /// LD_LIBRARY_PATH, as lighttpd copies them (no PATH: the shell's default applies).
    #[serde(default = "default_copy_env")]
    pub copy_env: Vec<String>,
    /// User to run the scripts as, when relight runs as root.
    pub user: Option<String>,
    /// Group to run the scripts as, when relight runs as root.
    pub group: Option<String>,
    /// The signal that stops a script (timeout, client gone, shutdown) and its group.
    #[serde(default)]
    pub kill_signal: KillSignal,
    /// Time from the kill signal to SIGKILL of the process group.
    #[serde(default = "default_kill_grace")]
    pub kill_grace: Timeout,
    /// What happens to what a script leaves running in its process group when it exits:
    /// "kill" (default) or "keep". The response ends when the script has exited and its
    /// output is read, whatever still holds its stdout.
    #[serde(default)]
    pub descendants: Descendants,
    /// A response with `X-Sendfile: /path` gets that file as its body (cgi.x-sendfile).
    #[serde(default)]
    pub x_sendfile: bool,
    /// X-Sendfile paths must be under one of these directories (empty: anywhere).
    #[serde(default)]
    pub x_sendfile_docroot: Vec<PathBuf>,
    /// A `Location: /path` response without a Status is served internally as a request for
    /// that path (RFC 3875 local redirect; lighttpd's cgi.local-redir).
    #[serde(default)]
    pub local_redirect: bool,
    /// HTTP/1.1 `Upgrade` requests (WebSocket) reach the script; a script that answers
    /// `Status: 101` is joined to the client's connection, its stdout to the client and the
    /// client to its stdin, until either closes (lighttpd's cgi.upgrade).
    #[serde(default)]
    pub upgrade: bool,
    /// Serves requests outside of scopes; `false`: only in the `[[scope]]`s that name it in
    /// their `cgi` list.
    #[serde(default = "default_true")]
    pub global: bool,
}

impl CgiConfig {
    /// A rule for `matches` with every other key at its default: what lighttpd's cgi.assign
    /// becomes.
    pub fn new(name: At<String>, matches: Vec<MatchRule>) -> CgiConfig {
        CgiConfig {
            name: Some(name),
            matches,
            interpreter: None,
            execute_x_only: false,
            request_timeout: None,
            read_timeout: default_io_timeout(),
            write_timeout: default_io_timeout(),
            max_procs: default_max_procs(),
            queue_timeout: default_queue_timeout(),
            env: Default::default(),
            copy_env: default_copy_env(),
            user: None,
            group: None,
            kill_signal: KillSignal::default(),
            kill_grace: default_kill_grace(),
            descendants: Descendants::default(),
            x_sendfile: false,
            x_sendfile_docroot: Vec::new(),
            local_redirect: false,
            upgrade: false,
            global: true,
        }
    }

    /// How long a script may run; `None`: no limit.
    pub fn request_timeout(&self) -> Option<Duration> {
        match self.request_timeout {
            None => Some(super::DEFAULT_REQUEST_TIMEOUT),
            Some(Limit(limit)) => limit,
        }
    }

    /// Its name: the one set, or "cgi-N" for the Nth rule (counted from 1; the first is "cgi").
    pub fn name_or(&self, index: usize) -> String {
        match &self.name {
            Some(n) => n.value.clone(),
            None if index == 0 => "cgi".to_owned(),
            None => format!("cgi-{}", index + 1),
        }
    }
}

fn default_io_timeout() -> Timeout {
    Timeout(Duration::from_secs(60))
}
fn default_max_procs() -> usize {
    32
}
fn default_queue_timeout() -> Timeout {
    Timeout(Duration::from_secs(10))
}
fn default_kill_grace() -> Timeout {
    Timeout(Duration::from_secs(2))
}
fn default_copy_env() -> Vec<String> {
    vec!["LD_PRELOAD".to_owned(), "LD_LIBRARY_PATH".to_owned()]
}
