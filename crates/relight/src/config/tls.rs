//! `[[tls]]`: HTTPS on some listeners. Each entry is one certificate (chain and key) for one
//! or more listen addresses; several entries on one address are chosen by the server name the
//! client asks for (SNI, `hosts`), the one without `hosts` being the address's default. What
//! the files hold is checked by `relight -t`, at start and on a reload, by the `tls` module
//! (`src/tls.rs`), with the error at the entry's key.

use std::path::PathBuf;

use serde::Deserialize;

use super::{At, ListenAddr, default_true};

/// One `[[tls]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The addresses that speak HTTPS with this certificate; relight listens on them (they
    /// need not be in `server.listen`).
    pub listen: At<Vec<ListenAddr>>,
    /// The server names (SNI) this certificate is for: `"example.org"`, or `"*.example.org"`
    /// for any one label in front. None: the default certificate of its addresses, for a
    /// client that names no host or one no other entry has.
    #[serde(default)]
    pub hosts: Vec<At<String>>,
    /// The certificate chain (PEM), the server's own certificate first; it may hold the
    /// private key too (lighttpd's `ssl.pemfile`), then `key` can be left out. Needed unless
    /// `self_signed`.
    pub certificate: Option<At<PathBuf>>,
    /// The private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC; RSA, ECDSA or Ed25519).
    pub key: Option<At<PathBuf>>,
    /// The oldest protocol accepted: `"1.2"` (default) or `"1.3"`.
    #[serde(default)]
    pub min_version: MinVersion,
    /// The TLS 1.2 cipher suites offered, by OpenSSL's names, in order of preference (default:
    /// all six rustls has, see [`TLS12_SUITES`]); TLS 1.3's are not affected (as OpenSSL's
    /// cipher list does not). Empty: TLS 1.3 only.
    pub tls12_ciphers: Option<At<Vec<String>>>,
    /// Offer HTTP/2 (ALPN `h2`) besides HTTP/1.1.
    #[serde(default = "default_true")]
    pub http2: bool,
    /// Ask clients for a certificate and verify it against these CA certificates (PEM; lighttpd's
    /// ssl.verifyclient.activate with ssl.verifyclient.ca-file or ssl.ca-file). Backends get
    /// SSL_CLIENT_VERIFY, SSL_CLIENT_S_DN and its attributes, SSL_CLIENT_M_SERIAL.
    pub client_ca: Option<At<PathBuf>>,
    /// With `client_ca`: certificate revocation lists (PEM, one or more, from every CA of the
    /// chain) the client's certificate is checked against; a revoked certificate, or one
    /// whose CA has no list here, is refused (lighttpd's ssl.ca-crl-file, which OpenSSL checks
    /// for the whole chain). Read again on SIGUSR1.
    pub client_crl: Option<At<PathBuf>>,
    /// With `client_ca`: `"required"` (a client without a valid certificate is refused in the
    /// handshake; lighttpd's ssl.verifyclient.enforce, on by default there too) or
    /// `"optional"` (one without a certificate is let in, SSL_CLIENT_VERIFY=NONE).
    #[serde(default)]
    pub client_verify: ClientVerify,
    /// REMOTE_USER for backends from this variable of the client certificate, e.g.
    /// `"SSL_CLIENT_S_DN_CN"` (lighttpd's ssl.verifyclient.username).
    pub client_username: Option<String>,
    /// Pass the client's certificate to backends as SSL_CLIENT_CERT (PEM; lighttpd's
    /// ssl.verifyclient.exportcert).
    #[serde(default)]
    pub client_export_cert: bool,
    /// A device's first boot: when the certificate and key files do not exist, make a key and
    /// a self-signed certificate for `hosts` (else `localhost`, the machine's name and the
    /// listen addresses), and write them there (mode 0600; by default
    /// `relight-selfsigned.crt` and `.key` beside the configuration file), to be used from then
    /// on.
    #[serde(default)]
    pub self_signed: bool,
}

/// The TLS 1.2 suites rustls offers (ring provider), by OpenSSL's names, in rustls' order,
/// each with the OpenSSL cipher-string words that select it.
pub const TLS12_SUITES: &[(&str, &[&str])] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        &["aECDSA", "ECDSA", "AES256", "AESGCM", "AES", "SHA384"],
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        &["aECDSA", "ECDSA", "AES128", "AESGCM", "AES", "SHA256"],
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        &["aECDSA", "ECDSA", "CHACHA20"],
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        &["aRSA", "AES256", "AESGCM", "AES", "SHA384"],
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        &["aRSA", "AES128", "AESGCM", "AES", "SHA256"],
    ),
    ("ECDHE-RSA-CHACHA20-POLY1305", &["aRSA", "CHACHA20"]),
];

/// Words every one of [`TLS12_SUITES`] answers to (ECDHE key exchange, AEAD, strong).
const EVERY_SUITE: &[&str] = &[
    "ALL", "DEFAULT", "HIGH", "ECDHE", "EECDH", "kECDHE", "kEECDH", "ECDH", "AEAD", "TLSv1.2",
];

