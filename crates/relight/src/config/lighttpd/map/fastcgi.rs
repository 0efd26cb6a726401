//! `fastcgi.server` (and `fastcgi.map-extensions`): each host of each extension becomes a
//! [`FastcgiConfig`], named `fastcgiN`; hosts with the same target (bin-path and socket, or
//! address) in several blocks share its processes, as in lighttpd: one backend with all their
//! match rules when their options are the same, else one backend per set of options on the
//! first one's processes (`pool`), so that the entry that matched decides the role.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Ctx, Value, enabled, err, secs, string_list};
use crate::config::lighttpd::{Error, Pos};
use crate::config::{
    At, BackendAddr, BackendRole, FastcgiConfig, KillSignal, Loc, MatchRule, Protocol,
};

/// The host options relight maps.
const HOST_KEYS: &[&str] = &[
    "host",
    "port",
    "socket",
    "bin-path",
    "bin-environment",
    "bin-copy-environment",
    "min-procs",
    "max-procs",
    "idle-timeout",
    "kill-signal",
    "listen-backlog",
    "connect-timeout",
    "read-timeout",
    "write-timeout",
    "check-local",
    "mode",
    "x-sendfile",
    "x-sendfile-docroot",
    "docroot",
    "broken-scriptfilename",
    "fix-root-scriptname",
    "strip-request-uri",
];

/// Host options accepted because relight does their job another way, and how.
const HOST_KEYS_NOTED: &[(&str, &str)] = &[
    (
        "tcp-fin-propagate",
        "relight ends the request body with FastCGI's empty STDIN record; a client's half-close is not passed on as a FIN",
    ),
    (
        "disable-time",
        "relight never disables a backend: a spawned one is restarted by its supervisor, an external one is tried again at the next request",
    ),
    (
        "max-load-per-proc",
        "relight gives each process one request at a time; requests wait up to the queue timeout for a free one",
    ),
];

/// The backends of all blocks: one per target (bin-path and socket, or address), so that
/// entries naming the same one share its processes, as in lighttpd.
#[derive(Default)]
pub(super) struct Backends {
    pub list: Vec<FastcgiConfig>,
    /// The CGI rules `cgi.assign` made (cgi.rs).
    pub cgi: Vec<crate::config::CgiConfig>,
    /// The proxy rules `proxy.server` made (proxy.rs).
    pub proxy: Vec<crate::config::ProxyConfig>,
    /// The entries of each target, the first one's processes serving them all.
    by_target: BTreeMap<String, Vec<usize>>,
}

/// One host of one extension: `( "socket" => ..., "bin-path" => ..., ... )`.
struct Host<'a> {
    /// `fastcgi.server` or `scgi.server`.
    key: &'a str,
    ext: &'a str,
    opts: &'a [(Option<String>, Value)],
    pos: &'a Pos,
}

