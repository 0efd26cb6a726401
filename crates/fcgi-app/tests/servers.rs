//! The examples behind real web servers, started the ways they will be: by `cgi-fcgi`, by
//! nginx in front of `relight spawn`, by lighttpd 1.4 with `bin-path` (the seed's setup), by
//! relight. And the seed case fixed from the application's side: a program that started
//! background children dies, and lighttpd brings it back, because no child holds its socket.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::*;

/// The examples and relight, built with the cargo running the tests.
fn bin(name: &str) -> PathBuf {
    let dir = cargo_build(
        env!("CARGO"),
        env!("CARGO_TARGET_TMPDIR"),
        &[
            "-q",
            "-p",
            "fcgi-app",
            "--examples",
            "--features",
            "fcgi-app/tower",
            "-p",
            "relight",
            "--bin",
            "relight",
        ],
    );
    if name == "relight" {
        dir.join("relight")
    } else {
        dir.join("examples").join(name)
    }
}

const EXAMPLES: [&str; 4] = ["hello", "echo", "spawn", "axum"];

/// A request for `example` through a web server at `base`, and what its answer must contain.
fn check(example: &str, base: &str) {
    let (args, want): (Vec<String>, &str) = match example {
        "hello" => (vec![format!("{base}/hello")], "Hello from fcgi-app, pid "),
        "echo" => (
            vec!["-d".into(), "a=1&b=2".into(), format!("{base}/echo/x?q=1")],
            "BODY=a=1&b=2",
        ),
        "spawn" => (vec![format!("{base}/spawn")], "spawned (pid "),
        "axum" => (
            vec!["-d".into(), "ping".into(), format!("{base}/echo")],
            "echo: ping",
        ),
        _ => unreachable!(),
    };
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = curl(&a);
    assert_eq!(r.status, 200, "{example} at {base}: {}", r.text());
    assert!(r.text().contains(want), "{example} at {base}: {}", r.text());
    if example == "echo" {
        let p = r.params();
        assert_eq!(p.get("REQUEST_METHOD").map(String::as_str), Some("POST"));
        assert_eq!(p.get("QUERY_STRING").map(String::as_str), Some("q=1"));
        assert_eq!(p.get("ROLE").map(String::as_str), Some("Responder"));
    }
}

/// Kills the `sleep 100000` processes the spawn example started (they outlive it on purpose).
fn kill_sleeps(before: &[PsEntry]) {
    for p in ps("sleep 100000") {
        if !before.contains(&p) && p.cmd == "sleep 100000" {
            let _ = Command::new("kill")
                .args(["-9", &p.pid.to_string()])
                .status();
        }
    }
}

/// The sockets a process holds open.
fn sockets_of(pid: i32) -> Vec<String> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .filter(|l| l.starts_with("socket:"))
        .collect()
}

#[test]
fn cgi_fcgi_talks_to_each_example_standalone() {
    let before = ps("sleep 100000");
    for example in EXAMPLES {
        let dir = TempDir::new("fa-cgi");
        let sock = dir.join("app.sock");
        let _app = Proc {
            child: Command::new(bin(example))
                .arg("--bind")
                .arg(format!("unix:{}", sock.display()))
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        };
        wait_for(Duration::from_secs(5), "the socket", || {
            sock.exists().then_some(())
        });
        let mut cmd = Command::new("cgi-fcgi");
        cmd.args(["-bind", "-connect"])
            .arg(&sock)
            .env_clear()
            .env("REQUEST_METHOD", "POST")
            .env("REQUEST_URI", "/echo")
            .env("SCRIPT_NAME", "/echo")
            .env("CONTENT_LENGTH", "4")
            .env("CONTENT_TYPE", "text/plain")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("cgi-fcgi (libfcgi-bin) is installed");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"ping").unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.starts_with("Status: 200 OK\r\n"), "{example}: {text}");
        let want = match example {
            "hello" => "Hello from fcgi-app",
            "echo" => "BODY=ping",
            "spawn" => "spawned",
            _ => "echo: ping",
        };
        assert!(text.contains(want), "{example}: {text}");
    }
    kill_sleeps(&before);
}

#[test]
fn nginx_in_front_of_relight_spawn_runs_each_example() {
    let before = ps("sleep 100000");
    for example in EXAMPLES {
        let dir = TempDir::new("fa-nginx");
        let sock = dir.join("app.sock");
        let _spawner = Proc {
            child: Command::new(bin("relight"))
                .args(["spawn", "--procs", "2", "--socket-mode", "0666", "--socket"])
                .arg(&sock)
                .arg("--")
                .arg(bin(example))
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        };
        wait_for(Duration::from_secs(5), "the socket", || {
            sock.exists().then_some(())
        });
        let port = free_port();
        let _nginx = start_nginx(dir.path(), port, &format!("unix:{}", sock.display()));
        for _ in 0..3 {
            check(example, &format!("http://127.0.0.1:{port}"));
        }
    }
    kill_sleeps(&before);
}

