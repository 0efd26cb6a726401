//! Hostile clients and broken backends (issue 12): what relight must survive, each case with
//! the real peers.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

/// Open descriptors of a process.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// A FastCGI backend that accepts every connection and never answers; counts the connections
/// relight keeps open to it.
fn silent_backend(path: &std::path::Path) -> Arc<AtomicUsize> {
    let listener = UnixListener::bind(path).unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let count = open.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let count = count.clone();
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                count.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    open
}

/// Clients that send a request to a backend that never answers and then leave: relight closes
/// each backend connection and each client connection at once, not at the backend's read
/// timeout (60 s here), and keeps serving (before: 1100 such clients left relight answering
/// nothing, static files included, for about 45 s).
#[test]
fn clients_that_leave_free_everything_at_once() {
    let www = docroot();
    let dir = TempDir::new("leave");
    let sock = dir.join("silent.sock");
    let open = silent_backend(&sock);
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[fastcgi]]\nname = \"silent\"\nmatch = [\"/app\"]\naddress = \"unix:{}\"\nread_timeout = \"60s\"\n",
            sock.display()
        ),
    );
    let pid = r.proc.pid();
    let before = fd_count(pid);
    const CLIENTS: usize = 100;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = TcpStream::connect(r.addr()).unwrap();
        c.write_all(b"GET /app HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        clients.push(c);
    }
    wait_for(
        Duration::from_secs(10),
        "every request at the backend",
        || (open.load(Ordering::SeqCst) == CLIENTS).then_some(()),
    );
    drop(clients);
    wait_for(
        Duration::from_secs(5),
        "relight to close its backend connections",
        || (open.load(Ordering::SeqCst) == 0).then_some(()),
    );
    wait_for(Duration::from_secs(5), "relight's descriptors back", || {
        (fd_count(pid) <= before + 2).then_some(())
    });
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
    let log = r.error_log();
    assert!(
        log.contains("the client closed the connection before the answer"),
        "{log}"
    );
    wait_for(Duration::from_secs(5), "the access log lines", || {
        (r.access_log().matches("\"GET /app HTTP/1.1\" 499 ").count() == CLIENTS).then_some(())
    });
}

