//! SCGI and uwsgi against a real app (tests/peers/scgi_echo.py, Python's standard library):
//! spawned and supervised as FastCGI backends are, the variables side by side with lighttpd
//! 1.4's mod_scgi, both protocols' heads, status lines, and broken apps.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

fn app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/scgi_echo.py")
}

/// `[[scgi]]` spawning the app on a unix socket in `dir`.
fn scgi(dir: &Path, protocol: &str, procs: usize) -> String {
    format!(
        "[[scgi]]\nname = \"app\"\nmatch = [\"/app\"]\nprotocol = \"{protocol}\"\ncommand = [\"python3\", \"{}\"]\nsocket = \"{}\"\nprocs = {procs}\n",
        app().display(),
        dir.join("app.sock").display()
    )
}

#[test]
fn scgi_and_uwsgi_apps_spawned_and_supervised() {
    let www = docroot();
    for protocol in ["scgi", "uwsgi"] {
        let dir = TempDir::new("scgi");
        let r = Relight::start(www.path(), "", &scgi(dir.path(), protocol, 2));
        let get = curl(&[&r.url("/app/x?a=1")]);
        assert_eq!(get.status, 200, "{protocol}: {}", get.text());
        let p = get.params();
        assert_eq!(p["PROTOCOL_SEEN"], protocol);
        assert_eq!(p["SCRIPT_NAME"], "/app");
        assert_eq!(p["PATH_INFO"], "/x");
        assert_eq!(p["QUERY_STRING"], "a=1");
        assert_eq!(p["CONTENT_LENGTH"], "0");
        assert_eq!(
            p.get("SCGI").map(String::as_str),
            (protocol == "scgi").then_some("1")
        );
        let post = curl(&["--data-binary", "0123456789", &r.url("/app/post")]);
        assert!(post.text().ends_with("body=0123456789"), "{}", post.text());
        // A uwsgi app's status line, and a Status header.
        let nph = curl(&[&r.url("/app?nph")]);
        assert_eq!(nph.status, 201);
        assert_eq!(curl(&[&r.url("/app?status=404")]).status, 404);
        // Output with no header block: 502 (a CGI script would have it as a body).
        assert_eq!(curl(&[&r.url("/app?garbage")]).status, 502);
        // The app dies in a request: 502 at once, and a new process serves the next ones.
        assert_eq!(curl(&[&r.url("/app?crash")]).status, 502);
        for _ in 0..4 {
            assert_eq!(curl(&[&r.url("/app/again")]).status, 200);
        }
        let log = r.error_log();
        assert!(log.contains("exit code 3"), "{protocol}: {log}");
        assert!(
            log.contains(&format!("{protocol} backend \"app\"")),
            "{protocol}: {log}"
        );
    }
}

