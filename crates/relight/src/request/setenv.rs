//! Step 8, request headers from the settings (lighttpd's setenv.set-request-header and
//! add-request-header): set before anything reads the headers for a backend.

use super::Req;

/// Sets the settings' request headers, replacing those the client sent.
pub(crate) fn step(req: &mut Req<'_>) {
    for (name, value) in req.site.request_headers {
        req.parts.headers.insert(name.clone(), value.clone());
    }
}
