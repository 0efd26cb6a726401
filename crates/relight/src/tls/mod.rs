//! HTTPS: the `[[tls]]` entries' certificates loaded into rustls (with the `ring` provider),
//! one rustls configuration per entry, the choice among an address's entries by the server
//! name the client sends (SNI), and the handshake. What the files hold is checked when the
//! configuration is read, with the error at the entry's key; a running server loads them again
//! on a reload (SIGUSR1), and keeps the ones it has when that fails.
//!
//! With `client_ca`, clients are asked for a certificate that rustls (webpki) verifies against
//! those CAs; what backends are told of it is read by [`x509`].
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

use crate::config::{ClientVerify, Config, Error, MinVersion, TlsConfig, host_matches};

mod x509;

/// The TLS of every HTTPS address of a configuration.
#[derive(Debug, Default)]
pub(crate) struct Tls {
    listeners: HashMap<SocketAddr, Arc<Listener>>,
}

/// One HTTPS address: a rustls configuration per certificate, chosen by server name.
#[derive(Debug)]
pub(crate) struct Listener {
    /// The entries with `hosts`, in the file's order.
    named: Vec<(Vec<String>, Arc<Entry>)>,
    /// The entry without `hosts`; `None`: a name no entry has is refused.
    default: Option<Arc<Entry>>,
}

/// One `[[tls]]` entry, ready: its rustls configuration and what backends are told of a
/// client certificate.
#[derive(Debug)]
pub(crate) struct Entry {
    config: Arc<ServerConfig>,
    /// The variable whose value is REMOTE_USER (`client_username`).
    username: Option<String>,
    /// SSL_CLIENT_CERT too.
    export_cert: bool,
    /// Clients are asked for a certificate.
    verifies: bool,
}

impl Tls {
    /// Loads every `[[tls]]` entry of `config`; the error names the entry's key that is wrong
    /// and why (a file that cannot be read, holds no certificate or key, or a key that is not
    /// the certificate's).
    /// A `self_signed` entry whose files do not exist gets a new certificate, written there.
    pub(crate) fn load(config: &Config) -> Result<Tls, Error> {
        Tls::load_with(config, true)
    }

