//! HTTP Digest authentication (RFC 7616, as lighttpd's mod_auth speaks it): the challenge
//! with a nonce relight made, the `Authorization: Digest` parameters, and the check of a
//! response against the user's HA1 (from a plain password, or an htdigest line).
//!
//! A nonce is `time:mac` in hex, as lighttpd's (`time:hash`): the second it was made and a
//! keyed hash of that second under a secret drawn at start, so relight keeps no state per
//! client; one older than [`NONCE_LIFETIME`] is answered with a new challenge marked
//! `stale=true` (the browser retries without asking the user again). lighttpd 1.4.69 does not
//! check the hash part (any recent time passes); relight refuses a nonce it did not make.
//! Nonce counts are not tracked (as lighttpd). Clients may answer with the `-sess` variants,
//! which lighttpd accepts without offering them.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::hash;
use crate::config::{AuthRule, DigestAlgorithm};

/// How long a nonce is good for.
pub(crate) const NONCE_LIFETIME: Duration = Duration::from_secs(600);

/// The secret nonces are made with: random, drawn once per process.
fn secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(|| {
        let mut s = [0u8; 32];
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            use std::io::Read;
            let _ = f.read_exact(&mut s);
        }
        // Without /dev/urandom (a chroot without /dev): the time and the pid, still unknown
        // to a client that has not seen the process start.
        if s == [0u8; 32] {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let seed = format!("{}:{:?}", std::process::id(), now);
            s = hash::sha256(seed.as_bytes());
        }
        s
    })
}

use crate::http::date::now_secs;

/// The keyed hash of a nonce's time (and the realm it was made for).
fn mac(time: u64, realm: &str) -> String {
    let mut data = Vec::with_capacity(64 + realm.len());
    data.extend_from_slice(secret());
    data.extend_from_slice(format!("{time:x}:").as_bytes());
    data.extend_from_slice(realm.as_bytes());
    hash::hex(&hash::sha256(&data)[..16])
}

/// A new nonce for `realm`.
pub(crate) fn nonce(realm: &str) -> String {
    let t = now_secs();
    format!("{t:x}:{}", mac(t, realm))
}

/// What a nonce a client returned is worth.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NonceState {
    /// Made by this process for this realm, and recent.
    Fresh,
    /// Made by this process, but too old: ask again with `stale=true`.
    Stale,
    /// Not one of ours.
    Invalid,
}

/// Checks a nonce a client returned for `realm`.
pub(crate) fn check_nonce(n: &str, realm: &str) -> NonceState {
    let Some((t, m)) = n.split_once(':') else {
        return NonceState::Invalid;
    };
    let Ok(time) = u64::from_str_radix(t, 16) else {
        return NonceState::Invalid;
    };
    if !super::same(mac(time, realm).as_bytes(), m.as_bytes()) {
        return NonceState::Invalid;
    }
    let now = now_secs();
    if time > now + 1 || now.saturating_sub(time) > NONCE_LIFETIME.as_secs() {
        return NonceState::Stale;
    }
    NonceState::Fresh
}

/// The `WWW-Authenticate` values of a 401 for `rule`: one per algorithm, the strongest first
/// (as lighttpd); after a stale nonce, only the one the client used, marked `stale=true`.
pub(crate) fn challenges(rule: &AuthRule, stale: Option<DigestAlgorithm>) -> Vec<String> {
    let realm = quoted(&rule.realm);
    let n = nonce(&rule.realm);
    [DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
        .into_iter()
        .filter(|a| rule.algorithm.contains(a) && stale.is_none_or(|s| s == *a))
        .map(|a| {
            format!(
                "Digest realm=\"{realm}\", charset=\"UTF-8\", algorithm={}, nonce=\"{n}\", qop=\"auth\"{}",
                a.as_str(),
                if stale.is_some() { ", stale=true" } else { "" }
            )
        })
        .collect()
}

/// `s` escaped for a quoted-string.
pub(crate) fn quoted(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The parameters of `Authorization: Digest ...`, as `(name, value)` pairs (names in lower
/// case, quoted values unescaped); `None` when they cannot be read.
pub(crate) fn parse_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t' || b[i] == b',') {
            i += 1;
        }
        if i == b.len() {
            return Some(out);
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' && b[i] != b' ' {
            i += 1;
        }
        let name = s[start..i].to_ascii_lowercase();
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if name.is_empty() || i == b.len() || b[i] != b'=' {
            return None;
        }
        i += 1;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = Vec::new();
            loop {
                match b.get(i) {
                    None => return None,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        v.push(*b.get(i + 1)?);
                        i += 2;
                    }
                    Some(&c) => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            String::from_utf8(v).ok()?
        } else {
            let start = i;
            while i < b.len() && b[i] != b',' && b[i] != b' ' {
                i += 1;
            }
            s[start..i].to_string()
        };
        out.push((name, value));
    }
}

