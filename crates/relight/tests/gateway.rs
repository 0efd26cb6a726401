//! The FastCGI gateway against real peers: a C libfcgi program, php-cgi, lighttpd side by side,
//! and hand-written misbehaving backends speaking raw bytes.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn fastcgi(name: &str, matches: &str, socket: &Path, extra: &str) -> String {
    format!(
        "[[fastcgi]]\nname = \"{name}\"\nmatch = {matches}\naddress = \"unix:{}\"\n{extra}\n",
        socket.display()
    )
}

/// relight in front of the C echo program on a unix socket.
fn echo_setup(extra: &str) -> (TempDir, TempDir, Proc, Relight) {
    let www = docroot();
    let sockdir = TempDir::new("sock");
    let sock = sockdir.join("echo.sock");
    let echo = spawn_fcgi_unix(&c_peer("fcgi_echo"), &sock, &[]);
    let r = Relight::start(
        www.path(),
        "",
        &fastcgi("echo", "[\"/app\", \".php\"]", &sock, extra),
    );
    (www, sockdir, echo, r)
}

/// The params the echo program printed, minus those that differ by nature between two servers
/// on two ports.
fn comparable(
    mut p: std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    for k in [
        "REMOTE_PORT",
        "SERVER_PORT",
        "HTTP_HOST",
        "SERVER_SOFTWARE",
        "body",
    ] {
        p.remove(k);
    }
    p
}

#[test]
fn params_match_lighttpd_side_by_side() {
    let www = docroot();
    let echo = c_peer("fcgi_echo");
    let dir = TempDir::new("lt");
    let lport = free_port();
    let conf = format!(
        "server.document-root = \"{root}\"\nserver.port = {lport}\nserver.bind = \"127.0.0.1\"\n\
         server.modules = (\"mod_fastcgi\")\nserver.errorlog = \"{dir}/error.log\"\n\
         fastcgi.server = (\n  \"/app\" => ((\"socket\" => \"{dir}/a.sock\", \"bin-path\" => \"{echo}\", \"check-local\" => \"disable\", \"max-procs\" => 1)),\n\
           \".php\" => ((\"socket\" => \"{dir}/b.sock\", \"bin-path\" => \"{echo}\", \"max-procs\" => 1)),\n)\n",
        root = www.path().display(),
        dir = dir.path().display(),
        echo = echo.display(),
    );
    std::fs::write(dir.join("lighttpd.conf"), conf).unwrap();
    let _lighttpd = Proc {
        child: Command::new("lighttpd")
            .args(["-D", "-f"])
            .arg(dir.join("lighttpd.conf"))
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("lighttpd is installed by the test setup"),
    };
    wait_listening(&format!("127.0.0.1:{lport}"), Duration::from_secs(10));

    let sockdir = TempDir::new("sock");
    let sock = sockdir.join("echo.sock");
    let _echo = spawn_fcgi_unix(&echo, &sock, &[]);
    let r = Relight::start(
        www.path(),
        "",
        &fastcgi("echo", "[\"/app\", \".php\"]", &sock, ""),
    );

    let cases: &[(&str, &[&str])] = &[
        ("/app", &[]),
        ("/app/", &[]),
        ("/app/x/y?q=1", &[]),
        ("/app?a=b&c=d", &[]),
        ("/appx", &[]),
        ("/app/a%20b/%2e%2e/c?x=%20", &[]),
        ("/dir/script.php", &[]),
        ("/dir/script.php?x=1", &[]),
        ("/dir/script.php/extra", &[]),
        ("/dir/script.php/extra/more?y=2", &[]),
        (
            "/app/post",
            &["-d", "abc", "-H", "Content-Type: text/x-test"],
        ),
        (
            "/app/hdr",
            &[
                "-H",
                "Proxy: http://evil",
                "-H",
                "X-Custom-Thing: 1",
                "-H",
                "Cookie: a=1",
                "-H",
                "Referer: http://r/",
            ],
        ),
        ("/app/old", &["-0"]),
        ("/app/put", &["-X", "PUT", "--data-binary", "0123456789"]),
    ];
    for (path, args) in cases {
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.push(format!("http://127.0.0.1:{lport}{path}"));
        let a_ref: Vec<&str> = a.iter().map(String::as_str).collect();
        let theirs = curl(&a_ref);
        a.pop();
        a.push(r.url(path));
        let a_ref: Vec<&str> = a.iter().map(String::as_str).collect();
        let ours = curl(&a_ref);
        assert_eq!(theirs.status, 200, "lighttpd {path}: {}", theirs.text());
        assert_eq!(ours.status, 200, "relight {path}: {}", ours.text());
        assert_eq!(
            comparable(ours.params()),
            comparable(theirs.params()),
            "params for {path} {args:?} differ from lighttpd's"
        );
        assert_eq!(
            ours.params().get("body"),
            theirs.params().get("body"),
            "{path}"
        );
    }
    // httpoxy: the Proxy header never reaches the backend.
    let p = curl(&["-H", "Proxy: http://evil", &r.url("/app")]).params();
    assert!(!p.contains_key("HTTP_PROXY"));
    assert_eq!(p["SERVER_SOFTWARE"], "relight/0.1.0");
}

