//! Step 4, URL rewriting and redirection (lighttpd's mod_rewrite and mod_redirect): regular
//! expressions on the request target "path?query", applied before anything else looks at the
//! path. `$0`..`$9` in a replacement are the rule's captures; `%0`..`%9` those of the last
//! regex condition of the scope the rules come from (empty when there is none). A redirect
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

/// Expands `$n` (from `caps`) and `%n` (from `cond`) in `template`.
pub(crate) fn expand(
    template: &str,
    caps: &regex_lite::Captures<'_>,
    cond: Option<&[String]>,
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().and_then(|d| d.to_digit(10))) {
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
            _ => out.push(c),
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
) -> Outcome {
    for r in redirects {
        if let Some(caps) = r.pattern.0.captures(target) {
            return Outcome::Redirect(r.code, expand(&r.to, &caps, redirect_caps));
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
            current = expand(&r.to, &caps, rewrite_caps);
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
    if site.redirect.is_empty() && site.rewrite.is_empty() {
        return ControlFlow::Continue(());
    }
    let target = req.target.encoded();
    let files = &site.files;
    let is_file = |p: &str| urlpath::normalize(p).is_ok_and(|p| files.is_local_file(&p));
    let rewritten = match apply(
        &target,
        (&site.redirect, site.redirect_caps.as_deref()),
        (&site.rewrite, site.rewrite_caps.as_deref()),
        is_file,
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
            apply("/old/a?b=1", (&[], None), (&rules, None), |_| false),
            Outcome::Rewritten("/new/a?b=1".into())
        );
        assert_eq!(
            apply("/x", (&[], None), (&rules, None), |_| false),
            Outcome::Unchanged
        );
        let repeat = [
            rw("^/old/(.*)$", "/new/$1", true, false),
            rw("^/new/(.*)$", "/newer/$1", false, false),
        ];
        assert_eq!(
            apply("/old/a", (&[], None), (&repeat, None), |_| false),
            Outcome::Rewritten("/newer/a".into())
        );
    }

    #[test]
    fn if_not_file_and_loops() {
        let rules = [rw("^/(.*)$", "/index.php?q=$1", false, true)];
        assert_eq!(
            apply("/exists.css", (&[], None), (&rules, None), |p| p
                == "/exists.css"),
            Outcome::Unchanged
        );
        assert_eq!(
            apply("/page", (&[], None), (&rules, None), |_| false),
            Outcome::Rewritten("/index.php?q=page".into())
        );
        let looping = [rw("^(.*)$", "$1x", true, false)];
        let Outcome::Rewritten(t) = apply("/", (&[], None), (&looping, None), |_| false) else {
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
            apply("/legacy/x", (&red, None), (&[], None), |_| false),
            Outcome::Redirect(302, "http://example.com/x".into())
        );
        let cond = ["www.example.org".to_string(), "example.org".to_string()];
        assert_eq!(
            apply("/legacy/y", (&red, Some(&cond)), (&[], None), |_| false),
            Outcome::Redirect(302, "http://example.com/yexample.org".into())
        );
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