/// A Digest response a client sent, its parameters read.
#[derive(Debug)]
pub(crate) struct Response {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: DigestAlgorithm,
    /// The `-sess` variant: HA1 is hashed again with the nonce and cnonce.
    pub sess: bool,
    /// `cnonce`, when sent.
    pub cnonce: Option<String>,
    /// `qop`, `nc` and `cnonce`, when the client used qop=auth (RFC 2069 clients do not).
    pub qop: Option<(String, String)>,
}

/// Why a Digest response cannot be checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// Malformed, missing what every response has, a response that is not hex of the
    /// algorithm's length, or a qop other than "auth" (auth-int): 400, as lighttpd.
    Malformed,
    /// An algorithm relight does not speak, or userhash: a new challenge (401).
    Unsupported,
}

impl Response {
    /// The response in these parameters.
    pub(crate) fn from_params(params: &[(String, String)]) -> Result<Response, Unreadable> {
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let need = |k: &str| get(k).ok_or(Unreadable::Malformed);
        let named = get("algorithm").unwrap_or_else(|| "MD5".into());
        let (base, sess) = match named.len().checked_sub(5) {
            Some(i) if named.is_char_boundary(i) && named[i..].eq_ignore_ascii_case("-sess") => {
                (&named[..i], true)
            }
            _ => (named.as_str(), false),
        };
        let algorithm = if base.eq_ignore_ascii_case("MD5") {
            DigestAlgorithm::Md5
        } else if base.eq_ignore_ascii_case("SHA-256") {
            DigestAlgorithm::Sha256
        } else {
            return Err(Unreadable::Unsupported);
        };
        let cnonce = get("cnonce");
        if sess && cnonce.is_none() {
            return Err(Unreadable::Malformed);
        }
        let qop = match get("qop").as_deref() {
            None => None,
            Some("auth") => Some((need("nc")?, need("cnonce")?)),
            Some(_) => return Err(Unreadable::Malformed),
        };
        let response = need("response")?;
        let len = match algorithm {
            DigestAlgorithm::Md5 => 32,
            DigestAlgorithm::Sha256 => 64,
        };
        if response.len() != len || !response.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Unreadable::Malformed);
        }
        if get("userhash").is_some_and(|u| u.eq_ignore_ascii_case("true")) {
            return Err(Unreadable::Unsupported);
        }
        Ok(Response {
            username: need("username")?,
            realm: need("realm")?,
            nonce: need("nonce")?,
            uri: need("uri")?,
            response: response.to_ascii_lowercase(),
            algorithm,
            sess,
            cnonce,
            qop,
        })
    }

    /// The response the client should have sent for `method`, given the user's `ha1` (hex).
    pub(crate) fn expected(&self, method: &str, ha1: &str) -> String {
        let h = |s: &str| h(self.algorithm, s.as_bytes());
        let sess_ha1;
        let ha1 = match (&self.cnonce, self.sess) {
            (Some(cnonce), true) => {
                sess_ha1 = h(&format!("{ha1}:{}:{cnonce}", self.nonce));
                sess_ha1.as_str()
            }
            _ => ha1,
        };
        let ha2 = h(&format!("{method}:{}", self.uri));
        match &self.qop {
            Some((nc, cnonce)) => h(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce)),
            None => h(&format!("{ha1}:{}:{ha2}", self.nonce)),
        }
    }
}

/// `algorithm`'s hash of `data`, in hex.
pub(crate) fn h(algorithm: DigestAlgorithm, data: &[u8]) -> String {
    match algorithm {
        DigestAlgorithm::Md5 => hash::hex(&hash::md5(data)),
        DigestAlgorithm::Sha256 => hash::hex(&hash::sha256(data)),
    }
}