/// A request that leaves while it waits for a free process of a spawned backend takes no
/// process: the backend never sees it.
#[test]
fn a_request_that_leaves_while_it_waits_for_a_process_is_never_sent() {
    let www = docroot();
    let dir = TempDir::new("leave-wait");
    let echo = c_peer("fcgi_echo");
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[fastcgi]]\nname = \"echo\"\nmatch = [\"/app\"]\ncommand = [\"{}\"]\nsocket = \"{}\"\nprocs = 1\nqueue_timeout = \"30s\"\n",
            echo.display(),
            dir.join("echo.sock").display()
        ),
    );
    // The only process is busy for 3 s.
    let busy = {
        let url = r.url("/app?mode=sleep&n=3000");
        std::thread::spawn(move || curl(&[&url]).status)
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut waiting = TcpStream::connect(r.addr()).unwrap();
    waiting
        .write_all(b"GET /app?mode=pid&from=waiting HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(waiting);
    assert_eq!(busy.join().unwrap(), 200);
    // Time for the waiting request to have reached the process, had it not been given up.
    std::thread::sleep(Duration::from_millis(1000));
    let status = curl(&[&r.url("/server-status")]).text();
    assert!(
        status.contains("\"requests\":1,"),
        "only the first request was served: {status}"
    );
    assert!(
        r.error_log()
            .contains("given up before it reached the backend"),
        "{}",
        r.error_log()
    );
}

/// The status line of a raw exchange.
fn status_line(out: &[u8]) -> String {
    String::from_utf8_lossy(out)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// What lighttpd refuses in a request's framing and host, relight refuses too, and goes on
/// serving (before: each was passed on, and a backend got `HTTP_HOST='a, b'` or a
/// SERVER_NAME of `../../etc/x`).
#[test]
fn framing_and_hosts_are_refused_as_lighttpd_refuses_them() {
    let www = docroot();
    let r = Relight::start(www.path(), "", "");
    let d = Duration::from_secs(5);
    for (request, want) in [
        (
            &b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"[..],
            "HTTP/1.1 501",
        ),
        (b"GET /hello.txt HTTP/1.1\r\n\r\n", "HTTP/1.1 400"),
        (
            b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "HTTP/1.1 400",
        ),
        (
            b"GET /hello.txt HTTP/1.1\r\nHost: ../../etc/x\r\n\r\n",
            "HTTP/1.1 400",
        ),
        (
            b"GET /hello%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: x\r\n\r\n",
            "HTTP/1.1 400",
        ),
        (b"GET /hello.txt HTTP/1.0\r\n\r\n", "HTTP/1.0 200"),
    ] {
        let out = raw(&r.addr(), request, d);
        assert!(
            status_line(&out).starts_with(want),
            "{}: {}",
            String::from_utf8_lossy(request),
            String::from_utf8_lossy(&out)
        );
    }
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
    let log = r.error_log();
    for line in [
        "relight decodes chunked only: 501",
        "HTTP/1.1 request without a Host: 400",
        "request with more than one Host: 400",
        "bad Host \"../../etc/x\": 400",
        "control character in request path",
    ] {
        assert!(log.contains(line), "no {line:?} in {log}");
    }
}

/// Two framings in one request are refused with 400 and the connection closed (what the
/// request smuggler hopes the next hop reads differently is never read), and a chunk announced
/// beyond the largest body allowed is refused at its size line with 413 (before: the first
/// three were answered 200 as if the extra header were not there, and the chunk was spooled
/// up to max_request_body before any answer).
#[test]
fn two_framings_or_a_chunk_beyond_the_limit_are_refused() {
    let www = docroot();
    let dir = TempDir::new("smuggle");
    let echo = c_peer("fcgi_echo");
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[fastcgi]]\nname = \"echo\"\nmatch = [\"/app\"]\ncommand = [\"{}\"]\nsocket = \"{}\"\nprocs = 1\n",
            echo.display(),
            dir.join("echo.sock").display()
        ),
    );
    let d = Duration::from_secs(5);
    let next = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    for request in [
        "POST /app?mode=echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /app?mode=echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "POST /app?mode=echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    ] {
        let out = raw(&r.addr(), format!("{request}{next}").as_bytes(), d);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 400"), "{request}: {text}");
        assert_eq!(
            text.matches("HTTP/1.1 ").count(),
            1,
            "the connection ends with the refusal: {text}"
        );
    }
    // The same requests framed once go through, and the connection goes on after them.
    let out = raw(
        &r.addr(),
        b"POST /app?mode=echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n\
             POST /app?mode=echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nworld\
             GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        d,
    );
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 3, "{text}");
    assert!(text.contains("hello") && text.contains("world"), "{text}");

    let started = std::time::Instant::now();
    let out = raw(
        &r.addr(),
        b"POST /app?mode=echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          4\r\nabcd\r\nffffffffffffffff\r\nsome bytes of it",
        d,
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(started.elapsed() < d, "answered, not timed out: {text}");

    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
    let log = r.error_log();
    for line in [
        "Content-Length and Transfer-Encoding in one request: 400",
        "more than one Content-Length: 400",
        "a chunk announced beyond the largest request body allowed (1073741824 bytes): 413",
    ] {
        assert!(log.contains(line), "no {line:?} in {log}");
    }
}

