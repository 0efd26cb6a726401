//! The reverse proxy against real upstreams: a Python HTTP/1.1 server (tests/peers/
//! http_upstream.py: echo, chunked streaming, stalls, resets, garbage, a WebSocket echo) and
//! nginx; the headers the upstream receives, keep-alive reuse, balancing, failures, and a
//! WebSocket passed through end to end.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn upstream_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/http_upstream.py")
}

/// The Python upstream on a free port, once it answers as itself (an HTTP request with its
/// `X-Upstream: py`, not just a connection something else might accept). A start that fails is
/// said with Python's stderr, then tried again on another port (twice at most): the fixture's
/// failures are not relight's.
fn upstream() -> (Proc, u16) {
    for attempt in 1..=3 {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("relight-upstream-{port}.log"));
        let mut p = Proc {
            child: Command::new("python3")
                .arg(upstream_script())
                .arg(port.to_string())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("python3 runs"),
        };
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if answers_as_upstream(port) {
                let _ = std::fs::remove_file(&log);
                return (p, port);
            }
            if p.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "upstream on port {port} did not answer (attempt {attempt}, exit {:?}); its stderr:\n{}",
            p.child.try_wait().ok().flatten(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let _ = std::fs::remove_file(&log);
    }
    panic!("the Python upstream did not start (see its stderr above)");
}

/// Whether the Python upstream answers on `port` (GET /conns, with its own header).
fn answers_as_upstream(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /conns HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    // The head is enough (the upstream keeps connections open whatever the request says).
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got)
        .to_ascii_lowercase()
        .contains("x-upstream: py")
}

/// The "name: value" lines the echo endpoint returned, as a map.
fn received(r: &CurlResponse) -> std::collections::BTreeMap<String, String> {
    r.text()
        .split("\n\n")
        .next()
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn requests_and_answers_pass_with_hop_by_hop_headers_removed_and_forwarding_headers_set() {
    let www = docroot();
    let (_up, port) = upstream();
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[proxy]]\nname = \"api\"\nmatch = [\"/echo\", \"/stream\", \"/conns\"]\nupstreams = [\"127.0.0.1:{port}\"]\nforwarded = true\n"
        ),
    );
    let got = curl(&[
        "-H",
        "Connection: keep-alive, X-Secret",
        "-H",
        "X-Secret: 1",
        "-H",
        "Keep-Alive: timeout=5",
        "-H",
        "X-Forwarded-For: 10.0.0.1",
        "-H",
        "X-Kept: yes",
        "-H",
        "Proxy: http://evil",
        &r.url("/echo/a?b=c"),
    ]);
    assert_eq!(got.status, 200, "{}", got.text());
    let h = received(&got);
    assert_eq!(h["method"], "GET");
    assert_eq!(h["target"], "/echo/a?b=c");
    assert_eq!(h["version"], "HTTP/1.1");
    assert_eq!(h["x-kept"], "yes");
    assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], format!("127.0.0.1:{}", r.port));
    assert_eq!(h["host"], format!("127.0.0.1:{}", r.port));
    assert_eq!(
        h["forwarded"],
        format!("for=127.0.0.1;proto=http;host=\"127.0.0.1:{}\"", r.port)
    );
    for gone in ["x-secret", "keep-alive", "proxy"] {
        assert!(!h.contains_key(gone), "{gone} reached the upstream: {h:?}");
    }
    // The answer's own hop-by-hop headers stay behind too; the others come through.
    assert_eq!(got.header("X-Upstream").as_deref(), Some("py"));
    assert_eq!(got.header("Keep-Alive"), None);
    // Bodies both ways: a POST, a chunked upload, a chunked streamed answer.
    let post = curl(&["--data-binary", "hello body", &r.url("/echo/post")]);
    assert!(post.text().ends_with("\n\nhello body"), "{}", post.text());
    assert_eq!(received(&post)["content-length"], "10");
    let chunked = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "streamed",
        &r.url("/echo/chunked"),
    ]);
    assert!(
        chunked.text().ends_with("\n\nstreamed"),
        "{}",
        chunked.text()
    );
    let t = Instant::now();
    let stream = curl(&[&r.url("/stream")]);
    assert_eq!(stream.text(), "part 0\npart 1\npart 2\npart 3\npart 4\n");
    assert!(t.elapsed() >= Duration::from_millis(400));
    // Keep-alive to the upstream: twenty requests, a connection or two.
    let before: u32 = curl(&[&r.url("/conns")]).text().parse().unwrap();
    for _ in 0..20 {
        assert_eq!(curl(&[&r.url("/echo/k")]).status, 200);
    }
    let after: u32 = curl(&[&r.url("/conns")]).text().parse().unwrap();
    assert!(
        after - before <= 2,
        "{} new upstream connections for 21 requests",
        after - before
    );
    // Not the proxy's: the static files answer.
    assert_eq!(curl(&[&r.url("/hello.txt")]).text(), "hello, world\n");
    // An upstream's paths under another prefix, and its Host replaced (map-urlpath,
    // map-host-request).
    let mapped = Relight::start(
        www.path(),
        "",
        &format!(
            "[[proxy]]\nname = \"app\"\nmatch = [\"/app/\"]\nupstreams = [\"127.0.0.1:{port}\"]\n\
             map_path = {{ \"/app/\" = \"/echo/\" }}\nmap_host_request = {{ \"-\" = \"backend.local\" }}\n"
        ),
    );
    let h = received(&curl(&[&mapped.url("/app/x?y=1")]));
    assert_eq!(h["target"], "/echo/x?y=1");
    assert_eq!(h["host"], "backend.local");
}

