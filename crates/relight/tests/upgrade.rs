//! Replacing the binary in place (SIGUSR2, nginx's convention): the new relight takes the
//! listening sockets and the backends' socket paths, the old one finishes its requests and
//! exits, and no request fails meanwhile; a new binary that cannot start leaves the old one
//! serving; what cannot be handed over is refused with a reason.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// A copy of relight in `dir` (so the test can replace the file, as a package upgrade does).
fn own_relight(dir: &TempDir) -> PathBuf {
    let p = dir.join("relight");
    std::fs::copy(env!("CARGO_BIN_EXE_relight"), &p).unwrap();
    p
}

/// A relight started from `exe` on `cfg`, listening on `port`.
fn start(exe: &Path, cfg: &Path, port: u16, dir: &TempDir) -> Proc {
    let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let child = std::process::Command::new(exe)
        .args(["-D", "-f"])
        .arg(cfg)
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let proc = Proc { child };
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(10));
    // Its signal handlers are in place once it says it listens (the socket listens earlier).
    wait_for(Duration::from_secs(10), "relight says it listens", || {
        std::fs::read_to_string(dir.join("error.log"))
            .unwrap_or_default()
            .contains("listening on http")
            .then_some(())
    });
    proc
}

/// The configuration: static files, and the libfcgi echo program spawned on a unix socket
/// (`backend` overrides where it listens).
fn config(dir: &TempDir, www: &TempDir, port: u16, backend: &str) -> PathBuf {
    let echo = dir.join("echo");
    std::fs::copy(c_peer("fcgi_echo"), &echo).unwrap();
    let cfg = dir.join("relight.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\ndocument_root = \"{}\"\nerror_log = \"{}\"\npid_file = \"{}\"\n\n[[fastcgi]]\nname = \"app\"\nmatch = [\"/app\"]\ncommand = [\"{}\"]\nmax_procs = 2\n{backend}\n",
            www.path().display(),
            dir.join("error.log").display(),
            dir.join("relight.pid").display(),
            echo.display(),
        ),
    )
    .unwrap();
    cfg
}

fn unix_backend(dir: &TempDir) -> String {
    format!("socket = \"{}\"", dir.join("app.sock").display())
}

/// One request on a connection of its own: the status line's code and the body.
fn get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Ok((code, body))
}

/// The parent of process `pid` (0 once it is gone).
fn parent_of(pid: i32) -> i32 {
    process(pid).map_or(0, |p| p.ppid)
}

/// Whether `pid` runs (a zombie does not).
fn alive(pid: i32) -> bool {
    process(pid).is_some()
}

/// Stops, when the test ends however it ends, the relight its pid file names: the new one is
/// not the test's child (its parent was the old one), so no `Proc` stops it.
struct PidFileOwner(PathBuf);

impl Drop for PidFileOwner {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            stop_pid(pid);
        }
    }
}