/// What is left of a request body that was not read whole (one the handler dropped while
/// the client sent it without waiting for its 100 Continue, or a malformed chunked one) is
/// never read as the next request: the connection closes after the response (before: the
/// request hidden in the body was answered as a second one). And a connection whose last
/// body was read after its response still times out when it goes idle.
#[test]
fn leftovers_of_a_body_are_never_a_request() {
    let www = docroot();
    let r = Relight::start(www.path(), "keep_alive_timeout = \"1s\"", "");
    let d = Duration::from_secs(5);
    let hidden = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    for request in [
        format!(
            "POST /hello.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n{hidden}",
            hidden.len()
        ),
        format!(
            "POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n{hidden}"
        ),
    ] {
        let out = raw(&r.addr(), request.as_bytes(), d);
        let text = String::from_utf8_lossy(&out);
        assert_eq!(
            text.matches("HTTP/1.1 ").count(),
            1,
            "{request:?} was answered as more than one request: {text}"
        );
    }

    let mut s = TcpStream::connect(r.addr()).unwrap();
    s.write_all(b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 "),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    s.write_all(b"hello").unwrap();
    let t = std::time::Instant::now();
    s.set_read_timeout(Some(d)).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "idle after its body, the connection was still open after {:?}",
        t.elapsed()
    );
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
}

/// An absolute-form target's host is the request's host (RFC 9112 §3.2.2), for the backend
/// too.
#[test]
fn the_absolute_form_host_wins_over_the_host_header() {
    let www = docroot();
    let dir = TempDir::new("absolute");
    let echo = c_peer("fcgi_echo");
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[fastcgi]]\nname = \"echo\"\nmatch = [\"/app\"]\ncommand = [\"{}\"]\nsocket = \"{}\"\nprocs = 1\n",
            echo.display(),
            dir.join("echo.sock").display()
        ),
    );
    let out = raw(
        &r.addr(),
        b"GET http://right.example:8080/app HTTP/1.1\r\nHost: wrong.example\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("HTTP_HOST=right.example:8080\n"), "{text}");
    assert!(text.contains("SERVER_NAME=right.example\n"), "{text}");
}

/// What a backend must not do gets a 502 or a cut-off body, never forwarded as if it were
/// right: chunk framing as content (before: the raw chunked bytes went to the client as the
/// body), a status of 999 (before: forwarded), a body shorter than its Content-Length (before:
/// the client got nothing and nothing was logged).
#[test]
fn a_backend_framing_its_own_body_or_lying_about_it_is_caught() {
    let www = docroot();
    let dir = TempDir::new("backend-framing");
    let echo = c_peer("fcgi_echo");
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[fastcgi]]\nname = \"echo\"\nmatch = [\"/app\"]\ncommand = [\"{}\"]\nsocket = \"{}\"\nprocs = 1\n",
            echo.display(),
            dir.join("echo.sock").display()
        ),
    );
    assert_eq!(curl(&[&r.url("/app?mode=chunked")]).status, 502);
    assert_eq!(curl(&[&r.url("/app?mode=status999")]).status, 502);
    let out = raw(
        &r.addr(),
        b"GET /app?mode=short HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("content-length: 1000\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n0123456789"),
        "what arrived is sent, then the connection is cut: {text}"
    );
    let log = r.error_log();
    for line in [
        "Transfer-Encoding \"chunked\" in a CGI response",
        "malformed Status header \"999\"",
        "backend announced Content-Length 1000 and sent 10 bytes (response cut off)",
    ] {
        assert!(log.contains(line), "no {line:?} in {log}");
    }
    assert_eq!(
        curl(&[&r.url("/app?mode=pid")]).status,
        200,
        "the backend still serves"
    );
}

/// A socket in the document root, or a name longer than the file system allows, is the
/// client's doing: 403 and 414 as lighttpd answers, not a 500 logged as the server's error.
#[test]
fn files_that_cannot_be_sent_are_the_clients_business() {
    let www = docroot();
    let _sock = std::os::unix::net::UnixListener::bind(www.join("app.sock")).unwrap();
    let r = Relight::start(www.path(), "", "");
    assert_eq!(curl(&[&r.url("/app.sock")]).status, 403);
    let long = format!("/{}", "a".repeat(300));
    assert_eq!(curl(&[&r.url(&long)]).status, 414);
    let log = r.error_log();
    assert!(!log.contains("ERROR"), "{log}");
}

