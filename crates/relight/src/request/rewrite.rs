//! Step 4, URL rewriting and redirection (lighttpd's mod_rewrite and mod_redirect): regular
//! expressions on the request target "path?query", applied before anything else looks at the
//! path. `$0`..`$9` in a replacement are the rule's captures; `%0`..`%9` those of the last
//! regex condition of the scope the rules come from (empty when there is none); `${url.scheme}`,
//! `${url.authority}`, `${url.port}`, `${url.path}`, `${url.query}` the request's (lighttpd
//! 1.4.50's), and `${qsa}` its query string appended (`?q`, or `&q` after a `?`). A redirect
//! answers; a rewrite changes the target, and the settings are chosen again for the new one, as
//! lighttpd's conditions see the rewritten target.

use std::ops::ControlFlow;

use http::{HeaderValue, StatusCode, header};

use super::scope::Scopes;
use super::{Req, Step};
use crate::config::{RedirectRule, RewriteRule};
use crate::http::pages::status_page;
use crate::http::urlpath;

/// How often repeating rules may rewrite one request (lighttpd stops a loop too).
const MAX_REWRITES: usize = 16;

/// What the rules decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// No rule matched.
    Unchanged,
    /// Handle the request as this target.
    Rewritten(String),
    /// Answer with this status and Location.
    Redirect(u16, String),
}

/// The parts of the request URL a replacement may name (`${url.path}`, ...).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Url<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The Host header (or the absolute-form target's authority), port included.
    pub authority: &'a str,
    /// The port the request came in on.
    pub port: u16,
    /// The path (normalized, then percent-encoded again).
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
}

/// Expands `$n` (from `caps`), `%n` (from `cond`) and `${url.*}`/`${qsa}` (from `url`; left as
/// written without one) in `template`.
pub(crate) fn expand(
    template: &str,
    caps: &regex_lite::Captures<'_>,
    cond: Option<&[String]>,
    url: Option<&Url<'_>>,
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '$'
            && let Some(url) = url
            && let Some((name, len)) = template[i..]
                .strip_prefix("${")
                .and_then(|rest| rest.find('}').map(|end| (&rest[..end], end + 3)))
        {
            let value = match name {
                "url.scheme" => Some(url.scheme.to_string()),
                // The Host is the client's: anything but a host name's characters is
                // percent-encoded, so it cannot add to a query or path.
                "url.authority" => {
                    const KEEP: [bool; 256] = urlpath::alnum_and(b".-_:[]");
                    let mut s = String::with_capacity(url.authority.len());
                    urlpath::push_percent_encoded(&mut s, url.authority, &KEEP);
                    Some(s)
                }
                "url.port" => Some(url.port.to_string()),
                "url.path" => Some(url.path.to_string()),
                "url.query" => Some(url.query.unwrap_or("").to_string()),
                "qsa" => Some(match url.query {
                    Some(q) if !q.is_empty() => {
                        format!("{}{q}", if out.contains('?') { '&' } else { '?' })
                    }
                    _ => String::new(),
                }),
                _ => None,
            };
            if let Some(v) = value {
                out.push_str(&v);
                // Skip the rest of `${name}` (its first char is consumed already).
                for _ in 1..len {
                    chars.next();
                }
                continue;
            }
        }
        let c = (c, chars.peek().and_then(|(_, d)| d.to_digit(10)));
        match c {
            ('$', Some(n)) => {
                chars.next();
                out.push_str(caps.get(n as usize).map_or("", |m| m.as_str()));
            }
            ('%', Some(n)) => {
                chars.next();
                out.push_str(
                    cond.and_then(|c| c.get(n as usize))
                        .map_or("", String::as_str),
                );
            }
            (c, _) => out.push(c),
        }
    }
    out
}

/// Rules and the captures of the condition they were set under (for `%n`).
pub(crate) type Scoped<'a, R> = (&'a [R], Option<&'a [String]>);

/// Applies the redirects, then the rewrites, to `target`. `is_file(path)` says whether a path
/// names an existing file (for the if-not-file rules).
pub(crate) fn apply(
    target: &str,
    (redirects, redirect_caps): Scoped<'_, RedirectRule>,
    (rewrites, rewrite_caps): Scoped<'_, RewriteRule>,
    is_file: impl Fn(&str) -> bool,
    url: Option<&Url<'_>>,
) -> Outcome {
    for r in redirects {
        if let Some(caps) = r.pattern.0.captures(target) {
            return Outcome::Redirect(r.code, expand(&r.to, &caps, redirect_caps, url));
        }
    }
    let mut current = target.to_owned();
    let mut changed = false;
    'again: for _ in 0..MAX_REWRITES {
        for r in rewrites {
            let Some(caps) = r.pattern.0.captures(&current) else {
                continue;
            };
            if r.if_not_file && is_file(current.split('?').next().unwrap_or("")) {
                continue;
            }
            current = expand(&r.to, &caps, rewrite_caps, url);
            changed = true;
            if r.repeat {
                continue 'again;
            }
            break 'again;
        }
        break;
    }
    if changed {
        Outcome::Rewritten(current)
    } else {
        Outcome::Unchanged
    }
}

