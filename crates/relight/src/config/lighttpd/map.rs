//! Maps an evaluated lighttpd configuration onto relight's own: each key relight implements
//! becomes the same setting; every other key, module and conditional block is reported by name
//! with where it was set (a warning, or an error under `-tt`). Nothing is dropped in silence.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::{Block, ConfError, LighttpdConfig, Pos, Value};
use crate::config::{
    BackendAddr, ConditionConfig, Config, FastcgiConfig, KillSignal, ListenAddr, MatchRule,
    ScopeConfig, ServerConfig, Size, Timeout,
};

/// A mapped configuration and what could not be mapped.
#[derive(Debug)]
pub struct Mapped {
    /// The configuration relight runs.
    pub config: Config,
    /// One line per key, module or block relight does not implement, with its position.
    pub warnings: Vec<String>,
    /// Keys accepted though relight has no use for them (said once, never an error).
    pub notes: Vec<String>,
}

/// Modules relight implements (fully or for the keys it maps).
const MODULES: &[&str] = &[
    "mod_rewrite",
    "mod_redirect",
    "mod_alias",
    "mod_setenv",
    "mod_indexfile",
    "mod_access",
    "mod_accesslog",
    "mod_staticfile",
    "mod_fastcgi",
    "mod_auth",
    "mod_authn_file",
];

/// Modules that are accepted because relight does their job another way.
const MODULES_NOTED: &[(&str, &str)] = &[
    ("mod_dirlisting", "relight never lists directories (403)"),
    (
        "mod_status",
        "relight's status page is server.status_path (/server-status)",
    ),
    ("mod_deflate", "relight does not compress responses"),
    ("mod_openssl", "relight does not serve TLS yet"),
];

/// Global keys accepted because relight does their job another way, and how.
const KEYS_NOTED: &[(&str, &str)] = &[
    ("server.event-handler", "relight uses epoll (through tokio)"),
    ("server.network-backend", "relight chooses how it writes"),
    (
        "server.max-fds",
        "relight does not change its descriptor limit; set it with LimitNOFILE= or ulimit -n",
    ),
    (
        "server.breakagelog",
        "relight writes backends' stderr to server.errorlog, tagged with the backend, slot and pid",
    ),
    (
        "fastcgi.debug",
        "relight always logs backend spawns, deaths and errors; more with RELIGHT_LOG=debug",
    ),
    ("server.listen-backlog", "relight's listen backlog is 1024"),
    (
        "server.stream-request-body",
        "relight streams request bodies to backends as they arrive (chunked ones are spooled first, for CONTENT_LENGTH)",
    ),
    (
        "server.stream-response-body",
        "relight streams response bodies with bounded memory",
    ),
    (
        "server.upload-temp-file-size",
        "relight spools a chunked request body into one unlinked file in server.upload-dirs",
    ),
    (
        "server.chunkqueue-chunk-sz",
        "relight sizes its own buffers",
    ),
    ("server.h2proto", "relight speaks HTTP/1.1 and HTTP/1.0"),
    ("server.h2c", "relight speaks HTTP/1.1 and HTTP/1.0"),
    (
        "server.protocol-http11",
        "relight speaks HTTP/1.1 and HTTP/1.0",
    ),
    (
        "server.http-parseopts",
        "relight's HTTP parser is strict (invalid requests get 400)",
    ),
    (
        "server.http-parseopt-header-strict",
        "relight's HTTP parser is strict (invalid requests get 400)",
    ),
    (
        "server.http-parseopt-host-strict",
        "relight's HTTP parser is strict (invalid requests get 400)",
    ),
    (
        "server.http-parseopt-host-normalize",
        "relight compares hosts in lower case without the port",
    ),
    ("server.feature-flags", "relight has no feature flags"),
    (
        "server.graceful-restart-bg",
        "SIGUSR1 reloads in place, keeping the listening sockets and unchanged backends",
    ),
    (
        "server.clock-jump-restart",
        "relight uses the monotonic clock for its timeouts",
    ),
    (
        "server.compat-module-load",
        "relight has no modules to load",
    ),
    (
        "server.defer-accept",
        "relight accepts connections as they come",
    ),
    ("server.bsd-accept-filter", "relight runs on Linux"),
    (
        "server.errorlog-high-precision",
        "relight's log timestamps have microseconds",
    ),
    (
        "server.metrics-high-precision",
        "relight's metrics are at /metrics",
    ),
];

/// `"k" => "v"` string pairs, in order.
type Pairs = Vec<(String, String)>;

struct Ctx<'a> {
    /// The block being mapped.
    g: &'a Block,
    /// The global scope, where a block's unset keys come from (auth.backend...).
    global: &'a Block,
    /// server.chroot: paths are checked inside it.
    chroot: Option<PathBuf>,
    used: Vec<&'static str>,
    warnings: Vec<String>,
    notes: Vec<String>,
}

fn err<T>(pos: &Pos, message: String) -> Result<T, ConfError> {
    Err(ConfError {
        pos: pos.clone(),
        message,
    })
}

impl<'a> Ctx<'a> {
    fn get(&mut self, key: &'static str) -> Option<(&'a Value, &'a Pos)> {
        self.used.push(key);
        self.g.get_with_pos(key)
    }

    /// `key` of this block, else of the global scope.
    fn inherited(&mut self, key: &'static str) -> Option<(&'a Value, &'a Pos)> {
        self.used.push(key);
        self.g
            .get_with_pos(key)
            .or_else(|| self.global.get_with_pos(key))
    }

    fn string(&mut self, key: &'static str) -> Result<Option<(String, &'a Pos)>, ConfError> {
        match self.get(key) {
            None => Ok(None),
            Some((Value::Str(s), p)) => Ok(Some((s.clone(), p))),
            Some((v, p)) => err(p, format!("{key} must be a string, not {}", v.kind())),
        }
    }

