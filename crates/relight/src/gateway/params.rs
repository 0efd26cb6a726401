//! The CGI/1.1 parameters of a request (RFC 3875), with the names and values lighttpd 1.4 sends,
//! checked side by side against Debian's lighttpd. The `Proxy` header is never forwarded
//! (httpoxy).

use std::net::SocketAddr;
use std::path::Path;

use bytes::BytesMut;
use fcgi_proto::{Role, server::encode};
use http::{HeaderMap, Method, Version, header};

use crate::http::urlpath;

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

/// The `HTTP_*` name of a header, appended: upper case, non-alphanumerics as `_`.
fn http_name(name: &str, out: &mut Vec<u8>) {
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

/// A parameter's name or value: fixed bytes, or bytes written into the request's arena.
#[derive(Clone)]
enum Part<'a> {
    Fixed(&'a [u8]),
    Made(std::ops::Range<usize>),
}

impl Part<'_> {
    /// Its bytes, the made ones in `arena`.
    fn bytes<'s>(&'s self, arena: &'s [u8]) -> &'s [u8] {
        match self {
            Part::Fixed(b) => b,
            Part::Made(range) => &arena[range.clone()],
        }
    }
}

/// The parameters' made-up bytes (paths, numbers, addresses, `HTTP_*` names and joined
/// header values), all in one buffer: one allocation per request, not one per parameter.
struct Arena(Vec<u8>);

impl Arena {
    /// `f`'s bytes, appended.
    fn made(&mut self, f: impl FnOnce(&mut Vec<u8>)) -> Part<'static> {
        let start = self.0.len();
        f(&mut self.0);
        Part::Made(start..self.0.len())
    }

    fn number(&mut self, n: u64) -> Part<'static> {
        self.made(|out| crate::http::push_decimal(out, n))
    }

    fn ip(&mut self, ip: std::net::IpAddr) -> Part<'static> {
        self.made(|out| match ip {
            std::net::IpAddr::V4(v4) => {
                for (i, o) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    crate::http::push_decimal(out, u64::from(o));
                }
            }
            std::net::IpAddr::V6(v6) => {
                use std::io::Write;
                let _ = write!(out, "{v6}");
            }
        })
    }
}

