//! Step 6, what a request may ask for: paths denied by suffix (lighttpd's url.access-deny) or
//! not allowed by one (url.access-allow) get 403, whatever would serve them; a declared body
//! over max_request_body gets 413 before any of it is read.

use std::ops::ControlFlow;

use http::StatusCode;

use super::{Req, Step};
use crate::http::pages::status_page;

/// Refuses what the settings do not let through.
pub(crate) fn step(req: &Req) -> Step<()> {
    let site = &req.site;
    let path = &req.target.path;
    if site
        .deny_suffixes
        .iter()
        .any(|d| path.ends_with(d.as_str()))
        || !site.allow_suffixes.is_empty()
            && !site
                .allow_suffixes
                .iter()
                .any(|a| path.ends_with(a.as_str()))
    {
        return ControlFlow::Break(status_page(StatusCode::FORBIDDEN));
    }
    if let Some(n) = req.target.declared_len
        && n > site.max_request_body
    {
        tracing::info!(
            "{}: request body of {n} bytes over max_request_body ({})",
            req.conn.remote,
            site.max_request_body
        );
        return ControlFlow::Break(status_page(StatusCode::PAYLOAD_TOO_LARGE));
    }
    ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::testing::{answered, handler, req};

    #[test]
    fn denied_and_not_allowed_suffixes_are_403() {
        let root = testkit::TempDir::new("access");
        let h = handler(
            root.path(),
            "deny_suffixes = [\".inc\"]",
            "[[scope]]\nwhen = [{ field = \"url\", op = \"=^\", value = \"/only/\" }]\nallow_suffixes = [\".html\"]\n",
        );
        for (uri, denied) in [
            ("/a.inc", true),
            ("/a.html", false),
            ("/only/a.html", false),
            ("/only/a.txt", true),
            ("/only/a.inc", true),
        ] {
            let r = step(&req(&h, "GET", uri, &[]));
            match r {
                ControlFlow::Break(r) => {
                    assert!(denied, "{uri}");
                    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{uri}");
                }
                ControlFlow::Continue(()) => assert!(!denied, "{uri}"),
            }
        }
    }

    #[test]
    fn a_declared_body_over_the_limit_is_413() {
        let root = testkit::TempDir::new("access-size");
        let h = handler(root.path(), "max_request_body = 10", "");
        let r = answered(step(&req(&h, "POST", "/x", &[("content-length", "11")])));
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(step(&req(&h, "POST", "/x", &[("content-length", "10")])).is_continue());
    }
}
