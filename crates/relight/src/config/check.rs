//! The checks both configuration languages share, run on the model once a file is read: what
//! start-up would refuse, refused here, so that `relight -t` catches it, at the position of the
//! value that is wrong. Values that check themselves while read are in [`super::values`]; this
//! is what needs the whole file (names that must be unique or exist), the file system (the
//! document root) or the system (users, groups, root).

use std::path::{Path, PathBuf};

use nix::unistd::{Group, Uid, User};

use super::{Condition, Config, Error, FastcgiConfig};

/// Checks a whole configuration.
pub fn check(config: &Config) -> Result<(), Error> {
    server(config)?;
    document_root(config)?;
    for (i, b) in config.fastcgi.iter().enumerate() {
        backend(config, i, b)?;
    }
    answers(config)?;
    cgi_rules(config)?;
    proxy_rules(config)?;
    scopes(config)?;
    auth_rules(config)?;
    backends_used(config)
}

/// Auth rules: Digest needs what can make HA1 (a plain or htdigest file), and an algorithm.
fn auth_rules(config: &Config) -> Result<(), Error> {
    let rules = config
        .settings
        .auth
        .iter()
        .chain(config.scope.iter().flat_map(|s| &s.settings.auth))
        .flatten();
    let sec = std::iter::once(&config.settings)
        .chain(config.scope.iter().map(|s| &s.settings))
        .filter_map(|s| s.secdownload.as_ref());
    for s in sec {
        if s.secret.is_empty() {
            return Err(Error::new(
                config.pos(&super::Loc::Span(0..0)),
                "secdownload secret is empty: anyone could sign links",
            ));
        }
        if !super::SecdownloadConfig::ALGORITHMS.contains(&s.algorithm.as_str()) {
            return Err(Error::new(
                config.pos(&super::Loc::Span(0..0)),
                format!(
                    "secdownload algorithm {:?}: expected \"md5\", \"hmac-sha1\" or \"hmac-sha256\"",
                    s.algorithm
                ),
            ));
        }
    }
    for r in rules {
        let p = &r.prefix;
        if r.method == super::AuthMethod::Digest {
            if r.format == super::UserFileFormat::Htpasswd {
                return Err(Error::new(
                    config.pos(&super::Loc::Span(0..0)),
                    format!(
                        "auth {p:?}: method = \"digest\" needs format = \"htdigest\" or \"plain\" (an htpasswd hash cannot answer a Digest challenge)"
                    ),
                ));
            }
            if r.algorithm.is_empty() {
                return Err(Error::new(
                    config.pos(&super::Loc::Span(0..0)),
                    format!("auth {p:?}: algorithm is empty"),
                ));
            }
        }
    }
    Ok(())
}

/// `[[proxy]]` rules: unique names, something to match, at least one upstream; and every
/// scope names rules that exist.
fn proxy_rules(config: &Config) -> Result<(), Error> {
    for (i, p) in config.proxy.iter().enumerate() {
        let name = &p.name.value;
        if config.proxy[..i].iter().any(|q| q.name.value == *name) {
            return Err(config.error(&p.name.loc, format!("duplicate proxy name {name:?}")));
        }
        if p.matches.is_empty() {
            return Err(config.error(&p.name.loc, format!("proxy {name:?}: match is empty")));
        }
        if p.upstreams.is_empty() {
            return Err(config.error(&p.name.loc, format!("proxy {name:?}: upstreams is empty")));
        }
    }
    for (n, sc) in config.scope.iter().enumerate() {
        for name in sc.proxy.iter().flatten() {
            if !config.proxy.iter().any(|p| p.name.value == name.value) {
                return Err(config.error(
                    &name.loc,
                    format!("scope {}: no [[proxy]] named {:?}", n + 1, name.value),
                ));
            }
        }
    }
    Ok(())
}

