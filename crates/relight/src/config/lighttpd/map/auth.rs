//! mod_auth with mod_authn_file: `auth.require` (Basic or Digest, MD5 or SHA-256) with the
//! user file of `auth.backend` (htpasswd, htdigest or plain; a block's own, or the global one). What relight cannot enforce is an error, never a warning: ignoring
//! it would leave the paths it protects open.

use std::path::PathBuf;

use super::{Ctx, Value, err};
use crate::config::lighttpd::{Error, Pos};
use crate::config::{AuthMethod, AuthRule, DigestAlgorithm, UserFileFormat};

/// `auth.require` with the user file of `auth.backend` (this block's or the global one).
/// What relight cannot enforce is an error: ignoring it would leave the paths open.
pub(super) fn map_auth(
    cx: &mut Ctx<'_>,
    v: &Value,
    pos: &Pos,
) -> Result<Vec<crate::config::AuthRule>, Error> {
    let (format, file_key) = match cx.inherited("auth.backend") {
        Some((Value::Str(b), _)) if b == "htpasswd" => {
            (UserFileFormat::Htpasswd, "auth.backend.htpasswd.userfile")
        }
        Some((Value::Str(b), _)) if b == "plain" => {
            (UserFileFormat::Plain, "auth.backend.plain.userfile")
        }
        Some((Value::Str(b), _)) if b == "htdigest" => {
            (UserFileFormat::Htdigest, "auth.backend.htdigest.userfile")
        }
        Some((b, bpos)) => {
            return err(
                bpos,
                format!(
                    "auth.backend {b:?}: relight supports \"htpasswd\", \"htdigest\" and \"plain\"; refusing to start rather than leave auth.require's paths open"
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
        let method = match opt("method") {
            Some("basic") => AuthMethod::Basic,
            Some("digest") => AuthMethod::Digest,
            m => {
                return err(
                    pos,
                    format!(
                        "auth.require {prefix:?}: method {m:?}: relight supports \"basic\" and \"digest\"; refusing to start rather than leave {prefix:?} open"
                    ),
                );
            }
        };
        if method == AuthMethod::Digest && format == UserFileFormat::Htpasswd {
            return err(
                pos,
                format!(
                    "auth.require {prefix:?}: method \"digest\" needs auth.backend \"htdigest\" or \"plain\" (an htpasswd hash cannot answer a Digest challenge); refusing to start rather than leave {prefix:?} open"
                ),
            );
        }
        let mut algorithm = Vec::new();
        for a in opt("algorithm").unwrap_or("MD5").split('|') {
            algorithm.push(match a.trim() {
                a if a.eq_ignore_ascii_case("MD5") => DigestAlgorithm::Md5,
                a if a.eq_ignore_ascii_case("SHA-256") => DigestAlgorithm::Sha256,
                a => {
                    return err(
                        pos,
                        format!(
                            "auth.require {prefix:?}: algorithm {a:?}: relight supports \"MD5\" and \"SHA-256\"; refusing to start rather than leave {prefix:?} open"
                        ),
                    );
                }
            });
        }
        let mut require = Vec::new();
        let spec = opt("require").unwrap_or("valid-user");
        let bad = |why: &str| {
            err(
                pos,
                format!("auth.require {prefix:?}: require {spec:?}: {why}"),
            )
        };
        if spec != "valid-user" {
            // As lighttpd: "valid-user" alone, or user=/group=/host= entries.
            for r in spec.split('|').map(str::trim) {
                match r.split_once('=') {
                    Some(("user", u)) if !u.is_empty() => require.push(r.to_string()),
                    Some(("group" | "host", v)) if !v.is_empty() => {
                        cx.warn(
                            pos,
                            format!(
                                "auth.require {prefix:?}: require {r:?} never matches (the user files have no groups, and lighttpd 1.4 does not implement host=); only the other entries let users in"
                            ),
                        );
                        require.push(r.to_string());
                    }
                    _ if r == "valid-user" => {
                        return bad("valid-user cannot be combined with other entries");
                    }
                    _ => return bad("expected valid-user, or user=, group= or host= entries"),
                }
            }
        } else {
            require.push(spec.to_string());
        }
        rules.push(AuthRule {
            prefix: prefix.clone(),
            realm: opt("realm").unwrap_or("").to_string(),
            require,
            user_file: user_file.clone(),
            format,
            method,
            algorithm,
        });
    }
    Ok(rules)
}
