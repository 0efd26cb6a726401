//! Step 8, request headers from the settings (lighttpd's setenv.set-request-header and
//! add-request-header): set before anything reads the headers for a backend.

use super::Req;

/// Sets the settings' request headers, replacing those the client sent.
pub(crate) fn step(req: &mut Req) {
    for (name, value) in &req.site.request_headers {
        req.parts.headers.insert(name.clone(), value.clone());
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
}
