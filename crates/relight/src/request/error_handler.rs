//! Step 10b, server.error_handler_404 (lighttpd's server.error-handler-404): a request the static
//! files answer 404, or whose script is missing, is served as the handler's URL path instead.
//! A static handler page is sent with its own status (200, as lighttpd 1.4 answers); a handler
//! that is a FastCGI script gets the request, with REDIRECT_STATUS 404. Without a handler, or
//! when the handler is not there either, the 404 stands.

use std::ops::ControlFlow;

use http::{Method, Response, StatusCode};

use super::route::{Responder, Route, route};
use super::{Req, Step};
use crate::http::body::Body;

/// `Break` with the handler's page or `not_found`; `Continue` with the responder that serves
/// the handler.
pub(crate) async fn step(req: &Req, not_found: Response<Body>) -> Step<Responder> {
    // server.error-handler, when set, serves every error (lighttpd: it wins over this one).
    let Some(handler) = req
        .site
        .error_handler_404
        .as_deref()
        .filter(|_| req.site.error_handler.is_none())
    else {
        return ControlFlow::Break(not_found);
    };
    let files = &req.site.files;
    match route(&req.site.backends, files, handler) {
        Route::Static => {
            let method = if req.parts.method == Method::HEAD {
                Method::HEAD
            } else {
                Method::GET
            };
            let r = files
                .serve(&method, handler, None, &req.parts.headers)
                .await;
            ControlFlow::Break(if r.status() == StatusCode::NOT_FOUND {
                not_found
            } else {
                r
            })
        }
        Route::MissingScript => ControlFlow::Break(not_found),
        Route::Fastcgi(to) => ControlFlow::Continue(to),
    }
}

/// An error relight made, with the file `<errorfile_prefix><status>.html` as its body when
/// there is one (lighttpd's server.errorfile-prefix): the status stays, the type is the
/// file's.
pub(crate) async fn error_file(req: &Req, resp: Response<Body>) -> Response<Body> {
    let Some(prefix) = &req.site.errorfile_prefix else {
        return resp;
    };
    let path = format!("{prefix}{}.html", resp.status().as_u16());
    let Ok(page) = tokio::fs::read(&path).await else {
        return resp;
    };
    let mut r = Response::new(Body::full(page));
    *r.status_mut() = resp.status();
    for (k, v) in resp.headers() {
        if k != http::header::CONTENT_TYPE && k != http::header::CONTENT_LENGTH {
            r.headers_mut().insert(k.clone(), v.clone());
        }
    }
    if let Ok(v) = http::HeaderValue::from_str(&req.site.files.type_of(&path)) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pages::status_page;
    use crate::request::testing::{answered, handler, req};

    #[tokio::test(flavor = "current_thread")]
    async fn a_static_handler_answers_with_its_page_or_the_404_stands() {
        let root = testkit::TempDir::new("handler");
        std::fs::write(root.join("404.html"), "not here").unwrap();
        let not_found = || status_page(StatusCode::NOT_FOUND);
        let none = handler(root.path(), "", "");
        let r = answered(step(&req(&none, "GET", "/x", &[]), not_found()).await);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let h = handler(root.path(), "error_handler_404 = \"/404.html\"", "");
        let r = answered(step(&req(&h, "GET", "/x", &[]), not_found()).await);
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "lighttpd 1.4 sends the page with 200"
        );
        let gone = handler(root.path(), "error_handler_404 = \"/gone.html\"", "");
        let r = answered(step(&req(&gone, "GET", "/x", &[]), not_found()).await);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_fastcgi_handler_gets_the_request() {
        let root = testkit::TempDir::new("handler-fcgi");
        let h = handler(
            root.path(),
            "error_handler_404 = \"/app/404\"",
            "[[fastcgi]]\nname = \"app\"\nmatch = [\"/app\"]\naddress = \"127.0.0.1:1\"\n",
        );
        let r = step(
            &req(&h, "GET", "/x", &[]),
            status_page(StatusCode::NOT_FOUND),
        )
        .await;
        let ControlFlow::Continue(to) = r else {
            panic!("answered")
        };
        assert_eq!(to.backend.name, "app");
        assert_eq!(
            (to.script_name.as_str(), to.path_info.as_str()),
            ("/app", "/404")
        );
    }
}
