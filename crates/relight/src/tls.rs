//! HTTPS: the `[[tls]]` entries' certificates loaded into rustls (with the `ring` provider),
//! one rustls configuration per entry, the choice among an address's entries by the server
//! name the client sends (SNI), and the handshake. What the files hold is checked when the
//! configuration is read, with the error at the entry's key; a running server loads them again
//! on a reload (SIGUSR1), and keeps the ones it has when that fails.
//!
//! Each configuration offers TLS 1.3 and 1.2 (or 1.3 only), rustls' default cipher suites
//! (AEAD with forward secrecy only), ALPN `h2` and `http/1.1`, and session resumption by
//! tickets whose key rotates (rustls' ticketer: a new key every 6 hours, the previous one still
//! accepted) and by a session cache; rustls never renegotiates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{Acceptor, ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::{Config, Error, MinVersion, TlsConfig, host_matches};

/// The TLS of every HTTPS address of a configuration.
#[derive(Debug, Default)]
pub(crate) struct Tls {
    listeners: HashMap<SocketAddr, Arc<Listener>>,
}

/// One HTTPS address: a rustls configuration per certificate, chosen by server name.
#[derive(Debug)]
pub(crate) struct Listener {
    /// The entries with `hosts`, in the file's order.
    named: Vec<(Vec<String>, Arc<ServerConfig>)>,
    /// The entry without `hosts`; `None`: a name no entry has is refused.
    default: Option<Arc<ServerConfig>>,
}

impl Tls {
    /// Loads every `[[tls]]` entry of `config`; the error names the entry's key that is wrong
    /// and why (a file that cannot be read, holds no certificate or key, or a key that is not
    /// the certificate's).
    pub(crate) fn load(config: &Config) -> Result<Tls, Error> {
        let mut listeners: HashMap<SocketAddr, Listener> = HashMap::new();
        for t in &config.tls {
            let server = Arc::new(server_config(config, t)?);
            let hosts: Vec<String> = t
                .hosts
                .iter()
                .map(|h| h.value.to_ascii_lowercase())
                .collect();
            for addr in &t.listen.value {
                let l = listeners.entry(addr.0).or_insert(Listener {
                    named: Vec::new(),
                    default: None,
                });
                if hosts.is_empty() {
                    if l.default.is_some() {
                        return Err(config.error(
                            &t.listen.loc,
                            format!(
                                "tls: {} has two certificates without `hosts` (one may be the default)",
                                addr.0
                            ),
                        ));
                    }
                    l.default = Some(server.clone());
                } else {
                    for (h, at) in hosts.iter().zip(&t.hosts) {
                        if l.named.iter().any(|(names, _)| names.contains(h)) {
                            return Err(config.error(
                                &at.loc,
                                format!("tls: {h:?} has two certificates on {}", addr.0),
                            ));
                        }
                    }
                    l.named.push((hosts.clone(), server.clone()));
                }
            }
        }
        Ok(Tls {
            listeners: listeners
                .into_iter()
                .map(|(a, l)| (a, Arc::new(l)))
                .collect(),
        })
    }

    /// The TLS of the address a listener is bound to, if it speaks HTTPS.
    pub(crate) fn listener(&self, addr: &SocketAddr) -> Option<&Arc<Listener>> {
        self.listeners.get(addr)
    }

    /// The HTTPS addresses.
    pub(crate) fn addrs(&self) -> impl Iterator<Item = &SocketAddr> {
        self.listeners.keys()
    }
}

impl Listener {
    /// The configuration for a client that asked for `name` (lowercase): the first entry
    /// naming it, else the default.
    fn choose(&self, name: Option<&str>) -> Option<&Arc<ServerConfig>> {
        name.and_then(|n| {
            self.named
                .iter()
                .find(|(hosts, _)| hosts.iter().any(|h| host_matches(h, n)))
                .map(|(_, c)| c)
        })
        .or(self.default.as_ref())
    }
}

/// The protocol versions rustls offers at `min`.
fn versions(min: MinVersion) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static BOTH: [&rustls::SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    static ONLY_13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match min {
        MinVersion::Tls12 => &BOTH,
        MinVersion::Tls13 => &ONLY_13,
    }
}

