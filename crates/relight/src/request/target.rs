//! Step 1, the target: the request's framing and host checked, the path percent-decoded and
//! simplified (lighttpd does this before any module runs; nothing derived from a URL reaches
//! the file system without it), the query, and the body length the request declares.
//!
//! Refused as lighttpd refuses them, with one log line each: a transfer coding other than
//! chunked (501, and the connection is closed: where the body ends is not known), an HTTP/1.1
//! request without a Host or with two, a Host no host has (400), a path that cannot be
//! simplified or holds control characters (400). An absolute-form target's host wins over
//! the Host header (RFC 9112 §3.2.2): the steps after this one see it as the Host.

use std::ops::ControlFlow;

use http::{HeaderMap, HeaderValue, StatusCode, Version, header};

use super::{Conn, Step};
use crate::gateway::params::push_encoded_path;
use crate::http::pages::status_page;
use crate::http::urlpath;

/// Where a request goes, as the steps see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The path as received (still encoded).
    pub raw_path: String,
    /// The path, decoded and simplified; rewrites and index files change it.
    pub path: String,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// The Content-Length the request declares.
    pub declared_len: Option<u64>,
}

impl Target {
    /// "path?query" with the path percent-encoded again: what rewrite rules match, and
    /// lighttpd's REDIRECT_URI when it differs from what was received.
    pub(crate) fn encoded(&self) -> String {
        // Room for the query and a few encoded bytes.
        let mut t = String::with_capacity(
            self.path.len() + self.query.as_ref().map_or(0, |q| q.len() + 1) + 16,
        );
        push_encoded_path(&mut t, &self.path);
        if let Some(q) = &self.query {
            t.push('?');
            t.push_str(q);
        }
        t
    }
}

/// The answer to a request refused here, and its log line; `close`: the connection cannot go
/// on (its framing is in doubt).
fn refuse<T>(conn: Conn, status: StatusCode, close: bool, why: std::fmt::Arguments<'_>) -> Step<T> {
    tracing::info!("{}: {why}: {}", conn.remote, status.as_u16());
    let mut r = status_page(status);
    if close {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    ControlFlow::Break(r)
}

/// How the body is framed: a transfer coding other than chunked is refused. (hyper refuses
/// Content-Lengths that differ; of a Content-Length beside a Transfer-Encoding, or one
/// repeated, it passes nothing on, and it closes the connection after such a request.)
fn framing(headers: &HeaderMap, conn: Conn) -> Step<()> {
    let codings = headers.get_all(header::TRANSFER_ENCODING);
    if codings.iter().next().is_some() {
        let chunked_only = codings
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|c| !c.is_empty())
            .all(|c| c.eq_ignore_ascii_case(b"chunked"));
        if !chunked_only {
            let list: Vec<_> = codings
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
                .collect();
            return refuse(
                conn,
                StatusCode::NOT_IMPLEMENTED,
                true,
                format_args!(
                    "Transfer-Encoding {:?}: relight decodes chunked only",
                    list.join(", ")
                ),
            );
        }
    }
    ControlFlow::Continue(())
}

/// The request's host: an absolute-form target's authority, put in place of the Host header;
/// an HTTP/1.1 request must have one Host, and a Host must be able to name a host.
fn host(parts: &mut http::request::Parts, conn: Conn) -> Step<()> {
    if let Some(authority) = parts.uri.authority()
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(header::HOST, v);
    }
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if parts.version == Version::HTTP_11 => refuse(
            conn,
            StatusCode::BAD_REQUEST,
            false,
            format_args!("HTTP/1.1 request without a Host"),
        ),
        (Some(_), Some(_)) => refuse(
            conn,
            StatusCode::BAD_REQUEST,
            false,
            format_args!("request with more than one Host"),
        ),
        (Some(h), None) if !h.to_str().is_ok_and(crate::http::valid_host) => refuse(
            conn,
            StatusCode::BAD_REQUEST,
            false,
            format_args!("bad Host {:?}", String::from_utf8_lossy(h.as_bytes())),
        ),
        _ => ControlFlow::Continue(()),
    }
}