    fn int(&mut self, key: &'static str) -> Result<Option<(i64, &'a Pos)>, ConfError> {
        let found = self.get(key);
        int_of(key, found)
    }

    /// As [`Ctx::int`], from this block or else the global scope.
    fn inherited_int(&mut self, key: &'static str) -> Result<Option<(i64, &'a Pos)>, ConfError> {
        let found = self.inherited(key);
        int_of(key, found)
    }

    fn strings(&mut self, key: &'static str) -> Result<Option<(Vec<String>, &'a Pos)>, ConfError> {
        match self.get(key) {
            None => Ok(None),
            Some((v, p)) => Ok(Some((string_list(v, key, p)?, p))),
        }
    }

    /// `key`'s `"k" => "v"` string pairs in order, and where it was set; `shape` names them in
    /// the error ("\"name\" => \"value\"").
    fn string_pairs(
        &mut self,
        key: &'static str,
        shape: &str,
    ) -> Result<Option<(Pairs, &'a Pos)>, ConfError> {
        let Some((v, pos)) = self.get(key) else {
            return Ok(None);
        };
        let bad = || err(pos, format!("{key} must be an array of {shape}"));
        let Some(items) = v.as_array() else {
            return bad();
        };
        let mut out = Vec::with_capacity(items.len());
        for (k, v) in items {
            let (Some(k), Some(v)) = (k, v.as_str()) else {
                return bad();
            };
            out.push((k.clone(), v.to_string()));
        }
        Ok(Some((out, pos)))
    }

    /// Where `p` is seen from here, before the chroot.
    fn seen(&self, p: &Path) -> PathBuf {
        match &self.chroot {
            Some(c) => c.join(p.strip_prefix("/").unwrap_or(p)),
            None => p.to_path_buf(),
        }
    }

    fn warn(&mut self, pos: &Pos, msg: String) {
        self.warnings.push(format!("{pos}: {msg}"));
    }
}

/// A number (or a string of one) set for `key`.
fn int_of<'a>(
    key: &str,
    found: Option<(&'a Value, &'a Pos)>,
) -> Result<Option<(i64, &'a Pos)>, ConfError> {
    match found {
        None => Ok(None),
        Some((Value::Int(n), p)) => Ok(Some((*n, p))),
        Some((Value::Str(s), p)) => match s.parse() {
            Ok(n) => Ok(Some((n, p))),
            Err(_) => err(p, format!("{key} must be a number, not {s:?}")),
        },
        Some((v, p)) => err(p, format!("{key} must be a number, not {}", v.kind())),
    }
}

fn string_list(v: &Value, key: &str, p: &Pos) -> Result<Vec<String>, ConfError> {
    match v {
        Value::Str(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|(_, v)| match v {
                Value::Str(s) => Ok(s.clone()),
                other => err(
                    p,
                    format!("{key} must list strings, found {}", other.kind()),
                ),
            })
            .collect(),
        Value::Int(_) => err(p, format!("{key} must be a list of strings")),
    }
}

fn enabled(v: &Value) -> Option<bool> {
    match v {
        Value::Str(s) => match s.as_str() {
            "enable" | "true" | "1" | "on" => Some(true),
            "disable" | "false" | "0" | "off" => Some(false),
            _ => None,
        },
        Value::Int(n) => Some(*n != 0),
        Value::Array(_) => None,
    }
}

fn secs(n: i64) -> Timeout {
    Timeout(Duration::from_secs(n.max(1) as u64))
}

/// The backends of all blocks: one per target (bin-path and socket, or address), so that
/// entries naming the same one share its processes, as in lighttpd.
#[derive(Default)]
struct Backends {
    list: Vec<FastcgiConfig>,
    by_target: BTreeMap<String, usize>,
}

