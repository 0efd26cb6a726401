//! lighttpd's mod_openssl keys (`ssl.*`) as `[[tls]]` entries, in every block they may be in:
//!
//! - `ssl.engine = "enable"` in the global scope makes the main listener (`server.port`) HTTPS;
//!   in a `$SERVER["socket"] == ":443"` block, that socket (which inherits the global `ssl.*`
//!   keys it does not set, `ssl.engine` too, as in lighttpd);
//! - `ssl.pemfile` (certificate and key in one file, or the key in `ssl.privkey`) is the
//!   certificate of those listeners; in a `$HTTP["host"] == "name"` block (inside a socket block
//!   or not) it is the certificate for that name (SNI) on the HTTPS listeners it applies to;
//! - `ssl.openssl.ssl-conf-cmd`'s `MinProtocol` becomes `min_version`; `ssl.cipher-list` (or
//!   its `CipherString`) is evaluated as OpenSSL would over rustls' TLS 1.2 suites
//!   ([`crate::config::openssl_cipher_list`]) and becomes `tls12_ciphers` (noted with the
//!   result);
//!   `server.feature-flags`' `"server.h2proto" => "disable"` (or `server.h2proto = "disable"`)
//!   turns HTTP/2 off;
//! - `ssl.verifyclient.activate` with `ssl.verifyclient.ca-file` (or `ssl.ca-file`),
//!   `.enforce`, `.username` and `.exportcert` become the entry's `client_*` settings;
//! - keys whose job rustls does by design (no renegotiation, no SSLv2/v3, its own curves,
//!   cipher order and session cache) are noted; the others are warned about, by name.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::{enabled, err};
use crate::config::lighttpd::{Block, Condition, Error, LighttpdConfig, Pos, Value};
use crate::config::{At, ClientVerify, ListenAddr, Loc, MinVersion, TlsConfig};

/// Keys rustls makes moot, and why.
const MOOT: &[(&str, &str)] = &[
    (
        "ssl.honor-cipher-order",
        "rustls chooses among its suites (all forward-secret AEAD) in its own order",
    ),
    (
        "ssl.disable-client-renegotiation",
        "rustls never renegotiates",
    ),
    ("ssl.use-sslv2", "rustls speaks TLS 1.2 and 1.3 only"),
    ("ssl.use-sslv3", "rustls speaks TLS 1.2 and 1.3 only"),
    (
        "ssl.ec-curve",
        "rustls offers X25519, P-256 and P-384 (ring)",
    ),
    ("ssl.dh-file", "rustls has no finite-field Diffie-Hellman"),
    ("ssl.read-ahead", "relight reads TLS records as they come"),
    ("ssl.empty-fragments", "rustls needs no CBC workaround"),
    (
        "ssl.session-cache",
        "relight resumes sessions by tickets and a session cache",
    ),
    (
        "ssl.verifyclient.depth",
        "rustls verifies client chains to its own depth limit",
    ),
];

