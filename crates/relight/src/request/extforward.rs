//! Step 3b, the client behind a trusted proxy (lighttpd's mod_extforward): when the
//! connection comes from a proxy the settings trust, the client is the rightmost address of
//! the first configured header present (X-Forwarded-For and the like, or RFC 7239's
//! Forwarded) that is not itself a trusted proxy. The request's settings are then chosen
//! again for that address ($HTTP["remoteip"]), and backends (REMOTE_ADDR, REMOTE_PORT 0) and
//! the access log see it; a forwarded `https` scheme (Forwarded's proto=, X-Forwarded-Proto)
//! counts as HTTPS for conditions and backends. A malformed address changes nothing, as in
//! lighttpd (there is no falling back to the entry before it).

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use crate::config::{ExtforwardConfig, Trusted};

/// The client the proxy at `remote` speaks for, and whether it said the client's connection
/// is HTTPS (`None`: it did not say); `None` when `remote` is not trusted or no header names
/// another client.
pub(crate) fn client(
    headers: &HeaderMap,
    remote: IpAddr,
    cfg: &ExtforwardConfig,
) -> Option<(SocketAddr, Option<bool>)> {
    if !cfg.trusted.iter().any(|t| trusts(t, remote, true)) {
        return None;
    }
    let trusted_inside = |ip: IpAddr| cfg.trusted.iter().any(|t| trusts(t, ip, false));
    let name = cfg
        .headers
        .iter()
        .find(|h| headers.contains_key(h.as_str()))?;
    let values: Vec<&str> = headers
        .get_all(name.as_str())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if name.eq_ignore_ascii_case("forwarded") {
        // RFC 7239: elements by ",", pairs by ";"; for= and proto= of the rightmost element
        // whose for= is not a trusted proxy.
        let elements: Vec<&str> = values.iter().flat_map(|v| v.split(',')).collect();
        for el in elements.iter().rev() {
            let mut for_ = None;
            let mut proto = None;
            for pair in el.split(';') {
                let Some((k, v)) = pair.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "for" => for_ = Some(v),
                    "proto" => proto = Some(v.eq_ignore_ascii_case("https")),
                    _ => {}
                }
            }
            let Some(f) = for_ else { continue };
            let ip = forwarded_node(f)?;
            if trusted_inside(ip) {
                continue;
            }
            return Some((SocketAddr::new(ip, 0), proto));
        }
        return None;
    }
    // X-Forwarded-For and the like: the rightmost address that is not a trusted proxy.
    let tokens: Vec<&str> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    for t in tokens.iter().rev() {
        let ip: IpAddr = t.parse().ok()?;
        if trusted_inside(ip) {
            continue;
        }
        let proto = match headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
        {
            Some(p) if p.eq_ignore_ascii_case("https") => Some(true),
            Some(p) if p.eq_ignore_ascii_case("http") => Some(false),
            _ => None,
        };
        return Some((SocketAddr::new(ip, 0), proto));
    }
    None
}

/// Whether `t` trusts `ip`; "all" trusts only the connecting peer (`peer`), never an address
/// named in the header.
fn trusts(t: &Trusted, ip: IpAddr, peer: bool) -> bool {
    match t {
        Trusted::All => peer,
        Trusted::Net(n) => n.contains(ip),
    }
}

/// The address of a Forwarded node: `1.2.3.4`, `"1.2.3.4:80"`, `"[2001:db8::1]:4711"`;
/// `None` for `unknown`, obfuscated names and garbage.
fn forwarded_node(v: &str) -> Option<IpAddr> {
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    if let Ok(ip) = v.parse() {
        return Some(ip);
    }
    v.rsplit_once(':')?
        .0
        .parse::<std::net::Ipv4Addr>()
        .ok()
        .map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn cfg(trusted: &[&str], headers: &[&str]) -> ExtforwardConfig {
        ExtforwardConfig {
            trusted: trusted
                .iter()
                .map(|t| Trusted::try_from(t.to_string()).unwrap())
                .collect(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn with(h: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in h {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn the_rightmost_untrusted_address() {
        let c = cfg(
            &["127.0.0.1", "192.0.2.0/24", "10.0.0.0/8"],
            &["X-Forwarded-For"],
        );
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let h = with(&[(
            "x-forwarded-for",
            "1.1.1.1, 203.0.113.9, 10.1.2.3, 192.0.2.5",
        )]);
        assert_eq!(
            client(&h, lo, &c)
                .map(|(a, _)| a.ip().to_string())
                .as_deref(),
            Some("203.0.113.9")
        );
        // Two header lines are one list.
        let h = with(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            client(&h, lo, &c)
                .map(|(a, _)| a.ip().to_string())
                .as_deref(),
            Some("203.0.113.9")
        );
        // Not from a trusted proxy; a malformed rightmost entry; all trusted.
        assert!(client(&h, "8.8.8.8".parse().unwrap(), &c).is_none());
        let h = with(&[("x-forwarded-for", "203.0.113.9, abc")]);
        assert!(client(&h, lo, &c).is_none());
        let h = with(&[("x-forwarded-for", "10.0.0.1")]);
        assert!(client(&h, lo, &c).is_none());
        // "all" trusts the peer, not the addresses in the header.
        let all = cfg(&["all"], &["X-Forwarded-For"]);
        let h = with(&[
            ("x-forwarded-for", "203.0.113.9, 10.0.0.1"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(
            client(&h, "8.8.8.8".parse().unwrap(), &all).map(|(a, p)| (a.ip().to_string(), p)),
            Some(("10.0.0.1".into(), Some(true)))
        );
    }

    #[test]
    fn forwarded_as_rfc_7239() {
        let c = cfg(&["127.0.0.1"], &["Forwarded"]);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        for (v, want) in [
            ("for=203.0.113.7", Some(("203.0.113.7", None))),
            (
                "for=203.0.113.7;proto=https",
                Some(("203.0.113.7", Some(true))),
            ),
            ("for=\"[2001:db8::5]:4711\"", Some(("2001:db8::5", None))),
            (
                "for=\"203.0.113.7:8080\";proto=http",
                Some(("203.0.113.7", Some(false))),
            ),
            ("for=unknown", None),
            ("for=1.2.3.4, for=127.0.0.1", Some(("1.2.3.4", None))),
        ] {
            let mut h = HeaderMap::new();
            h.insert("forwarded", HeaderValue::from_str(v).unwrap());
            assert_eq!(
                client(&h, lo, &c).map(|(a, p)| (a.ip().to_string(), p)),
                want.map(|(a, p)| (a.to_string(), p)),
                "{v}"
            );
        }
    }
}
