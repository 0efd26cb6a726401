//! Static files: conditional requests, ranges, index files, errors, and no escape from the root.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn get_head_types_and_index() {
    let www = docroot();
    let r = Relight::start(www.path(), "", "");
    let resp = curl(&[&r.url("/hello.txt")]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello, world\n");
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(resp.header("content-length").as_deref(), Some("13"));
    assert_eq!(resp.header("accept-ranges").as_deref(), Some("bytes"));
    assert!(resp.header("etag").is_some() && resp.header("last-modified").is_some());
    let resp = curl(&[&r.url("/")]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "<h1>home</h1>\n");
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let head = raw(
        &r.addr(),
        b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let head = String::from_utf8_lossy(&head);
    assert!(head.contains("content-length: 13\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "{head}");
    assert_eq!(curl(&["-X", "POST", &r.url("/hello.txt")]).status, 405);
}

#[test]
fn conditional_requests() {
    let www = docroot();
    let r = Relight::start(www.path(), "", "");
    let first = curl(&[&r.url("/hello.txt")]);
    let etag = first.header("etag").unwrap();
    let lm = first.header("last-modified").unwrap();
    let resp = curl(&[
        "-H",
        &format!("If-None-Match: {etag}"),
        &r.url("/hello.txt"),
    ]);
    assert_eq!(resp.status, 304);
    assert!(resp.body.is_empty());
    assert_eq!(
        curl(&["-H", "If-None-Match: \"other\"", &r.url("/hello.txt")]).status,
        200
    );
    assert_eq!(
        curl(&[
            "-H",
            &format!("If-Modified-Since: {lm}"),
            &r.url("/hello.txt")
        ])
        .status,
        304
    );
    assert_eq!(
        curl(&[
            "-H",
            "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT",
            &r.url("/hello.txt")
        ])
        .status,
        200
    );
    // If-None-Match wins over If-Modified-Since.
    assert_eq!(
        curl(&[
            "-H",
            "If-None-Match: \"other\"",
            "-H",
            &format!("If-Modified-Since: {lm}"),
            &r.url("/hello.txt")
        ])
        .status,
        200
    );
}

#[test]
fn byte_ranges() {
    let www = docroot();
    let r = Relight::start(www.path(), "", "");
    let resp = curl(&["-H", "Range: bytes=0-4", &r.url("/hello.txt")]);
    assert_eq!(resp.status, 206);
    assert_eq!(resp.text(), "hello");
    assert_eq!(
        resp.header("content-range").as_deref(),
        Some("bytes 0-4/13")
    );
    let resp = curl(&["-H", "Range: bytes=-6", &r.url("/hello.txt")]);
    assert_eq!(resp.text(), "world\n");
    let resp = curl(&["-H", "Range: bytes=7-", &r.url("/hello.txt")]);
    assert_eq!(resp.text(), "world\n");
    let resp = curl(&["-H", "Range: bytes=100-200", &r.url("/hello.txt")]);
    assert_eq!(resp.status, 416);
    assert_eq!(resp.header("content-range").as_deref(), Some("bytes */13"));
    let resp = curl(&["-H", "Range: bytes=0-1,3-4", &r.url("/hello.txt")]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello, world\n");
    // If-Range with a stale validator: the whole file.
    let resp = curl(&[
        "-H",
        "Range: bytes=0-4",
        "-H",
        "If-Range: \"stale\"",
        &r.url("/hello.txt"),
    ]);
    assert_eq!(resp.status, 200);
    // A large file is streamed and ranges inside it work.
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(www.join("big.bin"), &big).unwrap();
    let resp = curl(&[&r.url("/big.bin")]);
    assert!(resp.body == big);
    let resp = curl(&["-H", "Range: bytes=1000000-1099999", &r.url("/big.bin")]);
    assert_eq!(resp.status, 206);
    assert!(resp.body == big[1_000_000..1_100_000]);
}

#[test]
fn errors_and_no_escape_from_the_root() {
    let www = docroot();
    let secret = TempDir::new("secret");
    std::fs::write(secret.join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(secret.join("secret.txt"), www.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(secret.path(), www.join("linkdir")).unwrap();
    std::fs::write(www.join("inside.txt"), "inside").unwrap();
    std::os::unix::fs::symlink(www.join("inside.txt"), www.join("ok-link.txt")).unwrap();
    std::fs::create_dir(www.join("empty")).unwrap();
    let r = Relight::start(www.path(), "", "");
    assert_eq!(curl(&[&r.url("/missing")]).status, 404);
    assert_eq!(curl(&[&r.url("/link.txt")]).status, 403);
    assert_eq!(curl(&[&r.url("/linkdir/secret.txt")]).status, 403);
    assert_eq!(curl(&[&r.url("/ok-link.txt")]).text(), "inside");
    assert_eq!(
        curl(&[&r.url("/empty/")]).status,
        403,
        "no directory listings"
    );
    let resp = curl(&[&r.url("/empty?x=1")]);
    assert_eq!(resp.status, 301);
    assert_eq!(resp.header("location").as_deref(), Some("/empty/?x=1"));
    // Traversal attempts stay inside the root: they resolve to paths under it.
    let depth = www.path().components().count();
    let up = "../".repeat(depth + 2);
    for attempt in [
        format!("/{up}etc/passwd"),
        format!("/{}etc/passwd", "%2e%2e/".repeat(depth + 2)),
        format!("/{}etc/passwd", "..%2f".repeat(depth + 2)),
        format!("/dir/{}hello.txt", "%2E%2E%2F".repeat(depth + 2)),
    ] {
        let out = raw(
            &r.addr(),
            format!("GET {attempt} HTTP/1.0\r\n\r\n").as_bytes(),
            Duration::from_secs(5),
        );
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("root:"), "{attempt} escaped: {text}");
        assert!(
            text.starts_with("HTTP/1.0 404")
                || text.starts_with("HTTP/1.0 200 OK\r\n") && text.ends_with("hello, world\n"),
            "{attempt}: {text}"
        );
    }
}

#[test]
fn scopes_and_basic_auth_in_the_native_format() {
    let www = docroot();
    std::fs::create_dir_all(www.join("private")).unwrap();
    std::fs::write(www.join("private/p.txt"), "private\n").unwrap();
    let other = TempDir::new("other-root");
    std::fs::write(other.join("hello.txt"), "other site\n").unwrap();
    let users = TempDir::new("users");
    std::fs::write(users.join("plain"), "# comment\nalice:wonder land\n").unwrap();
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            r#"[[scope]]
when = [{{ field = "host", op = "==", value = "other.example" }}]
document_root = "{other}"
response_headers = {{ "X-Site" = "other" }}

[[scope]]
when = [{{ field = "url", op = "=^", value = "/private/" }}]
[[scope.auth]]
prefix = "/"
realm = "Private \"zone\""
user_file = "{users}/plain"
format = "plain"

[[scope]]
when = [{{ field = "header:X-Block", op = "=~", value = "^y", negate = false }},
        {{ field = "remoteip", op = "==", value = "127.0.0.0/8" }}]
deny_suffixes = [""]
"#,
            other = other.path().display(),
            users = users.path().display()
        ),
    );
    let other_site = curl(&["-H", "Host: Other.Example:8080", &r.url("/hello.txt")]);
    assert_eq!(other_site.text(), "other site\n");
    assert_eq!(other_site.header("x-site").as_deref(), Some("other"));
    let main_site = curl(&[&r.url("/hello.txt")]);
    assert_eq!(main_site.text(), "hello, world\n");
    assert_eq!(main_site.header("x-site"), None);

    let challenged = curl(&[&r.url("/private/p.txt")]);
    assert_eq!(challenged.status, 401);
    assert_eq!(
        challenged.header("www-authenticate").as_deref(),
        Some(r#"Basic realm="Private \"zone\"", charset="UTF-8""#)
    );
    assert_eq!(
        curl(&["-u", "alice:wonder land", &r.url("/private/p.txt")]).text(),
        "private\n"
    );
    assert_eq!(
        curl(&["-u", "alice:wonder", &r.url("/private/p.txt")]).status,
        401
    );
    // The user file is read for each request: a change applies at once.
    std::fs::write(users.join("plain"), "alice:changed\n").unwrap();
    assert_eq!(
        curl(&["-u", "alice:changed", &r.url("/private/p.txt")]).status,
        200
    );
    std::fs::remove_file(users.join("plain")).unwrap();
    assert_eq!(
        curl(&["-u", "alice:changed", &r.url("/private/p.txt")]).status,
        500,
        "a missing user file never lets anyone in"
    );
    assert!(r.error_log().contains("user_file"), "{}", r.error_log());

    assert_eq!(
        curl(&["-H", "X-Block: yes", &r.url("/hello.txt")]).status,
        403
    );
    assert_eq!(
        curl(&["-H", "X-Block: no", &r.url("/hello.txt")]).status,
        200
    );
}