/// `[[cgi]]` rules: unique names, something to match, an interpreter that exists, a place for
/// at least one script; and every scope names rules that exist.
fn cgi_rules(config: &Config) -> Result<(), Error> {
    let origin = || config.pos(&super::Loc::Span(0..0));
    let at = |c: &super::CgiConfig| c.name.as_ref().map_or_else(origin, |n| config.pos(&n.loc));
    for (i, c) in config.cgi.iter().enumerate() {
        let name = c.name_or(i);
        if config.cgi[..i]
            .iter()
            .enumerate()
            .any(|(j, p)| p.name_or(j) == name)
        {
            return Err(Error::new(at(c), format!("duplicate cgi name {name:?}")));
        }
        if c.matches.is_empty() {
            return Err(Error::new(at(c), format!("cgi {name:?}: match is empty")));
        }
        if c.max_procs == 0 {
            return Err(Error::new(
                at(c),
                format!("cgi {name:?}: max_procs must be at least 1"),
            ));
        }
        if let Some(i) = &c.interpreter
            && !i.is_file()
        {
            return Err(Error::new(
                at(c),
                format!("cgi {name:?}: interpreter {} is not a file", i.display()),
            ));
        }
    }
    for (n, sc) in config.scope.iter().enumerate() {
        for name in sc.cgi.iter().flatten() {
            if !config
                .cgi
                .iter()
                .enumerate()
                .any(|(i, c)| c.name_or(i) == name.value)
            {
                return Err(config.error(
                    &name.loc,
                    format!("scope {}: no [[cgi]] named {:?}", n + 1, name.value),
                ));
            }
        }
    }
    Ok(())
}

fn server(config: &Config) -> Result<(), Error> {
    let s = &config.server;
    // What is missing has no position of its own: the start of the file.
    let origin = config.pos(&super::Loc::Span(0..0));
    if s.listen.is_empty() && config.tls.is_empty() {
        return Err(Error::new(
            origin,
            "server.listen: at least one address is needed",
        ));
    }
    let redirects = std::iter::once(&config.settings)
        .chain(config.scope.iter().map(|s| &s.settings))
        .any(|s| s.https_redirect == Some(true));
    if redirects && config.tls.is_empty() {
        return Err(Error::new(
            origin.clone(),
            "https_redirect: there is no [[tls]] listener to redirect to",
        ));
    }
    if let Some(t) = config.tls.first()
        && !cfg!(feature = "tls")
    {
        return Err(config.error(
            &t.listen.loc,
            "tls: this relight was built without TLS (the `tls` feature)",
        ));
    }
    if s.max_header_size.0 < 8192 {
        return Err(Error::new(
            origin,
            "server.max_header_size: must be at least 8192",
        ));
    }
    // As privileges::confine does them at start-up, after the listeners are bound.
    let root = Uid::effective().is_root();
    if let Some(c) = &s.chroot
        && !root
    {
        return Err(config.error(
            &c.loc,
            format!(
                "chroot {}: relight must start as root to change its root directory",
                c.value.display()
            ),
        ));
    }
    if root {
        if let Some(u) = &s.user
            && !user_exists(&u.value)
        {
            return Err(config.error(&u.loc, format!("unknown user {:?}", u.value)));
        }
        if let Some(g) = &s.group
            && !group_exists(&g.value)
        {
            return Err(config.error(&g.loc, format!("unknown group {:?}", g.value)));
        }
    }
    Ok(())
}

fn user_exists(name: &str) -> bool {
    User::from_name(name).ok().flatten().is_some()
}

fn group_exists(name: &str) -> bool {
    Group::from_name(name).ok().flatten().is_some()
}

/// Where `p` is seen before the chroot.
fn seen(config: &Config, p: &Path) -> PathBuf {
    match config.server.chroot_dir() {
        Some(c) => c.join(p.strip_prefix("/").unwrap_or(p)),
        None => p.to_path_buf(),
    }
}

