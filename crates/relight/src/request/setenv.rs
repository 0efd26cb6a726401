//! Step 8, request headers from the settings (lighttpd's setenv.set-request-header and
//! add-request-header): set before anything reads the headers for a backend.

use http::HeaderValue;

use super::Req;

/// Sets the settings' request headers (replacing the client's; an empty value removes the
/// header), then adds the others (appended to the client's with ", ", as lighttpd).
pub(crate) fn step(req: &mut Req) {
    // Once per request: a local redirect or an error handler runs the steps again on the
    // headers as this left them (lighttpd's mod_setenv marks the request handled too).
    if req.setenv_done {
        return;
    }
    req.setenv_done = true;
    for (name, value) in &req.site.request_headers {
        if value.is_empty() {
            req.parts.headers.remove(name);
        } else {
            req.parts.headers.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &req.site.add_request_headers {
        let joined = {
            let mut all = req.parts.headers.get_all(name).iter().peekable();
            if all.peek().is_none() {
                None
            } else {
                let mut v = Vec::new();
                for h in all {
                    if !v.is_empty() {
                        v.extend_from_slice(b", ");
                    }
                    v.extend_from_slice(h.as_bytes());
                }
                v.extend_from_slice(b", ");
                v.extend_from_slice(value.as_bytes());
                HeaderValue::from_bytes(&v).ok()
            }
        };
        req.parts
            .headers
            .insert(name.clone(), joined.unwrap_or_else(|| value.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::testing::{handler, req};

    #[test]
    fn the_settings_headers_replace_the_clients() {
        let root = testkit::TempDir::new("setenv");
        let h = handler(
            root.path(),
            "request_headers = { \"X-Real-Ip\" = \"set\" }",
            "",
        );
        let mut r = req(
            &h,
            "GET",
            "/",
            &[("x-real-ip", "forged"), ("x-other", "kept")],
        );
        step(&mut r);
        let all: Vec<_> = r.parts.headers.get_all("x-real-ip").iter().collect();
        assert_eq!(all, ["set"]);
        assert_eq!(r.parts.headers["x-other"], "kept");
    }

    #[test]
    fn added_headers_join_the_clients_and_empty_ones_remove() {
        let root = testkit::TempDir::new("setenv-add");
        let h = handler(
            root.path(),
            "add_request_headers = { \"X-Add\" = \"added\", \"X-New\" = \"n\" }\n\
             request_headers = { \"X-Gone\" = \"\" }",
            "",
        );
        let mut r = req(&h, "GET", "/", &[("x-add", "client"), ("x-gone", "secret")]);
        step(&mut r);
        // Once per request, though a local redirect runs the steps again.
        step(&mut r);
        assert_eq!(r.parts.headers["x-add"], "client, added");
        assert_eq!(r.parts.headers["x-new"], "n");
        assert!(r.parts.headers.get("x-gone").is_none());
    }
}
