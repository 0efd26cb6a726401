//! relight as a systemd service: the notifications a `Type=notify` unit relies on, checked
//! with a listener on `NOTIFY_SOCKET` as systemd keeps one.

mod common;

use std::ffi::OsStr;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::*;

/// The notification socket systemd would listen on.
struct Manager {
    sock: UnixDatagram,
    _dir: TempDir,
    path: std::path::PathBuf,
}

impl Manager {
    fn new() -> Manager {
        let dir = TempDir::new("notify");
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        Manager {
            sock,
            _dir: dir,
            path,
        }
    }

    /// The next message, or a panic naming `what` after `within`.
    fn next(&self, what: &str, within: Duration) -> String {
        self.sock.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 4096];
        match self.sock.recv(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => panic!("no notification ({what}) within {within:?}: {e}"),
        }
    }

    /// Reads messages until one satisfies `want`; panics after `within`.
    fn until(&self, what: &str, within: Duration, want: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + within;
        let mut seen = Vec::new();
        while Instant::now() < end {
            let left = end
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            self.sock.set_read_timeout(Some(left)).unwrap();
            let mut buf = [0u8; 4096];
            let Ok(n) = self.sock.recv(&mut buf) else {
                break;
            };
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if want(&m) {
                return m;
            }
            seen.push(m);
        }
        panic!("no notification {what} within {within:?}; saw {seen:?}");
    }
}

#[test]
fn a_notify_service_hears_ready_status_reloading_watchdog_and_stopping() {
    let www = TempDir::new("www");
    let manager = Manager::new();
    let echo = c_peer("fcgi_echo");
    let fcgi = format!(
        "[[fastcgi]]\nname = \"app\"\nmatch = [\"/app\"]\ncommand = [\"{}\"]\nsocket = \"{}\"\nprocs = 2\n",
        echo.display(),
        manager.path.with_file_name("app.sock").display()
    );
    let r = Relight::start_env(
        www.path(),
        "",
        &fcgi,
        &[
            ("NOTIFY_SOCKET", manager.path.as_os_str()),
            ("WATCHDOG_USEC", OsStr::new("400000")),
        ],
    );
    // READY once it listens (it listens: Relight::start_env waited for that).
    assert_eq!(manager.next("READY", Duration::from_secs(5)), "READY=1");
    // The status line names the backend and its processes.
    let status = manager.until("STATUS", Duration::from_secs(12), |m| {
        m == "STATUS=1 backend, 2/2 processes up, 0 restarts"
    });
    assert!(status.starts_with("STATUS="));
    // The watchdog, at half of WATCHDOG_USEC.
    manager.until("WATCHDOG=1", Duration::from_secs(2), |m| m == "WATCHDOG=1");
    // A reload (SIGUSR1): RELOADING with the monotonic time, then READY again.
    signal(&r, nix::sys::signal::Signal::SIGUSR1);
    let reloading = manager.until("RELOADING", Duration::from_secs(5), |m| {
        m.starts_with("RELOADING=1")
    });
    let usec: u64 = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{reloading:?}"));
    assert!(usec > 0);
    manager.until("READY after the reload", Duration::from_secs(5), |m| {
        m == "READY=1"
    });
    // A backend process killed: the restart is counted in STATUS.
    let pid = backend_pids(&r)[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    manager.until("STATUS with a restart", Duration::from_secs(12), |m| {
        m == "STATUS=1 backend, 2/2 processes up, 1 restart"
    });
    // Stop: STOPPING.
    signal(&r, nix::sys::signal::Signal::SIGTERM);
    manager.until("STOPPING", Duration::from_secs(5), |m| {
        m.starts_with("STOPPING=1")
    });
}

#[test]
fn without_notify_socket_nothing_changes_and_a_bad_one_is_logged() {
    let www = TempDir::new("www");
    std::fs::write(www.join("a.txt"), "a\n").unwrap();
    // A NOTIFY_SOCKET nothing listens on: relight serves anyway and says why it cannot notify.
    let r = Relight::start_env(
        www.path(),
        "",
        "",
        &[("NOTIFY_SOCKET", OsStr::new("/nonexistent/notify.sock"))],
    );
    assert_eq!(curl(&[&r.url("/a.txt")]).text(), "a\n");
    let log = r.error_log();
    assert!(
        log.contains("NOTIFY_SOCKET=\"/nonexistent/notify.sock\"")
            && log.contains("not notifying the service manager"),
        "{log}"
    );
}

fn signal(r: &Relight, s: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(r.proc.pid() as i32), s).unwrap();
}