#[test]
fn response_headers_status_location_and_lf() {
    let (_w, _s, _e, r) = echo_setup("");
    let resp = curl(&[&r.url("/app?mode=status")]);
    assert_eq!(resp.status, 418);
    assert_eq!(resp.text(), "teapot\n");
    let resp = curl(&[&r.url("/app?mode=location")]);
    assert_eq!(resp.status, 302);
    assert_eq!(resp.header("location").as_deref(), Some("/elsewhere"));
    let resp = curl(&[&r.url("/app?mode=lf")]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-mode").as_deref(), Some("lf"));
    assert_eq!(resp.text(), "bare lf\n");
    let head = raw(
        &r.addr(),
        b"HEAD /app HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    );
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head}");
}

#[test]
fn stderr_goes_to_the_error_log_tagged_with_the_backend() {
    let (_w, _s, _e, r) = echo_setup("");
    assert_eq!(curl(&[&r.url("/app?mode=stderr")]).status, 200);
    std::thread::sleep(Duration::from_millis(100));
    let log = r.error_log();
    assert!(
        log.lines()
            .any(|l| l.contains("fastcgi backend \"echo\" stderr: stderr line from echo")),
        "{log}"
    );
}

#[test]
fn bodies_stream_both_ways_and_chunked_requests_work() {
    let (_w, s, _e, r) = echo_setup("");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let f = s.join("payload");
    std::fs::write(&f, &data).unwrap();
    let resp = curl(&[
        "--data-binary",
        &format!("@{}", f.display()),
        &r.url("/app?mode=echo"),
    ]);
    assert_eq!(resp.status, 200);
    assert!(
        resp.body == data,
        "echoed body differs ({} bytes back)",
        resp.body.len()
    );
    let resp = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "chunked body",
        &r.url("/app"),
    ]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.params()["CONTENT_LENGTH"], "12");
    assert_eq!(resp.params()["body"], "12");
    // A large chunked body is spooled (bounded memory) and sent with its CONTENT_LENGTH.
    let payload = format!("@{}", f.display());
    let chunked = [
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        payload.as_str(),
    ];
    let url = r.url("/app?mode=echo");
    let resp = curl(&[&chunked[..], &[url.as_str()]].concat());
    assert_eq!(resp.status, 200);
    assert!(
        resp.body == data,
        "chunked echo differs ({} bytes back)",
        resp.body.len()
    );
    let url = r.url("/app");
    let resp = curl(&[&chunked[..], &[url.as_str()]].concat());
    assert_eq!(resp.params()["CONTENT_LENGTH"], data.len().to_string());
    assert_eq!(resp.params()["body"], data.len().to_string());
    let resp = curl(&[
        "--data-binary",
        &format!("@{}", f.display()),
        "-H",
        "Expect: 100-continue",
        &r.url("/app?mode=echo"),
    ]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), data.len());
    // A big response split over many records.
    let resp = curl(&[&r.url("/app?mode=big&n=1000000")]);
    assert_eq!(resp.body.len(), 1_000_000);
}

