//! The keys that only the global scope sets: listeners, logs, limits and timeouts, identity,
//! the stat cache, the 404 handler, and server.modules; and the keys and modules accepted
//! because relight does their job another way (a note each, never an error).

use std::net::{IpAddr, SocketAddr};

use super::{Ctx, enabled, err, secs, string_list};
use crate::config::lighttpd::{Error, keys};
use crate::config::{At, ListenAddr, Loc, ServerConfig, Size};

/// Modules relight implements (fully or for the keys it maps).
const MODULES: &[&str] = &[
    "mod_deflate",
    "mod_compress",
    "mod_expire",
    "mod_extforward",
    "mod_dirlisting",
    "mod_status",
    "mod_simple_vhost",
    "mod_evhost",
    "mod_userdir",
    "mod_rewrite",
    "mod_redirect",
    "mod_alias",
    "mod_setenv",
    "mod_indexfile",
    "mod_access",
    "mod_accesslog",
    "mod_staticfile",
    "mod_fastcgi",
    "mod_cgi",
    "mod_scgi",
    "mod_proxy",
    "mod_auth",
    "mod_authn_file",
    "mod_openssl",
];

/// Modules that are accepted because relight does their job another way.
const MODULES_NOTED: &[(&str, &str)] = &[];

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
    (
        "proxy.debug",
        "relight logs every upstream failure; more with RELIGHT_LOG=debug",
    ),
    (
        "scgi.debug",
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
    (
        "server.feature-flags",
        "relight reads its \"server.h2proto\" and \"auth.delay-invalid-creds\" only",
    ),
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
        "auth.backend.plain.groupfile",
        "lighttpd 1.4.69 never reads it either: require \"group=...\" never matches with the file backends, in both",
    ),
    (
        "deflate.output-buffer-size",
        "an inactive directive in lighttpd 1.4.69 too; relight sends what the encoder gives",
    ),
    (
        "deflate.work-block-size",
        "an inactive directive in lighttpd 1.4.69 too; relight compresses a chunk at a time",
    ),
    (
        "server.metrics-high-precision",
        "relight's metrics are at /metrics",
    ),
];

/// Maps the global scope's server keys over `server`'s defaults; returns the address
/// `$SERVER["socket"] == ":port"` blocks listen on (server.bind's, else every IPv4 address).
pub(super) fn map_server(cx: &mut Ctx<'_>, server: &mut ServerConfig) -> Result<IpAddr, Error> {
    let port = match cx.int("server.port")? {
        Some((p, pos)) => u16::try_from(p)
            .map_err(|_| Error::new(pos.clone(), format!("server.port {p} is not a port")))?,
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
    // Syslog wins over the file, as in lighttpd.
    if cx.inherited_flag("server.errorlog-use-syslog")? == Some(true) {
        // "syslog": log::syslog::SYSLOG (config cannot name the log module).
        server.error_log = Some("syslog".into());
    }
    if cx.inherited_flag("accesslog.use-syslog")? == Some(true) {
        server.access_log = Some("syslog".into());
    }
    if let Some((facility, pos)) = cx.string("server.syslog-facility")?
        && facility != "daemon"
    {
        cx.warn(
            pos,
            format!("server.syslog-facility {facility:?}: relight logs to the daemon facility"),
        );
    }
    if let Some((level, pos)) = cx.int("accesslog.syslog-level")?
        && level != 6
    {
        cx.warn(
            pos,
            format!("accesslog.syslog-level {level}: relight sends access lines at info (6)"),
        );
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
        server.threads = Some(usize::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
            Error::new(
                pos.clone(),
                format!("server.max-worker must be 1 or more, not {n}"),
            )
        })?);
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
        server.socket_activation = enabled(v).ok_or_else(|| {
            Error::new(
                pos.clone(),
                "server.systemd-socket-activation must be \"enable\" or \"disable\"",
            )
        })?;
    }
    if let Some((u, pos)) = cx.string("server.username")? {
        server.user = Some(At::new(u, Loc::Pos(pos.clone())));
    }
    if let Some((g, pos)) = cx.string("server.groupname")? {
        server.group = Some(At::new(g, Loc::Pos(pos.clone())));
    }
    if let Some((p, _)) = cx.string("server.pid-file")? {
        server.pid_file = Some(p.into());
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
                return Err(Error::new(
                    pos.clone(),
                    format!(
                        "server.stat-cache-engine must be \"simple\", \"disable\", \"inotify\" or \"fam\", not {engine:?}"
                    ),
                ));
            }
        };
    }
    for (key, how) in KEYS_NOTED {
        if keys::is_global_only(key)
            && let Some((_, pos)) = cx.get(key)
        {
            cx.notes.push(format!("{pos}: {key}: accepted; {how}"));
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
    if let Some((v, pos)) = cx.get("server.h2c") {
        server.h2c = super::enabled(v).ok_or_else(|| {
            Error::new(pos.clone(), "server.h2c must be \"enable\" or \"disable\"")
        })?;
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
    Ok(ip)
}

/// The keys of any block (the global scope too) that relight accepts with a note, or maps to
/// nothing but a note or a warning: debug switches, balance, follow-symlink, and the
/// per-condition ones of [`KEYS_NOTED`].
pub(super) fn note_keys(cx: &mut Ctx<'_>) {
    for (key, how) in KEYS_NOTED {
        if !keys::is_global_only(key)
            && let Some((_, pos)) = cx.get(key)
        {
            cx.notes.push(format!("{pos}: {key}: accepted; {how}"));
        }
    }
    for (key, _, pos) in &cx.g.settings {
        if key.starts_with("debug.") {
            cx.notes.push(format!(
                "{pos}: {key}: accepted; relight's log level is set with RELIGHT_LOG (error, warn, info, debug, trace)"
            ));
        }
    }
    if let Some((_, pos)) = cx.get("auth.delay-invalid-creds") {
        cx.warn(
            pos,
            "auth.delay-invalid-creds: lighttpd reads it only inside server.feature-flags, and so does relight; ignored here".into(),
        );
    }
    for key in ["fastcgi.balance", "scgi.balance"] {
        if let Some((v, pos)) = cx.get(key) {
            match v.as_str() {
                Some("least-connection" | "fair") => cx.notes.push(format!(
                    "{pos}: {key}: each request goes to the least busy host of its extension"
                )),
                _ => cx.warn(
                    pos,
                    format!("{key} {v:?}: relight balances by least-connection only"),
                ),
            }
        }
    }
}
