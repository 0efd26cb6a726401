//! Step 4b, signed links that expire (lighttpd's mod_secdownload, until 1.4.67): a path
//! `<uri_prefix><mac>/<hex time><path>` is served as `<document_root><path>` when `mac` signs
//! the path (and the time) with the secret and the time is within `timeout` seconds of now:
//! 403 for a wrong mac, 410 for an old (or future) link. A path not in that form is an
//! ordinary one. The signatures are lighttpd's: md5 (hex of MD5(secret, path, hex time)),
//! hmac-sha1 and hmac-sha256 (base64url of the HMAC of "/<hex time><path>").

use std::ops::ControlFlow;

use http::StatusCode;

use super::auth::hash;
use super::scope::{Change, Scopes};
use super::{Req, Step};
use crate::config::SecdownloadConfig;
use crate::http::pages::status_page;

/// Checks a signed link and points the request at its file.
pub(crate) fn step(scopes: &Scopes, req: &mut Req) -> Step<()> {
    let Some(cfg) = req.site.secdownload.clone() else {
        return ControlFlow::Continue(());
    };
    let Some(rest) = req.target.path.strip_prefix(cfg.uri_prefix.as_str()) else {
        return ControlFlow::Continue(());
    };
    let Some((mac, time, path)) = parse(rest, &cfg.algorithm) else {
        return ControlFlow::Continue(());
    };
    let mut signed = match cfg.path_segments {
        0 => path.to_owned(),
        n => {
            let end = path
                .match_indices('/')
                .nth(n)
                .map_or(path.len(), |(i, _)| i);
            path[..end].to_owned()
        }
    };
    if cfg.hash_querystr
        && let Some(q) = &req.target.query
    {
        signed.push('?');
        signed.push_str(q);
    }
    let want = sign(&cfg, &signed, time);
    // md5's hex in either case; base64url exactly; in time that does not tell where they differ.
    let mac = if cfg.algorithm == "md5" {
        mac.to_ascii_lowercase()
    } else {
        mac.to_owned()
    };
    if !super::auth::same(want.as_bytes(), mac.as_bytes()) {
        tracing::info!(
            "{}: secdownload: wrong signature for {}",
            req.conn.remote,
            req.target.path
        );
        return ControlFlow::Break(status_page(StatusCode::FORBIDDEN));
    }
    let now = crate::http::date::now_secs();
    let ts = u64::from_str_radix(time, 16).unwrap_or(0);
    if now.abs_diff(ts) > cfg.timeout {
        return ControlFlow::Break(status_page(StatusCode::GONE));
    }
    let path = path.to_owned();
    if let Err(e) = scopes.derived(&mut req.site, Change::Root(cfg.document_root.clone())) {
        tracing::error!("{}: secdownload: {e}", req.conn.remote);
        return ControlFlow::Break(status_page(StatusCode::INTERNAL_SERVER_ERROR));
    }
    req.target.path = path;
    ControlFlow::Continue(())
}

/// `(mac, hex time, /path)` of `<mac>/<hex time>/path`, when it has that form for the
/// algorithm (its mac's length and characters).
fn parse<'a>(rest: &'a str, algorithm: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let len = match algorithm {
        "md5" => 32,
        "hmac-sha1" => 27,
        "hmac-sha256" => 43,
        _ => return None,
    };
    let (mac, after) = rest.split_at_checked(len)?;
    if !mac
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return None;
    }
    let after = after.strip_prefix('/')?;
    let slash = after.find('/')?;
    let (time, path) = after.split_at(slash);
    if time.is_empty() || time.len() > 16 || !time.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((mac, time, path))
}

/// The signature of `path` at `time` (hex) with the settings' secret and algorithm.
fn sign(cfg: &SecdownloadConfig, path: &str, time: &str) -> String {
    match cfg.algorithm.as_str() {
        "hmac-sha1" => b64url(&hmac::<64, 20>(
            hash::sha1,
            cfg.secret.as_bytes(),
            format!("/{time}{path}").as_bytes(),
        )),
        "hmac-sha256" => b64url(&hmac::<64, 32>(
            hash::sha256,
            cfg.secret.as_bytes(),
            format!("/{time}{path}").as_bytes(),
        )),
        _ => hash::hex(&hash::md5(format!("{}{path}{time}", cfg.secret).as_bytes())),
    }
}

/// HMAC (RFC 2104) with a hash of block size `B` and output size `N`.
fn hmac<const B: usize, const N: usize>(
    h: fn(&[u8]) -> [u8; N],
    key: &[u8],
    msg: &[u8],
) -> [u8; N] {
    let mut k = [0u8; B];
    if key.len() > B {
        k[..N].copy_from_slice(&h(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(msg);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&h(&inner));
    h(&outer)
}

/// base64url without padding.
fn b64url(data: &[u8]) -> String {
    hash::base64(data)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_vectors() {
        // RFC 4231 test case 2 and RFC 2202 test case 2: key "Jefe".
        let msg = b"what do ya want for nothing?";
        assert_eq!(
            hash::hex(&hmac::<64, 32>(hash::sha256, b"Jefe", msg)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hash::hex(&hmac::<64, 20>(hash::sha1, b"Jefe", msg)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn links_in_lighttpd_form() {
        let mac = "0".repeat(32);
        let link = format!("{mac}/5f5e1000/dir/file.txt");
        assert_eq!(
            parse(&link, "md5"),
            Some((mac.as_str(), "5f5e1000", "/dir/file.txt"))
        );
        assert_eq!(parse(&link, "hmac-sha1"), None, "wrong length");
        assert_eq!(parse("zz/5f5e1000/f", "md5"), None);
        assert_eq!(parse(&format!("{mac}/xyz/f"), "md5"), None);
        assert_eq!(parse(&format!("{mac}/5f5e1000"), "md5"), None);
    }
}