/// The rustls configuration of one entry.
fn server_config(config: &Config, t: &TlsConfig) -> Result<ServerConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = certified_key(config, t, &provider)?;
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions(t.min_version))
        .map_err(|e| config.error(&t.certificate.loc, format!("tls: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(Arc::new(key))));
    server.alpn_protocols = if t.http2 && cfg!(feature = "http2") {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    server.ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|e| config.error(&t.certificate.loc, format!("tls: session tickets: {e}")))?;
    Ok(server)
}

/// The entry's certificate chain and private key, checked to belong together.
fn certified_key(
    config: &Config,
    t: &TlsConfig,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, Error> {
    let cert = &t.certificate;
    let chain = CertificateDer::pem_file_iter(&cert.value)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            config.error(
                &cert.loc,
                format!("certificate {}: {e}", cert.value.display()),
            )
        })?;
    if chain.is_empty() {
        return Err(config.error(
            &cert.loc,
            format!(
                "certificate {}: no certificate in it (a PEM \"CERTIFICATE\" block)",
                cert.value.display()
            ),
        ));
    }
    let key_file = t.key_file();
    let key = PrivateKeyDer::from_pem_file(&key_file.value).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key in it (a PEM \"PRIVATE KEY\" block)".to_string()
            }
            e => e.to_string(),
        };
        config.error(
            &key_file.loc,
            format!("private key {}: {why}", key_file.value.display()),
        )
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        let why = match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                "it is not the key of that certificate".to_string()
            }
            e => e.to_string(),
        };
        config.error(
            &key_file.loc,
            format!(
                "private key {} with certificate {}: {why}",
                key_file.value.display(),
                cert.value.display()
            ),
        )
    })
}

/// One certificate for every client of a configuration.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Runs the TLS handshake of a new connection on `io` within `within`: reads the client's
/// hello, chooses the certificate for the name it asks for, and completes the handshake. The
/// error says what went wrong, for a log line.
pub(crate) async fn handshake<IO>(
    listener: &Listener,
    io: IO,
    within: Duration,
) -> Result<TlsStream<IO>, String>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + within;
    let late = || format!("no TLS handshake within {within:?}");
    let start = tokio::time::timeout_at(deadline, LazyConfigAcceptor::new(Acceptor::default(), io))
        .await
        .map_err(|_| late())?
        .map_err(|e| {
            let plain = e
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>())
                .is_some_and(|e| {
                    matches!(
                        e,
                        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
                    )
                });
            if plain {
                format!("TLS: {e} (not TLS: plain HTTP to an HTTPS port?)")
            } else {
                format!("TLS: {e}")
            }
        })?;
    let name = start
        .client_hello()
        .server_name()
        .map(str::to_ascii_lowercase);
    let Some(config) = listener.choose(name.as_deref()) else {
        // No certificate for it: the handshake fails with an alert (rustls finds no
        // certificate to offer), never with a certificate for another name.
        let _ = tokio::time::timeout_at(deadline, start.into_stream(refusing())).await;
        return Err(match name {
            Some(n) => format!("TLS: no certificate for the server name {n:?} (and no default)"),
            None => "TLS: the client named no server (SNI) and there is no default certificate"
                .to_string(),
        });
    };
    tokio::time::timeout_at(deadline, start.into_stream(config.clone()))
        .await
        .map_err(|_| late())?
        .map_err(|e| format!("TLS: {e}"))
}

/// A configuration with no certificate: its handshakes end in an alert.
fn refusing() -> Arc<ServerConfig> {
    #[derive(Debug)]
    struct Nothing;
    impl ResolvesServerCert for Nothing {
        fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            None
        }
    }
    static REFUSING: std::sync::OnceLock<Arc<ServerConfig>> = std::sync::OnceLock::new();
    REFUSING
        .get_or_init(|| {
            Arc::new(
                ServerConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_protocol_versions(versions(MinVersion::Tls12))
                .expect("rustls' ring provider supports TLS 1.2 and 1.3")
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(Nothing)),
            )
        })
        .clone()
}

/// Checks that every `[[tls]]` entry's certificate and key load and belong together (what
/// `relight -t` and the start run); the error is at the entry's key.
pub fn check(config: &Config) -> Result<(), Error> {
    Tls::load(config).map(drop)
}

/// What `conn` negotiated, named as lighttpd's mod_openssl (OpenSSL) names it for backends.
pub(crate) fn info(conn: &rustls::ServerConnection) -> crate::http::TlsInfo {
    use rustls::CipherSuite as S;
    let protocol = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "TLSv1.3",
    };
    let (cipher, bits) = match conn.negotiated_cipher_suite().map(|s| s.suite()) {
        Some(S::TLS13_AES_128_GCM_SHA256) => ("TLS_AES_128_GCM_SHA256", "128"),
        Some(S::TLS13_AES_256_GCM_SHA384) => ("TLS_AES_256_GCM_SHA384", "256"),
        Some(S::TLS13_CHACHA20_POLY1305_SHA256) => ("TLS_CHACHA20_POLY1305_SHA256", "256"),
        Some(S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) => {
            ("ECDHE-ECDSA-AES128-GCM-SHA256", "128")
        }
        Some(S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384) => {
            ("ECDHE-ECDSA-AES256-GCM-SHA384", "256")
        }
        Some(S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256) => {
            ("ECDHE-ECDSA-CHACHA20-POLY1305", "256")
        }
        Some(S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) => ("ECDHE-RSA-AES128-GCM-SHA256", "128"),
        Some(S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) => ("ECDHE-RSA-AES256-GCM-SHA384", "256"),
        Some(S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256) => {
            ("ECDHE-RSA-CHACHA20-POLY1305", "256")
        }
        // The ring provider has no other suite.
        _ => ("", ""),
    };
    crate::http::TlsInfo {
        protocol,
        cipher,
        bits,
    }
}
