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
    /// Offer HTTP/2 (ALPN `h2`) besides HTTP/1.1.
    #[serde(default = "default_true")]
    pub http2: bool,
    /// Ask clients for a certificate and verify it against these CA certificates (PEM; lighttpd's
    /// ssl.verifyclient.activate with ssl.verifyclient.ca-file or ssl.ca-file). Backends get
    /// SSL_CLIENT_VERIFY, SSL_CLIENT_S_DN and its attributes, SSL_CLIENT_M_SERIAL.
    pub client_ca: Option<At<PathBuf>>,
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

    /// The file the private key is read from: `key`, else the certificate file (or, for a
    /// self-signed one without either, the default key file beside the configuration).
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
    fn a_wildcard_is_one_label() {
        assert!(host_matches("example.org", "example.org"));
        assert!(!host_matches("example.org", "www.example.org"));
        assert!(host_matches("*.example.org", "www.example.org"));
        assert!(!host_matches("*.example.org", "example.org"));
        assert!(!host_matches("*.example.org", "a.b.example.org"));
        assert!(!host_matches("*.example.org", ".example.org"));
    }
}