/// HA1 of a user whose password is known.
pub(crate) fn ha1(algorithm: DigestAlgorithm, user: &str, realm: &str, password: &[u8]) -> String {
    let mut data = format!("{user}:{realm}:").into_bytes();
    data.extend_from_slice(password);
    h(algorithm, &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example() {
        // RFC 2617 §3.5: Mufasa / "Circle Of Life".
        let params = parse_params(
            "username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        let r = Response::from_params(&params).unwrap();
        let ha1 = ha1(
            DigestAlgorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            b"Circle Of Life",
        );
        assert_eq!(r.expected("GET", &ha1), r.response);
    }

    #[test]
    fn rfc_7616_sha256_example() {
        // RFC 7616 §3.9.1.
        let params = parse_params(
            "username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\"",
        )
        .unwrap();
        let r = Response::from_params(&params).unwrap();
        let ha1 = ha1(
            DigestAlgorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            b"Circle of Life",
        );
        assert_eq!(r.expected("GET", &ha1), r.response);
    }

    #[test]
    fn nonces_are_ours_and_age() {
        let n = nonce("r");
        assert_eq!(check_nonce(&n, "r"), NonceState::Fresh);
        assert_eq!(check_nonce(&n, "other"), NonceState::Invalid);
        assert_eq!(check_nonce("abc", "r"), NonceState::Invalid);
        let old = now_secs() - NONCE_LIFETIME.as_secs() - 5;
        assert_eq!(
            check_nonce(&format!("{old:x}:{}", mac(old, "r")), "r"),
            NonceState::Stale
        );
        // Made a second ahead (the clock stepped back): fresh, and no underflow.
        let ahead = now_secs() + 1;
        assert_eq!(
            check_nonce(&format!("{ahead:x}:{}", mac(ahead, "r")), "r"),
            NonceState::Fresh
        );
        let forged = format!("{:x}:{}", now_secs(), "0".repeat(32));
        assert_eq!(check_nonce(&forged, "r"), NonceState::Invalid);
    }

    #[test]
    fn malformed_and_unsupported() {
        assert!(parse_params("username=\"unterminated").is_none());
        assert!(parse_params("=x").is_none());
        let p = parse_params("username=\"a\", realm=\"r\", nonce=\"n\", uri=\"/\"").unwrap();
        assert_eq!(
            Response::from_params(&p).unwrap_err(),
            Unreadable::Malformed
        );
        let p =
            parse_params("username=a, realm=r, nonce=n, uri=/, response=x, algorithm=SHA-512-256")
                .unwrap();
        assert_eq!(
            Response::from_params(&p).unwrap_err(),
            Unreadable::Unsupported
        );
        let r32 = "0".repeat(32);
        for bad in [
            "response=x".to_string(),
            format!("response={r32}, qop=auth-int, nc=1, cnonce=c"),
            format!("response={r32}, qop=auth"),
            format!("response={r32}, algorithm=MD5-sess"),
        ] {
            let p = parse_params(&format!("username=a, realm=r, nonce=n, uri=/, {bad}")).unwrap();
            assert_eq!(
                Response::from_params(&p).unwrap_err(),
                Unreadable::Malformed,
                "{bad}"
            );
        }
    }

    #[test]
    fn sess_variant() {
        // RFC 2617's example, answered with MD5-sess: HA1 = MD5(HA1:nonce:cnonce).
        let base = ha1(
            DigestAlgorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            b"Circle Of Life",
        );
        let nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
        let sess = h(
            DigestAlgorithm::Md5,
            format!("{base}:{nonce}:0a4f113b").as_bytes(),
        );
        let ha2 = h(DigestAlgorithm::Md5, b"GET:/dir/index.html");
        let want = h(
            DigestAlgorithm::Md5,
            format!("{sess}:{nonce}:00000001:0a4f113b:auth:{ha2}").as_bytes(),
        );
        let p = parse_params(&format!(
            "username=Mufasa, realm=\"testrealm@host.com\", nonce={nonce}, uri=/dir/index.html, algorithm=MD5-sess, qop=auth, nc=00000001, cnonce=0a4f113b, response={want}"
        ))
        .unwrap();
        let r = Response::from_params(&p).unwrap();
        assert_eq!(r.expected("GET", &base), want);
    }
}