#[test]
fn a_binary_upgrade_under_load_fails_no_request() {
    let dir = TempDir::new("upgrade");
    let www = docroot();
    std::fs::write(www.join("index.html"), "static page\n").unwrap();
    let port = free_port();
    let exe = own_relight(&dir);
    let cfg = config(&dir, &www, port, &unix_backend(&dir));
    let mut old = start(&exe, &cfg, port, &dir);
    let _successor = PidFileOwner(dir.join("relight.pid"));
    let old_pid = old.pid() as i32;
    wait_for(Duration::from_secs(10), "the backend answers", || {
        get(port, "/app?mode=pid").ok().filter(|(c, _)| *c == 200)
    });

    // The load: four clients, each a request per connection, static and FastCGI in turn.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let generations = Arc::new(Mutex::new(std::collections::BTreeMap::<i32, usize>::new()));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (stop, ok, failures, generations) = (
            stop.clone(),
            ok.clone(),
            failures.clone(),
            generations.clone(),
        );
        clients.push(std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let path = if (n + c) % 2 == 0 {
                    "/index.html"
                } else {
                    "/app?mode=pid"
                };
                match get(port, path) {
                    Ok((200, body)) if path == "/index.html" && body == "static page\n" => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((200, body)) if body.starts_with("pid=") => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        let pid: i32 = body[4..].trim().parse().unwrap_or(0);
                        *generations
                            .lock()
                            .unwrap()
                            .entry(parent_of(pid))
                            .or_default() += 1;
                    }
                    other => failures.lock().unwrap().push(format!("{path}: {other:?}")),
                }
            }
        }));
    }
    // A slow request in flight across the switch: the old relight finishes it.
    let slow = std::thread::spawn(move || get(port, "/app?mode=sleep&n=1500"));
    // A client that connected before the switch and sends its request after the old relight
    // stopped accepting: the old one still answers it.
    let mut early = TcpStream::connect(("127.0.0.1", port)).unwrap();
    early
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let before = ok.load(Ordering::Relaxed);

    // The package manager's part: a new file at the same path (the old one's inode lives on).
    let staged = dir.join("relight.new");
    std::fs::copy(env!("CARGO_BIN_EXE_relight"), &staged).unwrap();
    std::fs::rename(&staged, &exe).unwrap();
    old.signal("USR2");

    let error_log = dir.join("error.log");
    wait_for(
        Duration::from_secs(20),
        "the old relight stops accepting",
        || {
            std::fs::read_to_string(&error_log)
                .unwrap_or_default()
                .contains("SIGUSR2: pid")
                .then_some(())
        },
    );
    early
        .write_all(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = early.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200")
            && answer.to_ascii_lowercase().contains("connection: close"),
        "a request on a connection accepted before the switch: {answer:?}"
    );
    let status = old
        .wait_exit(Duration::from_secs(30))
        .expect("the old relight exits once its requests are done");
    assert!(status.success(), "old relight: {status}");
    let logs = || {
        format!(
            "error.log:\n{}\nstderr:\n{}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
        )
    };
    let new_pid: i32 = std::fs::read_to_string(dir.join("relight.pid"))
        .unwrap_or_else(|e| panic!("pid file: {e}\n{}", logs()))
        .trim()
        .parse()
        .unwrap();
    assert_ne!(new_pid, old_pid);
    assert!(alive(new_pid), "the new relight runs");
    let new_exe = std::fs::read_link(format!("/proc/{new_pid}/exe")).unwrap();
    assert_eq!(
        new_exe, exe,
        "the new relight runs the new file, not the deleted one"
    );
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }

    let (code, body) = slow.join().unwrap().expect("the slow request is answered");
    assert_eq!(code, 200, "{body}");
    let slow_pid: i32 = body.trim().trim_start_matches("pid=").parse().unwrap();
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    let failures = failures.lock().unwrap();
    let total = ok.load(Ordering::Relaxed);
    let generations = generations.lock().unwrap().clone();
    eprintln!(
        "{total} requests served ({before} before the signal), {} failed; backends by parent: {generations:?}",
        failures.len()
    );
    assert!(failures.is_empty(), "failed requests: {failures:#?}\n{log}");
    assert!(
        total > before + 20,
        "requests went on after the signal: {total}\n{log}"
    );
    assert!(
        generations.contains_key(&old_pid) && generations.contains_key(&new_pid),
        "both generations' backends served: {generations:?} (old {old_pid}, new {new_pid})"
    );
    assert_eq!(
        parent_of(slow_pid),
        0,
        "the old backend that served it is gone"
    );
    for want in [
        "SIGUSR2: started",
        "upgrade: 2 backend socket(s) of pid",
        "upgrade: accepting",
        "SIGUSR2: pid",
    ] {
        assert!(log.contains(want), "{want:?} not in the error log:\n{log}");
    }
    // The slots' socket files are the new relight's (the old one left them).
    for slot in ["app.sock-0", "app.sock-1"] {
        assert!(
            std::os::unix::net::UnixStream::connect(dir.join(slot)).is_ok(),
            "{slot} leads to a process"
        );
    }
    assert_eq!(get(port, "/index.html").unwrap().0, 200);
}