impl Host<'_> {
    fn get(&self, k: &str) -> Option<&Value> {
        self.opts
            .iter()
            .find(|(kk, _)| kk.as_deref() == Some(k))
            .map(|(_, v)| v)
    }

    fn error<T>(&self, message: String) -> Result<T, Error> {
        err(self.pos, format!("{} {:?}: {message}", self.key, self.ext))
    }

    fn string(&self, k: &str) -> Result<Option<String>, Error> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(Value::Int(n)) => Ok(Some(n.to_string())),
            Some(v) => self.error(format!("{k} must be a string, not {}", v.kind())),
        }
    }

    fn int(&self, k: &str) -> Result<Option<i64>, Error> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Int(n)) => Ok(Some(*n)),
            Some(Value::Str(s)) => match s.parse() {
                Ok(n) => Ok(Some(n)),
                Err(_) => self.error(format!("{k} must be a number, not {s:?}")),
            },
            Some(v) => self.error(format!("{k} must be a number, not {}", v.kind())),
        }
    }

    fn flag(&self, k: &str) -> Result<Option<bool>, Error> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => match enabled(v) {
                Some(b) => Ok(Some(b)),
                None => self.error(format!("{k} must be \"enable\" or \"disable\"")),
            },
        }
    }

    /// Notes the options relight does their job for another way; warns of unknown ones.
    fn report_options(&self, cx: &mut Ctx<'_>) {
        for (k, _) in self.opts {
            let k = k.as_deref().unwrap_or("");
            if let Some((_, how)) = HOST_KEYS_NOTED.iter().find(|(n, _)| *n == k) {
                cx.notes.push(format!(
                    "{}: {} {:?}: {k}: accepted; {how}",
                    self.pos, self.key, self.ext
                ));
            } else if !HOST_KEYS.contains(&k) {
                cx.warn(
                    self.pos,
                    format!(
                        "{} {:?}: unknown host option {k:?}; ignored",
                        self.key, self.ext
                    ),
                );
            }
        }
    }

    /// Where the host's requests go: bin-path (spawned, on socket or port), or an external
    /// socket or host:port.
    fn target(&self, b: &mut FastcgiConfig) -> Result<(), Error> {
        let bin = self.string("bin-path")?;
        let socket = self.string("socket")?;
        let host = self.string("host")?;
        let port = self.int("port")?;
        match (bin, socket, host, port) {
            (Some(bin), socket, host, port) => {
                b.command = Some(bin.split_whitespace().map(str::to_string).collect());
                match (socket, port) {
                    (Some(s), _) => b.socket = Some(s.into()),
                    (None, Some(p)) => {
                        let Ok(p) = u16::try_from(p) else {
                            return self.error(format!("port {p} is not a port"));
                        };
                        b.port = Some(p);
                        if let Some(h) = host {
                            let Ok(ip) = h.parse() else {
                                return self.error(format!("host {h:?} is not an IP address"));
                            };
                            b.host = Some(ip);
                        }
                    }
                    (None, None) => return self.error("bin-path needs socket or port".into()),
                }
            }
            (None, Some(s), _, _) => b.address = Some(BackendAddr::Unix(s.into())),
            (None, None, Some(h), Some(p)) => {
                b.address = Some(BackendAddr::Tcp(format!("{h}:{p}")))
            }
            (None, None, None, Some(p)) => {
                b.address = Some(BackendAddr::Tcp(format!("127.0.0.1:{p}")))
            }
            _ => return self.error("needs socket, host/port or bin-path".into()),
        }
        Ok(())
    }

    /// The options of a spawned backend's processes.
    fn process_options(&self, b: &mut FastcgiConfig) -> Result<(), Error> {
        let max = self.int("max-procs")?.unwrap_or(4).max(1) as usize;
        match self.int("min-procs")? {
            Some(min) if (min as usize) < max => {
                b.min_procs = Some(min.max(0) as usize);
                b.max_procs = Some(max);
            }
            _ => b.procs = Some(max),
        }
        if let Some(t) = self.int("idle-timeout")? {
            b.idle_timeout = secs(t);
        }
        if let Some(n) = self.int("listen-backlog")? {
            b.backlog = n as i32;
        }
        if let Some(Value::Array(env)) = self.get("bin-environment") {
            for (k, v) in env {
                if let (Some(k), Some(v)) = (k, v.as_str()) {
                    b.env.insert(k.clone(), v.to_string());
                }
            }
        }
        if let Some(v) = self.get("bin-copy-environment") {
            b.copy_env = string_list(v, "bin-copy-environment", self.pos)?;
        }
        if let Some(v) = self.get("kill-signal") {
            let v = match v {
                Value::Int(n) => toml::Value::Integer(*n),
                Value::Str(s) => toml::Value::String(s.clone()),
                Value::Array(_) => toml::Value::Boolean(false),
            };
            b.kill_signal = match KillSignal::try_from(v) {
                Ok(s) => s,
                Err(m) => return self.error(format!("kill-signal: {m}")),
            };
        }
        Ok(())
    }

    /// The options of the gateway to it: timeouts, mode, check-local, X-Sendfile, the
    /// parameters' document root and script name.
    fn gateway_options(&self, b: &mut FastcgiConfig) -> Result<(), Error> {
        b.role = match self.string("mode")?.as_deref() {
            None | Some("responder") => BackendRole::Responder,
            Some("authorizer") => BackendRole::Authorizer,
            Some(m) => return self.error(format!("mode {m:?}: expected responder or authorizer")),
        };
        if let Some(t) = self.int("connect-timeout")? {
            b.connect_timeout = secs(t);
        }
        if let Some(t) = self.int("read-timeout")?
            && t > 0
        {
            b.read_timeout = secs(t);
        }
        if let Some(t) = self.int("write-timeout")?
            && t > 0
        {
            b.write_timeout = secs(t);
        }
        if let Some(v) = self.get("check-local") {
            b.check_local = enabled(v);
        }
        if let Some(v) = self.get("x-sendfile") {
            b.x_sendfile = enabled(v).unwrap_or(false);
        }
        if let Some(d) = self.string("docroot")? {
            b.document_root = Some(d.into());
        }
        if let Some(f) = self.flag("broken-scriptfilename")? {
            b.broken_script_filename = f;
        }
        if let Some(f) = self.flag("fix-root-scriptname")? {
            b.fix_root_script_name = f;
        }
        b.strip_request_uri = self.string("strip-request-uri")?;
        if let Some(v) = self.get("x-sendfile-docroot") {
            b.x_sendfile_docroot = string_list(v, "x-sendfile-docroot", self.pos)?
                .into_iter()
                .map(PathBuf::from)
                .collect();
        }
        Ok(())
    }
}

