//! Responses the server makes up itself: error pages and redirects. One place, so every
//! status page looks the same and carries the same headers.

use http::{HeaderValue, Response, StatusCode, header};

use crate::http::body::Body;

/// Marks a response relight made up itself (not a backend's, not a file's): the error
/// handler and the error files of the settings replace those that are errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MadeHere;

/// A small HTML page for `status`.
pub(crate) fn status_page(status: StatusCode) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("");
    let page = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!DOCTYPE html>\n<html><head><title>{code} {reason}</title></head>\n<body><h1>{code} {reason}</h1></body></html>\n",
        code = status.as_u16()
    );
    let mut resp = Response::new(Body::full(page));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.extensions_mut().insert(MadeHere);
    resp
}

/// A status page with a `Retry-After` header (503 while a backend cannot serve).
pub(crate) fn unavailable(retry_after_secs: u64) -> Response<Body> {
    let mut resp = status_page(StatusCode::SERVICE_UNAVAILABLE);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}

/// A 301 to `location`.
pub(crate) fn moved_permanently(location: &str) -> Response<Body> {
    let mut resp = status_page(StatusCode::MOVED_PERMANENTLY);
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}