/// The TLS 1.2 suites an OpenSSL cipher string (`ssl.cipher-list`) selects among
/// [`TLS12_SUITES`], in the order it gives them: words add the suites they select (`A+B`: both
/// must hold), `-word` takes them out, `!word` takes them out for good, `+word` moves them to
/// the end; `@STRENGTH` and `@SECLEVEL=n` change nothing here (every suite is 128 bits or
/// more, forward-secret and AEAD). A word naming only what rustls does not have (RSA key
/// exchange, CBC, 3DES, DHE, ...) selects nothing.
pub fn openssl_cipher_list(list: &str) -> Vec<&'static str> {
    // FIPS: the AES-GCM suites (no ChaCha20); COMPLEMENTOFDEFAULT (what DEFAULT leaves
    // out): none of these.
    let selects = |suite: &(&str, &[&str]), word: &str| {
        word.split('+').filter(|w| !w.is_empty()).all(|w| {
            suite.0 == w
                || suite.1.contains(&w)
                || EVERY_SUITE.contains(&w)
                || (w == "FIPS" && suite.1.contains(&"AESGCM"))
        })
    };
    let mut chosen: Vec<&'static (&'static str, &'static [&'static str])> = Vec::new();
    let mut banned: Vec<&'static str> = Vec::new();
    for word in list
        .split([':', ',', ' ', ';'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        if word.starts_with('@') {
            continue;
        }
        let (op, w) = match word.as_bytes()[0] {
            b'!' | b'-' | b'+' => (word.as_bytes()[0], &word[1..]),
            _ => (b'=', word),
        };
        match op {
            b'!' => {
                chosen.retain(|s| !selects(s, w));
                banned.extend(TLS12_SUITES.iter().filter(|s| selects(s, w)).map(|s| s.0));
            }
            b'-' => chosen.retain(|s| !selects(s, w)),
            b'+' => {
                let (moved, kept): (Vec<_>, Vec<_>) =
                    chosen.into_iter().partition(|s| selects(s, w));
                chosen = kept.into_iter().chain(moved).collect();
            }
            _ => {
                for s in TLS12_SUITES {
                    if selects(s, w) && !banned.contains(&s.0) && !chosen.iter().any(|c| c.0 == s.0)
                    {
                        chosen.push(s);
                    }
                }
            }
        }
    }
    chosen.into_iter().map(|s| s.0).collect()
}

/// Where a self-signed certificate goes when `certificate` is not set.
pub const SELF_SIGNED_CERT: &str = "relight-selfsigned.crt";
/// Where its key goes when `key` is not set.
pub const SELF_SIGNED_KEY: &str = "relight-selfsigned.key";

/// Whether a client certificate is required.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientVerify {
    /// A client without a valid certificate is refused in the handshake.
    #[default]
    Required,
    /// A client without a certificate is let in; one with an invalid one is refused.
    Optional,
}

/// The oldest TLS version a listener accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    Tls13,
}

impl TlsConfig {
    /// The certificate file: `certificate`, else (self-signed) the default beside the
    /// configuration in `dir`.
    pub fn cert_file(&self, dir: &std::path::Path) -> At<PathBuf> {
        self.certificate
            .clone()
            .unwrap_or_else(|| At::new(dir.join(SELF_SIGNED_CERT), self.listen.loc.clone()))
    }

    /// The file the private key is read from: `key`, else the certificate file; for a
    /// self-signed entry without `key`, the default key file beside the configuration.
    pub fn key_file(&self, dir: &std::path::Path) -> At<PathBuf> {
        match (&self.key, &self.certificate) {
            (Some(k), _) => k.clone(),
            (None, Some(c)) if !self.self_signed => c.clone(),
            (None, _) => At::new(dir.join(SELF_SIGNED_KEY), self.listen.loc.clone()),
        }
    }
}

/// Whether `pattern` (`example.org`, `*.example.org`) names `host` (both lowercase ASCII): a
/// wildcard stands for exactly one label, as in certificates (RFC 6125 §6.4.3).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::host_matches;

    #[test]
    fn openssl_cipher_strings_select_rustls_suites() {
        use super::openssl_cipher_list as list;
        let all: Vec<&str> = super::TLS12_SUITES.iter().map(|s| s.0).collect();
        assert_eq!(list("HIGH:!aNULL:!MD5"), all);
        assert_eq!(list("DEFAULT"), all);
        assert_eq!(
            list("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"),
            [
                "ECDHE-RSA-AES128-GCM-SHA256",
                "ECDHE-ECDSA-AES128-GCM-SHA256"
            ]
        );
        assert_eq!(
            list("EECDH+AESGCM:EDH+AESGCM"),
            [
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-RSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES128-GCM-SHA256"
            ]
        );
        assert_eq!(
            list("HIGH:!CHACHA20:-aRSA:+AES256"),
            [
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-ECDSA-AES256-GCM-SHA384"
            ]
        );
        // !word bans for good; what rustls does not have selects nothing.
        assert_eq!(list("!aRSA:ALL"), &all[..3]);
        assert!(list("AES256-SHA:DHE-RSA-AES256-GCM-SHA384:3DES").is_empty());
        assert_eq!(list("ALL:!COMPLEMENTOFDEFAULT:!eNULL"), all);
        assert!(list("FIPS").iter().all(|s| !s.contains("CHACHA20")));
        assert_eq!(list("FIPS").len(), 4);
    }

    #[test]
    fn a_wildcard_is_one_label() {
        assert!(host_matches("example.org", "example.org"));
        assert!(!host_matches("example.org", "www.example.org"));
        assert!(host_matches("*.example.org", "www.example.org"));
        assert!(!host_matches("*.example.org", "example.org"));
        assert!(!host_matches("*.example.org", "a.b.example.org"));
        assert!(!host_matches("*.example.org", ".example.org"));
    }
}
