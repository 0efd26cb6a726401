//! `[[proxy]]`: an HTTP reverse proxy to local services (lighttpd's mod_proxy): which requests
//! go, to which upstreams, how they are chosen, and the limits on the way.

use std::time::Duration;

use serde::Deserialize;

use super::{At, BackendAddr, MatchRule, Timeout, default_true};

/// `[[proxy]]`: the upstreams one rule sends to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// The name used in logs, status and scopes.
    pub name: At<String>,
    /// URL path prefixes ("/api") and extensions routed to the upstreams.
    #[serde(rename = "match")]
    pub matches: Vec<MatchRule>,
    /// Where the service listens: "host:port" or "unix:/path", one or more.
    pub upstreams: Vec<BackendAddr>,
    /// How an upstream is chosen: "least-busy" (default), "round-robin", or "hash" (of the
    /// client's address: a client stays with one upstream).
    #[serde(default)]
    pub balance: Balance,
    /// Longest wait for a connection to an upstream (then 504).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Timeout,
    /// Longest wait for the upstream's response head, and between its body's reads (then 504,
    /// or the response cut off).
    #[serde(default = "default_io_timeout")]
    pub read_timeout: Timeout,
    /// The Host sent upstream: unset, the client's (lighttpd's default); else this one
    /// (lighttpd's proxy.replace-http-host uses the upstream's name).
    pub host: Option<String>,
    /// Add an RFC 7239 `Forwarded` header (for, proto, host), as lighttpd's proxy.forwarded;
    /// `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` are always sent.
    #[serde(default)]
    pub forwarded: bool,
    /// Pass `Upgrade` requests (WebSocket) through: on the upstream's 101, the two
    /// connections are joined until either closes (lighttpd's proxy.header "upgrade").
    #[serde(default)]
    pub upgrade: bool,
    /// URL path prefixes replaced on the way up, and back in the answer's `Location`,
    /// `Content-Location` and `Set-Cookie` paths (lighttpd's proxy.header "map-urlpath"):
    /// `{ "/app/" = "/" }` serves an upstream's root under /app/.
    #[serde(default)]
    pub map_path: std::collections::BTreeMap<String, String>,
    /// Host names replaced on the way up (the `Host` header; "-" for any, lighttpd's
    /// "map-host-request").
    #[serde(default)]
    pub map_host_request: std::collections::BTreeMap<String, String>,
    /// Host names replaced in the answer's `Location`, `Content-Location` and `Set-Cookie`
    /// domains ("-" as the value: the client's Host; lighttpd's "map-host-response").
    #[serde(default)]
    pub map_host_response: std::collections::BTreeMap<String, String>,
    /// Idle connections kept open to each upstream for the next requests.
    #[serde(default = "default_max_idle")]
    pub max_idle: usize,
    /// Serves requests outside of scopes; `false`: only in the `[[scope]]`s that name it in
    /// their `proxy` list.
    #[serde(default = "default_true")]
    pub global: bool,
}

/// `balance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// The upstream with the fewest requests in flight (lighttpd's "fair").
    #[default]
    LeastBusy,
    /// Each in turn.
    RoundRobin,
    /// By the client's address.
    Hash,
}

impl ProxyConfig {
    /// A rule named `name` for `matches` to `upstreams`, every other key at its default.
    pub fn new(name: At<String>, matches: Vec<MatchRule>, upstreams: Vec<BackendAddr>) -> Self {
        ProxyConfig {
            name,
            matches,
            upstreams,
            balance: Balance::default(),
            connect_timeout: default_connect_timeout(),
            read_timeout: default_io_timeout(),
            host: None,
            forwarded: false,
            upgrade: false,
            map_path: Default::default(),
            map_host_request: Default::default(),
            map_host_response: Default::default(),
            max_idle: default_max_idle(),
            global: true,
        }
    }
}

fn default_connect_timeout() -> Timeout {
    Timeout(Duration::from_secs(5))
}
fn default_io_timeout() -> Timeout {
    Timeout(Duration::from_secs(60))
}
fn default_max_idle() -> usize {
    8
}
