//! HTTP authentication (lighttpd's mod_auth with mod_authn_file): which rule covers a path,
//! the `Authorization` header, Basic (here) and Digest (`digest.rs`), and the user files —
//! htpasswd (`{SHA}`, `$apr1$`, and whatever crypt(3) knows), plain `user:password` lines, or
//! htdigest `user:realm:HA1` lines. The file is read for each check, as lighttpd does, so
//! edits apply at once.

mod crypt;
mod digest;
pub(crate) mod hash;

use std::path::Path;

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::config::{AuthMethod, AuthRule, DigestAlgorithm, UserFileFormat};
use crate::http::body::Body;
use crate::http::pages::status_page;

/// The outcome of checking a request against the auth rules.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// No rule covers the path.
    Open,
    /// The user authenticated and is allowed, by this method ("Basic" or "Digest", AUTH_TYPE).
    User(String, &'static str),
    /// The answer (401, or 500 when the user file cannot be read).
    Refused(Response<Body>),
}

/// Step 7: the request's credentials, when a rule covers its path; the user let in is kept for
/// the backends (REMOTE_USER, AUTH_TYPE).
pub(crate) async fn step(req: &mut super::Req) -> super::Step<()> {
    let target = req.request_uri().to_owned();
    match check(
        &req.site.auth,
        &req.target.path,
        &Asked {
            method: req.parts.method.as_str(),
            target: &target,
            headers: &req.parts.headers,
            delay_invalid: req.site.auth_delay_invalid_creds,
            http1: req.parts.version < http::Version::HTTP_2,
        },
        &req.conn.remote,
    )
    .await
    {
        Verdict::Open => {}
        Verdict::User(u, how) => {
            req.remote_user = Some(u);
            req.auth_type = how;
        }
        Verdict::Refused(r) => return std::ops::ControlFlow::Break(r),
    }
    std::ops::ControlFlow::Continue(())
}

