//! The CGI gateway against real scripts: shell, Perl, a compiled C program and php-cgi; the
//! environment side by side with lighttpd 1.4's mod_cgi; bodies of every size; scripts that
//! crash, hang, print no headers or 10 MB of them, flood stderr, or leave a background child
//! holding stdout; and after each, no process left behind.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// Writes an executable script `name` under `dir`.
fn script(dir: &Path, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Prints its environment as NAME=value lines, then its stdin after `body=`.
const ENV_CGI: &str =
    "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nenv\nprintf 'body='\ncat\n";

/// No process whose command line contains `needle` is left, within a few seconds (10: a clean
/// clone's first run compiles the C peers beside the tests on two cores); a failure names
/// what is left, its parent and its group.
fn none_left(needle: &str) {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = ps(needle);
        if left.is_empty() {
            return;
        }
        if std::time::Instant::now() > end {
            // The parent and the group's leader by command line too: what started it.
            let cmd = |pid: i32| cmdline(pid).unwrap_or_else(|| "gone".into());
            let what: Vec<String> = left
                .iter()
                .map(|e| {
                    format!(
                        "pid {} ppid {} ({}) pgid {} ({}): {}",
                        e.pid,
                        e.ppid,
                        cmd(e.ppid),
                        e.pgid,
                        cmd(e.pgid),
                        e.cmd
                    )
                })
                .collect();
            panic!("after 10 s, still running: {what:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn environment_matches_lighttpd_mod_cgi_side_by_side() {
    let www = docroot();
    script(www.path(), "cgi-bin/env.cgi", ENV_CGI);
    let dir = TempDir::new("lt");
    let lport = free_port();
    let conf = format!(
        "server.document-root = \"{root}\"\nserver.port = {lport}\nserver.bind = \"127.0.0.1\"\n\
         server.modules = (\"mod_cgi\")\nserver.errorlog = \"{dir}/error.log\"\n\
         cgi.assign = (\".cgi\" => \"\")\n",
        root = www.path().display(),
        dir = dir.path().display(),
    );
    std::fs::write(dir.join("lighttpd.conf"), conf).unwrap();
    let _lighttpd = start_lighttpd(&dir.join("lighttpd.conf"), lport);
    let r = Relight::start(www.path(), "", "[[cgi]]\nmatch = [\".cgi\"]\n");
    let cases: &[(&str, &[&str])] = &[
        ("/cgi-bin/env.cgi", &[]),
        ("/cgi-bin/env.cgi?a=b&c=%20d", &[]),
        ("/cgi-bin/env.cgi/extra/path?q=1", &[]),
        ("/cgi-bin/./env.cgi", &[]),
        (
            "/cgi-bin/env.cgi",
            &["-d", "abc=1", "-H", "Content-Type: text/x-test"],
        ),
        (
            "/cgi-bin/env.cgi",
            &[
                "-H",
                "Proxy: http://evil",
                "-H",
                "X-Custom: 1",
                "-H",
                "Cookie: a=1",
            ],
        ),
        (
            "/cgi-bin/env.cgi",
            &["-X", "PUT", "--data-binary", "0123456789"],
        ),
        ("/cgi-bin/env.cgi", &["-0"]),
    ];
    let comparable = |mut p: std::collections::BTreeMap<String, String>| {
        for k in ["REMOTE_PORT", "SERVER_PORT", "HTTP_HOST", "SERVER_SOFTWARE"] {
            p.remove(k);
        }
        p
    };
    for (path, args) in cases {
        let run = |base: String| {
            let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            a.push(format!("{base}{path}"));
            curl(&a.iter().map(String::as_str).collect::<Vec<_>>())
        };
        let theirs = run(format!("http://127.0.0.1:{lport}"));
        let ours = run(format!("http://127.0.0.1:{}", r.port));
        assert_eq!(theirs.status, 200, "lighttpd {path}: {}", theirs.text());
        assert_eq!(ours.status, 200, "relight {path}: {}", ours.text());
        assert_eq!(
            comparable(ours.params()),
            comparable(theirs.params()),
            "the environment for {path} {args:?} differs from lighttpd's"
        );
    }
}

/// A script gets exactly stdin, stdout and stderr, even from a relight that inherited a
/// descriptor left open by its parent: relight starts scripts with posix_spawn, which closes
/// nothing, so what it inherited is made close-on-exec when it starts.
#[test]
fn a_script_gets_only_its_three_descriptors() {
    let www = docroot();
    script(
        www.path(),
        "cgi-bin/fds.py",
        "#!/usr/bin/env python3\nimport os\nout = []\nfor f in os.listdir('/proc/self/fd'):\n    try:\n        out.append(f + ' ' + os.readlink('/proc/self/fd/' + f))\n    except OSError:\n        pass\nprint('Content-Type: text/plain\\n')\nprint('\\n'.join(sorted(out)))\n",
    );
    let r = Relight::start_inheriting_fd7(www.path(), "", "[[cgi]]\nmatch = [\"/cgi-bin/\"]\n");
    let relight_fds = std::fs::read_link(format!("/proc/{}/fd/7", r.proc.child.id()));
    assert!(
        relight_fds.is_ok_and(|p| p.ends_with("hostname")),
        "relight inherited fd 7 (the test's own premise)"
    );
    let resp = curl(&[&r.url("/cgi-bin/fds.py")]);
    assert_eq!(resp.status, 200, "{}", r.error_log());
    let text = String::from_utf8_lossy(&resp.body);
    let fds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(fd, _)| fd))
        .collect();
    assert_eq!(fds, ["0", "1", "2"], "the script's descriptors:\n{text}");
}

#[test]
fn shell_perl_c_and_php_cgi_scripts() {
    let www = docroot();
    script(
        www.path(),
        "cgi-bin/hello.sh.cgi",
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho 'X-From: sh'\necho\necho \"sh $QUERY_STRING\"\n",
    );
    script(
        www.path(),
        "cgi-bin/hello.pl",
        "print \"Status: 201 Made\\r\\nContent-Type: text/plain\\r\\n\\r\\nperl $ENV{REQUEST_METHOD}\\n\";\n",
    );
    let dir = TempDir::new("c");
    std::fs::write(
        dir.join("hello.c"),
        "#include <stdio.h>\n#include <stdlib.h>\nint main(void){const char*p=getenv(\"PATH_INFO\");\
         printf(\"Content-Type: text/plain\\n\\nc %s\\n\", p?p:\"-\");return 0;}\n",
    )
    .unwrap();
    let bin = c_program(&dir.join("hello.c"), &www.join("cgi-bin/hello.bin"));
    assert!(bin.exists());
    std::fs::write(
        www.join("hello.php"),
        "<?php header('X-Php: yes'); echo 'php ', $_SERVER['SCRIPT_NAME'], ' ', $_GET['x'] ?? '', \"\\n\";",
    )
    .unwrap();
    let r = Relight::start(
        www.path(),
        "",
        "[[cgi]]\nname = \"exec\"\nmatch = [\".cgi\", \".bin\"]\n\
         [[cgi]]\nname = \"perl\"\nmatch = [\".pl\"]\ninterpreter = \"/usr/bin/perl\"\n\
         [[cgi]]\nname = \"php\"\nmatch = [\".php\"]\ninterpreter = \"/usr/bin/php-cgi\"\n",
    );
    let sh = curl(&[&r.url("/cgi-bin/hello.sh.cgi?q=1")]);
    assert_eq!((sh.status, sh.text()), (200, "sh q=1\n".to_owned()));
    assert_eq!(sh.header("X-From").as_deref(), Some("sh"));
    let pl = curl(&["-X", "DELETE", &r.url("/cgi-bin/hello.pl")]);
    assert_eq!((pl.status, pl.text()), (201, "perl DELETE\n".to_owned()));
    let c = curl(&[&r.url("/cgi-bin/hello.bin/a/b")]);
    assert_eq!((c.status, c.text()), (200, "c /a/b\n".to_owned()));
    let php = curl(&[&r.url("/hello.php?x=7")]);
    assert_eq!(php.status, 200, "{}", php.text());
    assert_eq!(php.text(), "php /hello.php 7\n");
    assert_eq!(php.header("X-Php").as_deref(), Some("yes"));
    // A path that names no file is the static files' 404, not a script's.
    assert_eq!(curl(&[&r.url("/cgi-bin/missing.cgi")]).status, 404);
    none_left("hello.");
}

#[test]
fn request_bodies_of_0_1mib_and_100mib_with_memory_bounded() {
    let www = docroot();
    script(
        www.path(),
        "count.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nwc -c | tr -d ' \\n'\n",
    );
    let r = Relight::start(
        www.path(),
        "max_request_body = \"200M\"\n",
        "[[cgi]]\nmatch = [\".cgi\"]\n",
    );
    let empty = curl(&["-X", "POST", &r.url("/count.cgi")]);
    assert_eq!(empty.text(), "0");
    let tmp = TempDir::new("body");
    let f = tmp.join("1m");
    std::fs::write(&f, vec![b'x'; 1 << 20]).unwrap();
    let one = curl(&[
        "--data-binary",
        &format!("@{}", f.display()),
        &r.url("/count.cgi"),
    ]);
    assert_eq!(one.text(), (1u64 << 20).to_string());
    // Chunked: spooled first (CONTENT_LENGTH must be known), then fed.
    let chunked = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &format!("@{}", f.display()),
        &r.url("/count.cgi"),
    ]);
    assert_eq!(chunked.text(), (1u64 << 20).to_string());
    let before = r.rss_kib();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 104857600 /dev/zero | curl -s -S --max-time 60 -H 'Content-Length: 104857600' --data-binary @- {}",
            r.url("/count.cgi")
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut peak = before;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(r.rss_kib());
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "104857600");
    assert!(
        peak < before + 16 * 1024,
        "RSS grew from {before} KiB to {peak} KiB for a 100 MiB body"
    );
}