/// A process stuck in a request is replaced at once when the request timeout kills it: the
/// stuck one does not accept, so its successor serves from the same socket during the stuck
/// one's kill grace (before: the replacement waited for the death, SIGTERM ignored, SIGKILL
/// after the grace: 6.9 s to the first good response with the defaults).
#[test]
fn a_stuck_process_is_replaced_before_it_is_killed() {
    let www = docroot();
    let dir = TempDir::new("stuck");
    let echo = c_peer("fcgi_echo");
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[fastcgi]]\nname = \"echo\"\nmatch = [\"/app\"]\ncommand = [\"{}\"]\nsocket = \"{}\"\nprocs = 1\n\
             request_timeout = \"1s\"\nkill_grace = \"5s\"\nenv = {{ IGNORE_TERM = \"1\" }}\n",
            echo.display(),
            dir.join("echo.sock").display()
        ),
    );
    let first = curl(&[&r.url("/app?mode=pid")]);
    assert_eq!(first.status, 200);
    let stuck: i32 = first
        .text()
        .trim()
        .trim_start_matches("pid=")
        .parse()
        .unwrap();
    assert_eq!(curl(&[&r.url("/app?mode=hang")]).status, 504);
    let next = curl(&["-m", "4", &r.url("/app?mode=pid")]);
    assert_eq!(next.status, 200, "served during the stuck process's grace");
    let pid: i32 = next
        .text()
        .trim()
        .trim_start_matches("pid=")
        .parse()
        .unwrap();
    assert_ne!(pid, stuck);
    assert!(
        std::path::Path::new(&format!("/proc/{stuck}")).exists(),
        "the stuck process (ignoring SIGTERM) is still in its grace period"
    );
    wait_for(Duration::from_secs(10), "the stuck process's end", || {
        r.error_log()
            .contains("its slot has a new process already")
            .then_some(())
    });
    assert_eq!(
        curl(&[&r.url("/app?mode=pid")]).text().trim(),
        format!("pid={pid}")
    );
}

/// Memory comes back after a burst of connections, and does not ratchet up burst after burst
/// (before: 900 keep-alive connections opened and closed left 18.8 MiB, then 23.5 MiB, against
/// 4.4 MiB at rest: glibc kept what they freed).
#[test]
fn memory_comes_back_after_each_burst() {
    let www = docroot();
    let r = Relight::start(www.path(), "", "");
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
    let rest = r.rss_kib();
    let burst = || {
        // (600: an idle keep-alive connection holds under 3 KiB, and the burst must take
        // over 1 MiB for its return to mean anything.)
        let mut conns: Vec<TcpStream> = (0..600)
            .map(|_| {
                let mut c = TcpStream::connect(r.addr()).unwrap();
                c.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                c
            })
            .collect();
        for c in &mut conns {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        }
        let peak = r.rss_kib();
        drop(conns);
        // Settled: the same reading twice, 1 s apart, after the trim has had its chance.
        std::thread::sleep(Duration::from_secs(3));
        let mut last = r.rss_kib();
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let now = r.rss_kib();
            if now == last {
                return (peak, now);
            }
            last = now;
        }
    };
    let (peak1, after1) = burst();
    let (_, after2) = burst();
    let (_, after3) = burst();
    eprintln!(
        "RSS KiB: at rest {rest}, burst peak {peak1}, after bursts {after1} {after2} {after3}"
    );
    assert!(
        peak1 > rest + 1024,
        "the burst did take memory: {peak1} vs {rest}"
    );
    assert!(
        after1 < rest + 1024,
        "memory comes back after a burst: {after1} KiB vs {rest} at rest"
    );
    assert!(
        after3 < after1 + 512,
        "and does not ratchet: {after3} KiB after the third burst, {after1} after the first"
    );
}

