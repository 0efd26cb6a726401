//! X-Sendfile (lighttpd's x-sendfile): a backend answers with `X-Sendfile: /path` (or
//! `X-LIGHTTPD-send-file`) and relight sends that file as the body, so the backend process is
//! free at once. Only for backends that enable it, and only under `x_sendfile_docroot` when
//! that is set.

use std::path::{Path, PathBuf};

use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::BodyExt;

use crate::http::body::Body;
use crate::http::pages::status_page;

const NAMES: [&str; 2] = ["x-sendfile", "x-lighttpd-send-file"];

/// Replaces the body of `resp` with the file its X-Sendfile header names, if it has one.
pub(crate) async fn apply(
    mut resp: Response<Body>,
    docroots: &[PathBuf],
    mime_types: &std::collections::BTreeMap<String, String>,
    backend: &str,
) -> Response<Body> {
    let Some(value) = NAMES.iter().find_map(|n| resp.headers().get(*n).cloned()) else {
        return resp;
    };
    for n in NAMES {
        resp.headers_mut().remove(n);
    }
    // Whatever body the backend sent is read and dropped off the request's path.
    let mut old = std::mem::replace(resp.body_mut(), Body::Empty);
    tokio::spawn(async move { while let Some(Ok(_)) = old.frame().await {} });

    let path = PathBuf::from(String::from_utf8_lossy(value.as_bytes()).into_owned());
    let fail = |status: StatusCode, why: &str| {
        tracing::error!(
            "fastcgi backend \"{backend}\": X-Sendfile {}: {why}",
            path.display()
        );
        status_page(status)
    };
    if !path.is_absolute() {
        return fail(StatusCode::BAD_GATEWAY, "not an absolute path");
    }
    let canonical = match path.canonicalize() {
        Ok(c) => c,
        Err(e) => return fail(StatusCode::NOT_FOUND, &e.to_string()),
    };
    if !docroots.is_empty()
        && !docroots
            .iter()
            .any(|d| d.canonicalize().is_ok_and(|d| canonical.starts_with(d)))
    {
        return fail(StatusCode::FORBIDDEN, "outside x_sendfile_docroot");
    }
    let (file, meta) = match crate::files::open_regular(&canonical) {
        Ok(Some(f)) => f,
        Ok(None) => return fail(StatusCode::FORBIDDEN, "not a regular file"),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return fail(StatusCode::FORBIDDEN, &e.to_string());
        }
        Err(e) => return fail(StatusCode::NOT_FOUND, &e.to_string()),
    };
    let body = match crate::files::file_body_of(file, 0, meta.len()) {
        Ok(b) => b,
        Err(e) => return fail(StatusCode::FORBIDDEN, &e.to_string()),
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    if !h.contains_key(header::CONTENT_TYPE)
        && let Ok(v) = HeaderValue::from_str(crate::files::mime::for_path_with(
            &path_str(&path),
            mime_types,
        ))
    {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(m) = meta.modified()
        && let Ok(v) = HeaderValue::from_str(&crate::http::date::format(m))
    {
        h.entry(header::LAST_MODIFIED).or_insert(v);
    }
    *resp.body_mut() = body;
    resp
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