fn document_root(config: &Config) -> Result<(), Error> {
    let Some(root) = &config.settings.document_root else {
        return Err(Error::new(
            config.pos(&super::Loc::Span(0..0)),
            "document_root is not set",
        ));
    };
    // Under chroot the root is a path inside it, and is checked there.
    match std::fs::metadata(seen(config, &root.value)) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(config.error(
            &root.loc,
            format!("document_root {}: not a directory", root.value.display()),
        )),
        Err(e) => Err(config.error(
            &root.loc,
            format!("document_root {}: {e}", root.value.display()),
        )),
    }
}

fn backend(config: &Config, i: usize, b: &FastcgiConfig) -> Result<(), Error> {
    let name = &b.name.value;
    if let Some(prev) = config.fastcgi[..i].iter().find(|p| p.name.value == *name) {
        let line = config.pos(&prev.name.loc).line;
        return Err(config.error(
            &b.name.loc,
            format!("duplicate fastcgi name {name:?} (first defined on line {line})"),
        ));
    }
    match &b.pool {
        Some(pool) => shared_pool(config, b, pool),
        None => target(b),
    }
    .map_err(|m| config.error(&b.name.loc, format!("fastcgi {name:?}: {m}")))?;
    if b.matches.is_empty() {
        return Err(config.error(&b.name.loc, format!("fastcgi {name:?}: match is empty")));
    }
    if b.protocol != super::Protocol::Fastcgi {
        let p = b.protocol.as_str();
        if b.role == super::BackendRole::Authorizer {
            return Err(config.error(
                &b.name.loc,
                format!(
                    "{p} {name:?}: role = \"authorizer\" is FastCGI's; {p} has responders only"
                ),
            ));
        }
        if b.health_check.is_some() {
            return Err(config.error(
                &b.name.loc,
                format!("{p} {name:?}: health_check asks FastCGI's FCGI_GET_VALUES; {p} has no such request"),
            ));
        }
    }
    Ok(())
}

/// Whether an entry with `pool` names a spawned backend of its protocol and sets nothing of
/// its own about processes.
fn shared_pool(config: &Config, b: &FastcgiConfig, pool: &str) -> Result<(), String> {
    if b.address.is_some() || b.command.is_some() {
        return Err(
            "set pool (another backend's processes), or address or command, not both".into(),
        );
    }
    if let Some((k, _)) = spawned_keys(b).iter().find(|(_, set)| *set) {
        return Err(format!(
            "{k} belongs to the backend whose processes pool {pool:?} names, not to this entry"
        ));
    }
    match config.fastcgi.iter().find(|o| o.name.value == pool) {
        None => Err(format!("pool {pool:?}: no backend of that name")),
        Some(o) if o.command.is_none() || o.pool.is_some() => Err(format!(
            "pool {pool:?}: not a spawned backend with its own command"
        )),
        Some(o) if o.protocol != b.protocol => Err(format!(
            "pool {pool:?} speaks {}, this entry {}",
            o.protocol.as_str(),
            b.protocol.as_str()
        )),
        Some(_) => Ok(()),
    }
}