#[test]
fn scgi_variables_match_lighttpd_mod_scgi_side_by_side() {
    let www = docroot();
    let dir = TempDir::new("lt");
    let lport = free_port();
    // One lighttpd.conf for lighttpd and for relight (its port and socket apart).
    let conf = |port: u16, tag: &str| {
        format!(
            "server.document-root = \"{}\"\nserver.port = {port}\nserver.bind = \"127.0.0.1\"\n\
             server.modules = (\"mod_scgi\")\nserver.errorlog = \"{d}/{tag}.log\"\n\
             scgi.server = (\"/app\" => ((\"socket\" => \"{d}/{tag}.sock\", \"bin-path\" => \"/usr/bin/python3 {app}\", \"check-local\" => \"disable\", \"max-procs\" => 1)))\n",
            www.path().display(),
            d = dir.path().display(),
            app = app().display(),
        )
    };
    std::fs::write(dir.join("lighttpd.conf"), conf(lport, "lt")).unwrap();
    let _lighttpd = start_lighttpd(&dir.join("lighttpd.conf"), lport);
    let r = Relight::start(www.path(), "", &scgi(dir.path(), "scgi", 1));
    let rport = free_port();
    std::fs::write(dir.join("relight.conf"), conf(rport, "rl")).unwrap();
    let from_conf = Relight::start_file(&dir.join("relight.conf"), rport);
    // Checked by `relight -tt` as well: nothing in it is unsupported.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-tt", "-f"])
        .arg(dir.join("relight.conf"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let comparable = |mut p: std::collections::BTreeMap<String, String>| {
        for k in ["REMOTE_PORT", "SERVER_PORT", "HTTP_HOST", "SERVER_SOFTWARE"] {
            p.remove(k);
        }
        p
    };
    let cases: &[(&str, &[&str])] = &[
        ("/app", &[]),
        ("/app/x/y?q=1", &[]),
        ("/app?a=b&c=%20d", &[]),
        (
            "/app/post",
            &["-d", "abc=1", "-H", "Content-Type: text/x-test"],
        ),
        (
            "/app/h",
            &[
                "-H",
                "Proxy: http://evil",
                "-H",
                "X-Custom: 1",
                "-H",
                "Cookie: a=1",
            ],
        ),
    ];
    for (path, args) in cases {
        let run = |base: String| {
            let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            a.push(format!("{base}{path}"));
            curl(&a.iter().map(String::as_str).collect::<Vec<_>>())
        };
        let theirs = run(format!("http://127.0.0.1:{lport}"));
        assert_eq!(theirs.status, 200, "lighttpd {path}: {}", theirs.text());
        for port in [r.port, from_conf.port] {
            let ours = run(format!("http://127.0.0.1:{port}"));
            assert_eq!(ours.status, 200, "relight {path}: {}", ours.text());
            assert_eq!(
                comparable(ours.params()),
                comparable(theirs.params()),
                "the SCGI variables for {path} {args:?} differ from lighttpd's"
            );
        }
    }
}

#[test]
fn debians_uwsgi_server_spawned_and_supervised() {
    let www = docroot();
    let dir = TempDir::new("uwsgi");
    std::fs::write(
        dir.join("app.py"),
        "def application(environ, start_response):\n\
         \x20   body = environ['wsgi.input'].read()\n\
         \x20   out = ''.join(f'{k}={v}\\n' for k, v in sorted(environ.items()) if k.isupper()) + 'body=' + body.decode()\n\
         \x20   start_response('201 Created', [('Content-Type', 'text/plain'), ('X-App', 'uwsgi')])\n\
         \x20   return [out.encode()]\n",
    )
    .unwrap();
    // uWSGI takes the slot's socket from fd 0 ("uwsgi socket 0 inherited"), as from lighttpd.
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[scgi]]\nname = \"wsgi\"\nmatch = [\"/py\"]\nprotocol = \"uwsgi\"\n\
             command = [\"/usr/bin/uwsgi_python3\", \"--wsgi-file\", \"{}\", \"--processes\", \"1\"]\n\
             socket = \"{}\"\nprocs = 1\n",
            dir.join("app.py").display(),
            dir.join("uw.sock").display()
        ),
    );
    let got = curl(&["--data-binary", "posted", &r.url("/py/a/b?q=2")]);
    assert_eq!(got.status, 201, "{}", got.text());
    assert_eq!(got.header("X-App").as_deref(), Some("uwsgi"));
    let p = got.params();
    assert_eq!(p["SCRIPT_NAME"], "/py");
    assert_eq!(p["PATH_INFO"], "/a/b");
    assert_eq!(p["QUERY_STRING"], "q=2");
    assert_eq!(p["body"], "posted");
    // Killed, it is restarted on the same socket, and serves again.
    let pids: Vec<i32> = ps("uwsgi_python3")
        .iter()
        .map(|e| e.pid)
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.contains(&*dir.path().to_string_lossy()))
        })
        .collect();
    assert_eq!(pids.len(), 1, "{pids:?}");
    let _ = Command::new("kill")
        .args(["-KILL", &pids[0].to_string()])
        .status();
    wait_for(Duration::from_secs(10), "uWSGI serves again", || {
        (curl(&[&r.url("/py/again")]).status == 201).then_some(())
    });
    assert!(
        r.error_log().contains("signal SIGKILL"),
        "{}",
        r.error_log()
    );
}