#[test]
fn failing_upstreams_get_502_or_504_and_the_others_keep_serving() {
    let www = docroot();
    let (_up, port) = upstream();
    let dead = free_port();
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[proxy]]\nname = \"dead\"\nmatch = [\"/dead\"]\nupstreams = [\"127.0.0.1:{dead}\"]\n\
             [[proxy]]\nname = \"live\"\nmatch = [\"/echo\", \"/stall\", \"/close\", \"/garbage\"]\nupstreams = [\"127.0.0.1:{port}\"]\nread_timeout = \"1s\"\n"
        ),
    );
    assert_eq!(curl(&[&r.url("/dead/x")]).status, 502);
    let t = Instant::now();
    assert_eq!(curl(&[&r.url("/stall")]).status, 504);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(curl(&[&r.url("/close")]).status, 502);
    assert_eq!(curl(&[&r.url("/garbage")]).status, 502);
    assert_eq!(curl(&[&r.url("/echo/ok")]).status, 200);
    let log = r.error_log();
    assert!(
        log.contains("proxy \"dead\"") && log.contains("cannot connect"),
        "{log}"
    );
    assert!(
        log.contains("proxy \"live\"") && log.contains("-> 504"),
        "{log}"
    );
    let m = curl(&[&r.url("/metrics")]).text();
    assert!(
        m.contains("relight_proxy_upstream_errors_total{proxy=\"live\"} 3"),
        "{m}"
    );
}

#[test]
fn nginx_as_an_upstream_and_balancing_between_two() {
    let www = docroot();
    let dir = TempDir::new("nginx");
    let nport = free_port();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n access_log off;\n client_body_temp_path {d};\n proxy_temp_path {d};\n fastcgi_temp_path {d};\n uwsgi_temp_path {d};\n scgi_temp_path {d};\n server {{\n  listen 127.0.0.1:{nport};\n  location / {{ root {root}; }}\n  location /who {{ return 200 \"nginx\\n\"; }}\n }}\n}}\n",
            d = dir.path().display(),
            root = www.path().display()
        ),
    )
    .unwrap();
    let _nginx = Proc {
        child: Command::new("nginx")
            .args(["-c"])
            .arg(dir.join("nginx.conf"))
            .spawn()
            .expect("nginx runs"),
    };
    wait_listening(&format!("127.0.0.1:{nport}"), Duration::from_secs(10));
    let (_up, port) = upstream();
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[proxy]]\nname = \"site\"\nmatch = [\"/who\", \"/echo\"]\nupstreams = [\"127.0.0.1:{nport}\", \"127.0.0.1:{port}\"]\nbalance = \"round-robin\"\n"
        ),
    );
    let answers: Vec<String> = (0..4).map(|_| curl(&[&r.url("/who")]).text()).collect();
    // Round robin: nginx answers every other request (the Python upstream 404s /who... with
    // its echo, so count nginx's).
    assert_eq!(
        answers.iter().filter(|a| *a == "nginx\n").count(),
        2,
        "{answers:?}"
    );
}