/// What the `ssl.*` keys of the configuration make, and what was said about them.
#[derive(Default)]
pub(super) struct Mapped {
    pub tls: Vec<TlsConfig>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

/// The `ssl.*` keys of one block (with the global ones under a socket block's).
struct Keys<'a> {
    engine: Option<(bool, &'a Pos)>,
    pemfile: Option<(&'a str, &'a Pos)>,
    privkey: Option<(&'a str, &'a Pos)>,
    min: Option<MinVersion>,
    client: Option<Client>,
    /// The OpenSSL cipher string and where it was set.
    ciphers: Option<(String, &'a Pos)>,
}

/// Client certificate verification (`ssl.verifyclient.*`).
#[derive(Clone)]
struct Client {
    ca: At<PathBuf>,
    crl: Option<At<PathBuf>>,
    verify: ClientVerify,
    username: Option<String>,
    export: bool,
}

/// Maps every `ssl.*` key of `lc`; `main` is the address of `server.port`, `ip` the address of
/// a `":port"` socket block.
pub(super) fn map_tls(lc: &LighttpdConfig, main: SocketAddr, ip: IpAddr) -> Result<Mapped, Error> {
    let mut out = Mapped::default();
    let g = lc.global();
    let http2 = h2proto(g);
    let verifying = lc.blocks.iter().any(|b| {
        b.get("ssl.verifyclient.activate")
            .and_then(enabled)
            .unwrap_or(false)
    });
    for b in &lc.blocks {
        other_keys(b, verifying, &mut out)?;
    }
    let global = keys(g, None)?;
    // The HTTPS listeners, with their own keys.
    let mut https: Vec<(SocketAddr, Keys<'_>, &Pos)> = Vec::new();
    if let Some((true, pos)) = global.engine {
        https.push((main, keys(g, None)?, pos));
    }
    for b in &lc.blocks[1..] {
        let Some(addr) = socket_of(b, ip) else {
            continue;
        };
        if b.conditions.len() != 1 {
            continue;
        }
        let k = keys(b, Some(g))?;
        if let Some((true, pos)) = k.engine {
            https.retain(|(a, _, _)| *a != addr);
            https.push((addr, k, pos));
        }
    }
    for (addr, k, pos) in &https {
        let Some((pem, pem_pos)) = k.pemfile else {
            return err(
                pos,
                format!("ssl.engine = \"enable\" for {addr}: ssl.pemfile is not set"),
            );
        };
        out.tls
            .push(entry(vec![*addr], Vec::new(), pem, pem_pos, k, http2));
    }
    // Certificates by server name.
    for b in &lc.blocks[1..] {
        let Some((pem, pem_pos)) = b
            .get_with_pos("ssl.pemfile")
            .and_then(|(v, p)| v.as_str().map(|s| (s, p)))
        else {
            // Client verification is set per certificate entry: set in a host block that has
            // no certificate of its own, it would apply to nothing, and that host would be
            // served unverified.
            if let Some((_, pos)) = b
                .settings
                .iter()
                .find(|(k, _, _)| k.starts_with("ssl.verifyclient."))
                .map(|(k, _, p)| (k, p))
                && b.conditions.iter().any(|c| c.field == "HTTP[\"host\"]")
            {
                return err(
                    pos,
                    format!(
                        "ssl.verifyclient.* inside ({}) without an ssl.pemfile of its own: relight verifies clients per certificate; set it in the $SERVER[\"socket\"] block, or give this host its own ssl.pemfile (refusing rather than serving the host unverified)",
                        described(b)
                    ),
                );
            }
            continue;
        };
        let hosts: Vec<&Condition> = b
            .conditions
            .iter()
            .filter(|c| c.field == "HTTP[\"host\"]")
            .collect();
        let socket = socket_of(b, ip);
        if hosts.is_empty() {
            if socket.is_none() {
                out.warnings.push(format!(
                    "{pem_pos}: ssl.pemfile inside ({}): relight chooses certificates by listener or by $HTTP[\"host\"] == \"name\"; ignored",
                    described(b)
                ));
            }
            continue;
        }
        let names: Option<Vec<String>> = hosts
            .iter()
            .map(|c| (c.op == "==" && !c.negated).then(|| c.pattern.to_ascii_lowercase()))
            .collect();
        let Some(names) = names else {
            out.warnings.push(format!(
                "{pem_pos}: ssl.pemfile inside ({}): relight chooses certificates by exact host names (and \"*.\" wildcards) only; ignored",
                described(b)
            ));
            continue;
        };
        let addrs: Vec<SocketAddr> = match socket {
            Some(a) => vec![a],
            None => https.iter().map(|(a, _, _)| *a).collect(),
        };
        if addrs.is_empty() {
            out.notes.push(format!(
                "{pem_pos}: ssl.pemfile inside ({}): no listener has ssl.engine = \"enable\"; not used",
                described(b)
            ));
            continue;
        }
        // The key is the block's own (or in its pemfile); the oldest version, client
        // verification and the cipher list the block's, else its socket's, else the global ones.
        let own = keys(b, None)?;
        let socket_min = socket
            .and_then(|a| https.iter().find(|(h, _, _)| *h == a))
            .and_then(|(_, k, _)| k.min);
        let socket_client = socket
            .and_then(|a| https.iter().find(|(h, _, _)| *h == a))
            .and_then(|(_, k, _)| k.client.clone());
        let socket_ciphers = socket
            .and_then(|a| https.iter().find(|(h, _, _)| *h == a))
            .and_then(|(_, k, _)| k.ciphers.clone());
        let k = Keys {
            engine: None,
            pemfile: None,
            privkey: own.privkey,
            min: own.min.or(socket_min).or(global.min),
            client: own.client.or(socket_client).or(global.client.clone()),
            ciphers: own.ciphers.or(socket_ciphers).or(global.ciphers.clone()),
        };
        out.tls.push(entry(addrs, names, pem, pem_pos, &k, http2));
    }
    if https.is_empty() {
        for key in ["ssl.pemfile", "ssl.privkey"] {
            if let Some((_, pos)) = g.get_with_pos(key) {
                out.notes.push(format!(
                    "{pos}: {key}: no listener has ssl.engine = \"enable\"; not used"
                ));
            }
        }
    }
    Ok(out)
}

/// The `[[tls]]` entry for `addrs` and `hosts`.
fn entry(
    addrs: Vec<SocketAddr>,
    hosts: Vec<String>,
    pem: &str,
    pem_pos: &Pos,
    k: &Keys<'_>,
    http2: bool,
) -> TlsConfig {
    TlsConfig {
        listen: At::new(
            addrs.into_iter().map(ListenAddr).collect(),
            Loc::Pos(pem_pos.clone()),
        ),
        hosts: hosts
            .into_iter()
            .map(|h| At::new(h, Loc::Pos(pem_pos.clone())))
            .collect(),
        certificate: Some(At::new(PathBuf::from(pem), Loc::Pos(pem_pos.clone()))),
        key: k
            .privkey
            .map(|(p, pos)| At::new(PathBuf::from(p), Loc::Pos(pos.clone()))),
        min_version: k.min.unwrap_or_default(),
        http2,
        self_signed: false,
        client_ca: k.client.as_ref().map(|c| c.ca.clone()),
        client_crl: k.client.as_ref().and_then(|c| c.crl.clone()),
        client_verify: k
            .client
            .as_ref()
            .map_or_else(Default::default, |c| c.verify),
        client_username: k.client.as_ref().and_then(|c| c.username.clone()),
        client_export_cert: k.client.as_ref().is_some_and(|c| c.export),
        tls12_ciphers: k.ciphers.as_ref().map(|(list, pos)| {
            At::new(
                crate::config::openssl_cipher_list(list)
                    .into_iter()
                    .map(String::from)
                    .collect(),
                Loc::Pos((*pos).clone()),
            )
        }),
    }
}

/// The address of `b`'s `$SERVER["socket"] == "..."` condition, if it has one.
fn socket_of(b: &Block, ip: IpAddr) -> Option<SocketAddr> {
    let c = b
        .conditions
        .iter()
        .find(|c| c.field == "SERVER[\"socket\"]" && c.op == "==" && !c.negated)?;
    match c.pattern.strip_prefix(':') {
        Some(p) => p.parse::<u16>().ok().map(|p| SocketAddr::new(ip, p)),
        None => c.pattern.parse().ok(),
    }
}

fn described(b: &Block) -> String {
    b.conditions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The TLS keys of `b`, each taken from `global` where `b` does not set it.
fn keys<'a>(b: &'a Block, global: Option<&'a Block>) -> Result<Keys<'a>, Error> {
    let get = |key: &str| {
        b.get_with_pos(key)
            .or_else(|| global.and_then(|g| g.get_with_pos(key)))
    };
    let string = |key: &str| -> Result<Option<(&'a str, &'a Pos)>, Error> {
        match get(key) {
            None => Ok(None),
            Some((Value::Str(s), p)) => Ok(Some((s.as_str(), p))),
            Some((v, p)) => err(p, format!("{key} must be a string, not {}", v.kind())),
        }
    };
    let engine = match get("ssl.engine") {
        None => None,
        Some((v, p)) => match enabled(v) {
            Some(on) => Some((on, p)),
            None => return err(p, "ssl.engine must be \"enable\" or \"disable\"".into()),
        },
    };
    let mut min = None;
    let mut ciphers = string("ssl.cipher-list")?.map(|(c, p)| (c.to_string(), p));
    if let Some((v, p)) = get("ssl.openssl.ssl-conf-cmd") {
        for (k, v) in v.as_array().into_iter().flatten() {
            if k.as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("CipherString"))
                && let Some(list) = v.as_str()
            {
                ciphers = Some((list.to_string(), p));
            }
            if k.as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("MinProtocol"))
            {
                min = Some(match v.as_str() {
                    Some("TLSv1.3") => MinVersion::Tls13,
                    // Older ones are below what rustls speaks: 1.2 is the floor anyway.
                    Some("TLSv1.2" | "TLSv1.1" | "TLSv1" | "TLSv1.0" | "None") => MinVersion::Tls12,
                    other => {
                        return err(
                            p,
                            format!(
                                "ssl.openssl.ssl-conf-cmd MinProtocol {other:?}: expected \"TLSv1.2\" or \"TLSv1.3\""
                            ),
                        );
                    }
                });
            }
        }
    }
    let client = match get("ssl.verifyclient.activate") {
        Some((v, pos)) if enabled(v) == Some(true) => {
            let Some((ca, ca_pos)) = string("ssl.verifyclient.ca-file")?.or(string("ssl.ca-file")?)
            else {
                return err(
                    pos,
                    "ssl.verifyclient.activate: ssl.verifyclient.ca-file (or ssl.ca-file) names no CA to verify clients against".into(),
                );
            };
            let enforce = match get("ssl.verifyclient.enforce") {
                None => true,
                Some((v, p)) => enabled(v).ok_or_else(|| {
                    Error::new(
                        p.clone(),
                        "ssl.verifyclient.enforce must be \"enable\" or \"disable\"",
                    )
                })?,
            };
            let export = match get("ssl.verifyclient.exportcert") {
                None => false,
                Some((v, p)) => enabled(v).ok_or_else(|| {
                    Error::new(
                        p.clone(),
                        "ssl.verifyclient.exportcert must be \"enable\" or \"disable\"",
                    )
                })?,
            };
            let crl = string("ssl.verifyclient.ca-crl-file")?.or(string("ssl.ca-crl-file")?);
            Some(Client {
                ca: At::new(PathBuf::from(ca), Loc::Pos(ca_pos.clone())),
                crl: crl.map(|(c, p)| At::new(PathBuf::from(c), Loc::Pos(p.clone()))),
                verify: if enforce {
                    ClientVerify::Required
                } else {
                    ClientVerify::Optional
                },
                username: string("ssl.verifyclient.username")?.map(|(u, _)| u.to_string()),
                export,
            })
        }
        _ => None,
    };
    Ok(Keys {
        engine,
        pemfile: string("ssl.pemfile")?,
        privkey: string("ssl.privkey")?,
        min,
        client,
        ciphers,
    })
}

/// Whether HTTP/2 stays on: `server.h2proto` or `server.feature-flags`' `"server.h2proto"`.
fn h2proto(g: &Block) -> bool {
    super::feature_flag(g, "server.h2proto")
        .or_else(|| g.get("server.h2proto").and_then(enabled))
        .unwrap_or(true)
}

/// The note saying what an OpenSSL cipher string selects among rustls' TLS 1.2 suites.
fn note_ciphers(out: &mut Mapped, pos: &Pos, key: &str, v: &Value) {
    let Some(list) = v.as_str() else {
        out.warnings
            .push(format!("{pos}: {key}: not a string; ignored"));
        return;
    };
    let chosen = crate::config::openssl_cipher_list(list);
    out.notes.push(if chosen.is_empty() {
        format!(
            "{pos}: {key} {list:?} selects none of rustls' TLS 1.2 suites: TLS 1.3 only (its suites are not set by the cipher list, as in OpenSSL)"
        )
    } else {
        format!(
            "{pos}: {key} {list:?}: TLS 1.2 suites {} (rustls has only ECDHE with AES-GCM or ChaCha20-Poly1305); TLS 1.3's unchanged",
            chosen.join(":")
        )
    });
}

/// What is said about the `ssl.*` keys of `b` that are not certificates or listeners.
fn other_keys(b: &Block, verifying: bool, out: &mut Mapped) -> Result<(), Error> {
    for (key, v, pos) in &b.settings {
        if !key.starts_with("ssl.") {
            continue;
        }
        match key.as_str() {
            "ssl.engine" | "ssl.pemfile" | "ssl.privkey" | "ssl.verifyclient.activate" => {}
            "ssl.ca-crl-file" | "ssl.verifyclient.ca-crl-file" if verifying => {}
            "ssl.ca-file" if verifying => {}
            "ssl.ca-file" => out.notes.push(format!(
                "{pos}: ssl.ca-file: accepted; it is for verifying client certificates (ssl.verifyclient.activate is not set; the chain is served from ssl.pemfile)"
            )),
            "ssl.verifyclient.ca-file"
            | "ssl.verifyclient.enforce"
            | "ssl.verifyclient.username"
            | "ssl.verifyclient.exportcert"
                if verifying => {}
            "ssl.verifyclient.ca-file"
            | "ssl.verifyclient.enforce"
            | "ssl.verifyclient.username"
            | "ssl.verifyclient.exportcert" => out.notes.push(format!(
                "{pos}: {key}: applies only with ssl.verifyclient.activate, which is not set"
            )),
            "ssl.openssl.ssl-conf-cmd" => {
                for (k, cmd) in v.as_array().into_iter().flatten() {
                    let k = k.as_deref().unwrap_or("");
                    if k.eq_ignore_ascii_case("CipherString") {
                        note_ciphers(out, pos, "ssl.openssl.ssl-conf-cmd CipherString", cmd);
                    } else if !k.eq_ignore_ascii_case("MinProtocol") {
                        out.warnings.push(format!(
                            "{pos}: ssl.openssl.ssl-conf-cmd {k:?}: relight maps MinProtocol only (rustls' suites are all forward-secret AEAD); ignored"
                        ));
                    }
                }
            }
            "ssl.cipher-list" => note_ciphers(out, pos, "ssl.cipher-list", v),
            k => match MOOT.iter().find(|(m, _)| *m == k) {
                Some((_, why)) => out.notes.push(format!("{pos}: {k}: accepted; {why}")),
                None => out.warnings.push(format!("{pos}: {k}: {}", super::unsupported(k))),
            },
        }
    }
    Ok(())
}