/// Calls `f` with every parameter of `r` for `role`, in the order lighttpd sends them.
pub(crate) fn with_params<T>(
    r: &CgiRequest<'_>,
    role: Role,
    f: impl for<'a> FnOnce(&mut dyn Iterator<Item = (&'a [u8], &'a [u8])>) -> T,
) -> T {
    use Part::Fixed;
    let root = r.document_root.to_string_lossy();
    let root = root.trim_end_matches('/').as_bytes();
    let mut arena = Arena(Vec::with_capacity(512));
    let script_filename = arena.made(|out| {
        out.extend_from_slice(root);
        match (r.script_name, r.broken_script_filename) {
            // fix-root-scriptname: the script is the root itself.
            ("", _) => out.push(b'/'),
            (name, false) => out.extend_from_slice(name.as_bytes()),
            // As lighttpd's path join: an empty PATH_INFO still adds the slash.
            (name, true) if r.path_info.is_empty() => {
                out.extend_from_slice(name.as_bytes());
                out.push(b'/');
            }
            (name, true) => {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(r.path_info.as_bytes());
            }
        }
    });
    let host = r.server_name.unwrap_or_else(|| {
        r.headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or("", crate::http::host_name)
    });

    let mut params: Vec<(&[u8], Part<'_>)> = Vec::with_capacity(32 + r.headers.len());
    params.push((b"QUERY_STRING", Fixed(r.query.as_bytes())));
    // An authorizer gets no body, and (as from lighttpd) no CONTENT_LENGTH or SCRIPT_NAME.
    if role != Role::Authorizer {
        params.push((b"CONTENT_LENGTH", arena.number(r.content_length)));
        params.push((b"SCRIPT_NAME", Fixed(r.script_name.as_bytes())));
    }
    params.extend([
        (&b"REQUEST_URI"[..], Fixed(r.request_uri.as_bytes())),
        (b"SCRIPT_FILENAME", script_filename),
        (b"DOCUMENT_ROOT", Fixed(root)),
        (b"REQUEST_METHOD", Fixed(r.method.as_str().as_bytes())),
        (b"SERVER_PROTOCOL", Fixed(version_str(r.version).as_bytes())),
        (b"SERVER_SOFTWARE", Fixed(r.server_software.as_bytes())),
        (b"GATEWAY_INTERFACE", Fixed(b"CGI/1.1")),
        (
            b"REQUEST_SCHEME",
            Fixed(if r.https { b"https" } else { b"http" }),
        ),
        (b"SERVER_NAME", Fixed(host.as_bytes())),
        (b"SERVER_ADDR", arena.ip(r.local.ip())),
        (b"SERVER_PORT", arena.number(u64::from(r.local.port()))),
        (b"REMOTE_ADDR", arena.ip(r.remote.ip())),
        (b"REMOTE_PORT", arena.number(u64::from(r.remote.port()))),
        (
            b"REDIRECT_STATUS",
            arena.number(u64::from(r.redirect_status)),
        ),
    ]);
    if !r.path_info.is_empty() {
        params.push((b"PATH_INFO", Fixed(r.path_info.as_bytes())));
        let translated = arena.made(|out| {
            out.extend_from_slice(root);
            out.extend_from_slice(r.path_info.as_bytes());
        });
        params.push((b"PATH_TRANSLATED", translated));
    }
    if r.https {
        params.push((b"HTTPS", Fixed(b"on")));
    }
    if let Some(t) = &r.tls {
        params.push((b"SSL_PROTOCOL", Fixed(t.protocol.as_bytes())));
        params.push((b"SSL_CIPHER", Fixed(t.cipher.as_bytes())));
        params.push((b"SSL_CIPHER_USEKEYSIZE", Fixed(t.bits.as_bytes())));
        params.push((b"SSL_CIPHER_ALGKEYSIZE", Fixed(t.bits.as_bytes())));
    }
    if let Some(u) = r.remote_user {
        params.push((b"REMOTE_USER", Fixed(u.as_bytes())));
        params.push((b"AUTH_TYPE", Fixed(r.auth_type.as_bytes())));
    } else if let Some(u) = r.client_cert.and_then(|c| c.user.as_deref()) {
        params.push((b"REMOTE_USER", Fixed(u.as_bytes())));
        params.push((b"AUTH_TYPE", Fixed(b"SSL_CLIENT_VERIFY")));
    }
    for (k, v) in r.client_cert.iter().flat_map(|c| &c.vars) {
        params.push((k.as_bytes(), Fixed(v.as_bytes())));
    }
    if let Some(u) = r.redirect_uri {
        params.push((b"REDIRECT_URI", Fixed(u.as_bytes())));
    }
    if let Some(ct) = r.headers.get(header::CONTENT_TYPE) {
        params.push((b"CONTENT_TYPE", Fixed(ct.as_bytes())));
    }

    // HTTP_* from the headers; repeated headers are joined (cookies with "; "). A name's
    // values come one after the other from the map's iterator, so no name is looked up
    // (`repeated_headers_are_joined` holds it to that).
    let mut http: Vec<(Part<'_>, Part<'_>)> = Vec::with_capacity(r.headers.keys_len());
    let mut lines = r.headers.iter().peekable();
    while let Some((name, first)) = lines.next() {
        let same = |(n, _): &(&http::HeaderName, &http::HeaderValue)| *n == name;
        if name == header::CONTENT_TYPE || name == "proxy" {
            while lines.next_if(same).is_some() {}
            continue;
        }
        let n = arena.made(|out| http_name(name.as_str(), out));
        let v = if lines.peek().is_some_and(same) {
            let sep: &[u8] = if name == header::COOKIE { b"; " } else { b", " };
            arena.made(|out| {
                out.extend_from_slice(first.as_bytes());
                while let Some((_, v)) = lines.next_if(same) {
                    out.extend_from_slice(sep);
                    out.extend_from_slice(v.as_bytes());
                }
            })
        } else {
            Fixed(first.as_bytes())
        };
        http.push((n, v));
    }
    let arena = arena.0;
    let fixed = params.iter().map(|(n, v)| (*n, v.bytes(&arena)));
    let http = http.iter().map(|(n, v)| (n.bytes(&arena), v.bytes(&arena)));
    let extra = r.extra.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()));
    f(&mut fixed.chain(http).chain(extra))
}

