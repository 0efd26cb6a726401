//! The HTTP vocabulary every layer answers with, with no I/O of its own: response bodies
//! ([`body`]), the pages relight makes up itself ([`pages`]), HTTP dates ([`date`]), request
//! paths ([`urlpath`]) and host names. It sits below everything that builds a response (static
//! files, gateways, the request steps), so it imports none of them.

pub(crate) mod body;
pub(crate) mod client_body;
pub(crate) mod date;
pub mod encoding;
pub(crate) mod pages;
pub(crate) mod urlpath;

/// What backends are told of a client's TLS certificate (lighttpd's mod_openssl names:
/// SSL_CLIENT_VERIFY, SSL_CLIENT_S_DN, SSL_CLIENT_S_DN_CN, ...), and the REMOTE_USER taken
/// from one of them. Put in each request's extensions by the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientCert {
    /// The variables, in order.
    pub vars: Vec<(String, String)>,
    /// REMOTE_USER, when the configuration names the variable it comes from.
    pub user: Option<String>,
}

/// The client a trusted proxy spoke for (mod_extforward), put in a response's extensions for
/// the access log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForwardedClient(pub std::net::SocketAddr);

/// What a request's TLS connection negotiated, as lighttpd's mod_openssl names it for
/// backends (SSL_PROTOCOL, SSL_CIPHER, SSL_CIPHER_USEKEYSIZE and SSL_CIPHER_ALGKEYSIZE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TlsInfo {
    /// `TLSv1.3` or `TLSv1.2`.
    pub protocol: &'static str,
    /// The cipher suite, by OpenSSL's name (`TLS_AES_256_GCM_SHA384`,
    /// `ECDHE-RSA-AES128-GCM-SHA256`).
    pub cipher: &'static str,
    /// The cipher's key size in bits.
    pub bits: &'static str,
}

/// The host name of a Host header: without the port, keeping IPv6 brackets.
pub(crate) fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// Whether a Host header (or an absolute-form URI's authority) can name a host: an IP literal
/// in brackets or a registered name (RFC 3986's characters, no `..`, not starting with a
/// dot), with an optional numeric port. Anything else (`../../etc/x`) is refused with 400, as
/// lighttpd does: it would become SERVER_NAME.
pub(crate) fn valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        if ip.is_empty()
            || !ip
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match after {
            "" => (None, None),
            a => match a.strip_prefix(':') {
                Some(p) => (None, Some(p)),
                None => return false,
            },
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    match name {
        None => true,
        Some(n) => valid_name(n.as_bytes()),
    }
}

/// A registered name's characters (RFC 3986's unreserved, sub-delims and `%`), not starting
/// with a dot and without `..`: one pass, as it runs on every request.
fn valid_name(n: &[u8]) -> bool {
    const NAME: [bool; 256] = urlpath::alnum_and(b"-._~!$&'()*+,;=%");
    let mut prev = b'.';
    for &b in n {
        if !NAME[usize::from(b)] || (b == b'.' && prev == b'.') {
            return false;
        }
        prev = b;
    }
    true
}

/// The protocol a request asks to switch to: its `Upgrade`, when its `Connection` names
/// `upgrade` (RFC 9110 §7.8).
pub(crate) fn upgrade_asked(headers: &http::HeaderMap) -> Option<http::HeaderValue> {
    let asks = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(http::header::UPGRADE).cloned())
        .flatten()
}

/// Appends `n` in decimal (no formatting machinery: response heads and FastCGI params
/// write numbers per request).
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("example.com:8080"), "example.com");
        assert_eq!(host_name("example.com"), "example.com");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
    }

    #[test]
    fn hosts() {
        for ok in [
            "example.com",
            "example.com:8080",
            "EXAMPLE.com",
            "127.0.0.1",
            "[::1]",
            "[::1]:80",
            "my_host-1",
            "",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "../../etc/x",
            "a/b",
            "a b",
            "..",
            ".hidden",
            "a..b",
            "host:port",
            "host:",
            "[::1",
            "[zz]",
            "[::1]x",
            "a\\b",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }
}
