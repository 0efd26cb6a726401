//! Step 6, what a request may ask for: paths denied by suffix (lighttpd's url.access-deny) or
//! not allowed by one (url.access-allow) get 403, whatever would serve them; a declared body
//! over max_request_body gets 413 before any of it is read.

use std::ops::ControlFlow;

use http::StatusCode;

use super::{Req, Step};
use crate::http::pages::status_page;

/// Refuses what the settings do not let through.
pub(crate) fn step(req: &Req<'_>) -> Step<()> {
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