/// Maps the keys that may differ per request (those a `[[scope]]` can set) of `cx.g` into
/// `out`; `scoped` is false for the global scope.
fn map_scoped(
    cx: &mut Ctx<'_>,
    out: &mut ScopeConfig,
    backends: &mut Backends,
    scoped: bool,
) -> Result<(), ConfError> {
    if let Some((root, pos)) = cx.string("server.document-root")? {
        let root = PathBuf::from(&root);
        if !cx.seen(&root).is_dir() {
            if !scoped {
                return err(
                    pos,
                    format!("server.document-root {}: not a directory", root.display()),
                );
            }
            cx.warn(
                pos,
                format!(
                    "server.document-root {}: not a directory (500 until it is)",
                    root.display()
                ),
            );
        }
        out.document_root = Some(Spanned::new(0..0, root));
    }
    for key in ["server.indexfiles", "index-file.names"] {
        if let Some((names, _)) = cx.strings(key)? {
            out.index_files = Some(names);
        }
    }
    for key in ["server.dir-listing", "dir-listing.activate"] {
        if let Some((v, pos)) = cx.get(key)
            && enabled(v) != Some(false)
        {
            cx.warn(
                pos,
                format!("{key}: relight never lists directories (403); ignored"),
            );
        }
    }
    if let Some((allow, _)) = cx.strings("url.access-allow")? {
        out.allow_suffixes = Some(allow);
    }
    for (key, target) in [
        ("setenv.add-response-header", 0),
        ("setenv.set-response-header", 0),
        ("setenv.add-environment", 1),
        ("setenv.set-environment", 1),
        ("setenv.add-request-header", 2),
        ("setenv.set-request-header", 2),
    ] {
        let Some((pairs, _)) = cx.string_pairs(key, "\"name\" => \"value\"")? else {
            continue;
        };
        let map = match target {
            0 => &mut out.response_headers,
            1 => &mut out.fastcgi_params,
            _ => &mut out.request_headers,
        };
        map.get_or_insert_default().extend(pairs);
    }
    if let Some((pairs, pos)) = cx.string_pairs("alias.url", "\"/url/\" => \"/dir/\"")? {
        let aliases = out.aliases.get_or_insert_default();
        for (k, v) in pairs {
            if !cx.seen(Path::new(&v)).exists() {
                cx.warn(
                    pos,
                    format!("alias.url {k:?} => {v:?}: does not exist (404 until it does)"),
                );
            }
            aliases.insert(k, v.into());
        }
    }
    for (key, repeat, if_not_file) in [
        ("url.rewrite-once", false, false),
        ("url.rewrite-final", false, false),
        ("url.rewrite", true, false),
        ("url.rewrite-repeat", true, false),
        ("url.rewrite-if-not-file", false, true),
        ("url.rewrite-repeat-if-not-file", true, true),
    ] {
        for (pattern, to) in regex_rules(cx, key)? {
            out.rewrite
                .get_or_insert_default()
                .push(crate::config::RewriteRule {
                    pattern,
                    to,
                    repeat,
                    if_not_file,
                });
        }
    }
    let code = match cx.inherited_int("url.redirect-code")? {
        None => 301,
        Some((c, _)) if [301, 302, 303, 307, 308].contains(&c) => c as u16,
        Some((c, pos)) => {
            return err(
                pos,
                format!("url.redirect-code {c}: expected 301, 302, 303, 307 or 308"),
            );
        }
    };
    if cx.g.get("url.redirect").is_some() {
        out.redirect = Some(Vec::new());
    }
    for (pattern, to) in regex_rules(cx, "url.redirect")? {
        out.redirect
            .get_or_insert_default()
            .push(crate::config::RedirectRule { pattern, to, code });
    }
    if let Some((exts, _)) = cx.strings("static-file.exclude-extensions")? {
        out.static_exclude_extensions = Some(exts);
    }
    if let Some((v, pos)) = cx.get("server.range-requests") {
        out.range_requests = Some(enabled(v).ok_or_else(|| ConfError {
            pos: pos.clone(),
            message: "server.range-requests must be \"enable\" or \"disable\"".into(),
        })?);
    }
    if let Some((deny, _)) = cx.strings("url.access-deny")? {
        out.deny_suffixes = Some(deny);
    }
    if let Some((pairs, _)) = cx.string_pairs("mimetype.assign", "\"suffix\" => \"type\"")? {
        out.mime_types = Some(pairs.into_iter().collect());
    }
    if let Some((kb, _)) = cx.int("server.max-request-size")? {
        // lighttpd counts in KiB; 0 means no limit.
        out.max_request_body = Some(Size(if kb <= 0 { u64::MAX } else { kb as u64 * 1024 }));
    }
    if let Some((v, pos)) = cx.get("auth.require") {
        out.auth = Some(map_auth(cx, v, pos)?);
    }
    for key in [
        "auth.backend",
        "auth.backend.htpasswd.userfile",
        "auth.backend.plain.userfile",
    ] {
        cx.used.push(key);
    }
    if let Some((v, pos)) = cx.get("fastcgi.server") {
        let names = map_fastcgi(v, pos, cx, backends, scoped)?;
        out.fastcgi = Some(names.into_iter().map(|n| Spanned::new(0..0, n)).collect());
    }
    if let Some((pairs, pos)) = cx.string_pairs("fastcgi.map-extensions", "\".ext\" => \".ext\"")? {
        for (from, to) in pairs {
            let (Ok(MatchRule::Extension(_)), Ok(to_rule)) = (
                MatchRule::try_from(from.clone()),
                MatchRule::try_from(to.clone()),
            ) else {
                return err(
                    pos,
                    format!(
                        "fastcgi.map-extensions {from:?} => {to:?}: expected \".ext\" => \".ext\""
                    ),
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
                    format!("fastcgi.map-extensions {from:?} => {to:?}: no fastcgi.server entry for {to:?}"),
                );
            }
        }
    }
    Ok(())
}

/// `auth.require` with the user file of `auth.backend` (this block's or the global one).
/// What relight cannot enforce is an error: ignoring it would leave the paths open.
fn map_auth(
    cx: &mut Ctx<'_>,
    v: &Value,
    pos: &Pos,
) -> Result<Vec<crate::config::AuthRule>, ConfError> {
    use crate::config::{AuthRule, UserFileFormat};
    let (format, file_key) = match cx.inherited("auth.backend") {
        Some((Value::Str(b), _)) if b == "htpasswd" => {
            (UserFileFormat::Htpasswd, "auth.backend.htpasswd.userfile")
        }
        Some((Value::Str(b), _)) if b == "plain" => {
            (UserFileFormat::Plain, "auth.backend.plain.userfile")
        }
        Some((b, bpos)) => {
            return err(
                bpos,
                format!(
                    "auth.backend {b:?}: relight supports \"htpasswd\" and \"plain\"; refusing to start rather than leave auth.require's paths open"
                ),
            );
        }
        None => return err(pos, "auth.require needs auth.backend".into()),
    };
    let user_file = match cx.inherited(file_key) {
        Some((Value::Str(f), _)) => PathBuf::from(f),
        _ => return err(pos, format!("auth.require needs {file_key}")),
    };
    let Some(items) = v.as_array() else {
        return err(
            pos,
            "auth.require must be an array of \"/path\" => ( \"method\" => ..., \"realm\" => ..., \"require\" => ... )".into(),
        );
    };
    let mut rules = Vec::new();
    for (prefix, opts) in items {
        let Some(prefix) = prefix else {
            return err(
                pos,
                "auth.require: each entry must be \"/path\" => ( ... )".into(),
            );
        };
        let opt = |k: &str| opts.get(k).and_then(Value::as_str);
        match opt("method") {
            Some("basic") => {}
            m => {
                return err(
                    pos,
                    format!(
                        "auth.require {prefix:?}: method {m:?}: relight supports \"basic\" only; refusing to start rather than leave {prefix:?} open"
                    ),
                );
            }
        }
        let mut require = Vec::new();
        for r in opt("require").unwrap_or("valid-user").split('|') {
            let r = r.trim();
            if r == "valid-user" || r.starts_with("user=") {
                require.push(r.to_string());
            } else {
                return err(
                    pos,
                    format!(
                        "auth.require {prefix:?}: require {r:?}: relight supports valid-user and user=NAME"
                    ),
                );
            }
        }
        rules.push(AuthRule {
            prefix: prefix.clone(),
            realm: opt("realm").unwrap_or("").to_string(),
            require,
            user_file: user_file.clone(),
            format,
        });
    }
    Ok(rules)
}

