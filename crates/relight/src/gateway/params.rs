//! The CGI/1.1 parameters of a request (RFC 3875), with the names and values lighttpd 1.4 sends,
//! checked side by side against Debian's lighttpd. The `Proxy` header is never forwarded
//! (httpoxy).

use std::net::SocketAddr;
use std::path::Path;

use bytes::BytesMut;
use fcgi_proto::{Role, server::encode};
use http::{HeaderMap, Method, Version, header};

/// What the parameters are made from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CgiRequest<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The HTTP version.
    pub version: Version,
    /// The request target as received (path and query, still encoded).
    pub request_uri: &'a str,
    /// The query string, without `?` (empty if none).
    pub query: &'a str,
    /// The script part of the decoded path.
    pub script_name: &'a str,
    /// The rest of the decoded path after the script (may be empty).
    pub path_info: &'a str,
    /// The simplified target when it differs from the one received (lighttpd's REDIRECT_URI).
    pub redirect_uri: Option<&'a str>,
    /// The document root.
    pub document_root: &'a Path,
    /// SERVER_NAME instead of the Host header's name (lighttpd's server.name).
    pub server_name: Option<&'a str>,
    /// SERVER_SOFTWARE.
    pub server_software: &'a str,
    /// The client's address.
    pub remote: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
    /// What the client connection's TLS negotiated; `None`: plain HTTP.
    pub tls: Option<crate::http::TlsInfo>,
    /// The client's connection is HTTPS (this one's TLS, or a trusted proxy's word).
    pub https: bool,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The request body's length (what CONTENT_LENGTH says).
    pub content_length: u64,
    /// REDIRECT_STATUS: 200, or 404 for an error handler.
    pub redirect_status: u16,
    /// SCRIPT_FILENAME ends with PATH_INFO too (lighttpd's broken-scriptfilename).
    pub broken_script_filename: bool,
    /// The user Basic authentication let in (REMOTE_USER, AUTH_TYPE).
    pub remote_user: Option<&'a str>,
    /// AUTH_TYPE of `remote_user`: "Basic" or "Digest".
    pub auth_type: &'a str,
    /// The client's TLS certificate, as backends are told of it (SSL_CLIENT_*; REMOTE_USER
    /// from it when Basic authentication set none).
    pub client_cert: Option<&'a crate::http::ClientCert>,
    /// Extra parameters from the configuration (lighttpd's setenv.add-environment); they do
    /// not replace the CGI ones.
    pub extra: &'a [(String, String)],
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

/// The `HTTP_*` name of a header: upper case, non-alphanumerics as `_`.
fn http_name(name: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(b"HTTP_");
    out.extend(name.bytes().map(|b| {
        if b.is_ascii_alphanumeric() {
            b.to_ascii_uppercase()
        } else {
            b'_'
        }
    }));
}

/// Appends BEGIN_REQUEST, the PARAMS (in one record when they fit) and the empty PARAMS record
/// for request id 1.
pub(crate) fn encode_request_head(
    out: &mut BytesMut,
    role: Role,
    keep_conn: bool,
    r: &CgiRequest<'_>,
) {
    encode::begin_request(out, 1, role, keep_conn);
    with_params(r, role, |params| encode::params(out, 1, params));
    encode::params_end(out, 1);
}

/// The parameters as a CGI program's environment (a responder's: what FastCGI sends).
pub(crate) fn environment(r: &CgiRequest<'_>) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    use std::os::unix::ffi::OsStringExt;
    with_params(r, Role::Responder, |params| {
        params
            .map(|(k, v)| {
                (
                    std::ffi::OsString::from_vec(k.to_vec()),
                    std::ffi::OsString::from_vec(v.to_vec()),
                )
            })
            .collect()
    })
}

