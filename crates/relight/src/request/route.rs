//! Step 10, routing: which handler a request goes to, decided on the normalized path: the first
//! FastCGI backend (in configuration order) with a matching rule, else the first proxy rule
//! that matches the path, else the first CGI rule that
//! matches the script file the path names, else the static files, which answer; a 404 goes to
//! the error handler. The split of the path into SCRIPT_NAME and PATH_INFO is lighttpd's.

use std::ops::ControlFlow;
use std::sync::Arc;

use http::StatusCode;

use super::{Req, Step, error_handler};
use crate::config::MatchRule;
use crate::files::StaticFiles;
use crate::gateway::cgi::Cgi;
use crate::gateway::fastcgi::Backend;
use crate::gateway::proxy::Proxy;
use crate::http::pages::status_page;

/// A request routed to a responder.
#[derive(Debug)]
pub(crate) struct Routed {
    /// The responder.
    pub to: To,
    /// It serves server.error_handler_404 in place of the request's own target.
    pub via_404_handler: bool,
}

/// The responder a request goes to.
#[derive(Debug)]
pub(crate) enum To {
    /// A FastCGI backend.
    Fastcgi(Responder),
    /// A CGI script.
    Cgi(CgiScript),
    /// An HTTP upstream.
    Proxy(Arc<Proxy>),
}

/// A CGI script a request runs.
#[derive(Debug)]
pub(crate) struct CgiScript {
    /// The rule that runs it.
    pub cgi: Arc<Cgi>,
    /// Its file.
    pub file: std::path::PathBuf,
    /// SCRIPT_NAME: the URL path of the file.
    pub script_name: String,
    /// PATH_INFO: the rest of the path (may be empty).
    pub path_info: String,
}

/// Step 10: the static files answer what no responder's rule matches (a 404 goes to the error
/// handler); `Continue` with the responder that serves the request.
pub(crate) async fn step(req: &Req) -> Step<Routed> {
    let not_found = match route(&req.site.backends, &req.site.files, &req.target.path) {
        Route::Fastcgi(to) => {
            return ControlFlow::Continue(Routed {
                to: To::Fastcgi(to),
                via_404_handler: false,
            });
        }
        Route::MissingScript => status_page(StatusCode::NOT_FOUND),
        Route::Static
            if let Some(p) = req.site.proxy.iter().find(|p| p.serves(&req.target.path)) =>
        {
            return ControlFlow::Continue(Routed {
                to: To::Proxy(p.clone()),
                via_404_handler: false,
            });
        }
        Route::Static if !req.site.cgi.is_empty() => {
            match cgi_script(&req.site.cgi, &req.site.files, &req.target.path) {
                Some(Ok(script)) => {
                    return ControlFlow::Continue(Routed {
                        to: To::Cgi(script),
                        via_404_handler: false,
                    });
                }
                Some(Err(status)) => return ControlFlow::Break(status_page(status)),
                None => serve_static(req).await?,
            }
        }
        Route::Static => serve_static(req).await?,
    };
    let to = error_handler::step(req, not_found).await?;
    ControlFlow::Continue(Routed {
        to: To::Fastcgi(to),
        via_404_handler: true,
    })
}

/// Whether the static files (no backend, proxy or CGI script) answer the request's path.
pub(crate) fn is_static(req: &Req) -> bool {
    let path = &req.target.path;
    matches!(
        route(&req.site.backends, &req.site.files, path),
        Route::Static
    ) && !req.site.proxy.iter().any(|p| p.serves(path))
        && (req.site.cgi.is_empty() || cgi_script(&req.site.cgi, &req.site.files, path).is_none())
}

/// The static files' answer: `Break` unless it is a 404 (which goes to the error handler).
async fn serve_static(req: &Req) -> Step<http::Response<crate::http::body::Body>> {
    let t = &req.target;
    if let Some(listing) = &req.site.dir_listing
        && t.path.ends_with('/')
        && matches!(req.parts.method, http::Method::GET | http::Method::HEAD)
        && let Some(dir) = req.site.files.listable_dir(&t.path)
    {
        return ControlFlow::Break(dir_listing(req, listing, dir).await);
    }
    let resp = (req.site.files)
        .serve(
            &req.parts.method,
            &t.path,
            t.query.as_deref(),
            &req.parts.headers,
        )
        .await;
    if resp.status() != StatusCode::NOT_FOUND {
        return ControlFlow::Break(resp);
    }
    ControlFlow::Continue(resp)
}

