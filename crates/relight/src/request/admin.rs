//! Step 2, relight's own pages: the status page and the metrics (loopback only unless
//! `status_public`; rendered by [`super::server_status`]), the health and readiness probes
//! (`health_path`, `ready_path`: for orchestrators, any client) and the `[[answer]]`s, fixed
//! responses for exact paths (nginx's `return`). They are looked up before any setting, so no
//! scope, rewrite or access rule can hide or change them.

use std::ops::ControlFlow;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use super::server_status;
use super::{Conn, Handler, Step};
use crate::config::Config;
use crate::http::body::Body;
use crate::http::pages::status_page;

/// An `[[answer]]`, ready to be sent.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The exact (normalized) path it answers.
    pub path: String,
    /// The status.
    pub status: StatusCode,
    /// The Content-Type.
    pub content_type: HeaderValue,
    /// The body.
    pub body: Bytes,
}

/// The `[[answer]]`s of a checked configuration.
pub(crate) fn answers(config: &Config) -> Vec<Answer> {
    config
        .answer
        .iter()
        .map(|a| Answer {
            path: a.path.value.clone(),
            status: StatusCode::from_u16(a.status()).unwrap_or(StatusCode::OK),
            content_type: HeaderValue::from_str(&a.content_type)
                .unwrap_or(HeaderValue::from_static("text/plain")),
            body: Bytes::from(a.body.clone()),
        })
        .collect()
}

/// Whether the status page goes out as HTML: a client that lists `text/html` among what it
/// accepts (a browser), unless the query asks for JSON (`?json`) or the client prefers JSON.
fn wants_html(parts: &http::request::Parts) -> bool {
    if parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "json" || p.starts_with("json=")))
    {
        return false;
    }
    let accept = parts
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let mut html = None;
    for (i, m) in accept.enumerate() {
        match m.as_str() {
            "application/json" if html.is_none() => return false,
            "text/html" | "application/xhtml+xml" => html = html.or(Some(i)),
            _ => {}
        }
    }
    html.is_some()
}

/// The status page, the metrics or an answer, when `path` is one of theirs.
pub(crate) fn answer(
    h: &Handler,
    path: &str,
    parts: &http::request::Parts,
    conn: Conn,
) -> Step<()> {
    let s = &h.config.server;
    for (p, metrics) in [(&s.status_path, false), (&s.metrics_path, true)] {
        if !p.is_empty() && path == *p {
            if !s.status_public && !conn.remote.ip().is_loopback() {
                return ControlFlow::Break(status_page(StatusCode::FORBIDDEN));
            }
            return ControlFlow::Break(if metrics {
                server_status::metrics(&h.backends, &h.cgi, &h.proxy)
            } else if wants_html(parts) {
                super::server_status_html::html(&h.backends, &h.cgi, &h.proxy, h.started)
            } else {
                server_status::json(&h.backends, &h.cgi, &h.proxy, h.started)
            });
        }
    }
    if !s.health_path.is_empty() && path == s.health_path {
        return ControlFlow::Break(probe(StatusCode::OK, "ok\n".into()));
    }
    if !s.ready_path.is_empty() && path == s.ready_path {
        let pools = server_status::pools(&h.backends);
        let not_ready = server_status::not_ready(&pools);
        return ControlFlow::Break(if not_ready.is_empty() {
            probe(StatusCode::OK, "ready\n".into())
        } else {
            probe(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {}\n", not_ready.join(", ")),
            )
        });
    }
    if let Some(a) = h.answers.iter().find(|a| a.path == path) {
        // For HEAD too: hyper sends no body, and the Content-Length says the GET's.
        let mut r = Response::new(Body::full(a.body.clone()));
        *r.status_mut() = a.status;
        r.headers_mut()
            .insert(header::CONTENT_TYPE, a.content_type.clone());
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(a.body.len()));
        return ControlFlow::Break(r);
    }
    ControlFlow::Continue(())
}

/// A probe's answer: short text, never cached.
fn probe(status: StatusCode, body: String) -> Response<Body> {
    let len = body.len();
    let mut r = Response::new(Body::full(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::*;
    use crate::request::testing::{answered, conn, handler};

    /// A GET of `target` with `accept` as its Accept header.
    fn get(target: &str, accept: Option<&str>) -> http::request::Parts {
        let mut b = http::Request::get(target);
        if let Some(a) = accept {
            b = b.header(header::ACCEPT, a);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn browsers_get_the_status_page_as_html_and_everyone_else_json() {
        let root = testkit::TempDir::new("html");
        let h = handler(root.path(), "", "");
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        let kind = |target: &str, accept: Option<&str>| {
            let r = answered(answer(
                &h,
                "/server-status",
                &get(target, accept),
                conn("127.0.0.1:9"),
            ));
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            kind("/server-status", Some(browser)),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            kind("/server-status?json", Some(browser)),
            "application/json"
        );
        assert_eq!(kind("/server-status", None), "application/json");
        assert_eq!(kind("/server-status", Some("*/*")), "application/json");
        assert_eq!(
            kind("/server-status", Some("application/json, text/html")),
            "application/json"
        );
    }

    #[test]
    fn status_pages_are_for_loopback_unless_public() {
        let root = testkit::TempDir::new("admin");
        let h = handler(root.path(), "", "");
        let r = answered(answer(
            &h,
            "/server-status",
            &get("/server-status", None),
            conn("127.0.0.1:9"),
        ));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let r = answered(answer(
            &h,
            "/metrics",
            &get("/metrics", None),
            conn("10.0.0.1:9"),
        ));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let public = handler(root.path(), "status_public = true", "");
        let r = answered(answer(
            &public,
            "/metrics",
            &get("/metrics", None),
            conn("10.0.0.1:9"),
        ));
        assert_eq!(r.status(), StatusCode::OK);
        let off = handler(root.path(), "status_path = \"\"", "");
        assert!(matches!(
            answer(
                &off,
                "/server-status",
                &get("/server-status", None),
                conn("127.0.0.1:9")
            ),
            ControlFlow::Continue(())
        ));
    }

    #[test]
    fn answers_are_exact_paths() {
        let root = testkit::TempDir::new("answers");
        let h = handler(
            root.path(),
            "",
            "[[answer]]\npath = \"/healthz\"\nstatus = 203\nbody = \"ok\"\n",
        );
        let r = answered(answer(
            &h,
            "/healthz",
            &get("/healthz", None),
            conn("10.0.0.1:9"),
        ));
        assert_eq!(r.status(), StatusCode::NON_AUTHORITATIVE_INFORMATION);
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "2");
        assert!(matches!(r.body(), Body::Full(Some(b)) if b == "ok"));
        assert!(matches!(
            answer(
                &h,
                "/healthz/x",
                &get("/healthz/x", None),
                conn("10.0.0.1:9")
            ),
            ControlFlow::Continue(())
        ));
    }
}
