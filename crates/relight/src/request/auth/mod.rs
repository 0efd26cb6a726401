//! HTTP Basic authentication (lighttpd's mod_auth with mod_authn_file): which rule covers a
//! path, the `Authorization` header, and the user files — htpasswd (`{SHA}`, `$apr1$`, and
//! whatever crypt(3) knows) or plain `user:password` lines. The file is read for each check,
//! as lighttpd does, so edits apply at once.

mod crypt;
pub(crate) mod hash;

use std::path::Path;

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::config::{AuthRule, UserFileFormat};
use crate::http::body::Body;
use crate::http::pages::status_page;

/// The outcome of checking a request against the auth rules.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// No rule covers the path.
    Open,
    /// The user authenticated and is allowed.
    User(String),
    /// The answer (401, or 500 when the user file cannot be read).
    Refused(Response<Body>),
}

/// Step 7: the request's credentials, when a rule covers its path; the user let in is kept for
/// the backends (REMOTE_USER).
pub(crate) async fn step(req: &mut super::Req) -> super::Step<()> {
    match check(
        &req.site.auth,
        &req.target.path,
        &req.parts.headers,
        &req.conn.remote,
    )
    .await
    {
        Verdict::Open => {}
        Verdict::User(u) => req.remote_user = Some(u),
        Verdict::Refused(r) => return std::ops::ControlFlow::Break(r),
    }
    std::ops::ControlFlow::Continue(())
}

/// The rule covering `path`: the first whose prefix it starts with.
pub(crate) fn rule_for<'a>(rules: &'a [AuthRule], path: &str) -> Option<&'a AuthRule> {
    rules.iter().find(|r| path.starts_with(r.prefix.as_str()))
}