/// The pids of relight's backend processes (its children but none other).
fn backend_pids(r: &Relight) -> Vec<i32> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", r.proc.pid()))
            .unwrap_or_default();
        let pids: Vec<i32> = kids
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if !pids.is_empty() || Instant::now() > end {
            return pids;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn health_and_readiness_probes_answer_for_orchestrators() {
    let www = TempDir::new("www");
    let sock_dir = TempDir::new("sock");
    let probes = "health_path = \"/healthz\"\nready_path = \"/readyz\"\n";
    let backend = |name: &str, command: &str| {
        format!(
            "[[fastcgi]]\nname = \"{name}\"\nmatch = [\"/{name}\"]\ncommand = [\"{command}\"]\nsocket = \"{}\"\nprocs = 2\n",
            sock_dir.join(&format!("{name}.sock")).display()
        )
    };
    let echo = c_peer("fcgi_echo");
    let good = Relight::start(
        www.path(),
        probes,
        &backend("app", &echo.display().to_string()),
    );
    let end = Instant::now() + Duration::from_secs(10);
    let mut got = curl(&[&good.url("/readyz")]);
    while got.status != 200 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        got = curl(&[&good.url("/readyz")]);
    }
    assert_eq!((got.status, got.text().as_str()), (200, "ready\n"));
    assert_eq!(got.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(curl(&[&good.url("/healthz")]).text(), "ok\n");
    // A backend whose program exits at once never has a process up: not ready, but alive.
    let bad = Relight::start(www.path(), probes, &backend("broken", "/bin/false"));
    std::thread::sleep(Duration::from_millis(500));
    let got = curl(&[&bad.url("/readyz")]);
    assert_eq!(
        (got.status, got.text().as_str()),
        (503, "not ready: broken (0/2 processes up)\n")
    );
    assert_eq!(curl(&[&bad.url("/healthz")]).status, 200);
    // Without the keys the paths are the site's (here: no such file).
    let plain = Relight::start(www.path(), "", "");
    assert_eq!(curl(&[&plain.url("/healthz")]).status, 404);
}

#[test]
fn the_logs_go_to_syslog_one_datagram_per_line_with_priority_and_tag() {
    let www = TempDir::new("www");
    std::fs::write(www.join("a.txt"), "a\n").unwrap();
    let dir = TempDir::new("syslog");
    let sock = dir.join("log.sock");
    let logger = UnixDatagram::bind(&sock).unwrap();
    logger
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let port = free_port();
    let config = dir.join("relight.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\ndocument_root = \"{}\"\nerror_log = \"syslog:{s}\"\naccess_log = \"syslog:{s}\"\n",
            www.path().display(),
            s = sock.display()
        ),
    )
    .unwrap();
    let r = Relight::start_file(&config, port);
    let pid = r.proc.pid();
    let mut buf = [0u8; 4096];
    let mut next = || {
        let n = logger.recv(&mut buf).expect("a syslog line");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // The start line: daemon facility (3), info (6) = <30>, the tag, no timestamp of relight's.
    let start = next();
    assert!(
        start.starts_with(&format!("<30>relight[{pid}]: ")) && start.contains("listening on"),
        "{start:?}"
    );
    assert!(!start.ends_with('\n'), "{start:?}");
    assert_eq!(curl(&[&r.url("/a.txt")]).status, 200);
    let access = next();
    assert!(
        access.starts_with(&format!("<30>relight[{pid}]: 127.0.0.1 - - ["))
            && access.contains("\"GET /a.txt HTTP/1.1\" 200 2"),
        "{access:?}"
    );
    // An error is sent at its priority (err = 3: <27>).
    std::fs::write(
        &config,
        "[server]\nlisten = [\"127.0.0.1:1\"]\nthis is not toml\n",
    )
    .unwrap();
    signal(&r, nix::sys::signal::Signal::SIGUSR1);
    let mut seen = Vec::new();
    loop {
        let line = next();
        if line.starts_with(&format!("<27>relight[{pid}]: ")) {
            assert!(line.contains("not reloading"), "{line:?}");
            break;
        }
        seen.push(line);
        assert!(seen.len() < 10, "no error line: {seen:?}");
    }
}

#[test]
fn a_lighttpd_conf_with_use_syslog_logs_to_syslog() {
    let www = TempDir::new("www");
    let dir = TempDir::new("ltsys");
    let conf = dir.join("lighttpd.conf");
    std::fs::write(
        &conf,
        format!(
            "server.document-root = \"{}\"\nserver.port = 8080\nserver.modules = (\"mod_accesslog\")\n\
             server.errorlog-use-syslog = \"enable\"\naccesslog.use-syslog = \"enable\"\n\
             accesslog.filename = \"/var/log/nowhere.log\"\n",
            www.path().display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-p", "-f"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = std::process::Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-tt", "-f"])
        .arg(&conf)
        .output()
        .unwrap();
    // Both keys are implemented: -tt (unimplemented keys are errors) passes.
    assert!(
        t.status.success(),
        "{}{}",
        String::from_utf8_lossy(&t.stdout),
        String::from_utf8_lossy(&t.stderr)
    );
}

#[test]
fn under_the_journal_lines_carry_their_priority_and_no_timestamp() {
    let www = TempDir::new("www");
    let dir = TempDir::new("journal");
    let port = free_port();
    let config = dir.join("relight.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\ndocument_root = \"{}\"\n",
            www.path().display()
        ),
    )
    .unwrap();
    let stderr = dir.join("stderr");
    // As systemd starts a service whose stderr is the journal: JOURNAL_STREAM names stderr.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("JOURNAL_STREAM=$(stat -L -c %d:%i /dev/stderr) exec \"$0\" -D -f \"$1\"")
        .arg(env!("CARGO_BIN_EXE_relight"))
        .arg(&config)
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&stderr).unwrap();
    let first = text.lines().next().unwrap_or_default().to_owned();
    assert!(
        first.starts_with("<6>") && first.contains("listening on"),
        "{text:?}"
    );
    // No timestamp of relight's own (the journal stamps lines): not "<6>2026-12-03T...".
    assert!(
        !first[3..].starts_with(|c: char| c.is_ascii_digit()),
        "{first:?}"
    );
}