/// The keys only a spawned backend sets, and whether `b` sets each.
fn spawned_keys(b: &FastcgiConfig) -> [(&'static str, bool); 17] {
    [
        ("socket", b.socket.is_some()),
        ("port", b.port.is_some()),
        ("host", b.host.is_some()),
        ("procs", b.procs.is_some()),
        ("min_procs", b.min_procs.is_some()),
        ("max_procs", b.max_procs.is_some()),
        ("cwd", b.cwd.is_some()),
        ("user", b.user.is_some()),
        ("group", b.group.is_some()),
        ("max_requests", b.max_requests.is_some()),
        ("max_rss", b.max_rss.is_some()),
        ("health_check", b.health_check.is_some()),
        ("memory_max", b.memory_max.is_some()),
        ("pids_max", b.pids_max.is_some()),
        ("request_timeout", b.request_timeout.is_some()),
        ("env", !b.env.is_empty()),
        ("copy_env", !b.copy_env.is_empty()),
    ]
}

/// Whether the keys describe one backend: external (`address`) or spawned (`command` with
/// `socket` or `port`), with a consistent process count, and users that exist.
fn target(b: &FastcgiConfig) -> Result<(), String> {
    let spawned_keys = spawned_keys(b);
    match (&b.address, &b.command) {
        (Some(_), Some(_)) => {
            return Err(
                "set either address (an external backend) or command (a spawned one), not both"
                    .into(),
            );
        }
        (None, None) => {
            return Err("needs address (an external backend), command (a spawned one) or pool (another backend's processes)".into());
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
    if b.socket.is_some() == b.port.is_some() {
        return Err("a spawned backend needs exactly one of socket or port".into());
    }
    if b.procs.is_some() && (b.min_procs.is_some() || b.max_procs.is_some()) {
        return Err("set procs, or min_procs/max_procs, not both".into());
    }
    let (min, max) = b.proc_range();
    if max == 0 || min > max {
        return Err(format!(
            "process counts make no sense (min {min}, max {max})"
        ));
    }
    if let Some(port) = b.port
        && usize::from(port) + max > 65536
    {
        return Err(format!("port {port} + {max} slots runs past 65535"));
    }
    if let Some(u) = &b.user
        && !user_exists(u)
    {
        return Err(format!("unknown user {u:?}"));
    }
    if let Some(g) = &b.group
        && !group_exists(g)
    {
        return Err(format!("unknown group {g:?}"));
    }
    // The supervisor can only change a process's user as root.
    if (b.user.is_some() || b.group.is_some()) && !Uid::effective().is_root() {
        return Err("user or group is set but relight is not running as root".into());
    }
    Ok(())
}

fn answers(config: &Config) -> Result<(), Error> {
    for a in &config.answer {
        let path = &a.path.value;
        if crate::http::urlpath::normalize(path).as_deref() != Ok(path) {
            return Err(config.error(
                &a.path.loc,
                format!("answer path {path:?}: must be a normalized absolute path (\"/healthz\")"),
            ));
        }
        if let Some(status) = &a.status
            && !(200..=599).contains(&status.value)
        {
            return Err(config.error(
                &status.loc,
                format!("answer {path:?}: status must be 200 to 599"),
            ));
        }
        if http::HeaderValue::from_str(&a.content_type).is_err() {
            return Err(config.error(
                &a.path.loc,
                format!(
                    "answer {path:?}: content_type {:?} is not a valid header value",
                    a.content_type
                ),
            ));
        }
    }
    Ok(())
}

fn scopes(config: &Config) -> Result<(), Error> {
    for (i, sc) in config.scope.iter().enumerate() {
        let n = i + 1;
        for c in &sc.when {
            Condition::compile(c)
                .map_err(|e| config.error(&c.value.loc, format!("scope {n}: {e}")))?;
        }
        for name in sc.fastcgi.iter().flatten() {
            if !config.fastcgi.iter().any(|b| b.name.value == name.value) {
                return Err(config.error(
                    &name.loc,
                    format!("scope {n}: no [[fastcgi]] named {:?}", name.value),
                ));
            }
        }
    }
    Ok(())
}

/// A backend that serves no request outside scopes must serve some scope's.
fn backends_used(config: &Config) -> Result<(), Error> {
    for b in &config.fastcgi {
        if !b.global
            && !config
                .scope
                .iter()
                .any(|sc| sc.fastcgi.iter().flatten().any(|n| n.value == b.name.value))
        {
            return Err(config.error(
                &b.name.loc,
                format!(
                    "fastcgi {:?}: global = false, but no [[scope]] names it in fastcgi",
                    b.name.value
                ),
            ));
        }
    }
    Ok(())
}
