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
