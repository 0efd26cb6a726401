//! mod_auth with mod_authn_file: `auth.require` with the user file of `auth.backend` (a block's
//! own, or the global one). What relight cannot enforce is an error, never a warning: ignoring
//! it would leave the paths it protects open.

use std::path::PathBuf;

use super::{Ctx, Value, err};
use crate::config::lighttpd::{Error, Pos};
use crate::config::{AuthRule, UserFileFormat};

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