/// The native condition of a lighttpd one, or why there is none.
fn condition(c: &super::Condition) -> Result<ConditionConfig, String> {
    let field = match c.field.as_str() {
        "HTTP[\"url\"]" => "url".to_string(),
        "HTTP[\"host\"]" => "host".into(),
        "HTTP[\"remoteip\"]" | "HTTP[\"remote-ip\"]" => "remoteip".into(),
        "HTTP[\"querystring\"]" | "HTTP[\"query-string\"]" => "querystring".into(),
        "HTTP[\"request-method\"]" => "request-method".into(),
        "HTTP[\"scheme\"]" => "scheme".into(),
        "HTTP[\"useragent\"]" | "HTTP[\"user-agent\"]" => "useragent".into(),
        "HTTP[\"referer\"]" => "referer".into(),
        "HTTP[\"cookie\"]" => "cookie".into(),
        "HTTP[\"language\"]" => "language".into(),
        "SERVER[\"socket\"]" => "socket".into(),
        f => match f
            .strip_prefix("REQUEST_HEADER[\"")
            .and_then(|h| h.strip_suffix("\"]"))
        {
            Some(h) => format!("header:{h}"),
            None => return Err(format!("${f} is not supported by relight")),
        },
    };
    let cc = ConditionConfig {
        field,
        op: c.op.to_string(),
        value: Spanned::new(0..0, c.pattern.clone()),
        negate: c.negated,
    };
    crate::request::site::Cond::compile(&cc)?;
    Ok(cc)
}

/// Why `key` is ignored: relight does not implement it, or lighttpd does not know it either.
fn unsupported(key: &str) -> &'static str {
    if super::keys::is_known(key) {
        "not supported by relight; ignored"
    } else {
        "unknown config-key (lighttpd 1.4 does not know it either); ignored"
    }
}

/// Keys whose settings are lost if a block is ignored in a way that opens what they close.
const GUARD_KEYS: &[&str] = &["url.access-deny", "auth.require"];