/// Out of descriptors, relight stops accepting, says so once, and serves again as soon as
/// descriptors are free (before: one error line every 100 ms for as long as it lasted).
#[test]
fn out_of_descriptors_is_one_log_line_and_passes() {
    let www = docroot();
    let dir = TempDir::new("emfile");
    let port = free_port();
    let cfg = dir.join("relight.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\ndocument_root = \"{}\"\nerror_log = \"{}\"\n",
            www.path().display(),
            dir.join("error.log").display()
        ),
    )
    .unwrap();
    let _relight = Proc {
        child: std::process::Command::new("sh")
            .args(["-c", "ulimit -n 40 && exec \"$0\" -D -f \"$1\""])
            .arg(env!("CARGO_BIN_EXE_relight"))
            .arg(&cfg)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    };
    let addr = format!("127.0.0.1:{port}");
    wait_listening(&addr, Duration::from_secs(10));
    // Idle connections until relight runs out of descriptors (they wait in the backlog).
    let conns: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    let log = || std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    wait_for(Duration::from_secs(5), "accept failing", || {
        log().contains("Too many open files").then_some(())
    });
    std::thread::sleep(Duration::from_millis(1000));
    drop(conns);
    wait_for(Duration::from_secs(10), "serving again", || {
        (curl(&["-m", "1", &format!("http://{addr}/hello.txt")]).status == 200).then_some(())
    });
    // Said once accepting has worked for a second: at the next accept after that.
    wait_for(Duration::from_secs(5), "the line that says so", || {
        std::thread::sleep(Duration::from_millis(200));
        curl(&["-m", "1", &format!("http://{addr}/hello.txt")]);
        log().contains("works again").then_some(())
    });
    let failures = log().matches("accept on").count();
    assert_eq!(
        failures,
        2,
        "one line when it starts, one when it ends: {}",
        log()
    );
}

/// A tmpfs mounted for a test, unmounted when dropped.
struct Tmpfs(TempDir);

