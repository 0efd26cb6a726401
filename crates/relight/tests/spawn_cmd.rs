//! `relight spawn` behind nginx, as nginx users would run it instead of spawn-fcgi + multiwatch.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn nginx_in_front_of_relight_spawn() {
    let dir = TempDir::new("spawn");
    let echo = dir.join("echo");
    std::fs::copy(c_peer("fcgi_echo"), &echo).unwrap();
    let sock = dir.join("app.sock");
    let mut spawner = Proc {
        child: Command::new(env!("CARGO_BIN_EXE_relight"))
            .args(["spawn", "--procs", "2", "--socket-mode", "0666", "--socket"])
            .arg(&sock)
            .arg("--")
            .arg(&echo)
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("spawn.log")).unwrap(),
            ))
            .spawn()
            .unwrap(),
    };
    wait_for(Duration::from_secs(5), "the socket", || {
        sock.exists().then_some(())
    });
    let echo_s = echo.to_string_lossy().into_owned();
    let procs = || -> Vec<i32> {
        ps(&echo_s)
            .iter()
            .filter(|e| e.cmd.starts_with(&echo_s))
            .map(|e| e.pid)
            .collect()
    };
    let port = free_port();
    let _nginx = start_nginx(dir.path(), port, &format!("unix:{}", sock.display()));
    let url = format!("http://127.0.0.1:{port}/x?mode=pid");
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let resp = curl(&[&url]);
        assert_eq!(resp.status, 200, "{}", resp.text());
        pids.insert(resp.text());
    }
    // Kill every process: the spawner brings them back on the same socket.
    let before = procs();
    assert_eq!(before.len(), 2);
    for p in &before {
        let _ = Command::new("kill")
            .args(["-SEGV", &p.to_string()])
            .status();
    }
    wait_for(
        Duration::from_secs(2),
        "service through nginx again",
        || (curl(&["-m", "1", &url]).status == 200).then_some(()),
    );
    // The first one back serves; the other may still be starting.
    let after = wait_for(Duration::from_secs(5), "both processes back", || {
        Some(procs()).filter(|p| p.len() == 2)
    });
    assert!(after.iter().all(|p| !before.contains(p)));
    spawner.signal("TERM");
    spawner
        .wait_exit(Duration::from_secs(10))
        .expect("relight spawn exits");
    assert!(procs().is_empty(), "processes left after SIGTERM");
    assert!(!sock.exists(), "socket file removed");
    let log = std::fs::read_to_string(dir.join("spawn.log")).unwrap();
    assert!(log.contains("ended: signal SIGSEGV"), "{log}");
}

#[test]
fn spawn_refuses_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["spawn", "--socket", "/tmp/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args([
            "spawn",
            "--socket",
            "/tmp/x",
            "--descendants",
            "maybe",
            "--",
            "/bin/true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--descendants \"maybe\""));
}

/// A process of `relight spawn` killed while it ran is restarted at once, as under
/// `relight -f`, though relight does not see its requests: a run of more than a moment is not
/// a crash loop (before: every such kill counted as an early crash and backed off, six kills
/// 0.5 s apart left the backend unavailable for 2.7 s behind nginx).
#[test]
fn killed_processes_of_relight_spawn_come_back_at_once() {
    let dir = TempDir::new("spawn-kill");
    let echo = dir.join("echo");
    std::fs::copy(c_peer("fcgi_echo"), &echo).unwrap();
    let sock = dir.join("app.sock");
    let mut spawner = Proc {
        child: Command::new(env!("CARGO_BIN_EXE_relight"))
            .args(["spawn", "--procs", "1", "--socket-mode", "0666", "--socket"])
            .arg(&sock)
            .arg("--")
            .arg(&echo)
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("spawn.log")).unwrap(),
            ))
            .spawn()
            .unwrap(),
    };
    wait_for(Duration::from_secs(5), "the socket", || {
        sock.exists().then_some(())
    });
    let port = free_port();
    let _nginx = start_nginx(dir.path(), port, &format!("unix:{}", sock.display()));
    let url = format!("http://127.0.0.1:{port}/x?mode=pid");
    let echo_s = echo.to_string_lossy().into_owned();
    for _ in 0..6 {
        let pid = wait_for(Duration::from_secs(10), "a process serving", || {
            let r = curl(&["-m", "2", &url]);
            (r.status == 200).then(|| r.text().trim().trim_start_matches("pid=").to_string())
        });
        // It has run a while (and served): then it dies.
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill").args(["-SEGV", &pid]).status();
        wait_for(Duration::from_secs(5), "its death", || {
            (!std::path::Path::new(&format!("/proc/{pid}")).exists()
                || ps(&echo_s).iter().all(|p| p.pid.to_string() != pid))
            .then_some(())
        });
    }
    assert_eq!(curl(&["-m", "5", &url]).status, 200);
    spawner.signal("TERM");
    spawner
        .wait_exit(Duration::from_secs(10))
        .expect("relight spawn exits");
    let log = std::fs::read_to_string(dir.join("spawn.log")).unwrap();
    let deaths: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ended: signal SIGSEGV"))
        .collect();
    assert_eq!(deaths.len(), 6, "{log}");
    assert!(
        deaths.iter().all(|l| l.ends_with("restarting now")),
        "{log}"
    );
}

/// While every process of `relight spawn` is restarting (here a program that exits at once),
/// relight answers the web server's requests itself: 503 with Retry-After, at once (before:
/// nginx's requests waited on a socket nobody accepted, for its whole timeout).
#[test]
fn a_backend_that_cannot_run_gets_nginx_a_fast_503() {
    let dir = TempDir::new("spawn-down");
    let sock = dir.join("app.sock");
    let mut spawner = Proc {
        child: Command::new(env!("CARGO_BIN_EXE_relight"))
            .args(["spawn", "--procs", "1", "--socket-mode", "0666", "--socket"])
            .arg(&sock)
            .args(["--", "/bin/false"])
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("spawn.log")).unwrap(),
            ))
            .spawn()
            .unwrap(),
    };
    wait_for(Duration::from_secs(5), "the socket", || {
        sock.exists().then_some(())
    });
    let port = free_port();
    let _nginx = start_nginx(dir.path(), port, &format!("unix:{}", sock.display()));
    let url = format!("http://127.0.0.1:{port}/x");
    // Give the program time to fail and the slot to back off.
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        let resp = curl(&["-m", "5", &url]);
        assert_eq!(resp.status, 503, "{}", resp.text());
        let retry: u64 = resp
            .header("retry-after")
            .expect("a Retry-After")
            .parse()
            .unwrap();
        assert!(retry >= 1, "{retry}");
        assert!(resp.text().contains("every process is restarting"));
    }
    spawner.signal("TERM");
    spawner
        .wait_exit(Duration::from_secs(10))
        .expect("relight spawn exits");
    let log = std::fs::read_to_string(dir.join("spawn.log")).unwrap();
    assert!(log.contains("ended: exit code 1"), "{log}");
}
