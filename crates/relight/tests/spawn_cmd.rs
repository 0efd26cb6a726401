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