/// The listing of `dir` (lighttpd's mod_dirlisting), made on a blocking thread.
async fn dir_listing(
    req: &Req,
    cfg: &crate::config::DirListingConfig,
    dir: std::path::PathBuf,
) -> http::Response<crate::http::body::Body> {
    use http::{HeaderValue, header};
    let files = req.site.files.clone();
    let cfg2 = cfg.clone();
    let path = req.target.path.clone();
    let tag = req.site.server_tag.clone();
    let page = tokio::task::spawn_blocking(move || {
        crate::files::listing::page(&dir, &path, &cfg2, |n| files.type_of(n), &tag)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let page = match page {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("listing {}: {e}", req.target.path);
            return crate::http::pages::status_page(StatusCode::FORBIDDEN);
        }
    };
    let ty = match &cfg.encoding {
        Some(enc) => format!("text/html;charset={enc}"),
        None => "text/html".to_owned(),
    };
    let len = page.len();
    let mut r = http::Response::new(if req.parts.method == http::Method::HEAD {
        crate::http::body::Body::Empty
    } else {
        crate::http::body::Body::full(page)
    });
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ty) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// The CGI script `path` runs, as lighttpd's mod_cgi finds it: the first path component that
/// is a regular file under the root (the rest is PATH_INFO), if a rule matches it (its name
/// ends with a rule's extension, or its URL path starts with a rule's prefix). `Err(403)`: a
/// matched script that is not executable where the rule runs only executable files.
fn cgi_script(
    rules: &[Arc<Cgi>],
    files: &StaticFiles,
    path: &str,
) -> Option<Result<CgiScript, StatusCode>> {
    use std::os::unix::fs::PermissionsExt;
    let fits = |script: &str, rule: &MatchRule| match rule {
        MatchRule::Extension(ext) => script.ends_with(ext.as_str()),
        MatchRule::Prefix(prefix) => script.starts_with(prefix.as_str()),
    };
    // No file system work for a path no rule can match (a static file's request, most often):
    // an extension must appear in it, a prefix start it.
    let may = |rule: &MatchRule| match rule {
        MatchRule::Extension(ext) => path.contains(ext.as_str()),
        MatchRule::Prefix(prefix) => path.starts_with(prefix.as_str()),
    };
    if !rules.iter().any(|c| c.matches.iter().any(may)) {
        return None;
    }
    // Each candidate ends at a slash or at the end of the path; the first that is not a
    // directory decides.
    let ends = path
        .match_indices('/')
        .map(|(i, _)| i)
        .filter(|&i| i > 0)
        .chain(std::iter::once(path.len()));
    let (script_name, meta, file) = ends.into_iter().find_map(|end| {
        let candidate = &path[..end];
        let file = files.fs_path(candidate);
        match std::fs::metadata(&file) {
            Ok(m) if m.is_dir() => None,
            Ok(m) => Some(Some((candidate, m, file))),
            Err(_) => Some(None),
        }
    })??;
    if !meta.is_file() {
        return None;
    }
    let cgi = rules
        .iter()
        .find(|c| c.matches.iter().any(|rule| fits(script_name, rule)))?;
    if !files.is_local_file(script_name) {
        return None;
    }
    if cgi.execute_x_only && meta.permissions().mode() & 0o111 == 0 {
        tracing::info!(
            "cgi \"{}\": {} is not executable (execute_x_only): 403",
            cgi.name,
            file.display()
        );
        return Some(Err(StatusCode::FORBIDDEN));
    }
    Some(Ok(CgiScript {
        cgi: cgi.clone(),
        file,
        script_name: script_name.to_owned(),
        path_info: path[script_name.len()..].to_owned(),
    }))
}

/// Where a request goes.
#[derive(Debug)]
pub(crate) enum Route {
    /// To a FastCGI backend.
    Fastcgi(Responder),
    /// A backend's rule matched but its script is not there (check-local): 404.
    MissingScript,
    /// To the static file handler.
    Static,
}

/// The responder a request was routed to, with its SCRIPT_NAME and PATH_INFO.
#[derive(Debug)]
pub(crate) struct Responder {
    /// The backend.
    pub backend: Arc<Backend>,
    /// SCRIPT_NAME.
    pub script_name: String,
    /// PATH_INFO (may be empty).
    pub path_info: String,
}

/// The route to `backend`, with the path split into SCRIPT_NAME and PATH_INFO.
fn to_backend(backend: &Arc<Backend>, (script_name, path_info): (&str, &str)) -> Route {
    Route::Fastcgi(Responder {
        backend: backend.clone(),
        script_name: script_name.to_owned(),
        path_info: path_info.to_owned(),
    })
}

/// Routes the normalized `path` to a responder or the static files.
pub(crate) fn route(backends: &[Arc<Backend>], files: &StaticFiles, path: &str) -> Route {
    route_among(backends, files, path, false)
}

/// The authorizer that must allow `path` first, if one matches it.
pub(crate) fn authorizer(backends: &[Arc<Backend>], files: &StaticFiles, path: &str) -> Route {
    route_among(backends, files, path, true)
}

/// Of the backends with `rule` (several hosts for one extension), the one with the fewest
/// requests in flight; the first listed on a tie.
fn least_busy<'a>(
    first: &'a Arc<Backend>,
    backends: &'a [Arc<Backend>],
    rule: &MatchRule,
    authorizers: bool,
) -> &'a Arc<Backend> {
    let mut best = first;
    let mut load = first.load();
    if load == 0 {
        return best;
    }
    for b in backends {
        if b.authorizer == authorizers && !Arc::ptr_eq(b, first) && b.matches.contains(rule) {
            let l = b.load();
            if l < load {
                best = b;
                load = l;
            }
        }
    }
    best
}