/// Percent-encodes what must be encoded in a URL path (lighttpd's normalized target form).
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    push_encoded_path(&mut out, path);
    out
}

/// [`encode_path`] onto the end of `out`.
pub(crate) fn push_encoded_path(out: &mut String, path: &str) {
    /// The bytes a path keeps as they are: unreserved, sub-delims, `:`, `@` and `/`.
    const KEEP: [bool; 256] = urlpath::alnum_and(b"-._~!$&'()*+,;=:@/");
    urlpath::push_percent_encoded(out, path, &KEEP);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each header name is one HTTP_ parameter whatever the order its lines came in, its
    /// values joined (cookies with "; "); Content-Type and Proxy are not among them.
    #[test]
    fn repeated_headers_are_joined() {
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("cookie", "a=1"),
            ("x-one", "1"),
            ("accept", "text/html"),
            ("cookie", "b=2"),
            ("proxy", "http://evil"),
            ("accept", "*/*"),
            ("content-type", "text/plain"),
            ("proxy", "again"),
            ("cookie", "c=3"),
        ] {
            headers.append(
                http::HeaderName::from_static(k),
                http::HeaderValue::from_static(v),
            );
        }
        let r = CgiRequest {
            method: &Method::GET,
            version: Version::HTTP_11,
            request_uri: "/",
            query: "",
            script_name: "/",
            path_info: "",
            redirect_uri: None,
            document_root: Path::new("/srv"),
            server_name: Some("x"),
            server_software: "relight",
            remote: "127.0.0.1:1".parse().unwrap(),
            local: "127.0.0.1:80".parse().unwrap(),
            tls: None,
            https: false,
            headers: &headers,
            content_length: 0,
            redirect_status: 200,
            broken_script_filename: false,
            remote_user: None,
            auth_type: "",
            client_cert: None,
            extra: &[],
        };
        let mut http: Vec<(String, String)> = with_params(&r, Role::Responder, |params| {
            params
                .filter(|(n, _)| n.starts_with(b"HTTP_"))
                .map(|(n, v)| {
                    (
                        String::from_utf8(n.to_vec()).unwrap(),
                        String::from_utf8(v.to_vec()).unwrap(),
                    )
                })
                .collect()
        });
        http.sort();
        assert_eq!(
            http,
            [
                ("HTTP_ACCEPT".to_owned(), "text/html, */*".to_owned()),
                ("HTTP_COOKIE".to_owned(), "a=1; b=2; c=3".to_owned()),
                ("HTTP_X_ONE".to_owned(), "1".to_owned()),
            ]
        );
    }

    #[test]
    fn header_names() {
        let mut v = Vec::new();
        http_name("x-forwarded-for", &mut v);
        assert_eq!(v, b"HTTP_X_FORWARDED_FOR");
        v.clear();
        http_name("weird.name", &mut v);
        assert_eq!(v, b"HTTP_WEIRD_NAME");
    }

    #[test]
    fn path_encoding() {
        assert_eq!(encode_path("/a b/c"), "/a%20b/c");
        assert_eq!(encode_path("/app/c"), "/app/c");
        assert_eq!(encode_path("/é"), "/%C3%A9");
        assert_eq!(encode_path("/100%/a?b#c d"), "/100%25/a%3Fb%23c%20d");
        assert_eq!(encode_path("/x:@!$&'()*+,;=-._~/"), "/x:@!$&'()*+,;=-._~/");
    }
}