/// Applies the settings' redirects and rewrites to the request's target.
pub(crate) fn step(scopes: &Scopes, req: &mut Req) -> Step<()> {
    let site = &req.site;
    if let Some(port) = site.https_redirect
        && !req.conn.https()
    {
        return ControlFlow::Break(to_https(req, port));
    }
    if site.redirect.is_empty() && site.rewrite.is_empty() {
        return ControlFlow::Continue(());
    }
    let target = req.target.encoded();
    let files = &site.files;
    let is_file = |p: &str| urlpath::normalize(p).is_ok_and(|p| files.is_local_file(&p));
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target.as_str(), None),
    };
    let authority = host_header(req).unwrap_or("");
    let url = Url {
        scheme: if req.conn.https() { "https" } else { "http" },
        authority,
        port: req.conn.local.port(),
        path,
        query,
    };
    let rewritten = match apply(
        &target,
        (&site.redirect, site.redirect_caps.as_deref()),
        (&site.rewrite, site.rewrite_caps.as_deref()),
        is_file,
        Some(&url),
    ) {
        Outcome::Unchanged => return ControlFlow::Continue(()),
        Outcome::Redirect(code, location) => {
            let mut r =
                status_page(StatusCode::from_u16(code).unwrap_or(StatusCode::MOVED_PERMANENTLY));
            let Ok(v) = HeaderValue::from_str(&location) else {
                return ControlFlow::Break(status_page(StatusCode::INTERNAL_SERVER_ERROR));
            };
            r.headers_mut().insert(header::LOCATION, v);
            return ControlFlow::Break(r);
        }
        Outcome::Rewritten(t) => t,
    };
    let (p, q) = match rewritten.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (rewritten.as_str(), None),
    };
    let path = match urlpath::normalize(p) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(
                "{}: rewrite of {target:?} gave a bad path {p:?}: {e}",
                req.conn.remote
            );
            return ControlFlow::Break(status_page(StatusCode::INTERNAL_SERVER_ERROR));
        }
    };
    req.target.path = path;
    req.target.query = q;
    if scopes.is_scoped() {
        req.site = super::scope::select(scopes, &req.parts, &req.target, req.conn)?;
    }
    ControlFlow::Continue(())
}

/// The request's Host (the target step has put an absolute-form target's authority there, an
/// HTTP/2 request's `:authority` too).
fn host_header(req: &Req) -> Option<&str> {
    req.parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
}

