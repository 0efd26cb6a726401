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
    /// private key too (lighttpd's `ssl.pemfile`), then `key` can be left out.
    pub certificate: At<PathBuf>,
    /// The private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC; RSA, ECDSA or Ed25519).
    pub key: Option<At<PathBuf>>,
    /// The oldest protocol accepted: `"1.2"` (default) or `"1.3"`.
    #[serde(default)]
    pub min_version: MinVersion,
    /// Offer HTTP/2 (ALPN `h2`) besides HTTP/1.1.
    #[serde(default = "default_true")]
    pub http2: bool,
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
    /// The file the private key is read from: `key`, else the certificate file.
    pub fn key_file(&self) -> &At<PathBuf> {
        self.key.as_ref().unwrap_or(&self.certificate)
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