/// Maps `lc` (read from `path`) onto relight's configuration.
pub fn to_config(lc: &LighttpdConfig, path: &Path) -> Result<Mapped, ConfError> {
    let g = lc.global();
    let start = g.pos.clone().unwrap_or(Pos {
        file: path.display().to_string(),
        line: 1,
        column: 1,
    });
    let chroot = match g.get_with_pos("server.chroot") {
        None => None,
        Some((Value::Str(c), _)) => Some(PathBuf::from(c)),
        Some((v, pos)) => {
            return err(
                pos,
                format!("server.chroot must be a string, not {}", v.kind()),
            );
        }
    };
    let mut cx = Ctx {
        g,
        global: g,
        chroot: chroot.clone(),
        used: vec!["server.chroot"],
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    let mut backends = Backends::default();
    let mut top = ScopeConfig::default();
    map_scoped(&mut cx, &mut top, &mut backends, false)?;
    // The defaults of relight's own format, then what the lighttpd file says.
    let mut server: ServerConfig =
        toml::from_str("listen = []\ndocument_root = \"/\"").expect("defaults parse");
    let Some(root) = top.document_root else {
        return err(&start, "server.document-root is not set".into());
    };
    server.document_root = root;
    macro_rules! global {
        ($($from:ident => $to:ident),*) => {$(if let Some(v) = top.$from { server.$to = v; })*};
    }
    global!(allow_suffixes => allow_suffixes, request_headers => request_headers);
    global!(index_files => index_files, response_headers => response_headers,
        fastcgi_params => fastcgi_params, aliases => aliases, rewrite => rewrite,
        redirect => redirect, static_exclude_extensions => static_exclude_extensions,
        deny_suffixes => deny_suffixes, max_request_body => max_request_body, auth => auth);
    if let Some(m) = top.mime_types {
        server.mime_types.extend(m);
    }

    let port = match cx.int("server.port")? {
        Some((p, pos)) => u16::try_from(p).map_err(|_| ConfError {
            pos: pos.clone(),
            message: format!("server.port {p} is not a port"),
        })?,
        None => 80,
    };

    let bind = cx.string("server.bind")?;
    // lighttpd listens on every IPv4 address unless server.bind says otherwise.
    let ip: IpAddr = match &bind {
        None => IpAddr::from([0, 0, 0, 0]),
        Some((b, pos)) => match b.trim_start_matches('[').trim_end_matches(']').parse() {
            Ok(ip) => ip,
            Err(_) if b == "localhost" => IpAddr::from([127, 0, 0, 1]),
            Err(_) => {
                return err(
                    pos,
                    format!("server.bind {b:?}: relight binds IP addresses only"),
                );
            }
        },
    };
    server.listen.push(ListenAddr(SocketAddr::new(ip, port)));

    if let Some((log, _)) = cx.string("server.errorlog")? {
        server.error_log = Some(log.into());
    }
    if let Some((log, _)) = cx.string("accesslog.filename")? {
        server.access_log = Some(log.into());
    }
    if let Some((fmt, pos)) = cx.string("accesslog.format")? {
        const COMBINED: &str = "%h %V %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"";
        if fmt != COMBINED && fmt != "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""
        {
            cx.warn(
                pos,
                format!("accesslog.format {fmt:?}: relight writes the Combined Log Format only"),
            );
        }
    }
    if let Some((n, pos)) = cx.int("server.max-worker")? {
        // lighttpd forks that many processes; relight runs that many threads.
        server.threads =
            Some(
                usize::try_from(n)
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| ConfError {
                        pos: pos.clone(),
                        message: format!("server.max-worker must be 1 or more, not {n}"),
                    })?,
            );
    }
    if let Some((n, _)) = cx.int("server.max-connections")? {
        server.max_connections = n.max(1) as usize;
    }
    if let Some((n, _)) = cx.int("server.max-keep-alive-idle")? {
        server.keep_alive_timeout = secs(n);
    }
    if let Some((n, _)) = cx.int("server.max-read-idle")? {
        server.read_timeout = secs(n);
        server.header_timeout = secs(n);
    }
    if let Some((n, _)) = cx.int("server.max-write-idle")? {
        server.write_timeout = secs(n);
    }
    if let Some((dirs, pos)) = cx.strings("server.upload-dirs")? {
        if dirs.len() > 1 {
            cx.warn(
                pos,
                "server.upload-dirs: relight uses the first directory only".into(),
            );
        }
        if let Some(d) = dirs.into_iter().next() {
            server.upload_dir = d.into();
        }
    }
    if let Some((v, pos)) = cx.get("server.systemd-socket-activation") {
        server.socket_activation = enabled(v).ok_or_else(|| ConfError {
            pos: pos.clone(),
            message: "server.systemd-socket-activation must be \"enable\" or \"disable\"".into(),
        })?;
    }
    if let Some((u, _)) = cx.string("server.username")? {
        server.user = Some(u);
    }
    if let Some((g, _)) = cx.string("server.groupname")? {
        server.group = Some(g);
    }
    server.chroot = chroot.clone();
    if let Some((p, _)) = cx.string("server.pid-file")? {
        server.pid_file = Some(p.into());
    }
    if let Some((tag, _)) = cx.string("server.tag")? {
        server.server_tag = tag;
    }
    if let Some(v) = top.range_requests {
        server.range_requests = v;
    }
    if let Some((engine, pos)) = cx.string("server.stat-cache-engine")? {
        server.file_cache = match engine.as_str() {
            "disable" | "none" => false,
            "simple" => true,
            "inotify" | "fam" => {
                cx.notes.push(format!(
                    "{pos}: server.stat-cache-engine = \"{engine}\": relight keeps files open for up to a second instead (as \"simple\")"
                ));
                true
            }
            _ => {
                return Err(ConfError {
                    pos: pos.clone(),
                    message: format!(
                        "server.stat-cache-engine must be \"simple\", \"disable\", \"inotify\" or \"fam\", not {engine:?}"
                    ),
                });
            }
        };
    }
    for (key, how) in KEYS_NOTED {
        if let Some((_, pos)) = cx.get(key) {
            cx.notes.push(format!("{pos}: {key}: accepted; {how}"));
        }
    }
    for (key, _, pos) in &g.settings {
        if key.starts_with("debug.") {
            cx.notes.push(format!(
                "{pos}: {key}: accepted; relight's log level is set with RELIGHT_LOG (error, warn, info, debug, trace)"
            ));
        }
    }
    if let Some((v, pos)) = cx.get("fastcgi.balance") {
        match v.as_str() {
            Some("least-connection") => cx.notes.push(format!(
                "{pos}: fastcgi.balance: each request goes to the least busy host of its extension"
            )),
            _ => cx.warn(
                pos,
                format!("fastcgi.balance {v:?}: relight balances by least-connection only"),
            ),
        }
    }
    if let Some((v, pos)) = cx.get("server.follow-symlink") {
        match enabled(v) {
            Some(true) => cx.notes.push(format!(
                "{pos}: server.follow-symlink: relight follows symlinks that stay inside the document root (or alias) and answers 403 for those that leave it"
            )),
            _ => cx.warn(
                pos,
                "server.follow-symlink \"disable\": relight still follows symlinks that stay inside the document root".into(),
            ),
        }
    }
    if let Some((n, _)) = cx.int("server.max-keep-alive-requests")? {
        // lighttpd counts the requests after the first (0 turns keep-alive off); checked
        // against lighttpd 1.4.69.
        server.max_keep_alive_requests = n.max(0) as usize + 1;
    }
    if let Some((n, pos)) = cx.int("server.max-request-field-size")? {
        // hyper needs at least 8 KiB to read a request head.
        server.max_header_size = Size(n.max(8192) as u64);
        if n < 8192 {
            cx.notes.push(format!(
                "{pos}: server.max-request-field-size {n}: relight's smallest is 8192"
            ));
        }
    }
    if let Some((n, _)) = cx.int("server.graceful-shutdown-timeout")? {
        server.shutdown_grace = secs(n);
    }
    if let Some((name, _)) = cx.string("server.name")? {
        server.server_name = Some(name);
    }
    if let Some((h, pos)) = cx.string("server.error-handler-404")? {
        if !h.starts_with('/') {
            return err(
                pos,
                format!("server.error-handler-404 {h:?}: expected a URL path starting with /"),
            );
        }
        server.error_handler_404 = Some(h);
    }
    if let Some((v, pos)) = cx.get("server.modules") {
        for m in string_list(v, "server.modules", pos)? {
            if MODULES.contains(&m.as_str()) {
                continue;
            }
            match MODULES_NOTED.iter().find(|(n, _)| *n == m) {
                Some((_, note)) => cx.warn(pos, format!("{m}: {note}")),
                None => cx.warn(pos, format!("{m}: module not supported by relight")),
            }
        }
    }
    for (key, _, pos) in &g.settings {
        if key.starts_with("var.") || key.starts_with("debug.") || cx.used.contains(&key.as_str()) {
            continue;
        }
        cx.warnings
            .push(format!("{pos}: {key}: {}", unsupported(key)));
    }
    let mut scopes = Vec::new();
    for b in &lc.blocks[1..] {
        // $SERVER["socket"] == "ip:port" { } adds a listener, as in lighttpd.
        if let [c] = b.conditions.as_slice()
            && c.field == "SERVER[\"socket\"]"
            && c.op == "=="
            && !c.negated
        {
            let pos = b.pos.as_ref().unwrap_or(&start);
            let spec = &c.pattern;
            let addr: Option<SocketAddr> = if let Some(p) = spec.strip_prefix(':') {
                p.parse::<u16>().ok().map(|p| SocketAddr::new(ip, p))
            } else {
                spec.parse().ok()
            };
            let Some(addr) = addr else {
                return err(
                    pos,
                    format!("$SERVER[\"socket\"] == {spec:?}: expected \":port\" or \"ip:port\""),
                );
            };
            if !server.listen.iter().any(|l| l.0 == addr) {
                server.listen.push(ListenAddr(addr));
            }
        }
        if b.settings.is_empty() {
            continue;
        }
        let pos = b.pos.as_ref().unwrap_or(&start);
        let described: Vec<String> = b.conditions.iter().map(ToString::to_string).collect();
        let described = described.join(" and ");
        let when = match b
            .conditions
            .iter()
            .map(condition)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(w) => w,
            Err(why) => {
                let keys: Vec<&str> = b.settings.iter().map(|(k, _, _)| k.as_str()).collect();
                if let Some(k) = keys.iter().find(|k| GUARD_KEYS.contains(k)) {
                    return err(
                        pos,
                        format!(
                            "conditional block ({described}): {why}; refusing to start rather than ignore its {k}"
                        ),
                    );
                }
                cx.warnings.push(format!(
                    "{pos}: conditional block ({described}): {why}; its settings are ignored: {}",
                    keys.join(", ")
                ));
                continue;
            }
        };
        let mut bx = Ctx {
            g: b,
            global: g,
            chroot: chroot.clone(),
            used: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
        };
        let mut sc = ScopeConfig {
            when,
            ..ScopeConfig::default()
        };
        map_scoped(&mut bx, &mut sc, &mut backends, true)?;
        for (k, _, p) in &b.settings {
            if !k.starts_with("var.") && !bx.used.contains(&k.as_str()) {
                bx.warnings.push(if super::keys::is_known(k) {
                    format!(
                        "{p}: {k} inside ({described}): not supported by relight in a conditional block; ignored"
                    )
                } else {
                    format!("{p}: {k} inside ({described}): {}", unsupported(k))
                });
            }
        }
        cx.warnings.append(&mut bx.warnings);
        cx.notes.append(&mut bx.notes);
        scopes.push(sc);
    }
    let config_dir = std::path::absolute(path.parent().unwrap_or(Path::new(".")))
        .unwrap_or_else(|_| PathBuf::from("."));
    let config = Config {
        server,
        fastcgi: backends.list,
        scope: scopes,
        answer: Vec::new(),
        config_dir: config_dir.clone(),
        config_path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    };
    for b in &config.fastcgi {
        b.check_target(&config_dir).map_err(|m| ConfError {
            pos: start.clone(),
            message: format!("fastcgi.server {:?}: {m}", b.name.get_ref()),
        })?;
    }
    Ok(Mapped {
        config,
        warnings: cx.warnings,
        notes: cx.notes,
    })
}

