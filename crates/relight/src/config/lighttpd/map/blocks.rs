//! lighttpd's conditional blocks: each becomes a [`ScopeConfig`] with the conditions that lead
//! to it (outer ones first, an `else` branch's as negations) and the settings it sets;
//! `$SERVER["socket"] == ":port"` also adds a listener, as in lighttpd. A block relight cannot
//! evaluate is ignored with a warning that lists its keys, or refused when ignoring it would
//! open what it closes.

use std::net::{IpAddr, SocketAddr};

use super::fastcgi::Backends;
use super::settings::map_settings;
use super::{Ctx, err, unsupported};
use crate::config::lighttpd::{Condition, Error, LighttpdConfig, Pos, keys};
use crate::config::{At, ConditionConfig, ListenAddr, Loc, ScopeConfig, ServerConfig};

/// Keys lighttpd 1.4 allows in a conditional block that relight applies to the whole server
/// only, and why (docs/lighttpd-keys.md says the same).
pub(super) const SERVER_WIDE: &[(&str, &str)] = &[
    (
        "server.errorlog",
        "one error log, where every backend's death and stderr line goes",
    ),
    ("accesslog.filename", "one access log"),
    ("accesslog.use-syslog", "one access log"),
    ("accesslog.syslog-level", "one access log"),
    (
        "accesslog.format",
        "one access log, in the Combined Log Format",
    ),
    (
        "server.max-keep-alive-idle",
        "connection timeouts are the connection's, set before its first request is read",
    ),
    (
        "server.max-keep-alive-requests",
        "connection limits are the connection's, set before its first request is read",
    ),
    (
        "server.max-read-idle",
        "connection timeouts are the connection's, set before its first request is read",
    ),
    (
        "server.max-write-idle",
        "connection timeouts are the connection's, set before its first request is read",
    ),
];

/// Keys whose settings are lost if a block is ignored in a way that opens what they close.
const GUARD_KEYS: &[&str] = &["url.access-deny", "auth.require"];

/// The native condition of a lighttpd one, or why there is none.
fn condition(c: &Condition, pos: &Pos) -> Result<ConditionConfig, String> {
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
        value: At::new(c.pattern.clone(), Loc::Pos(pos.clone())),
        negate: c.negated,
    };
    crate::config::Condition::compile(&cc).map_err(|e| e.to_string())?;
    Ok(cc)
}

/// The scopes of `lc`'s conditional blocks (the global scope's `cx` gathers their warnings and
/// notes); listeners of `$SERVER["socket"]` blocks are added to `server`, `ip` being the address
/// of a ":port" one.
pub(super) fn map_blocks(
    lc: &LighttpdConfig,
    cx: &mut Ctx<'_>,
    backends: &mut Backends,
    server: &mut ServerConfig,
    ip: IpAddr,
    start: &Pos,
) -> Result<Vec<ScopeConfig>, Error> {
    let mut scopes = Vec::new();
    for b in &lc.blocks[1..] {
        // $SERVER["socket"] == "ip:port" { } adds a listener, as in lighttpd.
        if let [c] = b.conditions.as_slice()
            && c.field == "SERVER[\"socket\"]"
            && c.op == "=="
            && !c.negated
        {
            let pos = b.pos.as_ref().unwrap_or(start);
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
        let pos = b.pos.as_ref().unwrap_or(start);
        let described: Vec<String> = b.conditions.iter().map(ToString::to_string).collect();
        let described = described.join(" and ");
        let when = match b
            .conditions
            .iter()
            .map(|c| condition(c, pos))
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
        let mut bx = cx.block(b);
        let mapped = map_settings(&mut bx, backends, true)?;
        let sc = ScopeConfig {
            when,
            fastcgi: mapped.fastcgi,
            cgi: mapped.cgi,
            proxy: mapped.proxy,
            settings: mapped.settings,
        };
        for (k, _, p) in &b.settings {
            // ssl.* keys are tls.rs's (map_tls said what it had to about each); debug.* ones
            // are noted by note_keys.
            if k.starts_with("var.")
                || k.starts_with("ssl.")
                || k.starts_with("debug.")
                || bx.used.contains(&k.as_str())
            {
                continue;
            }
            let why = if keys::is_global_only(k) {
                "applies to the whole server only (lighttpd 1.4 too: \"do not set server options in conditionals\"); set it globally; ignored here".to_string()
            } else if let Some((_, why)) = SERVER_WIDE.iter().find(|(key, _)| key == k) {
                format!(
                    "relight applies it to the whole server only ({why}); set it globally; ignored here"
                )
            } else if keys::is_known(k) {
                "not supported by relight in a conditional block; ignored".to_string()
            } else {
                unsupported(k).to_string()
            };
            bx.warnings
                .push(format!("{p}: {k} inside ({described}): {why}"));
        }
        cx.warnings.append(&mut bx.warnings);
        cx.notes.append(&mut bx.notes);
        scopes.push(sc);
    }
    Ok(scopes)
}