/// 301 to the request's URL over HTTPS on `port`.
fn to_https(req: &Req, port: u16) -> http::Response<crate::http::body::Body> {
    let host = host_header(req).map_or_else(
        || req.conn.local.ip().to_string(),
        |h| crate::http::host_name(h).to_string(),
    );
    let port = if port == 443 {
        String::new()
    } else {
        format!(":{port}")
    };
    let location = format!("https://{host}{port}{}", req.target.encoded());
    let mut r = status_page(StatusCode::MOVED_PERMANENTLY);
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => status_page(StatusCode::BAD_REQUEST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pattern;

    fn rw(p: &str, to: &str, repeat: bool, if_not_file: bool) -> RewriteRule {
        RewriteRule {
            pattern: Pattern::try_from(p.to_string()).unwrap(),
            to: to.into(),
            repeat,
            if_not_file,
        }
    }

    #[test]
    fn captures_and_order() {
        let rules = [
            rw("^/old/(.*)$", "/new/$1", false, false),
            rw("^/new/(.*)$", "/newer/$1", false, false),
        ];
        assert_eq!(
            apply("/old/a?b=1", (&[], None), (&rules, None), |_| false, None),
            Outcome::Rewritten("/new/a?b=1".into())
        );
        assert_eq!(
            apply("/x", (&[], None), (&rules, None), |_| false, None),
            Outcome::Unchanged
        );
        let repeat = [
            rw("^/old/(.*)$", "/new/$1", true, false),
            rw("^/new/(.*)$", "/newer/$1", false, false),
        ];
        assert_eq!(
            apply("/old/a", (&[], None), (&repeat, None), |_| false, None),
            Outcome::Rewritten("/newer/a".into())
        );
    }

    #[test]
    fn if_not_file_and_loops() {
        let rules = [rw("^/(.*)$", "/index.php?q=$1", false, true)];
        assert_eq!(
            apply(
                "/exists.css",
                (&[], None),
                (&rules, None),
                |p| p == "/exists.css",
                None
            ),
            Outcome::Unchanged
        );
        assert_eq!(
            apply("/page", (&[], None), (&rules, None), |_| false, None),
            Outcome::Rewritten("/index.php?q=page".into())
        );
        let looping = [rw("^(.*)$", "$1x", true, false)];
        let Outcome::Rewritten(t) = apply("/", (&[], None), (&looping, None), |_| false, None)
        else {
            panic!()
        };
        assert_eq!(t.len(), 1 + MAX_REWRITES, "a loop stops");
    }

    #[test]
    fn redirect_first() {
        let red = [RedirectRule {
            pattern: Pattern::try_from("^/legacy(.*)".to_string()).unwrap(),
            to: "http://example.com$1%1".into(),
            code: 302,
        }];
        assert_eq!(
            apply("/legacy/x", (&red, None), (&[], None), |_| false, None),
            Outcome::Redirect(302, "http://example.com/x".into())
        );
        let cond = ["www.example.org".to_string(), "example.org".to_string()];
        assert_eq!(
            apply(
                "/legacy/y",
                (&red, Some(&cond)),
                (&[], None),
                |_| false,
                None
            ),
            Outcome::Redirect(302, "http://example.com/yexample.org".into())
        );
    }

    #[test]
    fn url_parts_as_lighttpd_names_them() {
        let red = [RedirectRule {
            pattern: Pattern::try_from("^/(.*)".to_string()).unwrap(),
            to: "https://${url.authority}${url.path}${qsa}".into(),
            code: 301,
        }];
        let url = |query| Url {
            scheme: "http",
            authority: "device.local:8080",
            port: 8080,
            path: "/a%20b",
            query,
        };
        assert_eq!(
            apply(
                "/a%20b?x=1",
                (&red, None),
                (&[], None),
                |_| false,
                Some(&url(Some("x=1")))
            ),
            Outcome::Redirect(301, "https://device.local:8080/a%20b?x=1".into())
        );
        assert_eq!(
            apply(
                "/a%20b",
                (&red, None),
                (&[], None),
                |_| false,
                Some(&url(None))
            ),
            Outcome::Redirect(301, "https://device.local:8080/a%20b".into())
        );
        let caps = red[0].pattern.0.captures("/a").unwrap();
        assert_eq!(
            expand(
                "/new?from=${url.scheme}:${url.port}${qsa}&q=${url.query}${nope}$1",
                &caps,
                None,
                Some(&url(Some("x=1")))
            ),
            "/new?from=http:8080&x=1&q=x=1${nope}a"
        );
        // A Host cannot add to the path or query: anything but a host's characters is encoded.
        let hostile = Url {
            authority: "[::1]:80/x?y=1#z é",
            ..url(None)
        };
        assert_eq!(
            expand("${url.authority}", &caps, None, Some(&hostile)),
            "[::1]:80%2Fx%3Fy%3D1%23z%20%C3%A9"
        );
        // Without the request's URL (or in a capture), `${...}` stays as written.
        assert_eq!(expand("${url.path}", &caps, None, None), "${url.path}");
    }

    use crate::request::testing::{answered, handler, req};

    #[test]
    fn the_step_redirects_or_rewrites_and_chooses_the_settings_again() {
        let root = testkit::TempDir::new("rewrite");
        let h = handler(
            root.path(),
            "[[server.redirect]]\npattern = \"^/old/(.*)$\"\nto = \"/new/$1\"\ncode = 308\n\
             [[server.rewrite]]\npattern = \"^/pretty/(.*)$\"\nto = \"/app/$1?from=pretty\"\n",
            "[[scope]]\nwhen = [{ field = \"url\", op = \"=^\", value = \"/app/\" }]\n\
             response_headers = { \"X-Scope\" = \"app\" }\n",
        );
        let r = answered(step(&h.scopes, &mut req(&h, "GET", "/old/a?b", &[])));
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(r.headers()[header::LOCATION], "/new/a?b");
        let mut r = req(&h, "GET", "/pretty/x%20y", &[]);
        assert!(r.site.response_headers.is_empty());
        assert!(step(&h.scopes, &mut r).is_continue());
        assert_eq!(r.target.path, "/app/x y");
        assert_eq!(r.target.query.as_deref(), Some("from=pretty"));
        assert_eq!(
            r.site.response_headers[0].1, "app",
            "the scope of the new target"
        );
        let mut r = req(&h, "GET", "/other", &[]);
        assert!(step(&h.scopes, &mut r).is_continue());
        assert_eq!(r.target.path, "/other");
    }
}