#[test]
fn broken_scripts_get_500_502_or_504_and_the_server_stays_up() {
    let www = docroot();
    script(www.path(), "crash.cgi", "#!/bin/sh\nkill -SEGV $$\n");
    script(www.path(), "silent.cgi", "#!/bin/sh\nexit 3\n");
    script(
        www.path(),
        "cut.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n'\nexit 0\n",
    );
    script(
        www.path(),
        "bighead.cgi",
        "#!/bin/sh\nprintf 'X-Big: '\nhead -c 10000000 /dev/zero | tr '\\0' a\nprintf '\\n\\nbody'\n",
    );
    script(www.path(), "hang.cgi", "#!/bin/sh\nexec sleep 300\n");
    script(
        www.path(),
        "slow.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nfirst\\n'\nexec sleep 301\n",
    );
    script(
        www.path(),
        "flood.cgi",
        "#!/bin/sh\ni=0; while [ $i -lt 3000 ]; do echo \"noise $i\" >&2; i=$((i+1)); done\nprintf 'Content-Type: text/plain\\n\\nok'\n",
    );
    script(
        www.path(),
        "nohead.cgi",
        "#!/bin/sh\necho 'just text, no header'\n",
    );
    std::fs::write(www.join("noexec.cgi"), "#!/bin/sh\necho x\n").unwrap();
    let r = Relight::start(
        www.path(),
        "",
        "[[cgi]]\nmatch = [\".cgi\"]\nrequest_timeout = \"2s\"\nkill_grace = \"1s\"\n",
    );
    assert_eq!(curl(&[&r.url("/crash.cgi")]).status, 500);
    assert_eq!(curl(&[&r.url("/silent.cgi")]).status, 500);
    assert_eq!(curl(&[&r.url("/cut.cgi")]).status, 500);
    assert_eq!(curl(&[&r.url("/bighead.cgi")]).status, 502);
    // Not executable: the start fails (lighttpd: 500 too).
    assert_eq!(curl(&[&r.url("/noexec.cgi")]).status, 500);
    let t = Instant::now();
    assert_eq!(curl(&[&r.url("/hang.cgi")]).status, 504);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Output, then silence past the request timeout: the response is cut off.
    let slow = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10", &r.url("/slow.cgi")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&slow.stdout), "first\n");
    assert_ne!(slow.status.code(), Some(0), "the cut-off must show");
    let flood = curl(&[&r.url("/flood.cgi")]);
    assert_eq!((flood.status, flood.text()), (200, "ok".to_owned()));
    // Output with no header block: all of it is the body (as lighttpd).
    let nohead = curl(&[&r.url("/nohead.cgi")]);
    assert_eq!(
        (nohead.status, nohead.text()),
        (200, "just text, no header\n".to_owned())
    );
    // Still serving.
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
    none_left("sleep 300");
    none_left("sleep 301");
    let log = r.error_log();
    assert!(
        log.contains("crash.cgi pid") && log.contains("signal SIGSEGV"),
        "{log}"
    );
    assert!(
        log.contains("silent.cgi pid") && log.contains("exit code 3"),
        "{log}"
    );
    assert!(
        log.contains("hang.cgi pid") && log.contains("request_timeout"),
        "{log}"
    );
    assert!(
        log.contains("flood.cgi pid") && log.contains("stderr: noise 0"),
        "{log}"
    );
    assert!(log.contains("stderr lines dropped"), "{log}");
}