    /// [`Tls::load`]; `write`: self-signed certificates that are made are written (else they
    /// are made only to check that they can be).
    fn load_with(config: &Config, write: bool) -> Result<Tls, Error> {
        let mut listeners: HashMap<SocketAddr, Listener> = HashMap::new();
        for t in &config.tls {
            let server = Arc::new(Entry {
                config: Arc::new(server_config(config, t, write)?),
                username: t.client_username.clone(),
                export_cert: t.client_export_cert,
                verifies: t.client_ca.is_some(),
            });
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
    fn choose(&self, name: Option<&str>) -> Option<&Arc<Entry>> {
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
fn server_config(config: &Config, t: &TlsConfig, write: bool) -> Result<ServerConfig, Error> {
    let mut provider = rustls::crypto::ring::default_provider();
    let mut min_version = t.min_version;
    if let Some(list) = &t.tls12_ciphers {
        for name in &list.value {
            if !crate::config::TLS12_SUITES.iter().any(|(n, _)| n == name) {
                let names: Vec<&str> = crate::config::TLS12_SUITES.iter().map(|s| s.0).collect();
                return Err(config.error(
                    &list.loc,
                    format!(
                        "tls12_ciphers: {name:?} is not a TLS 1.2 suite rustls has ({})",
                        names.join(", ")
                    ),
                ));
            }
        }
        // TLS 1.3's suites as they are, then the TLS 1.2 ones listed, in the list's order.
        let rank = |s: &rustls::SupportedCipherSuite| match s {
            rustls::SupportedCipherSuite::Tls13(_) => Some(0),
            _ => openssl_name(s.suite())
                .and_then(|(n, _)| list.value.iter().position(|l| l == n))
                .map(|i| i + 1),
        };
        provider.cipher_suites.retain(|s| rank(s).is_some());
        provider.cipher_suites.sort_by_key(|s| rank(s));
        if list.value.is_empty() {
            min_version = MinVersion::Tls13;
        }
    }
    let provider = Arc::new(provider);
    let key = certified_key(config, t, &provider, write)?;
    let cert = t.cert_file(&config.config_dir);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(min_version))
        .map_err(|e| config.error(&cert.loc, format!("tls: {e}")))?;
    let builder = match &t.client_ca {
        None => {
            if let Some(crl) = &t.client_crl {
                return Err(config.error(
                    &crl.loc,
                    "client_crl: revocation lists are for client certificates, and client_ca is not set",
                ));
            }
            builder.with_no_client_auth()
        }
        Some(ca) => {
            let fail = |why: String| {
                config.error(&ca.loc, format!("client_ca {}: {why}", ca.value.display()))
            };
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(&ca.value).map_err(|e| fail(e.to_string()))? {
                roots
                    .add(c.map_err(|e| fail(e.to_string()))?)
                    .map_err(|e| fail(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(fail("no certificate in it".into()));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = match &t.client_crl {
                None => verifier,
                Some(crl) => {
                    let fail = |why: String| {
                        config.error(
                            &crl.loc,
                            format!("client_crl {}: {why}", crl.value.display()),
                        )
                    };
                    let crls =
                        rustls::pki_types::CertificateRevocationListDer::pem_file_iter(&crl.value)
                            .map_err(|e| fail(e.to_string()))?
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| fail(e.to_string()))?;
                    if crls.is_empty() {
                        return Err(fail("no revocation list in it".into()));
                    }
                    verifier.with_crls(crls)
                }
            };
            let verifier = match t.client_verify {
                ClientVerify::Required => verifier,
                ClientVerify::Optional => verifier.allow_unauthenticated(),
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| fail(e.to_string()))?)
        }
    };
    let mut server = builder.with_cert_resolver(Arc::new(Fixed(Arc::new(key))));
    server.alpn_protocols = if t.http2 && cfg!(feature = "http2") {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    // The server's order of suites (rustls': AES-256-GCM, AES-128-GCM, ChaCha20-Poly1305; ECDSA
    // before RSA for TLS 1.2), not the client's (what testssl.sh calls a server cipher order).
    server.ignore_client_order = true;
    server.ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|e| config.error(&cert.loc, format!("tls: session tickets: {e}")))?;
    Ok(server)
}

/// The entry's certificate chain and private key, checked to belong together.
fn certified_key(
    config: &Config,
    t: &TlsConfig,
    provider: &CryptoProvider,
    write: bool,
) -> Result<CertifiedKey, Error> {
    let cert = &t.cert_file(&config.config_dir);
    let key_file = &t.key_file(&config.config_dir);
    if t.certificate.is_none() && !t.self_signed {
        return Err(config.error(
            &t.listen.loc,
            "tls: `certificate` is not set (or set self_signed = true)",
        ));
    }
    if t.self_signed && !(cert.value.exists() && key_file.value.exists()) {
        let (chain, key) = self_signed(config, t, &cert.value, &key_file.value, write)?;
        return CertifiedKey::from_der(chain, key, provider)
            .map_err(|e| config.error(&t.listen.loc, format!("tls: self-signed: {e}")));
    }
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

/// A new key and self-signed certificate for entry `t`, written to `cert` and `key` (mode 0600)
/// if `write`.
fn self_signed(
    config: &Config,
    t: &TlsConfig,
    cert: &std::path::Path,
    key: &std::path::Path,
    write: bool,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let fail = |what: String| config.error(&t.listen.loc, format!("tls: self-signed: {what}"));
    let mut names: Vec<String> = t.hosts.iter().map(|h| h.value.clone()).collect();
    if names.is_empty() {
        names.push("localhost".into());
        if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            let h = h.trim();
            if !h.is_empty() && h != "localhost" {
                names.push(h.to_string());
            }
        }
        for a in &t.listen.value {
            if !a.0.ip().is_unspecified() && !names.contains(&a.0.ip().to_string()) {
                names.push(a.0.ip().to_string());
            }
        }
    }
    let mut params =
        rcgen::CertificateParams::new(names.clone()).map_err(|e| fail(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0].clone());
    let pair = rcgen::KeyPair::generate().map_err(|e| fail(e.to_string()))?;
    let made = params.self_signed(&pair).map_err(|e| fail(e.to_string()))?;
    if write {
        // Owned by the user relight becomes (server.user), so that a reload, which reads them
        // after the privilege drop, can.
        let owner = config
            .server
            .user
            .as_ref()
            .filter(|_| nix::unistd::Uid::effective().is_root())
            .and_then(|u| nix::unistd::User::from_name(&u.value).ok().flatten());
        for (path, pem) in [(cert, made.pem()), (key, pair.serialize_pem())] {
            write_private(path, pem.as_bytes())
                .and_then(|()| match &owner {
                    Some(u) => nix::unistd::chown(path, Some(u.uid), Some(u.gid))
                        .map_err(std::io::Error::from),
                    None => Ok(()),
                })
                .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
        }
        tracing::info!(
            "tls: made a self-signed certificate for {names:?}: {} (key {})",
            cert.display(),
            key.display()
        );
    }
    let der_key = PrivateKeyDer::try_from(pair.serialize_der()).map_err(|e| fail(e.to_string()))?;
    Ok((vec![made.der().clone()], der_key))
}

/// Writes `bytes` to `path` (replacing what is there), readable by its owner only (a file that
/// existed is set to that mode too).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
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
) -> Result<(TlsStream<IO>, Arc<Entry>), String>
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
    let Some(entry) = listener.choose(name.as_deref()) else {
        // No certificate for it: the handshake fails with an alert (rustls finds no
        // certificate to offer), never with a certificate for another name.
        let _ = tokio::time::timeout_at(deadline, start.into_stream(refusing())).await;
        return Err(match name {
            Some(n) => format!("TLS: no certificate for the server name {n:?} (and no default)"),
            None => "TLS: the client named no server (SNI) and there is no default certificate"
                .to_string(),
        });
    };
    let stream = tokio::time::timeout_at(deadline, start.into_stream(entry.config.clone()))
        .await
        .map_err(|_| late())?
        .map_err(|e| format!("TLS: {e}"))?;
    Ok((stream, entry.clone()))
}

impl Listener {
    /// Whether a request for `host` (its Host header, lowercase, no port) may be served on a
    /// connection whose handshake chose `entry`: the name must choose the same certificate
    /// entry (with its client verification), else the request is misdirected (421), as a
    /// client could otherwise name one site in its handshake and ask another.
    pub(crate) fn serves(&self, entry: &Arc<Entry>, host: Option<&str>) -> bool {
        self.choose(host)
            .is_some_and(|chosen| Arc::ptr_eq(chosen, entry))
    }
}

impl Entry {
    /// What backends are told of the client's certificate on `conn` (lighttpd's mod_openssl
    /// names): `None` where clients are not asked for one.
    pub(crate) fn client(
        &self,
        conn: &rustls::ServerConnection,
    ) -> Option<crate::http::ClientCert> {
        if !self.verifies {
            return None;
        }
        let mut vars = Vec::new();
        let Some(cert) = conn.peer_certificates().and_then(|c| c.first()) else {
            vars.push(("SSL_CLIENT_VERIFY".to_string(), "NONE".to_string()));
            return Some(crate::http::ClientCert { vars, user: None });
        };
        // rustls verified it, or the handshake would have failed.
        vars.push(("SSL_CLIENT_VERIFY".to_string(), "SUCCESS".to_string()));
        if let Some(d) = x509::describe(cert) {
            vars.push(("SSL_CLIENT_S_DN".to_string(), x509::one_line(&d.subject)));
            for (k, v) in d.subject.iter().flatten() {
                vars.push((format!("SSL_CLIENT_S_DN_{k}"), v.clone()));
            }
            vars.push(("SSL_CLIENT_M_SERIAL".to_string(), d.serial));
        }
        if self.export_cert {
            use base64_pem::pem;
            vars.push(("SSL_CLIENT_CERT".to_string(), pem(cert)));
        }
        let user = self
            .username
            .as_ref()
            .and_then(|name| vars.iter().find(|(k, _)| k == name))
            .map(|(_, v)| v.clone());
        Some(crate::http::ClientCert { vars, user })
    }
}

/// PEM of a DER certificate (for SSL_CLIENT_CERT).
mod base64_pem {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// `-----BEGIN CERTIFICATE-----`, the base64 in lines of 64, `-----END CERTIFICATE-----`.
    pub(super) fn pem(der: &[u8]) -> String {
        let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
        for chunk in der.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |a, (i, &b)| a | (u32::from(b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    b64.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    b64.push('=');
                }
            }
        }
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn base64_as_rfc_4648_says() {
            let body = |s: &str| super::pem(s.as_bytes()).lines().nth(1).unwrap().to_string();
            assert_eq!(body("f"), "Zg==");
            assert_eq!(body("fo"), "Zm8=");
            assert_eq!(body("foo"), "Zm9v");
            assert_eq!(body("foobar"), "Zm9vYmFy");
        }
    }
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
    Tls::load_with(config, false).map(drop)
}

/// What `conn` negotiated, named as lighttpd's mod_openssl (OpenSSL) names it for backends.
pub(crate) fn info(conn: &rustls::ServerConnection) -> crate::http::TlsInfo {
    let protocol = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "TLSv1.3",
    };
    let (cipher, bits) = conn
        .negotiated_cipher_suite()
        .and_then(|s| openssl_name(s.suite()))
        // The ring provider has no other suite.
        .unwrap_or(("", ""));
    crate::http::TlsInfo {
        protocol,
        cipher,
        bits,
    }
}