/// Checks the request's credentials against the rule covering `path`; `who` names the client
/// in log lines.
pub(crate) async fn check(
    rules: &[AuthRule],
    path: &str,
    headers: &HeaderMap,
    who: &impl std::fmt::Display,
) -> Verdict {
    let Some(rule) = rule_for(rules, path) else {
        return Verdict::Open;
    };
    let (user, password) = match credentials(headers) {
        Credentials::Basic(user, password) => (user, password),
        Credentials::None => return Verdict::Refused(challenge(rule)),
        Credentials::Malformed => {
            tracing::info!("{who}: auth: malformed Basic credentials for {path}");
            return Verdict::Refused(status_page(StatusCode::BAD_REQUEST));
        }
    };
    let file = rule.user_file.clone();
    let format = rule.format;
    let u = user.clone();
    let checked = tokio::task::spawn_blocking(move || verify_in_file(&file, format, &u, &password))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    match checked {
        Ok(true) if allowed(rule, &user) => Verdict::User(user),
        Ok(true) => {
            tracing::info!("{who}: auth: user {user:?} is not allowed by require for {path}");
            Verdict::Refused(challenge(rule))
        }
        Ok(false) => {
            tracing::info!("{who}: auth: wrong password or unknown user {user:?} for {path}");
            Verdict::Refused(challenge(rule))
        }
        Err(e) => {
            tracing::error!("auth: user_file {}: {e}", rule.user_file.display());
            Verdict::Refused(status_page(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

/// A 401 asking for Basic credentials for the rule's realm.
fn challenge(rule: &AuthRule) -> Response<Body> {
    let mut r = status_page(StatusCode::UNAUTHORIZED);
    let realm = rule.realm.replace('\\', "\\\\").replace('"', "\\\"");
    if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// What an Authorization header holds.
#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    /// None, or another scheme: ask for Basic ones (401).
    None,
    /// `Basic` with a token that is not base64 of "user:password" (400, as lighttpd).
    Malformed,
    /// The user and password.
    Basic(String, Vec<u8>),
}

fn credentials(headers: &HeaderMap) -> Credentials {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Credentials::None;
    };
    let v = String::from_utf8_lossy(v.as_bytes());
    let (scheme, token) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Credentials::None;
    }
    let Some(raw) = hash::unbase64(token.trim()) else {
        return Credentials::Malformed;
    };
    let Some(colon) = raw.iter().position(|&b| b == b':') else {
        return Credentials::Malformed;
    };
    match String::from_utf8(raw[..colon].to_vec()) {
        Ok(user) => Credentials::Basic(user, raw[colon + 1..].to_vec()),
        Err(_) => Credentials::Malformed,
    }
}

fn allowed(rule: &AuthRule, user: &str) -> bool {
    rule.require
        .iter()
        .any(|r| r == "valid-user" || r.strip_prefix("user=").is_some_and(|u| u == user))
}

/// Whether `user` is in the file with this password.
fn verify_in_file(
    file: &Path,
    format: UserFileFormat,
    user: &str,
    password: &[u8],
) -> std::io::Result<bool> {
    let text = std::fs::read_to_string(file)?;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') {
            continue;
        }
        let Some((u, stored)) = line.split_once(':') else {
            continue;
        };
        if u != user {
            continue;
        }
        return Ok(match format {
            UserFileFormat::Plain => same(stored.as_bytes(), password),
            UserFileFormat::Htpasswd => verify_hash(stored, password),
        });
    }
    Ok(false)
}

/// Whether `password` hashes to `stored` (an htpasswd entry's hash).
pub(crate) fn verify_hash(stored: &str, password: &[u8]) -> bool {
    if let Some(b64) = stored.strip_prefix("{SHA}") {
        return same(
            hash::base64(&hash::sha1(password)).as_bytes(),
            b64.as_bytes(),
        );
    }
    if stored.starts_with("$apr1$") {
        return hash::md5_crypt(password, stored)
            .is_some_and(|h| same(h.as_bytes(), stored.as_bytes()));
    }
    crypt::crypt3(password, stored).is_some_and(|h| same(h.as_bytes(), stored.as_bytes()))
}

/// Equality in time that does not depend on where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes() {
        assert!(verify_hash("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", b"secret"));
        assert!(!verify_hash("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", b"Secret"));
        assert!(verify_hash(
            "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/",
            b"secret"
        ));
        assert!(!verify_hash(
            "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/",
            b"secret2"
        ));
        assert!(verify_hash("$1$saltsalt$9xy1btjgzLYfb7hivXtC//", b"secret"));
        assert!(!verify_hash("", b""));
        assert!(!verify_hash("plain", b"plain"));
    }

    #[test]
    fn authorization_header() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwYXNzIHdvcmQ="),
        );
        assert_eq!(
            credentials(&h),
            Credentials::Basic("user".into(), b"pass word".to_vec())
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Digest x"));
        assert_eq!(credentials(&h), Credentials::None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!"));
        assert_eq!(credentials(&h), Credentials::Malformed);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcg=="),
        );
        assert_eq!(credentials(&h), Credentials::Malformed);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_step_challenges_and_lets_users_in() {
        use crate::request::testing::{answered, handler, req};
        let root = testkit::TempDir::new("auth-step");
        // "secret" as {SHA}.
        std::fs::write(
            root.join("users"),
            "ann:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n",
        )
        .unwrap();
        let h = handler(
            root.path(),
            "[[server.auth]]\nprefix = \"/private/\"\nrealm = \"r\"\nuser_file = \"users\"\n",
            "",
        );
        let mut open = req(&h, "GET", "/public", &[]);
        assert!(step(&mut open).await.is_continue());
        assert_eq!(open.remote_user, None);
        let r = answered(step(&mut req(&h, "GET", "/private/x", &[])).await);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic realm=\"r\"")
        );
        // "ann:secret"
        let mut ok = req(
            &h,
            "GET",
            "/private/x",
            &[("authorization", "Basic YW5uOnNlY3JldA==")],
        );
        assert!(step(&mut ok).await.is_continue());
        assert_eq!(ok.remote_user.as_deref(), Some("ann"));
    }
}