/// The backends of one `fastcgi.server` value, added to `all` (or merged into the entry of the
/// same target); returns their names in order. `scoped`: set in a conditional block.
pub(super) fn map_fastcgi(
    v: &Value,
    pos: &Pos,
    cx: &mut Ctx<'_>,
    all: &mut Backends,
    scoped: bool,
) -> Result<Vec<String>, Error> {
    map_gateway(v, pos, cx, all, scoped, "fastcgi.server", Protocol::Fastcgi)
}

/// [`map_fastcgi`] for `key` (`fastcgi.server` or `scgi.server`), whose backends speak
/// `protocol`.
pub(super) fn map_gateway(
    v: &Value,
    pos: &Pos,
    cx: &mut Ctx<'_>,
    all: &mut Backends,
    scoped: bool,
    key: &'static str,
    protocol: Protocol,
) -> Result<Vec<String>, Error> {
    let Some(exts) = v.as_array() else {
        return err(
            pos,
            format!("{key} must be an array of \"ext\" => ( hosts )"),
        );
    };
    let mut names: Vec<String> = Vec::new();
    // Entries of this value may merge; another block's are backends of their own (their
    // rules must not serve this block's requests), on the same processes.
    let first = all.list.len();
    for (ext, hosts) in exts {
        let Some(ext) = ext else {
            return err(
                pos,
                format!("{key}: each entry must be \"/prefix\" or \".ext\" => ( hosts )"),
            );
        };
        let rule = MatchRule::try_from(if ext.is_empty() {
            "/".to_string()
        } else {
            ext.clone()
        })
        .map_err(|m| Error::new(pos.clone(), format!("{key}: {m}")))?;
        let Some(hosts) = hosts.as_array() else {
            return err(pos, format!("{key} {ext:?}: expected ( hosts )"));
        };
        // Several hosts for one extension: each its own backend with the same rule; a request
        // goes to the least busy (lighttpd's default fastcgi.balance, least-connection).
        for (_, host) in hosts {
            let Some(opts) = host.as_array() else {
                return err(
                    pos,
                    format!("{key} {ext:?}: a host must be ( \"key\" => value, ... )"),
                );
            };
            let host = Host {
                key,
                ext,
                opts,
                pos,
            };
            host.report_options(cx);
            let name = add_host(cx, &host, &rule, all, first, scoped, protocol)?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// The backend of `host` with `rule`: the existing one (from index `first` on: this block's)
/// of the same target, role and gateway options, or a new one. An entry on the processes of
/// an earlier one (the same bin-path and socket or port) is served by those processes
/// (`pool`) with its own role, and the earlier entry's other options (lighttpd keeps the first
/// definition of a spawned host: its check-local, docroot...; said in a warning when they
/// differ); an entry on the address of an earlier external one keeps all its options.
fn add_host(
    cx: &mut Ctx<'_>,
    host: &Host<'_>,
    rule: &MatchRule,
    all: &mut Backends,
    first: usize,
    scoped: bool,
    protocol: Protocol,
) -> Result<String, Error> {
    // Entries with the same bin-path and socket (or host:port) share one pool, as in lighttpd.
    let target = format!(
        "{}|{:?}|{:?}|{:?}|{:?}",
        protocol.as_str(),
        host.string("bin-path")?,
        host.string("socket")?,
        host.string("host")?,
        host.int("port")?
    );
    let name = format!("{}{}", protocol.as_str(), all.list.len());
    let mut b = FastcgiConfig::new(
        At::new(name.clone(), Loc::Pos(host.pos.clone())),
        vec![rule.clone()],
    );
    host.gateway_options(&mut b)?;
    let sharing = all.by_target.get(&target).cloned().unwrap_or_default();
    let owner = sharing.first().map(|&i| &all.list[i]);
    if let Some(owner) = owner
        && owner.command.is_some()
    {
        let role = b.role;
        let mine = b.clone();
        copy_gateway(owner, &mut b);
        b.role = role;
        if !same_gateway(&mine, &b) {
            cx.warn(
                host.pos,
                format!(
                    "{} {:?}: the same program as {} (line {}) with other options: it runs with the first one's (check-local, docroot, timeouts, x-sendfile...), as in lighttpd; only mode is this entry's",
                    host.key,
                    host.ext,
                    owner.name.value,
                    match &owner.name.loc {
                        Loc::Pos(p) => p.line,
                        Loc::Span(_) => 0,
                    }
                ),
            );
        }
    }
    if let Some(&i) = sharing
        .iter()
        .find(|&&i| i >= first && same_gateway(&all.list[i], &b))
    {
        let b = &mut all.list[i];
        if !b.matches.contains(rule) {
            b.matches.push(rule.clone());
        }
        return Ok(b.name.value.clone());
    }
    match owner {
        Some(o) if o.command.is_some() => b.pool = Some(o.name.value.clone()),
        Some(o) => b.address = o.address.clone(),
        None => {
            host.target(&mut b)?;
            if b.command.is_some() {
                host.process_options(&mut b)?;
            }
        }
    }
    b.global = !scoped;
    b.protocol = protocol;
    if protocol != Protocol::Fastcgi {
        // One request per connection, as lighttpd's mod_scgi.
        b.keep_alive = false;
    }
    all.by_target
        .entry(target)
        .or_default()
        .push(all.list.len());
    all.list.push(b);
    Ok(name)
}

/// Gives `to` the gateway options of `from` (all that [`same_gateway`] compares).
fn copy_gateway(from: &FastcgiConfig, to: &mut FastcgiConfig) {
    to.role = from.role;
    to.connect_timeout = from.connect_timeout;
    to.read_timeout = from.read_timeout;
    to.write_timeout = from.write_timeout;
    to.check_local = from.check_local;
    to.x_sendfile = from.x_sendfile;
    to.x_sendfile_docroot.clone_from(&from.x_sendfile_docroot);
    to.document_root.clone_from(&from.document_root);
    to.broken_script_filename = from.broken_script_filename;
    to.fix_root_script_name = from.fix_root_script_name;
    to.strip_request_uri.clone_from(&from.strip_request_uri);
}

/// Whether two entries of one target are served alike: the same role and gateway options.
fn same_gateway(a: &FastcgiConfig, b: &FastcgiConfig) -> bool {
    a.role == b.role
        && a.connect_timeout == b.connect_timeout
        && a.read_timeout == b.read_timeout
        && a.write_timeout == b.write_timeout
        && a.check_local == b.check_local
        && a.x_sendfile == b.x_sendfile
        && a.x_sendfile_docroot == b.x_sendfile_docroot
        && a.document_root == b.document_root
        && a.broken_script_filename == b.broken_script_filename
        && a.fix_root_script_name == b.fix_root_script_name
        && a.strip_request_uri == b.strip_request_uri
}

/// `fastcgi.map-extensions`: requests for `.from` go where `.to`'s do.
pub(super) fn map_extensions(cx: &mut Ctx<'_>, backends: &mut Backends) -> Result<(), Error> {
    let Some((pairs, pos)) = cx.string_pairs("fastcgi.map-extensions", "\".ext\" => \".ext\"")?
    else {
        return Ok(());
    };
    for (from, to) in pairs {
        let (Ok(MatchRule::Extension(_)), Ok(to_rule)) = (
            MatchRule::try_from(from.clone()),
            MatchRule::try_from(to.clone()),
        ) else {
            return err(
                pos,
                format!("fastcgi.map-extensions {from:?} => {to:?}: expected \".ext\" => \".ext\""),
            );
        };
        let mut mapped = false;
        for b in &mut backends.list {
            if b.matches.contains(&to_rule) {
                b.matches.push(MatchRule::Extension(from.clone()));
                mapped = true;
            }
        }
        if !mapped {
            cx.warn(
                pos,
                format!(
                    "fastcgi.map-extensions {from:?} => {to:?}: no fastcgi.server entry for {to:?}"
                ),
            );
        }
    }
    Ok(())
}