fn lighttpd_conf(dir: &Path, port: u16, program: &Path) -> PathBuf {
    let cfg = dir.join("lighttpd.conf");
    std::fs::write(
        &cfg,
        format!(
            "server.modules = ( \"mod_fastcgi\" )\nserver.document-root = \"{d}\"\nserver.port = {port}\nserver.bind = \"127.0.0.1\"\nserver.errorlog = \"{d}/error.log\"\n\
             fastcgi.server = ( \"/\" => (( \"bin-path\" => \"{p}\", \"socket\" => \"{d}/app.sock\", \"max-procs\" => 1, \"check-local\" => \"disable\" )) )\n",
            d = dir.display(),
            p = program.display()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn lighttpd_spawns_each_example_with_bin_path() {
    let before = ps("sleep 100000");
    for example in EXAMPLES {
        let dir = TempDir::new("fa-lt");
        let port = free_port();
        let _lighttpd = start_lighttpd(&lighttpd_conf(dir.path(), port, &bin(example)), port);
        check(example, &format!("http://127.0.0.1:{port}"));
    }
    kill_sleeps(&before);
}

#[test]
fn relight_spawns_each_example() {
    let before = ps("sleep 100000");
    for example in EXAMPLES {
        let dir = TempDir::new("fa-rl");
        let port = free_port();
        let cfg = dir.join("relight.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = [\"127.0.0.1:{port}\"]\ndocument_root = \"{d}\"\n\n[[fastcgi]]\nname = \"{example}\"\nmatch = [\"/\"]\ncommand = [\"{p}\"]\nsocket = \"{d}/app.sock\"\nprocs = 2\n",
                d = dir.path().display(),
                p = bin(example).display()
            ),
        )
        .unwrap();
        let _relight = Proc {
            child: Command::new(bin("relight"))
                .args(["-D", "-f"])
                .arg(&cfg)
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        };
        wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(10));
        check(example, &format!("http://127.0.0.1:{port}"));
    }
    kill_sleeps(&before);
}

#[test]
fn the_seed_case_is_fixed_from_the_application_side() {
    let before = ps("sleep 100000");
    let dir = TempDir::new("fa-seed");
    let port = free_port();
    let spawn = bin("spawn");
    let lighttpd = start_lighttpd(&lighttpd_conf(dir.path(), port, &spawn), port);
    // lighttpd runs in its own process group, and so does everything it starts (other tests
    // run the same example at the same time).
    let group = lighttpd.pid() as i32;
    let url = format!("http://127.0.0.1:{port}/spawn");
    let first = curl(&[&url]);
    assert_eq!(first.status, 200, "{}", first.text());
    let spawn_s = spawn.to_string_lossy().into_owned();
    let app_pid = || {
        ps(&spawn_s)
            .into_iter()
            .find(|p| p.cmd.starts_with(&spawn_s) && p.ppid == group)
            .map(|p| p.pid)
    };
    let pid = app_pid().expect("lighttpd started the example");
    // Both children — one from std::process::Command, one from system() — hold no socket.
    let sleeps: Vec<PsEntry> = ps("sleep 100000")
        .into_iter()
        .filter(|p| p.pgid == group && p.cmd == "sleep 100000")
        .collect();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    for s in &sleeps {
        assert_eq!(sockets_of(s.pid), Vec::<String>::new(), "sleep {}", s.pid);
        let stdin = std::fs::read_link(format!("/proc/{}/fd/0", s.pid)).unwrap();
        assert_eq!(stdin, PathBuf::from("/dev/null"), "its fd 0");
    }
    // The program crashes; its children live on. lighttpd must see it dead and restart it.
    // Rust's runtime handles SIGSEGV (to report stack overflows): a SIGSEGV sent with kill(2),
    // not caused by a fault, resets the handler and returns, so the next one is fatal. A real
    // fault crashes at once.
    wait_for(
        Duration::from_secs(5),
        "the example to die of SIGSEGV",
        || {
            let _ = Command::new("kill")
                .args(["-SEGV", &pid.to_string()])
                .status();
            std::thread::sleep(Duration::from_millis(50));
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            (stat.is_empty() || stat.contains(") Z ")).then_some(())
        },
    );
    let again = wait_for(
        Duration::from_secs(10),
        "lighttpd to restart the example",
        || {
            let r = curl(&["-m", "2", &url]);
            (r.status == 200).then_some(r)
        },
    );
    assert!(again.text().contains("spawned"), "{}", again.text());
    let new_pid = app_pid().expect("a new process");
    assert_ne!(new_pid, pid, "a new process answers");
    kill_sleeps(&before);
}

#[test]
fn the_same_check_catches_a_libfcgi_program() {
    // The contrast: a C libfcgi program whose system("sleep 100000 &") child keeps fd 0, the
    // listening socket, as in the field report. The check above would fail for it.
    let dir = TempDir::new("fa-libfcgi");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../relight/tests/peers/fcgi_echo.c");
    let echo = c_program(&src, &dir.join("fcgi_echo"));
    let port = free_port();
    let lighttpd = start_lighttpd(&lighttpd_conf(dir.path(), port, &echo), port);
    let group = lighttpd.pid() as i32;
    let r = curl(&[&format!("http://127.0.0.1:{port}/x?mode=bg")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let sleep = wait_for(
        Duration::from_secs(5),
        "the libfcgi program's child",
        || {
            ps("sleep 100000")
                .into_iter()
                .find(|p| p.pgid == group && p.cmd == "sleep 100000")
        },
    );
    let held = sockets_of(sleep.pid);
    let _ = Command::new("kill")
        .args(["-9", &sleep.pid.to_string()])
        .status();
    assert!(
        !held.is_empty(),
        "libfcgi's child holds the listening socket"
    );
}