/// `"regex" => "replacement"` rules of `key`, compiled, in order.
fn regex_rules(
    cx: &mut Ctx<'_>,
    key: &'static str,
) -> Result<Vec<(crate::config::Pattern, String)>, ConfError> {
    let Some((pairs, pos)) = cx.string_pairs(key, "\"regex\" => \"replacement\"")? else {
        return Ok(Vec::new());
    };
    pairs
        .into_iter()
        .map(|(k, to)| {
            let pattern = crate::config::Pattern::try_from(k).map_err(|m| ConfError {
                pos: pos.clone(),
                message: format!("{key}: {m}"),
            })?;
            Ok((pattern, to))
        })
        .collect()
}

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

/// The backends of one `fastcgi.server` value, added to `all` (or merged into the entry of the
/// same target); returns their names in order. `scoped`: set in a conditional block.
fn map_fastcgi(
    v: &Value,
    pos: &Pos,
    cx: &mut Ctx<'_>,
    all: &mut Backends,
    scoped: bool,
) -> Result<Vec<String>, ConfError> {
    let Some(exts) = v.as_array() else {
        return err(
            pos,
            "fastcgi.server must be an array of \"ext\" => ( hosts )".into(),
        );
    };
    let mut names: Vec<String> = Vec::new();
    // Entries with the same bin-path and socket (or host:port) share one pool, as in lighttpd.
    let Backends {
        list: out,
        by_target,
    } = all;
    for (ext, hosts) in exts {
        let Some(ext) = ext else {
            return err(
                pos,
                "fastcgi.server: each entry must be \"/prefix\" or \".ext\" => ( hosts )".into(),
            );
        };
        let rule = MatchRule::try_from(if ext.is_empty() {
            "/".to_string()
        } else {
            ext.clone()
        })
        .map_err(|m| ConfError {
            pos: pos.clone(),
            message: format!("fastcgi.server: {m}"),
        })?;
        let Some(hosts) = hosts.as_array() else {
            return err(pos, format!("fastcgi.server {ext:?}: expected ( hosts )"));
        };
        // Several hosts for one extension: each its own backend with the same rule; a request
        // goes to the least busy (lighttpd's default fastcgi.balance, least-connection).
        for (_, host) in hosts {
            let Some(opts) = host.as_array() else {
                return err(
                    pos,
                    format!("fastcgi.server {ext:?}: a host must be ( \"key\" => value, ... )"),
                );
            };
            let get = |k: &str| {
                opts.iter()
                    .find(|(kk, _)| kk.as_deref() == Some(k))
                    .map(|(_, v)| v)
            };
            let get_str = |k: &str| -> Result<Option<String>, ConfError> {
                match get(k) {
                    None => Ok(None),
                    Some(Value::Str(s)) => Ok(Some(s.clone())),
                    Some(Value::Int(n)) => Ok(Some(n.to_string())),
                    Some(v) => err(
                        pos,
                        format!(
                            "fastcgi.server {ext:?}: {k} must be a string, not {}",
                            v.kind()
                        ),
                    ),
                }
            };
            let get_int = |k: &str| -> Result<Option<i64>, ConfError> {
                match get(k) {
                    None => Ok(None),
                    Some(Value::Int(n)) => Ok(Some(*n)),
                    Some(Value::Str(s)) => s.parse().map(Some).map_err(|_| ConfError {
                        pos: pos.clone(),
                        message: format!("fastcgi.server {ext:?}: {k} must be a number, not {s:?}"),
                    }),
                    Some(v) => err(
                        pos,
                        format!(
                            "fastcgi.server {ext:?}: {k} must be a number, not {}",
                            v.kind()
                        ),
                    ),
                }
            };
            for (k, _) in opts {
                let k = k.as_deref().unwrap_or("");
                if let Some((_, how)) = HOST_KEYS_NOTED.iter().find(|(n, _)| *n == k) {
                    cx.notes.push(format!(
                        "{pos}: fastcgi.server {ext:?}: {k}: accepted; {how}"
                    ));
                } else if !HOST_KEYS.contains(&k) {
                    cx.warn(
                        pos,
                        format!("fastcgi.server {ext:?}: unknown host option {k:?}; ignored"),
                    );
                }
            }
            let role = match get_str("mode")?.as_deref() {
                None | Some("responder") => crate::config::BackendRole::Responder,
                Some("authorizer") => crate::config::BackendRole::Authorizer,
                Some(m) => {
                    return err(
                        pos,
                        format!(
                            "fastcgi.server {ext:?}: mode {m:?}: expected responder or authorizer"
                        ),
                    );
                }
            };
            let bin = get_str("bin-path")?;
            let socket = get_str("socket")?;
            let host_s = get_str("host")?;
            let port = get_int("port")?;
            let target = format!("{bin:?}|{socket:?}|{host_s:?}|{port:?}");
            if let Some(&i) = by_target.get(&target) {
                let b = &mut out[i];
                if !b.matches.contains(&rule) {
                    b.matches.push(rule.clone());
                }
                if !scoped && !b.global {
                    b.global = true;
                }
                let name = b.name.get_ref().clone();
                if !names.contains(&name) {
                    names.push(name);
                }
                continue;
            }
            let name = format!("fastcgi{}", out.len());
            let mut b: FastcgiConfig = toml::from_str(&format!(
                "name = \"{name}\"\nmatch = [\"/\"]\naddress = \"unix:/\""
            ))
            .expect("defaults parse");
            b.matches = vec![rule.clone()];
            b.address = None;
            b.role = role;
            match (&bin, &socket, &host_s, port) {
                (Some(bin), _, _, _) => {
                    b.command = Some(bin.split_whitespace().map(str::to_string).collect());
                    match (&socket, port) {
                        (Some(s), _) => b.socket = Some(s.into()),
                        (None, Some(p)) => {
                            b.port = Some(u16::try_from(p).map_err(|_| ConfError {
                                pos: pos.clone(),
                                message: format!("fastcgi.server {ext:?}: port {p} is not a port"),
                            })?);
                            if let Some(h) = &host_s {
                                b.host = Some(h.parse().map_err(|_| ConfError {
                                    pos: pos.clone(),
                                    message: format!(
                                        "fastcgi.server {ext:?}: host {h:?} is not an IP address"
                                    ),
                                })?);
                            }
                        }
                        (None, None) => {
                            return err(
                                pos,
                                format!("fastcgi.server {ext:?}: bin-path needs socket or port"),
                            );
                        }
                    }
                }
                (None, Some(s), _, _) => b.address = Some(BackendAddr::Unix(s.into())),
                (None, None, Some(h), Some(p)) => {
                    b.address = Some(BackendAddr::Tcp(format!("{h}:{p}")))
                }
                (None, None, None, Some(p)) => {
                    b.address = Some(BackendAddr::Tcp(format!("127.0.0.1:{p}")))
                }
                _ => {
                    return err(
                        pos,
                        format!("fastcgi.server {ext:?}: needs socket, host/port or bin-path"),
                    );
                }
            }
            if b.command.is_some() {
                let max = get_int("max-procs")?.unwrap_or(4).max(1) as usize;
                match get_int("min-procs")? {
                    Some(min) if (min as usize) < max => {
                        b.min_procs = Some(min.max(0) as usize);
                        b.max_procs = Some(max);
                    }
                    _ => b.procs = Some(max),
                }
                if let Some(t) = get_int("idle-timeout")? {
                    b.idle_timeout = secs(t);
                }
                if let Some(n) = get_int("listen-backlog")? {
                    b.backlog = n as i32;
                }
                if let Some(Value::Array(env)) = get("bin-environment") {
                    for (k, v) in env {
                        if let (Some(k), Some(v)) = (k, v.as_str()) {
                            b.env.insert(k.clone(), v.to_string());
                        }
                    }
                }
                if let Some(v) = get("bin-copy-environment") {
                    b.copy_env = string_list(v, "bin-copy-environment", pos)?;
                }
                if let Some(v) = get("kill-signal") {
                    b.kill_signal = KillSignal::try_from(match v {
                        Value::Int(n) => toml::Value::Integer(*n),
                        Value::Str(s) => toml::Value::String(s.clone()),
                        Value::Array(_) => toml::Value::Boolean(false),
                    })
                    .map_err(|m| ConfError {
                        pos: pos.clone(),
                        message: format!("fastcgi.server {ext:?}: kill-signal: {m}"),
                    })?;
                }
            }
            if let Some(t) = get_int("connect-timeout")? {
                b.connect_timeout = secs(t);
            }
            if let Some(t) = get_int("read-timeout")?
                && t > 0
            {
                b.read_timeout = secs(t);
            }
            if let Some(t) = get_int("write-timeout")?
                && t > 0
            {
                b.write_timeout = secs(t);
            }
            if let Some(v) = get("check-local") {
                b.check_local = enabled(v);
            }
            if let Some(v) = get("x-sendfile") {
                b.x_sendfile = enabled(v).unwrap_or(false);
            }
            if let Some(d) = get_str("docroot")? {
                b.document_root = Some(d.into());
            }
            for (key, flag) in [
                ("broken-scriptfilename", &mut b.broken_script_filename),
                ("fix-root-scriptname", &mut b.fix_root_script_name),
            ] {
                if let Some(v) = get(key) {
                    *flag = enabled(v).ok_or_else(|| ConfError {
                        pos: pos.clone(),
                        message: format!(
                            "fastcgi.server {ext:?}: {key} must be \"enable\" or \"disable\""
                        ),
                    })?;
                }
            }
            b.strip_request_uri = get_str("strip-request-uri")?;
            if let Some(v) = get("x-sendfile-docroot") {
                b.x_sendfile_docroot = string_list(v, "x-sendfile-docroot", pos)?
                    .into_iter()
                    .map(PathBuf::from)
                    .collect();
            }
            b.global = !scoped;
            b.name = Spanned::new(0..0, name.clone());
            by_target.insert(target, out.len());
            out.push(b);
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Result<Mapped, ConfError> {
        let lc = super::super::parse_str(text, "t.conf", Path::new("/")).unwrap();
        to_config(&lc, Path::new("/t.conf"))
    }

    #[test]
    fn workers_and_stat_cache() {
        let base = "server.document-root = \"/tmp\"\n";
        let m = map(base).unwrap();
        assert_eq!(m.config.server.threads, None);
        assert!(m.config.server.file_cache);
        let m = map(&format!(
            "{base}server.max-worker = 4\nserver.stat-cache-engine = \"disable\"\n"
        ))
        .unwrap();
        assert_eq!(m.config.server.threads, Some(4));
        assert!(!m.config.server.file_cache);
        let m = map(&format!("{base}server.stat-cache-engine = \"inotify\"\n")).unwrap();
        assert!(m.config.server.file_cache);
        assert!(
            m.notes.iter().any(|n| n.contains("as \"simple\"")),
            "{:?}",
            m.notes
        );
        for bad in [
            "server.max-worker = 0",
            "server.stat-cache-engine = \"fast\"",
        ] {
            let e = map(&format!("{base}{bad}\n")).unwrap_err();
            assert!(
                e.message.contains(bad.split(' ').next().unwrap()),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn string_pair_keys_map_and_refuse_other_shapes() {
        let base = "server.document-root = \"/tmp\"\n";
        let m = map(&format!(
            "{base}mimetype.assign = ( \".x\" => \"text/x\" )\nsetenv.add-environment = ( \"A\" => \"1\" )\n\
             url.rewrite-once = ( \"^/a$\" => \"/b\" )\nalias.url = ( \"/d/\" => \"/tmp/\" )\n"
        ))
        .unwrap();
        let s = &m.config.server;
        assert_eq!(s.mime_types.get(".x").map(String::as_str), Some("text/x"));
        assert_eq!(s.fastcgi_params.get("A").map(String::as_str), Some("1"));
        assert_eq!(s.rewrite.len(), 1);
        assert_eq!(s.aliases.get("/d/"), Some(&PathBuf::from("/tmp/")));
        // url.redirect-code as a number or a string of one, set globally for a block's rules.
        let m = map(&format!(
            "{base}url.redirect-code = \"302\"\n$HTTP[\"url\"] =^ \"/o\" {{ url.redirect = ( \"^/o(.*)\" => \"/n$1\" ) }}\n"
        ))
        .unwrap();
        assert_eq!(m.config.scope[0].redirect.as_ref().unwrap()[0].code, 302);
        for (bad, msg) in [
            (
                "mimetype.assign = \"x\"",
                "mimetype.assign must be an array of \"suffix\" => \"type\"",
            ),
            (
                "setenv.add-environment = ( \"A\" )",
                "setenv.add-environment must be an array of \"name\" => \"value\"",
            ),
            (
                "url.redirect = ( \"^/a\" => 1 )",
                "url.redirect must be an array of \"regex\" => \"replacement\"",
            ),
            (
                "alias.url = ( 1 )",
                "alias.url must be an array of \"/url/\" => \"/dir/\"",
            ),
            (
                "url.rewrite-once = ( \"(\" => \"/b\" )",
                "url.rewrite-once: invalid regular expression",
            ),
        ] {
            let e = map(&format!("{base}{bad}\n")).unwrap_err();
            assert!(e.message.starts_with(msg), "{bad}: {e}");
            assert_eq!(e.pos.line, 2, "{bad}: {e}");
        }
    }
}