#[test]
fn browsers_get_a_status_page_with_every_slot_and_a_restart_timeline() {
    let www = TempDir::new("www");
    let sock_dir = TempDir::new("sock");
    let echo = c_peer("fcgi_echo");
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[fastcgi]]\nname = \"app\"\nmatch = [\"/app\"]\ncommand = [\"{}\"]\nsocket = \"{}\"\nprocs = 2\n",
            echo.display(),
            sock_dir.join("app.sock").display()
        ),
    );
    let pid = backend_pids(&r)[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let browser = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let end = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let got = curl(&["-H", browser, &r.url("/server-status")]);
        assert_eq!(got.status, 200);
        assert_eq!(
            got.header("content-type").as_deref(),
            Some("text/html; charset=utf-8")
        );
        let text = got.text();
        if text.contains("2/2 processes up") || Instant::now() > end {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(page.contains("2/2 processes up"), "{page}");
    assert!(
        page.contains("<meta http-equiv=\"refresh\" content=\"5\">"),
        "{page}"
    );
    // A row per slot, each with its process.
    for slot in [0, 1] {
        assert!(
            page.contains(&format!(
                "<tr><td class=\"n\">{slot}</td><td><span class=\"state ok\">"
            )),
            "slot {slot}: {page}"
        );
    }
    // The death: in its slot's last exit (pid and why) and as a mark on the timeline.
    assert!(
        page.contains(&format!("pid {pid} signal (signal SIGKILL")),
        "{page}"
    );
    assert!(page.contains("<td>1 signal</td>"), "{page}");
    assert_eq!(page.matches("<circle ").count(), 1, "{page}");
    assert!(
        page.contains("<svg ") && !page.contains("<script"),
        "{page}"
    );
    // JSON stays for clients that ask for nothing in particular, and for ?json.
    let json = curl(&[&r.url("/server-status")]);
    assert_eq!(
        json.header("content-type").as_deref(),
        Some("application/json")
    );
    let json = curl(&["-H", browser, &r.url("/server-status?json")]);
    assert!(json.text().starts_with("{\"server\":"), "{}", json.text());
}

#[test]
fn the_error_log_can_be_json_lines() {
    let www = TempDir::new("www");
    let r = Relight::start(www.path(), "error_log_format = \"json\"", "");
    // A request for a file that is not there is logged by nothing; a bad reload is.
    std::fs::write(r.dir.join("relight.toml"), "[server]\nnot toml at all\n").unwrap();
    signal(&r, nix::sys::signal::Signal::SIGUSR1);
    let end = Instant::now() + Duration::from_secs(5);
    let mut log = r.error_log();
    while !log.contains("not reloading") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        log = r.error_log();
    }
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 2, "{log}");
    for l in &lines {
        assert!(
            l.starts_with("{\"time\":\"") && l.ends_with('}'),
            "not a JSON line: {l}"
        );
    }
    assert!(
        lines[0].contains("\"level\":\"INFO\",\"message\":\"relight ")
            && lines[0].contains("listening on http://127.0.0.1:"),
        "{}",
        lines[0]
    );
    let bad = lines.iter().find(|l| l.contains("not reloading")).unwrap();
    assert!(bad.contains("\"level\":\"ERROR\""), "{bad}");
    // Every line parses as JSON (python3's parser, not ours).
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys\nfor l in sys.stdin: json.loads(l)\nprint('ok')",
        ])
        .stdin(std::fs::File::open(r.dir.join("error.log")).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_upgrade_hands_the_service_to_the_new_process_with_mainpid() {
    let www = TempDir::new("www");
    std::fs::write(www.join("a.txt"), "a\n").unwrap();
    let manager = Manager::new();
    // No spawned backend: relight has no reaper of its own then, and waits for the new process
    // itself.
    let mut r = Relight::start_env(
        www.path(),
        "",
        "",
        &[("NOTIFY_SOCKET", manager.path.as_os_str())],
    );
    assert_eq!(manager.next("READY", Duration::from_secs(5)), "READY=1");
    signal(&r, nix::sys::signal::Signal::SIGUSR2);
    let msg = manager.until("MAINPID", Duration::from_secs(15), |m| {
        m.starts_with("MAINPID=")
    });
    let new: i32 = msg["MAINPID=".len()..].trim().parse().unwrap();
    // Stopped however the test ends: it is not this test's child.
    struct Stop(i32);
    impl Drop for Stop {
        fn drop(&mut self) {
            stop_pid(self.0);
        }
    }
    let _stop = Stop(new);
    assert_ne!(new, r.proc.pid() as i32);
    let status = r
        .proc
        .wait_exit(Duration::from_secs(15))
        .expect("the old relight exits");
    assert!(status.success(), "{status}");
    // The old one does not say it stops, and the new one does not say READY (it is not the
    // main process until MAINPID=, and the service never stopped being ready).
    let mut after = Vec::new();
    manager
        .sock
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = manager.sock.recv(&mut buf) {
        after.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(
        !after
            .iter()
            .any(|m| m.contains("STOPPING=1") || m.contains("READY=1")),
        "{after:?}"
    );
    assert_eq!(curl(&[&r.url("/a.txt")]).text(), "a\n");
    assert!(
        r.error_log()
            .contains(&format!("SIGUSR2: pid {new} accepts"))
    );
}
