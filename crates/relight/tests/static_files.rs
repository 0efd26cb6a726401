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
    assert_eq!(resp.header("content-length"), None);
    assert_eq!(resp.header("content-type"), None);
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
    assert_eq!(resp.header("content-length").as_deref(), Some("5"));
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

/// Files served stay open, and what was seen of them is trusted, for up to a second
/// (file_cache, as lighttpd's stat cache): a file renamed over, changed in place, deleted or
/// renamed away (another put in its place) is seen once that second is over. With the cache
/// off, every request sees the disk at once.
#[test]
fn file_cache_sees_changes() {
    let www = docroot();
    let path = www.join("page.txt");
    let replace = |text: &str| {
        let tmp = www.join(".page.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    };
    let past_the_second = || std::thread::sleep(Duration::from_millis(1100));
    replace("one");
    let r = Relight::start(www.path(), "", "");
    assert_eq!(curl(&[&r.url("/page.txt")]).text(), "one");
    replace("two, longer");
    past_the_second();
    let resp = curl(&[&r.url("/page.txt")]);
    assert_eq!(resp.text(), "two, longer", "renamed over");
    assert_eq!(resp.header("content-length").as_deref(), Some("11"));
    // Rewritten in place (same inode), as a daemon updating a status file does.
    std::fs::write(&path, "three: in place").unwrap();
    past_the_second();
    let resp = curl(&[&r.url("/page.txt")]);
    assert_eq!(resp.text(), "three: in place", "changed in place");
    std::fs::remove_file(&path).unwrap();
    past_the_second();
    assert_eq!(curl(&[&r.url("/page.txt")]).status, 404, "deleted");
    replace("four");
    assert_eq!(curl(&[&r.url("/page.txt")]).text(), "four");
    std::fs::rename(&path, www.join("away.txt")).unwrap();
    replace("five");
    past_the_second();
    assert_eq!(
        curl(&[&r.url("/page.txt")]).text(),
        "five",
        "renamed away: served past the cache's second"
    );

    replace("one");
    let off = Relight::start(www.path(), "file_cache = false", "");
    assert_eq!(curl(&[&off.url("/page.txt")]).text(), "one");
    replace("two");
    assert_eq!(curl(&[&off.url("/page.txt")]).text(), "two");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(curl(&[&off.url("/page.txt")]).status, 404);
}

/// A small file is kept with its bytes for the cache's second: a response within it is the
/// file as it was seen, whole and of the length it says, even when the file was cut short on
/// disk meanwhile (read at each request, the read came short: a 500, or a body cut off).
#[test]
fn a_kept_small_file_is_served_whole() {
    let www = docroot();
    let path = www.join("status.txt");
    std::fs::write(&path, "state: running\n").unwrap();
    let r = Relight::start(www.path(), "", "");
    assert_eq!(curl(&[&r.url("/status.txt")]).text(), "state: running\n");
    // Truncated in place (same inode), as a daemon does before it writes the new state.
    std::fs::File::create(&path).unwrap();
    let resp = curl(&[&r.url("/status.txt")]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "state: running\n");
    assert_eq!(resp.header("content-length").as_deref(), Some("15"));
    let resp = curl(&["-H", "Range: bytes=7-13", &r.url("/status.txt")]);
    assert_eq!((resp.status, resp.text().as_str()), (206, "running"));
    std::thread::sleep(Duration::from_millis(1100));
    let resp = curl(&[&r.url("/status.txt")]);
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, ""),
        "past the second"
    );
}

/// Large files go out with sendfile: pipelined with other responses on one connection, and
/// to a client that reads slowly, every byte arrives in order.
#[test]
fn large_files_pipelined_and_to_a_slow_reader() {
    use std::io::{Read, Write};
    let www = docroot();
    let big: Vec<u8> = (0..1_300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(www.join("big.bin"), &big).unwrap();
    let r = Relight::start(www.path(), "", "");
    let out = raw(
        &r.addr(),
        b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=5-600004\r\n\r\n\
          GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let mut rest = &out[..];
    let mut bodies = Vec::new();
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head")
            + 4;
        let head = String::from_utf8_lossy(&rest[..end]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("content-length")
            .trim()
            .parse()
            .unwrap();
        bodies.push(rest[end..end + len].to_vec());
        rest = &rest[end + len..];
    }
    assert_eq!(bodies.len(), 4);
    assert!(bodies[0] == big, "first big body");
    assert_eq!(bodies[1], b"hello, world\n");
    assert!(bodies[2] == big[5..600_005], "ranged body");
    assert_eq!(bodies[3], b"hello, world\n");

    // A client that reads a little at a time still gets the file whole: the socket's
    // buffers fill, and the file goes out in pieces of what they take.
    let big: Vec<u8> = (0..6_000_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(www.join("huge.bin"), &big).unwrap();
    let mut s = std::net::TcpStream::connect(r.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    let mut reads = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e}"),
        }
        reads += 1;
        if reads % 2 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(got[end..] == big[..], "slow reader's body");
}

/// `[server.compress]` with a cache directory: a large static file is compressed once into
/// the cache (named by path, ETag and coding), then sent from there with a Content-Length;
/// a changed file gets a new entry; each coding decodes to the file.
#[test]
fn compressed_static_files_are_cached_per_etag_and_coding() {
    let www = docroot();
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(www.join("big.txt"), &big).unwrap();
    let cache = TempDir::new("deflate-cache");
    let r = Relight::start(
        www.path(),
        &format!(
            "[server.compress]\nmime_types = [\"text/\"]\ncache_dir = \"{}\"\n",
            cache.path().display()
        ),
        "",
    );
    let cached = || -> Vec<String> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(cache.path()).unwrap().flatten() {
            names.push(e.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        names
    };
    for coding in ["gzip", "br", "zstd"] {
        for _ in 0..2 {
            let resp = curl(&[
                "--compressed",
                "-H",
                &format!("Accept-Encoding: {coding}"),
                &r.url("/big.txt"),
            ]);
            assert_eq!(resp.status, 200);
            assert_eq!(resp.header("content-encoding").as_deref(), Some(coding));
            assert!(resp.header("content-length").is_some(), "{}", resp.head);
            assert_eq!(resp.text(), big, "{coding} decodes to the file");
        }
    }
    let names = cached();
    assert_eq!(names.len(), 3, "one entry per coding: {names:?}");
    assert!(names.iter().all(|n| n.starts_with("big.txt-")), "{names:?}");
    // The file changes: a new ETag, a new entry.
    std::fs::write(www.join("big.txt"), format!("{big}more\n")).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let resp = curl(&[
        "--compressed",
        "-H",
        "Accept-Encoding: gzip",
        &r.url("/big.txt"),
    ]);
    assert!(resp.text().ends_with("more\n"));
    assert_eq!(cached().len(), 4, "{:?}", cached());
    // Uncompressed for a client that does not ask.
    let plain = curl(&[&r.url("/big.txt")]);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.body.len(), big.len() + 5);
}
