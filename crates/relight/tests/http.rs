//! The HTTP front end with raw bytes and curl: keep-alive, pipelining, HTTP/1.0, limits, slow
//! and malformed clients, and the command line.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn keep_alive_and_pipelining() {
    let www = docroot();
    let r = Relight::start(www.path(), "", "");
    let req = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let out = raw(&r.addr(), req, Duration::from_secs(5));
    assert_eq!(
        count(&out, b"HTTP/1.1 200 OK"),
        3,
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(count(&out, b"hello, world\n"), 3);
}

#[test]
fn http10_clients_get_http10_responses() {
    let www = docroot();
    let r = Relight::start(www.path(), "", "");
    let out = raw(
        &r.addr(),
        b"GET /hello.txt HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
    assert!(text.ends_with("hello, world\n"));
    // Half-closed after sending, as some HTTP/1.0 clients do.
    let mut s = TcpStream::connect(r.addr()).unwrap();
    s.write_all(b"GET /hello.txt HTTP/1.0\r\n\r\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.0 200 OK\r\n"), "{out}");
}

#[test]
fn malformed_requests_get_400_and_the_server_stays_up() {
    let www = docroot();
    let r = Relight::start(www.path(), "", "");
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
        b"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    ] {
        let out = raw(&r.addr(), bad, Duration::from_secs(5));
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("HTTP/1.1 400"),
            "{:?} -> {text}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
}

#[test]
fn huge_headers_get_431() {
    let www = docroot();
    let r = Relight::start(www.path(), "max_header_size = \"8K\"", "");
    let req = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let out = raw(&r.addr(), req.as_bytes(), Duration::from_secs(5));
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
}

#[test]
fn slow_clients_cost_only_their_connection() {
    let www = docroot();
    let r = Relight::start(
        www.path(),
        "header_timeout = \"1s\"\nkeep_alive_timeout = \"1s\"\nmax_connections = 8",
        "",
    );
    // Slowloris: half a request head, never finished.
    let mut slow = TcpStream::connect(r.addr()).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // An idle keep-alive connection after one request.
    let mut idle = TcpStream::connect(r.addr()).unwrap();
    idle.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Others are served meanwhile.
    for _ in 0..5 {
        assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
    }
    // Both are closed by the server after their timeouts.
    for (what, s) in [("slow header", &mut slow), ("idle keep-alive", &mut idle)] {
        let t = Instant::now();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "{what} connection still open after {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn max_connections_queue_rather_than_fail() {
    let www = docroot();
    let r = Relight::start(
        www.path(),
        "max_connections = 2\nkeep_alive_timeout = \"1s\"",
        "",
    );
    let _a = TcpStream::connect(r.addr()).unwrap();
    let _b = TcpStream::connect(r.addr()).unwrap();
    // Two idle connections hold both places; a third client waits until one times out.
    let t = Instant::now();
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "served before a place was free"
    );
}

#[test]
fn check_config_and_command_line() {
    let www = docroot();
    let d = TempDir::new("cli");
    let good = d.join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"{}\"\n",
            www.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-t", "-f"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Syntax OK\n");
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\ntypo_key = 1\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-t", "-f"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:4:1: unknown field `typo_key`", bad.display())),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "relight 0.1.0\n");
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("-t, --test"));
    // A port already in use is a clear start-up error.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = d.join("busy.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = [\"{}\"]\ndocument_root = \"{}\"\n",
            busy.local_addr().unwrap(),
            www.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-D", "-f"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot listen on"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn access_log_is_combined_log_format() {
    let www = docroot();
    let r = Relight::start(www.path(), "", "");
    assert_eq!(
        curl(&[
            "-A",
            "agent/1",
            "-e",
            "http://ref/",
            &r.url("/hello.txt?x=1")
        ])
        .status,
        200
    );
    assert_eq!(curl(&[&r.url("/nope")]).status, 404);
    std::thread::sleep(Duration::from_millis(100));
    let log = r.access_log();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{}", lines[0]);
    assert!(
        lines[0].ends_with("] \"GET /hello.txt?x=1 HTTP/1.1\" 200 13 \"http://ref/\" \"agent/1\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("\"GET /nope HTTP/1.1\" 404 "),
        "{}",
        lines[1]
    );
}

#[test]
fn sigint_and_sigterm_stop_the_server() {
    let www = docroot();
    for sig in ["INT", "TERM"] {
        let mut r = Relight::start(www.path(), "", "");
        r.proc.signal(sig);
        let st = r.proc.wait_exit(Duration::from_secs(5)).expect("exits");
        assert!(st.success(), "SIG{sig}: {st:?}");
    }
}

/// `[[answer]]`: a fixed response for an exact path, before scopes and files.
#[test]
fn fixed_answers() {
    let www = docroot();
    std::fs::write(www.join("healthz"), "a file").unwrap();
    let r = Relight::start(
        www.path(),
        "",
        "[[answer]]\npath = \"/healthz\"\nbody = \"ok\\n\"\n\n\
         [[answer]]\npath = \"/gone\"\nstatus = 410\nbody = \"{}\"\ncontent_type = \"application/json\"\n",
    );
    let resp = curl(&[&r.url("/healthz?x=1")]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "ok\n", "the answer, not the file");
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let resp = curl(&[&r.url("/gone")]);
    assert_eq!(resp.status, 410);
    assert_eq!(resp.text(), "{}");
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("application/json")
    );
    let head = raw(
        &r.addr(),
        b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let head = String::from_utf8_lossy(&head);
    assert!(head.contains("content-length: 3\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "{head}");
    assert_eq!(curl(&[&r.url("/healthz/")]).status, 404, "exact paths only");
}