#[test]
fn a_websocket_passes_through_end_to_end() {
    let www = docroot();
    let (_up, port) = upstream();
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[proxy]]\nname = \"live\"\nmatch = [\"/ws\"]\nupstreams = [\"127.0.0.1:{port}\"]\nupgrade = true\n"
        ),
    );
    let mut s = ws_open(&r.addr(), "/ws");
    // Two masked text frames, each echoed.
    for msg in [&b"hello"[..], b"over the proxy"] {
        assert_eq!(ws_echo(&mut s, [1, 2, 3, 4], msg)[0], 0x81);
    }
    // Past the keep-alive timeout (5 s) the joined connection is still open.
    std::thread::sleep(Duration::from_secs(6));
    ws_echo(&mut s, [9, 9, 9, 9], b"still here");
    // Without upgrade = true the Upgrade header does not reach the upstream.
    let plain = Relight::start(
        www.path(),
        "",
        &format!(
            "[[proxy]]\nname = \"p\"\nmatch = [\"/echo\"]\nupstreams = [\"127.0.0.1:{port}\"]\n"
        ),
    );
    let got = curl(&[
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        &plain.url("/echo/u"),
    ]);
    assert_eq!(got.status, 200);
    assert!(!received(&got).contains_key("upgrade"), "{}", got.text());
}

#[test]
fn an_unchanged_lighttpd_conf_proxies_as_lighttpd_does() {
    let www = docroot();
    let (_up, port) = upstream();
    let dir = TempDir::new("lt");
    let conf = |listen: u16, tag: &str| {
        format!(
            "server.document-root = \"{}\"\nserver.port = {listen}\nserver.bind = \"127.0.0.1\"\n\
             server.modules = (\"mod_proxy\")\nserver.errorlog = \"{}/{tag}.log\"\n\
             proxy.server = (\"/echo\" => ((\"host\" => \"127.0.0.1\", \"port\" => {port})))\n\
             proxy.header = (\"upgrade\" => \"enable\")\n",
            www.path().display(),
            dir.path().display()
        )
    };
    let (lport, rport) = (free_port(), free_port());
    std::fs::write(dir.join("l.conf"), conf(lport, "l")).unwrap();
    std::fs::write(dir.join("r.conf"), conf(rport, "r")).unwrap();
    let _lighttpd = start_lighttpd(&dir.join("l.conf"), lport);
    let _relight = Relight::start_file(&dir.join("r.conf"), rport);
    let check = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-tt", "-f"])
        .arg(dir.join("r.conf"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let cases: &[(&str, &[&str])] = &[
        ("/echo/a?b=c", &[]),
        ("/echo/post", &["--data-binary", "some body"]),
        (
            "/echo/h",
            &[
                "-H",
                "X-Forwarded-For: 10.1.1.1",
                "-H",
                "X-Kept: 1",
                "-H",
                "Connection: keep-alive, X-Gone",
                "-H",
                "X-Gone: 1",
            ],
        ),
        ("/hello.txt", &[]),
    ];
    for (path, args) in cases {
        let run = |port: u16| {
            let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            a.push(format!("http://127.0.0.1:{port}{path}"));
            curl(&a.iter().map(String::as_str).collect::<Vec<_>>())
        };
        let (theirs, ours) = (run(lport), run(rport));
        assert_eq!(ours.status, theirs.status, "{path}");
        let pick = |r: &CurlResponse| {
            let mut h = received(r);
            // What differs by nature (ports in Host) or by design (relight keeps connections
            // to upstreams alive; lighttpd sends "Connection: close" and no Content-Length
            // on an empty GET).
            h.retain(|k, _| {
                [
                    "method",
                    "target",
                    "x-forwarded-for",
                    "x-forwarded-proto",
                    "x-kept",
                    "content-length",
                    "content-type",
                ]
                .contains(&k.as_str())
            });
            (h, r.text().split_once("\n\n").map(|(_, b)| b.to_owned()))
        };
        assert_eq!(pick(&ours), pick(&theirs), "{path} {args:?}");
        // On purpose: a header the client's Connection names is hop-by-hop (RFC 9110 §7.6.1);
        // relight drops it, lighttpd 1.4.69 forwards it.
        assert_eq!(received(&ours).get("x-gone"), None, "{path}");
        for r in [&ours, &theirs] {
            let h = received(r);
            if h.contains_key("host") {
                assert_eq!(h.get("x-host"), h.get("host"), "{path}");
                assert_eq!(h.get("x-forwarded-host"), h.get("host"), "{path}");
            }
        }
    }
}
