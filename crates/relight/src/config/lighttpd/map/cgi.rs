//! mod_cgi's keys: `cgi.assign` becomes `[[cgi]]` rules (one per extension, in order; in a
//! conditional block, rules only that block's scope uses), and the block's
//! `cgi.execute-x-only`, `cgi.x-sendfile`, `cgi.x-sendfile-docroot` and `cgi.limits` (or the
//! global ones) are those rules' options. lighttpd merges each key by condition on its own;
//! here a block's options apply to the rules its own `cgi.assign` makes.

use std::path::PathBuf;
use std::time::Duration;

use super::{Ctx, enabled, err};
use crate::config::lighttpd::{Error, Value};
use crate::config::{At, CgiConfig, Loc, MatchRule, Timeout};

/// The rules a block's `cgi.assign` adds to `list`, by name; `None` if it sets none.
pub(super) fn map_cgi(
    cx: &mut Ctx<'_>,
    list: &mut Vec<CgiConfig>,
    scoped: bool,
) -> Result<Option<Vec<At<String>>>, Error> {
    let Some((pairs, pos)) = cx.string_pairs("cgi.assign", "\".ext\" => \"/interpreter\"")? else {
        // Options without rules of their own still say what they are for.
        for key in [
            "cgi.execute-x-only",
            "cgi.x-sendfile",
            "cgi.x-sendfile-docroot",
            "cgi.limits",
            "cgi.local-redir",
            "cgi.upgrade",
        ] {
            cx.used.push(key);
        }
        return Ok(None);
    };
    let execute_x_only = match cx.inherited("cgi.execute-x-only") {
        None => false,
        Some((v, p)) => enabled(v).ok_or_else(|| {
            Error::new(
                p.clone(),
                "cgi.execute-x-only must be \"enable\" or \"disable\"",
            )
        })?,
    };
    let x_sendfile = match cx.inherited("cgi.x-sendfile") {
        None => false,
        Some((v, p)) => enabled(v).ok_or_else(|| {
            Error::new(
                p.clone(),
                "cgi.x-sendfile must be \"enable\" or \"disable\"",
            )
        })?,
    };
    let docroots: Vec<PathBuf> = match cx.inherited("cgi.x-sendfile-docroot") {
        None => Vec::new(),
        Some((v, p)) => super::string_list(v, "cgi.x-sendfile-docroot", p)?
            .into_iter()
            .map(PathBuf::from)
            .collect(),
    };
    let (mut read_timeout, mut write_timeout) = (None, None);
    if let Some((v, p)) = cx.inherited("cgi.limits") {
        let Some(items) = v.as_array() else {
            return err(p, "cgi.limits must be an array of \"name\" => value".into());
        };
        for (k, v) in items {
            let secs = |v: &Value| match v {
                Value::Int(n) => Some(*n),
                Value::Str(s) => s.parse().ok(),
                _ => None,
            };
            match k.as_deref().map(str::to_ascii_lowercase).as_deref() {
                Some("read-timeout") => read_timeout = secs(v),
                Some("write-timeout") => write_timeout = secs(v),
                Some("tcp-fin-propagate") => cx.warn(
                    p,
                    "cgi.limits tcp-fin-propagate: not supported by relight (a client that closes its side ends the request; the script is stopped); ignored".into(),
                ),
                other => cx.warn(p, format!("cgi.limits: unrecognized param {other:?}; ignored")),
            }
        }
    }
    let local_redirect = match cx.inherited("cgi.local-redir") {
        None => false,
        Some((v, p)) => enabled(v).ok_or_else(|| {
            Error::new(
                p.clone(),
                "cgi.local-redir must be \"enable\" or \"disable\"",
            )
        })?,
    };
    let upgrade = match cx.inherited("cgi.upgrade") {
        None => false,
        Some((v, p)) => enabled(v).ok_or_else(|| {
            Error::new(p.clone(), "cgi.upgrade must be \"enable\" or \"disable\"")
        })?,
    };
    let mut names = Vec::new();
    for (ext, interpreter) in pairs {
        let name = format!("cgi-{}", list.len() + 1);
        let at = |n: String| At::new(n, Loc::Pos(pos.clone()));
        // "" runs every file the path names (lighttpd's idiom inside a $HTTP["url"] block).
        let mut c = CgiConfig::new(at(name.clone()), vec![MatchRule::Extension(ext)]);
        c.interpreter = (!interpreter.is_empty()).then(|| PathBuf::from(interpreter));
        c.execute_x_only = execute_x_only;
        c.x_sendfile = x_sendfile;
        c.local_redirect = local_redirect;
        c.upgrade = upgrade;
        c.x_sendfile_docroot = docroots.clone();
        // lighttpd: no limit unless set; relight keeps its own bounds then.
        if let Some(n) = read_timeout.filter(|&n| n > 0) {
            c.read_timeout = Timeout(Duration::from_secs(n as u64));
        }
        if let Some(n) = write_timeout.filter(|&n| n > 0) {
            c.write_timeout = Timeout(Duration::from_secs(n as u64));
        }
        c.global = !scoped;
        list.push(c);
        names.push(at(name));
    }
    Ok(Some(names))
}
