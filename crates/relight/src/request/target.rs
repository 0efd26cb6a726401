//! Step 1, the target: the request path percent-decoded and simplified (lighttpd does this
//! before any module runs; nothing derived from a URL reaches the file system without it), the
//! query, and the body length the request declares. A path that cannot be simplified, or a
//! Content-Length that is not a number, is answered 400.

use std::ops::ControlFlow;

use http::{StatusCode, header};

use super::{Conn, Step};
use crate::gateway::params::encode_path;
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
        let mut t = encode_path(&self.path);
        if let Some(q) = &self.query {
            t.push('?');
            t.push_str(q);
        }
        t
    }
}

/// The target of a request.
pub(crate) fn parse(parts: &http::request::Parts, conn: Conn) -> Step<Target> {
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

    fn parts(uri: &str, len: Option<&str>) -> http::request::Parts {
        let mut b = http::Request::builder().uri(uri);
        if let Some(l) = len {
            b = b.header(header::CONTENT_LENGTH, l);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn conn() -> Conn {
        Conn {
            remote: "127.0.0.1:5000".parse().unwrap(),
            local: "127.0.0.1:80".parse().unwrap(),
        }
    }

    #[test]
    fn paths_are_decoded_and_simplified() {
        let ControlFlow::Continue(t) = parse(&parts("/a/./b/../c%20d?x=1", Some("12")), conn())
        else {
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
            ("/ok", Some("twelve")),
            ("/ok", Some("-1")),
        ] {
            match parse(&parts(uri, len), conn()) {
                ControlFlow::Break(r) => assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{uri}"),
                ControlFlow::Continue(t) => panic!("{uri} {len:?}: {t:?}"),
            }
        }
    }
}
