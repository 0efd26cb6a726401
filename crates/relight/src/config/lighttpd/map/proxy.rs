//! mod_proxy's keys: `proxy.server` becomes `[[proxy]]` rules (one per extension, its hosts the
//! upstreams; in a conditional block, rules only that block's scope uses), with the block's
//! (or the global) `proxy.balance`, `proxy.header`, `proxy.forwarded` and
//! `proxy.replace-http-host`.

use super::{Ctx, enabled, err};
use crate::config::lighttpd::{Error, Value};
use crate::config::{At, BackendAddr, Balance, Loc, MatchRule, ProxyConfig};

/// The rules a block's `proxy.server` adds to `list`, by name; `None` if it sets none.
pub(super) fn map_proxy(
    cx: &mut Ctx<'_>,
    list: &mut Vec<ProxyConfig>,
    scoped: bool,
) -> Result<Option<Vec<At<String>>>, Error> {
    let Some((v, pos)) = cx.get("proxy.server") else {
        for key in [
            "proxy.balance",
            "proxy.header",
            "proxy.forwarded",
            "proxy.replace-http-host",
        ] {
            cx.used.push(key);
        }
        return Ok(None);
    };
    let balance = match cx.inherited("proxy.balance") {
        None => Balance::LeastBusy,
        Some((b, p)) => match b.as_str() {
            Some("fair" | "least-connection") => Balance::LeastBusy,
            Some("round-robin") => Balance::RoundRobin,
            Some("sticky") => Balance::Hash,
            Some("hash") => {
                cx.notes.push(format!(
                    "{p}: proxy.balance \"hash\": relight hashes the client's address (lighttpd the URL): one client stays with one upstream"
                ));
                Balance::Hash
            }
            _ => {
                return err(
                    p,
                    format!(
                        "proxy.balance {b:?}: expected \"fair\", \"round-robin\", \"hash\" or \"sticky\""
                    ),
                );
            }
        },
    };
    let mut upgrade = false;
    let (mut map_path, mut map_host_request, mut map_host_response) =
        (Default::default(), Default::default(), Default::default());
    if let Some((h, p)) = cx.inherited("proxy.header") {
        for (k, v) in h.as_array().into_iter().flatten() {
            let pairs = |v: &Value| -> std::collections::BTreeMap<String, String> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone()?, v.as_str()?.to_owned())))
                    .collect()
            };
            match k.as_deref() {
                Some("upgrade") => upgrade = enabled(v) == Some(true),
                Some("map-urlpath") => map_path = pairs(v),
                Some("map-host-request") => map_host_request = pairs(v),
                Some("map-host-response") => map_host_response = pairs(v),
                Some(other) => cx.warn(
                    p,
                    format!("proxy.header {other:?}: not supported by relight; ignored"),
                ),
                None => {}
            }
        }
    }
    let forwarded = match cx.inherited("proxy.forwarded") {
        None => false,
        Some((f, _)) => f
            .as_array()
            .into_iter()
            .flatten()
            .any(|(_, v)| enabled(v) == Some(true) || matches!(v, Value::Int(n) if *n != 0)),
    };
    let replace_host = match cx.inherited("proxy.replace-http-host") {
        None => false,
        Some((v, p)) => enabled(v).ok_or_else(|| {
            Error::new(
                p.clone(),
                "proxy.replace-http-host must be \"enable\" or \"disable\"",
            )
        })?,
    };
    let bad = |what: &str| err(pos, format!("proxy.server: {what}"));
    let Some(exts) = v.as_array() else {
        return bad("must be an array of \"/prefix\" => ( hosts )");
    };
    let mut names = Vec::new();
    for (ext, hosts) in exts {
        let Some(ext) = ext else {
            return bad("each entry must be \"/prefix\" or \".ext\" => ( hosts )");
        };
        let rule = MatchRule::try_from(if ext.is_empty() {
            "/".to_owned()
        } else {
            ext.clone()
        })
        .map_err(|m| Error::new(pos.clone(), format!("proxy.server: {m}")))?;
        let Some(hosts) = hosts.as_array() else {
            return bad(&format!("{ext:?}: expected ( hosts )"));
        };
        let mut upstreams = Vec::new();
        let mut label = None;
        for (id, host) in hosts {
            let Some(opts) = host.as_array() else {
                return bad(&format!(
                    "{ext:?}: a host must be ( \"key\" => value, ... )"
                ));
            };
            let get = |k: &str| {
                opts.iter()
                    .find(|(kk, _)| kk.as_deref() == Some(k))
                    .map(|(_, v)| v)
            };
            let text = |v: &Value| match v {
                Value::Str(s) => Some(s.clone()),
                Value::Int(n) => Some(n.to_string()),
                _ => None,
            };
            let addr = match (get("socket").and_then(text), get("host").and_then(text)) {
                (Some(s), _) => format!("unix:{s}"),
                (None, Some(h)) if h.starts_with('/') => format!("unix:{h}"),
                (None, Some(h)) => {
                    let port = get("port").and_then(text).unwrap_or_else(|| "80".into());
                    if h.contains(':') {
                        format!("[{h}]:{port}")
                    } else {
                        format!("{h}:{port}")
                    }
                }
                (None, None) => {
                    return bad(&format!(
                        "{ext:?}: a host needs \"host\" (and \"port\") or \"socket\""
                    ));
                }
            };
            upstreams.push(
                BackendAddr::try_from(addr)
                    .map_err(|m| Error::new(pos.clone(), format!("proxy.server {ext:?}: {m}")))?,
            );
            for (k, _) in opts {
                if !matches!(k.as_deref(), Some("host" | "port" | "socket")) {
                    cx.warn(
                        pos,
                        format!("proxy.server {ext:?}: host option {:?}: not supported by relight; ignored", k.as_deref().unwrap_or("")),
                    );
                }
            }
            if label.is_none() {
                label = id.clone().filter(|l| !l.is_empty());
            }
        }
        let name = format!("proxy-{}", list.len() + 1);
        let mut p = ProxyConfig::new(
            At::new(name.clone(), Loc::Pos(pos.clone())),
            vec![rule],
            upstreams,
        );
        p.balance = balance;
        p.upgrade = upgrade;
        p.map_path = map_path.clone();
        p.map_host_request = map_host_request.clone();
        p.map_host_response = map_host_response.clone();
        p.forwarded = forwarded;
        if replace_host {
            match &label {
                Some(l) => p.host = Some(l.clone()),
                None => cx.warn(
                    pos,
                    format!("proxy.replace-http-host: proxy.server {ext:?} has no host label (\"name\" => ( ... )) to send; the client's Host is sent"),
                ),
            }
        }
        p.global = !scoped;
        list.push(p);
        names.push(At::new(name, Loc::Pos(pos.clone())));
    }
    Ok(Some(names))
}