/// Calls `f` with every parameter of `r` for `role`, in the order lighttpd sends them.
pub(crate) fn with_params<T>(
    r: &CgiRequest<'_>,
    role: Role,
    f: impl for<'a> FnOnce(&mut dyn Iterator<Item = (&'a [u8], &'a [u8])>) -> T,
) -> T {
    let root = r.document_root.to_string_lossy();
    let root = root.trim_end_matches('/');
    let script_filename = match (r.script_name, r.broken_script_filename) {
        // fix-root-scriptname: the script is the root itself.
        ("", _) => format!("{root}/"),
        (name, false) => format!("{root}{name}"),
        // As lighttpd's path join: an empty PATH_INFO still adds the slash.
        (name, true) if r.path_info.is_empty() => format!("{root}{name}/"),
        (name, true) => format!("{root}{name}{}", r.path_info),
    };
    let path_translated = format!("{root}{}", r.path_info);
    let content_length = r.content_length.to_string();
    let remote_addr = r.remote.ip().to_string();
    let redirect_status = r.redirect_status.to_string();
    let remote_port = r.remote.port().to_string();
    let server_addr = r.local.ip().to_string();
    let server_port = r.local.port().to_string();
    let host = r.server_name.unwrap_or_else(|| {
        r.headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or("", crate::http::host_name)
    });

    let mut fixed: Vec<(&[u8], &[u8])> = vec![(b"QUERY_STRING", r.query.as_bytes())];
    // An authorizer gets no body, and (as from lighttpd) no CONTENT_LENGTH or SCRIPT_NAME.
    if role != Role::Authorizer {
        fixed.push((b"CONTENT_LENGTH", content_length.as_bytes()));
        fixed.push((b"SCRIPT_NAME", r.script_name.as_bytes()));
    }
    let common: Vec<(&[u8], &[u8])> = vec![
        (b"REQUEST_URI", r.request_uri.as_bytes()),
        (b"SCRIPT_FILENAME", script_filename.as_bytes()),
        (b"DOCUMENT_ROOT", root.as_bytes()),
        (b"REQUEST_METHOD", r.method.as_str().as_bytes()),
        (b"SERVER_PROTOCOL", version_str(r.version).as_bytes()),
        (b"SERVER_SOFTWARE", r.server_software.as_bytes()),
        (b"GATEWAY_INTERFACE", b"CGI/1.1"),
        (b"REQUEST_SCHEME", if r.https { b"https" } else { b"http" }),
        (b"SERVER_NAME", host.as_bytes()),
        (b"SERVER_ADDR", server_addr.as_bytes()),
        (b"SERVER_PORT", server_port.as_bytes()),
        (b"REMOTE_ADDR", remote_addr.as_bytes()),
        (b"REMOTE_PORT", remote_port.as_bytes()),
        (b"REDIRECT_STATUS", redirect_status.as_bytes()),
    ];
    fixed.extend(common);
    if !r.path_info.is_empty() {
        fixed.push((b"PATH_INFO", r.path_info.as_bytes()));
        fixed.push((b"PATH_TRANSLATED", path_translated.as_bytes()));
    }
    if r.https {
        fixed.push((b"HTTPS", b"on"));
    }
    if let Some(t) = &r.tls {
        fixed.push((b"SSL_PROTOCOL", t.protocol.as_bytes()));
        fixed.push((b"SSL_CIPHER", t.cipher.as_bytes()));
        fixed.push((b"SSL_CIPHER_USEKEYSIZE", t.bits.as_bytes()));
        fixed.push((b"SSL_CIPHER_ALGKEYSIZE", t.bits.as_bytes()));
    }
    if let Some(u) = r.remote_user {
        fixed.push((b"REMOTE_USER", u.as_bytes()));
        fixed.push((b"AUTH_TYPE", r.auth_type.as_bytes()));
    } else if let Some(u) = r.client_cert.and_then(|c| c.user.as_deref()) {
        fixed.push((b"REMOTE_USER", u.as_bytes()));
        fixed.push((b"AUTH_TYPE", b"SSL_CLIENT_VERIFY"));
    }
    for (k, v) in r.client_cert.iter().flat_map(|c| &c.vars) {
        fixed.push((k.as_bytes(), v.as_bytes()));
    }
    if let Some(u) = r.redirect_uri {
        fixed.push((b"REDIRECT_URI", u.as_bytes()));
    }
    if let Some(ct) = r.headers.get(header::CONTENT_TYPE) {
        fixed.push((b"CONTENT_TYPE", ct.as_bytes()));
    }

    // HTTP_* from the headers; repeated headers are joined (cookies with "; ").
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut values: Vec<Vec<u8>> = Vec::new();
    let mut scratch = Vec::new();
    for name in r.headers.keys() {
        if name == header::CONTENT_TYPE || name == "proxy" {
            continue;
        }
        http_name(name.as_str(), &mut scratch);
        let sep: &[u8] = if name == header::COOKIE { b"; " } else { b", " };
        let mut joined = Vec::new();
        for (i, v) in r.headers.get_all(name).iter().enumerate() {
            if i > 0 {
                joined.extend_from_slice(sep);
            }
            joined.extend_from_slice(v.as_bytes());
        }
        names.push(scratch.clone());
        values.push(joined);
    }
    let http = names
        .iter()
        .zip(&values)
        .map(|(n, v)| (n.as_slice(), v.as_slice()));
    let extra = r.extra.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()));
    f(&mut fixed.into_iter().chain(http).chain(extra))
}

/// Percent-encodes what must be encoded in a URL path (lighttpd's normalized target form).
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names() {
        let mut v = Vec::new();
        http_name("x-forwarded-for", &mut v);
        assert_eq!(v, b"HTTP_X_FORWARDED_FOR");
        http_name("weird.name", &mut v);
        assert_eq!(v, b"HTTP_WEIRD_NAME");
    }

    #[test]
    fn path_encoding() {
        assert_eq!(encode_path("/a b/c"), "/a%20b/c");
        assert_eq!(encode_path("/app/c"), "/app/c");
        assert_eq!(encode_path("/é"), "/%C3%A9");
    }
}