impl Tmpfs {
    /// A tmpfs of `size` (mount(8)'s syntax), or why there cannot be one here.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = TempDir::new("tmpfs");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir))
    }

    /// Writes a file until the file system is full, and pads each of `open` (files being
    /// appended to) to the end of its last page, where it could still write without a new one.
    fn fill(&self, open: &[std::path::PathBuf]) -> std::path::PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        for p in open {
            let len = std::fs::metadata(p).unwrap().len() as usize;
            let pad = (4096 - len % 4096) % 4096;
            if pad > 0 {
                let mut line = vec![b'#'; pad - 1];
                line.push(b'\n');
                let mut log = std::fs::OpenOptions::new().append(true).open(p).unwrap();
                log.write_all(&line).unwrap();
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// A full disk under the upload spool and both logs: uploads that need the disk get 503 with
/// Retry-After, everything else is served, each failing part is one line (the error log's own
/// on stderr), and when space returns everything works again and says so (before: a 500 and
/// an ERROR line per upload, a line per request for the access log, and a line per event on
/// stderr from the logger for the error log).
#[test]
fn a_full_disk_is_one_line_per_run_and_the_server_goes_on() {
    let disk = match Tmpfs::mount("512k") {
        Ok(d) => d,
        Err(why) => {
            eprintln!("SKIPPED a_full_disk...: cannot mount a tmpfs here ({why})");
            return;
        }
    };
    let www = docroot();
    let echo = c_peer("fcgi_echo");
    let port = free_port();
    let cfg = TempDir::new("full-disk");
    let full = disk.0.path();
    std::fs::write(
        cfg.join("relight.toml"),
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\ndocument_root = \"{}\"\n\
             error_log = \"{}\"\naccess_log = \"{}\"\nupload_dir = \"{}\"\n\
             [[fastcgi]]\nname = \"echo\"\nmatch = [\"/app\"]\ncommand = [\"{}\"]\n\
             socket = \"{}\"\nprocs = 1\n",
            www.path().display(),
            full.join("error.log").display(),
            full.join("access.log").display(),
            full.display(),
            echo.display(),
            cfg.join("echo.sock").display(),
        ),
    )
    .unwrap();
    let r = Relight::start_file(&cfg.join("relight.toml"), port);
    let body = vec![b'u'; 100 << 10];
    let upload = || {
        let mut req = format!(
            "POST /app?mode=echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        req.extend_from_slice(b"\r\n0\r\n\r\n");
        String::from_utf8_lossy(&raw(&r.addr(), &req, Duration::from_secs(10))).into_owned()
    };
    assert!(upload().starts_with("HTTP/1.1 200"));

    let filler = disk.fill(&[full.join("error.log"), full.join("access.log")]);
    for _ in 0..3 {
        let out = upload();
        assert!(out.starts_with("HTTP/1.1 503"), "{out}");
        assert!(out.to_ascii_lowercase().contains("retry-after: "), "{out}");
        assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
    }
    // A request to a backend that is not there logs an error too.
    let stderr = || std::fs::read_to_string(r.dir.join("stderr.log")).unwrap_or_default();
    assert_eq!(
        stderr().matches("cannot write the error log").count(),
        1,
        "{}",
        stderr()
    );

    std::fs::remove_file(filler).unwrap();
    std::thread::sleep(relight_calm());
    let out = upload();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.matches('u').count() >= body.len(),
        "the body went through"
    );
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
    let log = std::fs::read_to_string(full.join("error.log")).unwrap();
    for line in [
        "line(s) of this log were lost, from ",
        "spooling request bodies (upload_dir) works again, after 3 failure(s)",
        "works again, after ",
    ] {
        assert!(log.contains(line), "no {line:?} in {log}");
    }
    assert!(
        log.contains(&format!(
            "writing the access log {}",
            full.join("access.log").display()
        )),
        "{log}"
    );
    let access = std::fs::read_to_string(full.join("access.log")).unwrap();
    assert_eq!(
        access.lines().filter(|l| l.contains("HTTP/1.1\"")).count(),
        3,
        "the first upload, the one after, and the last file: {access}"
    );
    assert_eq!(stderr().matches("cannot write the error log").count(), 1);
}

/// A little more than relight's calm after the last failure of a run before it says "works
/// again" (log::Outage::CALM).
fn relight_calm() -> Duration {
    Duration::from_millis(1200)
}

/// A FastCGI backend that answers every request with a head and the first bytes of a body, then
/// goes silent; counts the connections relight keeps open to it.
fn stalling_backend(path: &std::path::Path) -> Arc<AtomicUsize> {
    use fcgi_proto::app::encode;
    let listener = UnixListener::bind(path).unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let count = open.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let count = count.clone();
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // The request (a GET: BEGIN_REQUEST, PARAMS, empty STDIN) arrives in one go.
                let _ = conn.read(&mut buf);
                let mut out = bytes::BytesMut::new();
                encode::stdout(&mut out, 1, b"Content-Type: text/plain\r\n\r\nfirst part\n");
                conn.write_all(&out).unwrap();
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                count.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    open
}

/// A client that leaves while the response streams and the backend is silent is seen at once,
/// not at the next write: the backend connection is closed (before: it stayed open until the
/// backend's read timeout).
#[test]
fn a_client_that_leaves_during_the_response_frees_the_backend() {
    let www = docroot();
    let dir = TempDir::new("leave-body");
    let sock = dir.join("stall.sock");
    let open = stalling_backend(&sock);
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[fastcgi]]\nname = \"stall\"\nmatch = [\"/app\"]\naddress = \"unix:{}\"\nread_timeout = \"60s\"\n",
            sock.display()
        ),
    );
    let mut c = TcpStream::connect(r.addr()).unwrap();
    c.write_all(b"GET /app HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("first part") {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(open.load(Ordering::SeqCst), 1);
    drop(c);
    wait_for(
        Duration::from_secs(5),
        "relight to close the backend connection",
        || (open.load(Ordering::SeqCst) == 0).then_some(()),
    );
}