#[test]
fn a_new_binary_that_cannot_start_leaves_the_old_one_serving() {
    let dir = TempDir::new("upgrade-fails");
    let www = docroot();
    let port = free_port();
    let exe = own_relight(&dir);
    let cfg = config(&dir, &www, port, &unix_backend(&dir));
    let old = start(&exe, &cfg, port, &dir);
    wait_for(Duration::from_secs(10), "the backend answers", || {
        get(port, "/app?mode=pid").ok().filter(|(c, _)| *c == 200)
    });
    // The new process reads the configuration again, and this one has an error.
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{good}\nno_such_key = 1\n")).unwrap();
    old.signal("USR2");
    let line = wait_for(Duration::from_secs(15), "the failure is logged", || {
        std::fs::read_to_string(dir.join("error.log"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains("SIGUSR2: not replaced"))
            .map(str::to_owned)
    });
    assert!(line.contains("ended (exit code"), "{line}");
    assert!(line.contains("goes on serving"), "{line}");
    // The new process's own error, where the line says it is.
    let stderr = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
    assert!(stderr.contains("no_such_key"), "{stderr}");
    // Nothing was handed over: the same relight answers, its backends too.
    let (code, body) = get(port, "/app?mode=pid").unwrap();
    assert_eq!(code, 200, "{body}");
    let pid: i32 = body.trim().trim_start_matches("pid=").parse().unwrap();
    assert_eq!(parent_of(pid), old.pid() as i32);
    assert_eq!(
        std::fs::read_to_string(dir.join("relight.pid"))
            .unwrap()
            .trim(),
        old.pid().to_string()
    );
}

#[test]
fn a_backend_on_a_tcp_port_is_not_handed_over() {
    let dir = TempDir::new("upgrade-tcp");
    let www = docroot();
    let port = free_port();
    let exe = own_relight(&dir);
    let cfg = config(&dir, &www, port, &format!("port = {}", free_port()));
    let old = start(&exe, &cfg, port, &dir);
    old.signal("USR2");
    let line = wait_for(Duration::from_secs(10), "the refusal is logged", || {
        std::fs::read_to_string(dir.join("error.log"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains("SIGUSR2: not replacing the binary"))
            .map(str::to_owned)
    });
    assert!(
        line.contains("backend \"app\" is spawned on a TCP port"),
        "{line}"
    );
    assert_eq!(
        get(port, "/").map(|r| r.0).unwrap_or(0),
        200,
        "still serving"
    );
}

#[test]
fn a_new_binary_that_never_says_ready_is_stopped_with_the_old_one() {
    let dir = TempDir::new("upgrade-hangs");
    let www = docroot();
    let port = free_port();
    let exe = own_relight(&dir);
    let cfg = config(&dir, &www, port, &unix_backend(&dir));
    let mut old = start(&exe, &cfg, port, &dir);
    // The "new binary" starts and never answers (it keeps the pipe open, as a hung start).
    let staged = dir.join("relight.new");
    std::fs::write(&staged, "#!/bin/sh\nexec sleep 1000\n").unwrap();
    std::fs::set_permissions(&staged, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::rename(&staged, &exe).unwrap();
    old.signal("USR2");
    let line = wait_for(Duration::from_secs(10), "the start is logged", || {
        std::fs::read_to_string(dir.join("error.log"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains("SIGUSR2: started"))
            .map(str::to_owned)
    });
    let new_pid: i32 = line
        .rsplit("(pid ")
        .next()
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"));
    assert!(alive(new_pid));
    // Still the old relight serving meanwhile.
    assert_eq!(get(port, "/app?mode=pid").unwrap().0, 200);
    old.signal("INT");
    let status = old
        .wait_exit(Duration::from_secs(15))
        .expect("the old relight stops");
    assert!(status.success(), "{status}");
    wait_for(
        Duration::from_secs(5),
        "the hung new binary is stopped",
        || (!alive(new_pid)).then_some(()),
    );
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    assert!(
        log.contains(&format!(
            "stopping the new relight (pid {new_pid}) that was starting"
        )),
        "{log}"
    );
}