fn route_among(
    backends: &[Arc<Backend>],
    files: &StaticFiles,
    path: &str,
    authorizers: bool,
) -> Route {
    for b in backends.iter().filter(|b| b.authorizer == authorizers) {
        for rule in &b.matches {
            let b = least_busy(b, backends, rule, authorizers);
            match rule {
                MatchRule::Prefix(prefix) => {
                    if !path.starts_with(prefix.as_str()) {
                        continue;
                    }
                    // SCRIPT_NAME runs to the first slash at or after the end of the prefix
                    // (with fix-root-scriptname, a "/" match has none: all is PATH_INFO).
                    let split = if b.fix_root_script_name && prefix == "/" {
                        0
                    } else {
                        path[prefix.len()..]
                            .find('/')
                            .map_or(path.len(), |i| prefix.len() + i)
                    };
                    let (script_name, path_info) = path.split_at(split);
                    if b.check_local == Some(true) && !files.is_local_file(script_name) {
                        return Route::MissingScript;
                    }
                    return to_backend(b, (script_name, path_info));
                }
                MatchRule::Extension(ext) => {
                    let check = b.check_local != Some(false);
                    let mut matched = false;
                    // Every place a path segment ends with the extension, shortest first.
                    for (i, _) in path.match_indices(ext.as_str()) {
                        let end = i + ext.len();
                        if end != path.len() && path.as_bytes()[end] != b'/' {
                            continue;
                        }
                        matched = true;
                        let (script_name, path_info) = path.split_at(end);
                        if !check || files.is_local_file(script_name) {
                            return to_backend(b, (script_name, path_info));
                        }
                    }
                    if matched {
                        return Route::MissingScript;
                    }
                }
            }
        }
    }
    Route::Static
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::testing::{handler, req};

    fn responder(r: &Route) -> Option<(&str, &str, &str)> {
        match r {
            Route::Fastcgi(to) => Some((&to.backend.name, &to.script_name, &to.path_info)),
            _ => None,
        }
    }

    #[test]
    fn prefixes_and_extensions_as_lighttpd_splits_them() {
        let root = testkit::TempDir::new("route");
        std::fs::write(root.join("index.php"), "").unwrap();
        let h = handler(
            root.path(),
            "",
            "[[fastcgi]]\nname = \"app\"\nmatch = [\"/app\"]\naddress = \"127.0.0.1:1\"\n\
             [[fastcgi]]\nname = \"php\"\nmatch = [\".php\"]\naddress = \"127.0.0.1:2\"\n",
        );
        let r = req(&h, "GET", "/", &[]);
        let (b, f) = (&r.site.backends, &r.site.files);
        assert_eq!(
            responder(&route(b, f, "/app/x/y")),
            Some(("app", "/app", "/x/y"))
        );
        assert_eq!(
            responder(&route(b, f, "/appx/y")),
            Some(("app", "/appx", "/y"))
        );
        assert_eq!(
            responder(&route(b, f, "/index.php/more")),
            Some(("php", "/index.php", "/more"))
        );
        // check-local: the script must exist for an extension match.
        assert!(matches!(route(b, f, "/missing.php"), Route::MissingScript));
        assert!(matches!(route(b, f, "/style.css"), Route::Static));
        assert!(
            matches!(authorizer(b, f, "/app/x"), Route::Static),
            "no authorizer"
        );
    }
}
