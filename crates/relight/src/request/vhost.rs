//! Step 3c, where the files of a request are (lighttpd's mod_simple_vhost, mod_evhost and
//! mod_userdir): the document root by the request's host (its name in lower case, without
//! port or trailing dot) when that directory exists, and `/~user/...` from the user's
//! directory. Each makes a variant of the request's settings ([`Scopes::derived`]), so
//! everything after (index files, rewrites' file tests, routing, CGI scripts) sees the files
//! where they are.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use http::header;

use super::scope::{Change, Scopes};
use super::{Req, Step};
use crate::config::{UserdirConfig, VhostConfig};
use crate::http::pages::moved_permanently;

/// Moves the request's settings to its host's root and its user's directory.
pub(crate) fn step(scopes: &Scopes, req: &mut Req) -> Step<()> {
    if let Some(v) = req.site.vhost.clone() {
        let host = req
            .parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| {
                crate::http::host_name(h)
                    .trim_end_matches('.')
                    .to_ascii_lowercase()
            });
        if let Some(root) = root_for(&v, host.as_deref())
            && root != req.site.files.root()
            && let Err(e) = scopes.derived(&mut req.site, Change::Root(root))
        {
            tracing::error!("{}: {e}", req.conn.remote);
        }
    }
    if let Some(u) = req.site.userdir.clone()
        && let Some(rest) = req.target.path.strip_prefix("/~")
    {
        let (user, after) = rest
            .split_once('/')
            .map_or((rest, None), |(u, a)| (u, Some(a)));
        if user.is_empty() {
            return ControlFlow::Continue(());
        }
        let Some(dir) = user_dir(&u, user) else {
            return ControlFlow::Continue(());
        };
        if after.is_none() {
            let mut loc = format!("{}/", crate::gateway::params::encode_path(&req.target.path));
            if let Some(q) = &req.target.query {
                loc.push('?');
                loc.push_str(q);
            }
            return ControlFlow::Break(moved_permanently(&loc));
        }
        if let Err(e) = scopes.derived(&mut req.site, Change::Alias(format!("/~{user}/"), dir)) {
            tracing::error!("{}: {e}", req.conn.remote);
        }
    }
    ControlFlow::Continue(())
}

/// The document root of `host` (none: the request's own stays).
fn root_for(v: &VhostConfig, host: Option<&str>) -> Option<PathBuf> {
    if let Some(pattern) = &v.pattern {
        let dir = PathBuf::from(expand(pattern, host?));
        return dir.is_dir().then_some(dir);
    }
    let server_root = v.server_root.as_deref()?;
    let under = |name: &str| -> Option<PathBuf> {
        if name.is_empty() || name.starts_with('.') || name.contains('/') {
            return None;
        }
        let dir = server_root
            .join(name)
            .join(v.document_root.trim_start_matches('/'));
        dir.is_dir().then_some(dir)
    };
    host.and_then(under)
        .or_else(|| v.default_host.as_deref().and_then(under))
}

/// lighttpd's evhost pattern for `host`: `%0` the domain (the last two labels), `%1` the last
/// label, `%2` the one before..., `%_` the whole host, `%{n}` as `%n`, `%{n.m}` the m-th
/// character of label n, `%%` a `%`; a label the host does not have is empty.
pub(crate) fn expand(pattern: &str, host: &str) -> String {
    let labels: Vec<&str> = host.rsplit('.').collect();
    let label = |n: usize| -> String {
        match n {
            0 if labels.len() >= 2 => format!("{}.{}", labels[1], labels[0]),
            0 => labels.first().copied().unwrap_or("").to_owned(),
            n => labels.get(n - 1).copied().unwrap_or("").to_owned(),
        }
    };
    let mut out = String::with_capacity(pattern.len() + host.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('_') => out.push_str(host),
            Some(d @ '0'..='9') => out.push_str(&label(d as usize - '0' as usize)),
            Some('{') => {
                let spec: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let (n, m) = spec
                    .split_once('.')
                    .map_or((spec.as_str(), None), |(n, m)| (n, Some(m)));
                let Ok(n) = n.parse::<usize>() else { continue };
                let l = label(n);
                match m.and_then(|m| m.parse::<usize>().ok()) {
                    None => out.push_str(&l),
                    Some(m) => {
                        if let Some(ch) = l.chars().nth(m.saturating_sub(1)).filter(|_| m > 0) {
                            out.push(ch);
                        }
                    }
                }
            }
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// The directory `/~user/` is served from, if `user` is served.
fn user_dir(u: &UserdirConfig, user: &str) -> Option<PathBuf> {
    if u.exclude.iter().any(|x| x == user)
        || (!u.include.is_empty() && !u.include.iter().any(|x| x == user))
    {
        return None;
    }
    match &u.basepath {
        Some(base) => {
            if user == "."
                || user == ".."
                || !user
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                || (u.letterhomes && user.starts_with('.'))
            {
                return None;
            }
            let mut dir = base.clone();
            if u.letterhomes {
                dir.push(&user[..1]);
            }
            dir.push(user);
            // Only users that have one: a made-up name is an ordinary path, not a variant.
            let dir = join(&dir, &u.path);
            dir.is_dir().then_some(dir)
        }
        None => {
            let home = nix::unistd::User::from_name(user).ok().flatten()?.dir;
            let dir = join(&home, &u.path);
            dir.is_dir().then_some(dir)
        }
    }
}

fn join(dir: &Path, sub: &str) -> PathBuf {
    let sub = sub.trim_start_matches('/');
    if sub.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evhost_tokens_as_lighttpd() {
        let h = "www.example.co.uk";
        for (p, want) in [
            ("%0", "co.uk"),
            ("%1", "uk"),
            ("%2", "co"),
            ("%3", "example"),
            ("%4", "www"),
            ("%5", ""),
            ("%_", "www.example.co.uk"),
            ("%{3}", "example"),
            ("%{3.1}", "e"),
            ("%{3.2}", "x"),
            ("%{3.9}", ""),
            ("%%", "%"),
            ("/srv/%0/%3/htdocs/", "/srv/co.uk/example/htdocs/"),
        ] {
            assert_eq!(expand(p, h), want, "{p}");
        }
        assert_eq!(expand("%0", "localhost"), "localhost");
        assert_eq!(expand("%0/%4", "127.0.0.1"), "0.1/127");
    }
}