#[test]
fn hundred_megabyte_post_keeps_memory_bounded() {
    let (_w, s, _e, r) = echo_setup("");
    let f = s.join("big");
    let file = std::fs::File::create(&f).unwrap();
    file.set_len(100 << 20).unwrap();
    // Warm up (allocator arenas, first connection), then measure.
    assert_eq!(curl(&[&r.url("/app")]).status, 200);
    let before = r.rss_kib();
    let t = Instant::now();
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download}",
            "--data-binary",
        ])
        .arg(format!("@{}", f.display()))
        .arg(r.url("/app?mode=echo"))
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let after = proc_status_kib(r.proc.pid(), "VmHWM:");
    assert_eq!(summary, format!("200 {}", 100 << 20), "echo of 100 MB");
    let growth = after.saturating_sub(before);
    eprintln!(
        "100 MB echo in {:?}: RSS before {before} KiB, peak {after} KiB, growth {growth} KiB",
        t.elapsed()
    );
    assert!(growth < 20 * 1024, "RSS grew by {growth} KiB");
}

#[test]
fn request_body_over_the_limit_is_413() {
    let www = docroot();
    let sockdir = TempDir::new("sock");
    let sock = sockdir.join("echo.sock");
    let _echo = spawn_fcgi_unix(&c_peer("fcgi_echo"), &sock, &[]);
    let r = Relight::start(
        www.path(),
        "max_request_body = 1000",
        &fastcgi("echo", "[\"/app\"]", &sock, ""),
    );
    let big = "x".repeat(2000);
    assert_eq!(curl(&["--data-binary", &big, &r.url("/app")]).status, 413);
    assert_eq!(
        curl(&[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &big,
            &r.url("/app")
        ])
        .status,
        413
    );
    assert_eq!(
        curl(&["--data-binary", "small", &r.url("/app")]).status,
        200
    );
}

/// A backend that accepts and does `behave` with each connection, on its own thread.
fn fake_backend(sock: &Path, behave: fn(std::os::unix::net::UnixStream)) {
    let l = UnixListener::bind(sock).unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || behave(c));
        }
    });
}