/// What of the request the check reads.
pub(crate) struct Asked<'a> {
    /// The method (Digest hashes it).
    pub method: &'a str,
    /// The request target as the client sent it (Digest's `uri` must be it).
    pub target: &'a str,
    /// The headers (Authorization).
    pub headers: &'a HeaderMap,
    /// Wrong credentials are answered after [`INVALID_CREDS_DELAY`], on a closing connection.
    pub delay_invalid: bool,
    /// HTTP/1 (where `Connection: close` means something; HTTP/2 forbids the header).
    pub http1: bool,
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
    asked: &Asked<'_>,
    who: &impl std::fmt::Display,
) -> Verdict {
    let Some(rule) = rule_for(rules, path) else {
        return Verdict::Open;
    };
    let creds = credentials(asked.headers);
    let (user, proof, how) = match (rule.method, creds) {
        (_, Credentials::Malformed) => {
            tracing::info!("{who}: auth: malformed credentials for {path}");
            return Verdict::Refused(status_page(StatusCode::BAD_REQUEST));
        }
        (AuthMethod::Basic, Credentials::Basic(user, password)) => {
            (user, Proof::Password(password), "Basic")
        }
        (AuthMethod::Digest, Credentials::Digest(params)) => {
            let r = match digest::Response::from_params(&params) {
                Ok(r) => r,
                Err(digest::Unreadable::Malformed) => {
                    tracing::info!("{who}: auth: malformed Digest credentials for {path}");
                    return Verdict::Refused(status_page(StatusCode::BAD_REQUEST));
                }
                Err(digest::Unreadable::Unsupported) => {
                    tracing::info!(
                        "{who}: auth: Digest credentials with an algorithm or qop relight does not offer for {path}"
                    );
                    return Verdict::Refused(challenge(rule, None));
                }
            };
            if r.realm != rule.realm || !rule.algorithm.contains(&r.algorithm) {
                tracing::info!(
                    "{who}: auth: Digest credentials for another realm or algorithm ({:?}, {}) for {path}",
                    r.realm,
                    r.algorithm.as_str()
                );
                return Verdict::Refused(challenge(rule, None));
            }
            if r.uri != asked.target {
                tracing::info!(
                    "{who}: auth: Digest uri {:?} is not the request's target for {path}",
                    r.uri
                );
                return Verdict::Refused(status_page(StatusCode::BAD_REQUEST));
            }
            match digest::check_nonce(&r.nonce, &rule.realm) {
                digest::NonceState::Fresh => {}
                digest::NonceState::Stale => {
                    return Verdict::Refused(challenge(rule, Some(r.algorithm)));
                }
                digest::NonceState::Invalid => {
                    tracing::info!("{who}: auth: Digest nonce not made by relight for {path}");
                    return Verdict::Refused(challenge(rule, None));
                }
            }
            (
                r.username.clone(),
                Proof::Digest(r, asked.method.to_owned()),
                "Digest",
            )
        }
        _ => return Verdict::Refused(challenge(rule, None)),
    };
    let file = rule.user_file.clone();
    let format = rule.format;
    let u = user.clone();
    let realm = rule.realm.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let entry = lookup(&file, format, &u)?;
        Ok(entry.is_some_and(|e| proof.holds(&e, &u, &realm)))
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    match checked {
        Ok(true) if allowed(rule, &user) => Verdict::User(user, how),
        Ok(true) => {
            tracing::info!("{who}: auth: user {user:?} is not allowed by require for {path}");
            Verdict::Refused(challenge(rule, None))
        }
        Ok(false) => {
            tracing::info!("{who}: auth: wrong password or unknown user {user:?} for {path}");
            // lighttpd's auth.delay-invalid-creds: the answer waits a second and the
            // connection closes, so guessing costs a connection and a second per try.
            if asked.delay_invalid {
                tokio::time::sleep(INVALID_CREDS_DELAY).await;
            }
            let mut r = challenge(rule, None);
            if asked.delay_invalid && asked.http1 {
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Verdict::Refused(r)
        }
        Err(e) => {
            tracing::error!("auth: user_file {}: {e}", rule.user_file.display());
            Verdict::Refused(status_page(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

/// How long the answer to wrong credentials waits (lighttpd's auth.delay-invalid-creds holds
/// it to its next one-second tick).
const INVALID_CREDS_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// A 401 asking for credentials of the rule's method for its realm (Digest: one challenge
/// per algorithm, or the `stale` one when the client's nonce only aged).
fn challenge(rule: &AuthRule, stale: Option<DigestAlgorithm>) -> Response<Body> {
    let mut r = status_page(StatusCode::UNAUTHORIZED);
    let values = match rule.method {
        AuthMethod::Basic => vec![format!(
            "Basic realm=\"{}\", charset=\"UTF-8\"",
            digest::quoted(&rule.realm)
        )],
        AuthMethod::Digest => digest::challenges(rule, stale),
    };
    for v in values {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().append(header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

/// What an Authorization header holds.
#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    /// None, or another scheme: ask for credentials (401).
    None,
    /// `Basic` with a token that is not base64 of "user:password", or `Digest` with
    /// parameters that cannot be read (400, as lighttpd).
    Malformed,
    /// The user and password.
    Basic(String, Vec<u8>),
    /// Digest's parameters.
    Digest(Vec<(String, String)>),
}

fn credentials(headers: &HeaderMap) -> Credentials {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Credentials::None;
    };
    let v = String::from_utf8_lossy(v.as_bytes());
    let (scheme, token) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
    if scheme.eq_ignore_ascii_case("digest") {
        return match digest::parse_params(token) {
            Some(p) => Credentials::Digest(p),
            None => Credentials::Malformed,
        };
    }
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

/// Whether `require` lets `user` in: "valid-user", or their "user=NAME" ("group=" and
/// "host=" never match: the user files have no groups, as in lighttpd 1.4).
fn allowed(rule: &AuthRule, user: &str) -> bool {
    rule.require
        .iter()
        .any(|r| r == "valid-user" || r.strip_prefix("user=").is_some_and(|u| u == user))
}

/// A user's line in a user file.
enum Entry {
    /// htpasswd: the hash.
    Hash(String),
    /// plain: the password.
    Password(Vec<u8>),
    /// htdigest: (realm, HA1 in hex) of each of the user's lines.
    Ha1(Vec<(String, String)>),
}

/// What the client proved it knows.
enum Proof {
    /// Basic: the password.
    Password(Vec<u8>),
    /// Digest: the response, for this method.
    Digest(digest::Response, String),
}

impl Proof {
    /// Whether it matches `user`'s `entry` in `realm`.
    fn holds(&self, entry: &Entry, user: &str, realm: &str) -> bool {
        match (self, entry) {
            (Proof::Password(p), Entry::Hash(h)) => verify_hash(h, p),
            (Proof::Password(p), Entry::Password(stored)) => same(stored, p),
            (Proof::Password(p), Entry::Ha1(lines)) => lines.iter().any(|(r, ha1)| {
                let algorithm = match ha1.len() {
                    32 => DigestAlgorithm::Md5,
                    64 => DigestAlgorithm::Sha256,
                    _ => return false,
                };
                r == realm
                    && same(
                        digest::ha1(algorithm, user, realm, p).as_bytes(),
                        ha1.to_ascii_lowercase().as_bytes(),
                    )
            }),
            (Proof::Digest(r, method), Entry::Password(stored)) => {
                let ha1 = digest::ha1(r.algorithm, user, realm, stored);
                same(r.expected(method, &ha1).as_bytes(), r.response.as_bytes())
            }
            (Proof::Digest(r, method), Entry::Ha1(lines)) => {
                let len = match r.algorithm {
                    DigestAlgorithm::Md5 => 32,
                    DigestAlgorithm::Sha256 => 64,
                };
                lines.iter().any(|(lr, ha1)| {
                    lr == realm
                        && ha1.len() == len
                        && same(
                            r.expected(method, &ha1.to_ascii_lowercase()).as_bytes(),
                            r.response.as_bytes(),
                        )
                })
            }
            // The check refuses Digest over an htpasswd file: its hashes cannot make HA1.
            (Proof::Digest(..), Entry::Hash(_)) => false,
        }
    }
}

/// `user`'s entry in the file, if there is one.
fn lookup(file: &Path, format: UserFileFormat, user: &str) -> std::io::Result<Option<Entry>> {
    let text = std::fs::read_to_string(file)?;
    let mut ha1 = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') {
            continue;
        }
        let Some((u, rest)) = line.split_once(':') else {
            continue;
        };
        if u != user {
            continue;
        }
        match format {
            UserFileFormat::Plain => return Ok(Some(Entry::Password(rest.as_bytes().to_vec()))),
            UserFileFormat::Htpasswd => return Ok(Some(Entry::Hash(rest.to_owned()))),
            UserFileFormat::Htdigest => {
                if let Some((realm, h)) = rest.split_once(':') {
                    ha1.push((realm.to_owned(), h.trim().to_owned()));
                }
            }
        }
    }
    Ok((!ha1.is_empty()).then_some(Entry::Ha1(ha1)))
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
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
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
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
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
        assert_eq!(ok.auth_type, "Basic");
    }
}