/// OpenSSL's name of a suite (what lighttpd calls it), and its key size in bits.
fn openssl_name(suite: rustls::CipherSuite) -> Option<(&'static str, &'static str)> {
    use rustls::CipherSuite as S;
    Some(match suite {
        S::TLS13_AES_128_GCM_SHA256 => ("TLS_AES_128_GCM_SHA256", "128"),
        S::TLS13_AES_256_GCM_SHA384 => ("TLS_AES_256_GCM_SHA384", "256"),
        S::TLS13_CHACHA20_POLY1305_SHA256 => ("TLS_CHACHA20_POLY1305_SHA256", "256"),
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => ("ECDHE-ECDSA-AES128-GCM-SHA256", "128"),
        S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => ("ECDHE-ECDSA-AES256-GCM-SHA384", "256"),
        S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            ("ECDHE-ECDSA-CHACHA20-POLY1305", "256")
        }
        S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => ("ECDHE-RSA-AES128-GCM-SHA256", "128"),
        S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => ("ECDHE-RSA-AES256-GCM-SHA384", "256"),
        S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => ("ECDHE-RSA-CHACHA20-POLY1305", "256"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    /// config::TLS12_SUITES names exactly the TLS 1.2 suites of rustls' ring provider, in its
    /// order.
    #[test]
    fn the_suite_table_is_rustls_own() {
        let ring: Vec<&str> = rustls::crypto::ring::default_provider()
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)))
            .filter_map(|s| super::openssl_name(s.suite()).map(|(n, _)| n))
            .collect();
        let table: Vec<&str> = crate::config::TLS12_SUITES.iter().map(|s| s.0).collect();
        assert_eq!(ring, table);
    }
}