/// Reads until the end of the request's (empty) STDIN record, roughly: enough for these fakes.
fn read_request(c: &mut std::os::unix::net::UnixStream) {
    let mut buf = [0u8; 65536];
    let mut got = Vec::new();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while !got.windows(8).any(|w| w == [1, 5, 0, 1, 0, 0, 0, 0]) {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn stdout_record(data: &[u8]) -> Vec<u8> {
    let mut r = vec![1, 6, 0, 1, (data.len() >> 8) as u8, data.len() as u8, 0, 0];
    r.extend_from_slice(data);
    r
}

/// Set by the test below when its client has seen the first part of the response.
static FIRST_PART_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A response goes on to the client as the backend writes it: relight gathers records that
/// come back to back into one write, but never waits for a backend that pauses. The backend
/// here writes its head and a first part, then writes nothing more until the client has seen
/// that part: a relight that held the response until its end would never show it.
#[test]
fn a_response_streams_while_the_backend_pauses() {
    use std::sync::atomic::Ordering;
    let www = docroot();
    let d = TempDir::new("pause");
    fake_backend(&d.join("pause.sock"), |mut c| {
        read_request(&mut c);
        let mut first = b"Content-Type: text/plain\r\n\r\nfirst part\n".to_vec();
        first.extend_from_slice(&[b'.'; 20000]);
        for piece in first.chunks(8000) {
            let _ = c.write_all(&stdout_record(piece));
        }
        let waited = Instant::now();
        while !FIRST_PART_SEEN.load(Ordering::SeqCst) && waited.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.write_all(&stdout_record(b"\nthe rest\n"));
        let _ = c.write_all(&[1, 6, 0, 1, 0, 0, 0, 0]);
        let _ = c.write_all(&[1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    });
    let r = Relight::start(
        www.path(),
        "",
        &fastcgi("pause", "[\"/pause\"]", &d.join("pause.sock"), ""),
    );
    let mut s = std::net::TcpStream::connect(r.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /pause HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let dots = |g: &[u8]| g.iter().filter(|&&b| b == b'.').count();
    while dots(&got) < 20000 {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "the first part did not come while the backend paused ({e}); got {} bytes",
                got.len()
            ),
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text:.200}");
    assert!(text.contains("first part"), "{text:.200}");
    assert!(!text.contains("the rest"), "the rest was not written yet");
    FIRST_PART_SEEN.store(true, Ordering::SeqCst);
    while !got.ends_with(b"0\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the end did not come: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("the rest"),
        "{}",
        &text[text.len().saturating_sub(200)..]
    );
    assert!(got.ends_with(b"0\r\n\r\n"), "a chunked body, ended");
}

#[test]
fn misbehaving_backends_get_502_or_504_and_the_server_stays_up() {
    let www = docroot();
    let d = TempDir::new("bad");
    fake_backend(&d.join("garbage.sock"), |mut c| {
        read_request(&mut c);
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\n\r\nnot fastcgi at all");
    });
    fake_backend(&d.join("close-before.sock"), |mut c| {
        read_request(&mut c);
        let _ = c.write_all(&stdout_record(b"Content-Type: text/pl"));
    });
    fake_backend(&d.join("close-mid.sock"), |mut c| {
        read_request(&mut c);
        let mut body = b"Content-Type: text/plain\r\n\r\n".to_vec();
        body.extend_from_slice(&[b'x'; 5000]);
        let _ = c.write_all(&stdout_record(&body));
        // ...and closes without END_REQUEST.
    });
    fake_backend(&d.join("silent.sock"), |mut c| {
        read_request(&mut c);
        std::thread::sleep(Duration::from_secs(30));
    });
    fake_backend(&d.join("badheader.sock"), |mut c| {
        read_request(&mut c);
        let _ = c.write_all(&stdout_record(b"this line has no colon\r\n\r\n"));
        let _ = c.write_all(&[1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    });
    let sockdir = TempDir::new("sock");
    let good = sockdir.join("echo.sock");
    let _echo = spawn_fcgi_unix(&c_peer("fcgi_echo"), &good, &[]);
    let mut cfg = String::new();
    for name in [
        "garbage",
        "close-before",
        "close-mid",
        "silent",
        "badheader",
    ] {
        cfg.push_str(&fastcgi(
            name,
            &format!("[\"/{name}\"]"),
            &d.join(&format!("{name}.sock")),
            "read_timeout = \"1s\"",
        ));
    }
    cfg.push_str(&fastcgi(
        "missing",
        "[\"/missing\"]",
        &d.join("nobody-here.sock"),
        "",
    ));
    cfg.push_str(&fastcgi("good", "[\"/good\"]", &good, ""));
    let r = Relight::start(www.path(), "", &cfg);

    let expect = [
        ("/garbage", 502),
        ("/close-before", 502),
        ("/silent", 504),
        ("/badheader", 502),
        ("/missing", 503),
    ];
    for (path, status) in expect {
        let t = Instant::now();
        let resp = curl(&[&r.url(path)]);
        assert_eq!(resp.status, status, "{path}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{path} took {:?}",
            t.elapsed()
        );
        if status == 503 {
            assert_eq!(resp.header("retry-after").as_deref(), Some("1"));
        }
        assert_eq!(
            curl(&[&r.url("/good")]).status,
            200,
            "healthy backend after {path}"
        );
    }
    // Cut off mid-body: the headers were sent, so the client must see a truncated transfer,
    // never a complete-looking response.
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &r.url("/close-mid"),
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "curl must report the cut-off transfer"
    );
    assert_eq!(curl(&[&r.url("/good")]).status, 200);
    let log = r.error_log();
    for needle in [
        "\"garbage\"",
        "\"silent\"",
        "\"missing\"",
        "connect failed",
        "no response from backend",
        "malformed",
    ] {
        assert!(log.contains(needle), "error log lacks {needle}: {log}");
    }
}

#[test]
fn tcp_backend_and_keep_alive_reuse() {
    let www = docroot();
    let port = free_port();
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let fd: std::os::fd::OwnedFd = l.into();
    let _echo = Proc {
        child: Command::new(c_peer("fcgi_echo"))
            .stdin(Stdio::from(fd))
            .spawn()
            .unwrap(),
    };
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[fastcgi]]\nname = \"tcp\"\nmatch = [\"/app\"]\naddress = \"127.0.0.1:{port}\"\n"
        ),
    );
    let mut ports = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let resp = curl(&[&r.url("/app")]);
        assert_eq!(resp.status, 200);
        ports.insert(resp.params()["REMOTE_PORT"].clone());
    }
    // Sequential requests reuse the kept connection to the single-process backend.
    let conns = Command::new("ss")
        .args([
            "-tn",
            "state",
            "established",
            &format!("( dport = :{port} )"),
        ])
        .output();
    if let Ok(o) = conns {
        let n = String::from_utf8_lossy(&o.stdout).lines().skip(1).count();
        assert!(n <= 1, "at most one kept connection, saw {n}");
    }
}

#[test]
fn php_cgi_params_post_and_ten_megabytes() {
    let www = docroot();
    std::fs::write(
        www.join("info.php"),
        "<?php header('X-Php: yes'); foreach (['SCRIPT_NAME','PATH_INFO','QUERY_STRING','REQUEST_URI','SCRIPT_FILENAME'] as $k) echo $k, '=', $_SERVER[$k] ?? '', \"\\n\";",
    )
    .unwrap();
    std::fs::write(www.join("post.php"), "<?php echo strlen(file_get_contents('php://input')), ':', md5(file_get_contents('php://input'));").unwrap();
    std::fs::write(www.join("download.php"), "<?php header('Content-Type: application/octet-stream'); echo str_repeat('z', 10*1024*1024);").unwrap();
    let sockdir = TempDir::new("php");
    let port = free_port();
    let _php = Proc {
        child: Command::new("php-cgi")
            .args(["-b", &format!("127.0.0.1:{port}")])
            .env("PHP_FCGI_CHILDREN", "0")
            .stdout(Stdio::null())
            .spawn()
            .expect("php-cgi is installed by the test setup"),
    };
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(10));
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[fastcgi]]\nname = \"php\"\nmatch = [\".php\"]\naddress = \"127.0.0.1:{port}\"\n"
        ),
    );
    let resp = curl(&[&r.url("/info.php/extra/path?q=1")]);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("x-php").as_deref(), Some("yes"));
    let p = resp.params();
    assert_eq!(p["SCRIPT_NAME"], "/info.php");
    assert_eq!(p["PATH_INFO"], "/extra/path");
    assert_eq!(p["QUERY_STRING"], "q=1");
    assert_eq!(p["REQUEST_URI"], "/info.php/extra/path?q=1");
    assert_eq!(
        p["SCRIPT_FILENAME"],
        format!("{}/info.php", www.path().display())
    );
    assert_eq!(curl(&[&r.url("/nothere.php")]).status, 404);

    let data: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let f = sockdir.join("upload");
    std::fs::write(&f, &data).unwrap();
    let resp = curl(&[
        "--data-binary",
        &format!("@{}", f.display()),
        "-H",
        "Content-Type: application/octet-stream",
        &r.url("/post.php"),
    ]);
    assert_eq!(resp.status, 200);
    let md5 = Command::new("md5sum").arg(&f).output().unwrap();
    let md5 = String::from_utf8_lossy(&md5.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(resp.text(), format!("{}:{md5}", data.len()));
    let resp = curl(&[&r.url("/download.php")]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), 10 * 1024 * 1024);
    assert!(resp.body.iter().all(|&b| b == b'z'));
}