#[test]
fn a_background_child_holding_stdout_does_not_hold_the_response_as_in_lighttpd() {
    let www = docroot();
    // The seed's bug in its CGI form: the script starts a child that keeps stdout open.
    script(
        www.path(),
        "bg.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nstarted\\n'\nsleep 4.1 &\n# Give the child the time to exec sleep, so the log names it (not the forked shell).\nsleep 0.2\nexit 0\n",
    );
    let dir = TempDir::new("lt");
    let lport = free_port();
    std::fs::write(
        dir.join("lighttpd.conf"),
        format!(
            "server.document-root = \"{}\"\nserver.port = {lport}\nserver.bind = \"127.0.0.1\"\n\
             server.modules = (\"mod_cgi\")\nserver.errorlog = \"{}/error.log\"\ncgi.assign = (\".cgi\" => \"\")\n",
            www.path().display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let _lighttpd = start_lighttpd(&dir.join("lighttpd.conf"), lport);
    let r = Relight::start(www.path(), "", "[[cgi]]\nmatch = [\".cgi\"]\n");

    let t = Instant::now();
    let ours = curl(&[&r.url("/bg.cgi")]);
    let ours_took = t.elapsed();
    assert_eq!((ours.status, ours.text()), (200, "started\n".to_owned()));
    assert!(
        ours_took < Duration::from_secs(2),
        "relight took {ours_took:?}"
    );
    // The child was in the script's process group: stopped when the script exited, and said so.
    none_left("sleep 4.1");
    let log = r.error_log();
    assert!(
        log.contains("bg.cgi pid")
            && log.contains("SIGTERM its process group")
            && log.contains("sleep 4"),
        "{log}"
    );

    let t = Instant::now();
    let theirs = curl(&[&format!("http://127.0.0.1:{lport}/bg.cgi")]);
    let theirs_took = t.elapsed();
    assert_eq!(theirs.text(), "started\n");
    assert!(
        theirs_took >= Duration::from_secs(3),
        "lighttpd held the response {theirs_took:?}: the comparison no longer shows the bug"
    );
}

#[test]
fn a_client_that_leaves_stops_its_script_and_max_procs_bounds_them() {
    let www = docroot();
    script(www.path(), "wait.cgi", "#!/bin/sh\nexec sleep 302\n");
    script(
        www.path(),
        "quick.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nquick'\n",
    );
    let r = Relight::start(
        www.path(),
        "",
        "[[cgi]]\nmatch = [\".cgi\"]\nmax_procs = 1\nqueue_timeout = \"1s\"\nkill_grace = \"1s\"\n",
    );
    let mut gone = curl_bg(&["--max-time", "3", &r.url("/wait.cgi")]);
    wait_for(Duration::from_secs(5), "the script runs", || {
        (!ps("sleep 302").is_empty()).then_some(())
    });
    // The one place is taken: the next request waits its queue timeout, then 503.
    let busy = curl(&[&r.url("/quick.cgi")]);
    assert_eq!(busy.status, 503);
    let _ = gone.wait();
    // The client left: its script is stopped, and the place is free again.
    none_left("sleep 302");
    let quick = curl(&[&r.url("/quick.cgi")]);
    assert_eq!((quick.status, quick.text()), (200, "quick".to_owned()));
    let log = r.error_log();
    assert!(log.contains("its client went away"), "{log}");
    // The status page and /metrics count them.
    let m = curl(&[&r.url("/metrics")]).text();
    for line in [
        "relight_cgi_runs_total{cgi=\"cgi\",outcome=\"refused\"} 1",
        "relight_cgi_runs_total{cgi=\"cgi\",outcome=\"stopped\"} 1",
        "relight_cgi_runs_total{cgi=\"cgi\",outcome=\"succeeded\"} 1",
        "relight_cgi_running{cgi=\"cgi\"} 0",
    ] {
        assert!(m.contains(line), "{line} not in\n{m}");
    }
    let status = curl(&[&r.url("/server-status")]).text();
    assert!(
        status.contains("\"cgi\":[{\"name\":\"cgi\",\"running\":0,\"max_procs\":1,\"started\":2"),
        "{status}"
    );
}

#[test]
fn an_unchanged_lighttpd_conf_runs_its_cgi_scripts() {
    let www = docroot();
    script(www.path(), "cgi-bin/env.cgi", ENV_CGI);
    script(
        www.path(),
        "cgi-bin/plain",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nplain'\n",
    );
    std::fs::write(
        www.join("hi.pl"),
        "print \"Content-Type: text/plain\\n\\nperl\";\n",
    )
    .unwrap();
    std::fs::write(www.join("cgi-bin/noexec"), "#!/bin/sh\necho x\n").unwrap();
    let dir = TempDir::new("conf");
    let port = free_port();
    let conf = dir.join("lighttpd.conf");
    std::fs::write(
        &conf,
        format!(
            "server.document-root = \"{}\"\nserver.port = {port}\nserver.bind = \"127.0.0.1\"\n\
             server.modules = (\"mod_cgi\")\nserver.errorlog = \"{}/error.log\"\n\
             cgi.assign = (\".pl\" => \"/usr/bin/perl\")\n\
             $HTTP[\"url\"] =~ \"^/cgi-bin/\" {{\n  cgi.assign = (\"\" => \"\")\n  cgi.execute-x-only = \"enable\"\n  cgi.limits = (\"read-timeout\" => 5)\n}}\n",
            www.path().display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-tt", "-f"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "relight -tt: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let r = Relight::start_file(&conf, port);
    let env = curl(&[&r.url("/cgi-bin/env.cgi/x?y=1")]);
    assert_eq!(env.status, 200, "{}", env.text());
    assert_eq!(env.params()["PATH_INFO"], "/x");
    assert_eq!(env.params()["SCRIPT_NAME"], "/cgi-bin/env.cgi");
    assert_eq!(curl(&[&r.url("/cgi-bin/plain")]).text(), "plain");
    assert_eq!(curl(&[&r.url("/hi.pl")]).text(), "perl");
    // Outside /cgi-bin/ only .pl runs: other files are static.
    assert_eq!(curl(&[&r.url("/hello.txt")]).text(), "hello, world\n");
    // execute-x-only in /cgi-bin/: a file without an execute bit is refused.
    assert_eq!(curl(&[&r.url("/cgi-bin/noexec")]).status, 403);
}

#[test]
fn local_redirects_are_served_internally_as_lighttpd_does() {
    let www = docroot();
    script(www.path(), "cgi-bin/env.cgi", ENV_CGI);
    script(
        www.path(),
        "cgi-bin/to-file.cgi",
        "#!/bin/sh\nprintf 'Location: /hello.txt\\n\\n'\n",
    );
    script(
        www.path(),
        "cgi-bin/to-script.cgi",
        "#!/bin/sh\nprintf 'Location: /cgi-bin/env.cgi?from=redirect\\n\\n'\n",
    );
    script(
        www.path(),
        "cgi-bin/to-self.cgi",
        "#!/bin/sh\nprintf 'Location: /cgi-bin/to-self.cgi\\n\\n'\n",
    );
    script(
        www.path(),
        "cgi-bin/explicit.cgi",
        "#!/bin/sh\nprintf 'Status: 302\\nLocation: /hello.txt\\n\\n'\n",
    );
    let dir = TempDir::new("lt");
    let conf = |port: u16, tag: &str, redir: &str| {
        format!(
            "server.document-root = \"{}\"\nserver.port = {port}\nserver.bind = \"127.0.0.1\"\n\
             server.modules = (\"mod_cgi\")\nserver.errorlog = \"{}/{tag}.log\"\n\
             cgi.assign = (\".cgi\" => \"\")\ncgi.local-redir = \"{redir}\"\n",
            www.path().display(),
            dir.path().display()
        )
    };
    let (lport, rport, offport) = (free_port(), free_port(), free_port());
    std::fs::write(dir.join("l.conf"), conf(lport, "l", "enable")).unwrap();
    std::fs::write(dir.join("r.conf"), conf(rport, "r", "enable")).unwrap();
    std::fs::write(dir.join("off.conf"), conf(offport, "off", "disable")).unwrap();
    let _lighttpd = start_lighttpd(&dir.join("l.conf"), lport);
    let _relight = Relight::start_file(&dir.join("r.conf"), rport);
    let off = Relight::start_file(&dir.join("off.conf"), offport);
    for (path, args) in [
        ("/cgi-bin/to-file.cgi", &[][..]),
        ("/cgi-bin/to-script.cgi", &["-d", "dropped=1"][..]),
        ("/cgi-bin/to-self.cgi", &[][..]),
        ("/cgi-bin/explicit.cgi", &[][..]),
    ] {
        let run = |port: u16| {
            let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            a.push(format!("http://127.0.0.1:{port}{path}"));
            curl(&a.iter().map(String::as_str).collect::<Vec<_>>())
        };
        let (theirs, ours) = (run(lport), run(rport));
        assert_eq!(ours.status, theirs.status, "{path}: {}", ours.text());
        assert_eq!(ours.header("Location"), theirs.header("Location"), "{path}");
        if path.contains("to-script") {
            let (o, t) = (ours.params(), theirs.params());
            for k in [
                "REQUEST_METHOD",
                "REQUEST_URI",
                "REDIRECT_URI",
                "QUERY_STRING",
                "SCRIPT_NAME",
                "CONTENT_LENGTH",
                "CONTENT_TYPE",
                "HTTP_CONTENT_LENGTH",
                "body",
            ] {
                assert_eq!(o.get(k), t.get(k), "{path}: {k}");
            }
            assert_eq!(o["REQUEST_METHOD"], "GET");
        } else if ours.status == 200 {
            assert_eq!(ours.text(), theirs.text(), "{path}");
        }
    }
    assert_eq!(
        curl(&[&format!("http://127.0.0.1:{rport}/cgi-bin/to-file.cgi")]).text(),
        "hello, world\n"
    );
    // Off (the default): the client gets the redirect.
    let plain = curl(&[&off.url("/cgi-bin/to-file.cgi")]);
    assert_eq!(plain.status, 302);
    assert_eq!(plain.header("Location").as_deref(), Some("/hello.txt"));
}

#[test]
fn a_websocket_reaches_a_cgi_script_with_upgrade() {
    let www = docroot();
    let peer = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ws_echo.cgi.py");
    std::fs::create_dir_all(www.join("ws")).unwrap();
    std::fs::copy(&peer, www.join("ws/echo.py")).unwrap();
    let rule = |upgrade: bool| {
        format!(
            "[[cgi]]\nmatch = [\".py\"]\ninterpreter = \"/usr/bin/python3\"\nupgrade = {upgrade}\n"
        )
    };
    let r = Relight::start(www.path(), "", &rule(true));
    let handshake =
        b"GET /ws/echo.py HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let mut s = ws_open(&r.addr(), "/ws/echo.py");
    for msg in [&b"hello"[..], b"through a cgi script"] {
        ws_echo(&mut s, [7, 1, 2, 3], msg);
    }
    // The client closes: the script gets EOF, ends, and nothing is left.
    drop(s);
    none_left("ws/echo.py");
    // Without upgrade = true the script's 101 is a broken answer (502), not an upgrade.
    let off = Relight::start(www.path(), "", &rule(false));
    let mut s = std::net::TcpStream::connect(off.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(handshake).unwrap();
    let mut reply = [0u8; 12];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"HTTP/1.1 502");
}

#[test]
fn shutdown_stops_running_scripts_and_what_they_started() {
    let www = docroot();
    // A script that started a child of its own, both still running at shutdown.
    script(
        www.path(),
        "long.cgi",
        "#!/bin/sh\nsleep 401 &\nprintf 'Content-Type: text/plain\\n\\nstarted\\n'\nexec sleep 402\n",
    );
    let mut r = Relight::start(
        www.path(),
        "",
        "[[cgi]]\nmatch = [\".cgi\"]\nkill_grace = \"1s\"\n",
    );
    let mut client = curl_bg(&["--max-time", "20", &r.url("/long.cgi")]);
    wait_for(
        Duration::from_secs(5),
        "the script and its child run",
        || (!ps("sleep 401").is_empty() && !ps("sleep 402").is_empty()).then_some(()),
    );
    r.proc.signal("TERM");
    assert!(
        r.proc.wait_exit(Duration::from_secs(10)).is_some(),
        "relight did not exit"
    );
    none_left("sleep 401");
    none_left("sleep 402");
    let _ = client.wait();
}