/// The target of a request (whose Host this may set, see [`host`]).
pub(crate) fn parse(parts: &mut http::request::Parts, conn: Conn) -> Step<Target> {
    framing(&parts.headers, conn)?;
    host(parts, conn)?;
    let raw_path = parts.uri.path().to_owned();
    let path = match urlpath::normalize(&raw_path) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!("{}: bad request path {raw_path:?}: {e}", conn.remote);
            return ControlFlow::Break(status_page(StatusCode::BAD_REQUEST));
        }
    };
    let declared_len = match parts.headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(n) => Some(n),
            None => return ControlFlow::Break(status_page(StatusCode::BAD_REQUEST)),
        },
    };
    ControlFlow::Continue(Target {
        raw_path,
        path,
        query: parts.uri.query().map(str::to_owned),
        declared_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP/1.1 request for `uri` with `headers` (a Host unless they have one).
    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().uri(uri);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            b = b.header(header::HOST, "x");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn conn() -> Conn {
        Conn {
            remote: "127.0.0.1:5000".parse().unwrap(),
            local: "127.0.0.1:80".parse().unwrap(),
            tls: None,
            forwarded_https: None,
        }
    }

    fn refused(mut p: http::request::Parts) -> Option<(StatusCode, bool)> {
        match parse(&mut p, conn()) {
            ControlFlow::Break(r) => {
                Some((r.status(), r.headers().contains_key(header::CONNECTION)))
            }
            ControlFlow::Continue(_) => None,
        }
    }

    #[test]
    fn paths_are_decoded_and_simplified() {
        let ControlFlow::Continue(t) = parse(
            &mut parts("/a/./b/../c%20d?x=1", &[("content-length", "12")]),
            conn(),
        ) else {
            panic!("answered")
        };
        assert_eq!(t.raw_path, "/a/./b/../c%20d");
        assert_eq!(t.path, "/a/c d");
        assert_eq!(t.query.as_deref(), Some("x=1"));
        assert_eq!(t.declared_len, Some(12));
        assert_eq!(t.encoded(), "/a/c%20d?x=1");
    }

    #[test]
    fn bad_paths_and_lengths_are_400() {
        for (uri, len) in [
            ("/a%zz", None),
            ("/a%0d%0aSet-Cookie:%20x", None),
            ("/ok", Some("twelve")),
            ("/ok", Some("-1")),
        ] {
            let headers: Vec<_> = len.map(|l| ("content-length", l)).into_iter().collect();
            assert_eq!(
                refused(parts(uri, &headers)),
                Some((StatusCode::BAD_REQUEST, false)),
                "{uri} {len:?}"
            );
        }
    }

    #[test]
    fn a_body_in_another_coding_is_refused_and_the_connection_closed() {
        for (headers, want) in [
            (
                &[("transfer-encoding", "gzip, chunked")][..],
                Some((StatusCode::NOT_IMPLEMENTED, true)),
            ),
            (&[("transfer-encoding", "Chunked")], None),
            (&[("content-length", "5")], None),
        ] {
            assert_eq!(refused(parts("/", headers)), want, "{headers:?}");
        }
    }

    #[test]
    fn one_valid_host_and_the_absolute_form_wins() {
        let bad = Some((StatusCode::BAD_REQUEST, false));
        let mut no_host = parts("/", &[]);
        no_host.headers.remove(header::HOST);
        assert_eq!(refused(no_host.clone()), bad, "HTTP/1.1 needs a Host");
        no_host.version = Version::HTTP_10;
        assert_eq!(refused(no_host), None, "HTTP/1.0 does not");
        assert_eq!(refused(parts("/", &[("host", "a"), ("host", "b")])), bad);
        assert_eq!(refused(parts("/", &[("host", "../../etc/x")])), bad);
        let mut p = parts("http://right.example:8080/x", &[("host", "wrong.example")]);
        assert!(parse(&mut p, conn()).is_continue());
        assert_eq!(p.headers[header::HOST], "right.example:8080");
    }
}
