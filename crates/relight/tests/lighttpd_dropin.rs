//! lighttpd users switch by changing the binary: the same lighttpd.conf under lighttpd 1.4 and
//! under relight, compared side by side; an embedded device's configuration with the field
//! report's program; the command line lighttpd users type.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A lighttpd.conf for `port`, with the echo program spawned for "/app" and ".php".
fn conf(dir: &Path, www: &Path, port: u16, echo: &Path) -> String {
    format!(
        r#"server.modules = ( "mod_access", "mod_alias", "mod_rewrite", "mod_redirect", "mod_setenv", "mod_fastcgi", "mod_indexfile", "mod_staticfile" )
setenv.add-response-header = ( "X-Frame-Options" => "DENY" )
setenv.add-environment = ( "APP_MODE" => "test" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
server.max-worker = 4
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".txt" => "text/plain" )
url.access-deny = ( "~", ".inc" )
alias.url = ( "/docs/" => "{www}/aliased/" )
url.redirect = ( "^/legacy/(.*)$" => "/hello.txt?from=$1" )
url.rewrite-once = ( "^/pretty/([a-z]+)$" => "/app/rewritten?name=$1", "^/short$" => "/hello.txt" )
static-file.exclude-extensions = ( ".php", ".fcgi" )
fastcgi.server = (
  "/secure/" => (( "mode" => "authorizer", "socket" => "{dir}/auth.sock", "bin-path" => "{echo}", "max-procs" => 1, "check-local" => "disable" )),
  "/app" => (( "socket" => "{dir}/app.sock", "bin-path" => "{echo}", "max-procs" => 2, "check-local" => "disable",
               "x-sendfile" => "enable", "x-sendfile-docroot" => ( "{www}/aliased" ) )),
  ".php" => (( "socket" => "{dir}/php.sock", "bin-path" => "{echo}", "max-procs" => 1 )),
)
"#,
        www = www.display(),
        dir = dir.display(),
        echo = echo.display(),
    )
}

/// The same request (`curl ARGS URL`) to lighttpd on `pl` and to relight on `pr`: (lighttpd's
/// answer, relight's).
fn both(pl: u16, pr: u16, path: &str, args: &[&str]) -> (CurlResponse, CurlResponse) {
    let run = |port: u16| {
        let url = format!("http://127.0.0.1:{port}{path}");
        let mut a = args.to_vec();
        a.push(&url);
        curl(&a)
    };
    (run(pl), run(pr))
}

fn comparable(
    mut p: std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    for k in ["REMOTE_PORT", "SERVER_PORT", "HTTP_HOST", "SERVER_SOFTWARE"] {
        p.remove(k);
    }
    p
}

#[test]
fn same_lighttpd_conf_same_answers() {
    let www = docroot();
    std::fs::write(www.join("backup.html~"), "old").unwrap();
    std::fs::write(www.join("secret.inc"), "secret").unwrap();
    std::fs::write(www.join("raw.fcgi"), "binary").unwrap();
    std::fs::create_dir_all(www.join("secure")).unwrap();
    std::fs::write(www.join("secure/hello.txt"), "behind the authorizer\n").unwrap();
    std::fs::write(www.join("secure/info.php"), "<?php\n").unwrap();
    let aliased = www.join("aliased");
    std::fs::create_dir_all(&aliased).unwrap();
    std::fs::write(aliased.join("a.txt"), "from the alias").unwrap();
    let echo = c_peer("fcgi_echo");
    let (dl, dr) = (TempDir::new("lt-diff"), TempDir::new("rl-diff"));
    let (pl, pr) = (free_port(), free_port());
    std::fs::write(
        dl.join("lighttpd.conf"),
        conf(dl.path(), www.path(), pl, &echo),
    )
    .unwrap();
    std::fs::write(
        dr.join("lighttpd.conf"),
        conf(dr.path(), www.path(), pr, &echo),
    )
    .unwrap();
    let _lighttpd = start_lighttpd(&dl.join("lighttpd.conf"), pl);
    let relight = Relight::start_file(&dr.join("lighttpd.conf"), pr);

    let hello = curl(&[&format!("http://127.0.0.1:{pl}/hello.txt")]);
    let etag = hello.header("etag").unwrap();
    let _ = etag;
    let cases: &[(&str, &[&str])] = &[
        ("/app", &[]),
        ("/app/x/y?q=1", &[]),
        ("/dir/script.php/extra?z=9", &[]),
        ("/app/post", &["-d", "a=b"]),
        ("/", &[]),
        ("/hello.txt", &[]),
        ("/hello.txt", &["-H", "Range: bytes=0-4"]),
        ("/hello.txt", &["-H", "Range: bytes=100-200"]),
        ("/nope.txt", &[]),
        ("/backup.html~", &[]),
        ("/secret.inc", &[]),
        ("/raw.fcgi", &[]),
        ("/nothere.php", &[]),
        ("/dir", &[]),
        ("/docs/a.txt", &[]),
        ("/legacy/abc", &[]),
        ("/pretty/foo", &[]),
        ("/short", &[]),
        ("/app/dl?mode=sendfile&path={ALIASED}/a.txt", &[]),
        ("/app/dl?mode=sendfile&path={WWW}/hello.txt", &[]),
        ("/app/dl?mode=sendfile&path={ALIASED}/nothere.txt", &[]),
        ("/secure/hello.txt?allow", &[]),
        ("/secure/hello.txt", &[]),
        ("/secure/info.php?allow", &["-d", "x=1"]),
        ("/secure/info.php", &[]),
        ("/docs/missing.txt", &[]),
    ];
    for (path, args) in cases {
        let path = &path
            .replace("{ALIASED}", &aliased.to_string_lossy())
            .replace("{WWW}", &www.path().to_string_lossy());
        let (theirs, ours) = both(pl, pr, path, args);
        assert_eq!(
            ours.status,
            theirs.status,
            "status of {path} {args:?}: lighttpd {} / relight {}",
            theirs.text(),
            ours.text()
        );
        for h in ["x-frame-options", "location", "x-denied"] {
            // Kept on purpose: lighttpd leaves setenv's headers off the answers made before its
            // handlers run (mod_access 403, mod_redirect 301, 416); relight adds them to every
            // response. Where lighttpd sends the header, relight must too.
            if h == "x-frame-options" && theirs.header(h).is_none() {
                continue;
            }
            assert_eq!(
                ours.header(h),
                theirs.header(h),
                "{h} on {path}: lighttpd said {}",
                theirs.head
            );
        }
        if theirs.status == 403 && path.starts_with("/secure/") {
            // The authorizer's own answer, with the params it was given as the body.
            assert_eq!(
                comparable(ours.params()),
                comparable(theirs.params()),
                "authorizer params of {path}"
            );
            assert_eq!(
                ours.params().get("FCGI_ROLE").map(String::as_str),
                Some("AUTHORIZER")
            );
        } else if path.contains("mode=sendfile") {
            if theirs.status != 200 {
                continue; // same status (checked above); the error pages differ
            }
            assert_eq!(ours.body, theirs.body, "X-Sendfile body of {path}");
            assert_eq!(
                ours.header("content-length"),
                theirs.header("content-length"),
                "{path}"
            );
        } else if path.starts_with("/app")
            || path.starts_with("/pretty")
            || path.contains(".php") && theirs.status == 200
        {
            assert_eq!(
                comparable(ours.params()),
                comparable(theirs.params()),
                "params of {path}"
            );
            assert_eq!(
                ours.params().get("APP_MODE").map(String::as_str),
                Some("test"),
                "{path}"
            );
            if path.starts_with("/secure/") {
                assert_eq!(
                    ours.params().get("AUTH_USER").map(String::as_str),
                    Some("alice"),
                    "authorizer variables reach the responder"
                );
            }
        } else if theirs.status == 200 || theirs.status == 206 {
            assert_eq!(ours.body, theirs.body, "body of {path}");
            assert_eq!(
                ours.header("content-type"),
                theirs.header("content-type"),
                "type of {path}"
            );
            assert_eq!(
                ours.header("content-range"),
                theirs.header("content-range"),
                "range of {path}"
            );
        }
    }
    // Conditional GET: each server's own validators give 304.
    for port in [pl, pr] {
        let first = curl(&[&format!("http://127.0.0.1:{port}/hello.txt")]);
        let etag = first.header("etag").unwrap();
        let again = curl(&[
            "-H",
            &format!("If-None-Match: {etag}"),
            &format!("http://127.0.0.1:{port}/hello.txt"),
        ]);
        assert_eq!(again.status, 304, "port {port}");
    }
    drop(relight);
}

/// A lighttpd.conf with conditional blocks and Basic auth, for `port`.
fn conditional_conf(dir: &Path, www: &Path, port: u16, echo: &Path) -> String {
    format!(
        r#"server.modules = ( "mod_access", "mod_auth", "mod_authn_file", "mod_redirect", "mod_rewrite", "mod_setenv", "mod_fastcgi" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
mimetype.assign = ( ".txt" => "text/plain" )
auth.backend = "htpasswd"
auth.backend.htpasswd.userfile = "{dir}/htpasswd"
auth.require = ( "/private/" => ( "method" => "basic", "realm" => "Private", "require" => "valid-user" ),
                 "/app/admin" => ( "method" => "basic", "realm" => "Admin", "require" => "user=alice" ) )
fastcgi.server = ( "/app" => (( "socket" => "{dir}/app.sock", "bin-path" => "{echo}", "max-procs" => 1, "check-local" => "disable" )) )
$HTTP["url"] =~ "^/blocked/" {{
  url.access-deny = ( "" )
}}
$HTTP["host"] == "vhost.example" {{
  server.document-root = "{www}/vhost"
}}
else $HTTP["host"] =~ "^(www\.)?redir\.example$" {{
  url.redirect = ( "^/(.*)$" => "http://target.example/%1/$1" )
}}
$HTTP["querystring"] =~ "deny" {{
  url.access-deny = ( "" )
}}
$HTTP["remoteip"] == "127.0.0.0/8" {{
  setenv.add-response-header = ( "X-Local" => "yes" )
}}
$HTTP["useragent"] =~ "bot" {{
  url.access-deny = ( "" )
}} else {{
  setenv.add-environment = ( "UA_OK" => "1" )
}}
$REQUEST_HEADER["X-Debug"] == "1" {{
  setenv.add-response-header = ( "X-Debug-Seen" => "1" )
}}
$HTTP["request-method"] == "POST" {{
  $HTTP["url"] =^ "/app/" {{
    setenv.add-environment = ( "POSTED" => "yes" )
  }}
}}
$HTTP["url"] =^ "/scoped/" {{
  fastcgi.server = ( "/scoped/" => (( "socket" => "{dir}/scoped.sock", "bin-path" => "{echo}", "max-procs" => 1, "check-local" => "disable" )) )
}}
$HTTP["url"] =$ ".md" {{
  mimetype.assign = ( ".md" => "text/markdown" )
}}
"#,
        www = www.display(),
        dir = dir.display(),
        echo = echo.display(),
    )
}

#[test]
fn conditionals_and_basic_auth_as_lighttpd() {
    let www = docroot();
    for (f, body) in [
        ("blocked/x.txt", "blocked\n"),
        ("vhost/hello.txt", "from the vhost\n"),
        ("private/p.txt", "private\n"),
        ("scoped/s.txt", "static under scoped\n"),
        ("readme.md", "# md\n"),
    ] {
        let p = www.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let echo = c_peer("fcgi_echo");
    let (dl, dr) = (TempDir::new("lt-cond"), TempDir::new("rl-cond"));
    let (pl, pr) = (free_port(), free_port());
    for (d, port) in [(&dl, pl), (&dr, pr)] {
        // The real htpasswd makes the users: MD5 (apr1), SHA-1, bcrypt, crypt.
        let file = d.join("htpasswd");
        for (flag, user, pw) in [
            ("-cbm", "alice", "wonderland"),
            ("-bs", "bob", "builder"),
            ("-bB", "carol", "c4rol"),
            ("-bd", "dave", "dave1"),
        ] {
            let st = Command::new("htpasswd")
                .arg(flag)
                .arg(&file)
                .args([user, pw])
                .stderr(Stdio::null())
                .status()
                .expect("htpasswd (apache2-utils) is installed by the test setup");
            assert!(st.success());
        }
        std::fs::write(
            d.join("lighttpd.conf"),
            conditional_conf(d.path(), www.path(), port, &echo),
        )
        .unwrap();
    }
    let _lighttpd = start_lighttpd(&dl.join("lighttpd.conf"), pl);
    let relight = Relight::start_file(&dr.join("lighttpd.conf"), pr);
    // (path, curl arguments, the status both must give)
    let cases: &[(&str, &[&str], u16)] = &[
        ("/hello.txt", &[], 200),
        ("/blocked/x.txt", &[], 403),
        ("/hello.txt", &["-H", "Host: vhost.example"], 200),
        ("/hello.txt", &["-H", "Host: VHost.Example:80"], 200),
        ("/hello.txt", &["-H", "Host: vhost.example:8080"], 200),
        ("/hello.txt", &["-H", "Host: www.redir.example"], 301),
        ("/a/b?c=1", &["-H", "Host: redir.example"], 301),
        ("/hello.txt?deny=1", &[], 403),
        ("/hello.txt", &["-A", "somebot/1.0"], 403),
        ("/hello.txt", &["-H", "X-Debug: 1"], 200),
        ("/app/x", &[], 200),
        ("/app/x", &["-d", "a=b"], 200),
        ("/scoped/run", &[], 200),
        ("/readme.md", &[], 200),
        ("/private/p.txt", &[], 401),
        ("/private/p.txt", &["-u", "alice:wonderland"], 200),
        ("/private/p.txt", &["-u", "alice:wrong"], 401),
        ("/private/p.txt", &["-u", "bob:builder"], 200),
        ("/private/p.txt", &["-u", "carol:c4rol"], 200),
        ("/private/p.txt", &["-u", "dave:dave1"], 200),
        ("/private/p.txt", &["-u", "nobody:x"], 401),
        ("/private/p.txt", &["-H", "Authorization: Basic !!!"], 400),
        (
            "/private/p.txt",
            &["-H", "Authorization: Basic dXNlcg=="],
            400,
        ),
        (
            "/private/p.txt",
            &["-H", "Authorization: Digest username=x"],
            401,
        ),
        ("/app/admin/x", &["-u", "alice:wonderland"], 200),
        ("/app/admin/x", &["-u", "bob:builder"], 401),
    ];
    for (path, args, want) in cases {
        let (theirs, ours) = both(pl, pr, path, args);
        let what = format!("{path} {args:?}");
        assert_eq!(theirs.status, *want, "lighttpd's status of {what}");
        assert_eq!(
            ours.status, theirs.status,
            "status of {what}: lighttpd {} / relight {}",
            theirs.head, ours.head
        );
        for h in [
            "location",
            "www-authenticate",
            "x-local",
            "x-debug-seen",
            "content-type",
        ] {
            // As in the main differential test: relight adds setenv's headers to its own error
            // pages too; where lighttpd sends one, relight must send the same.
            if h.starts_with("x-") && theirs.header(h).is_none() && ours.status >= 300 {
                continue;
            }
            if h == "content-type" && theirs.status != 200 {
                continue; // error pages differ
            }
            assert_eq!(ours.header(h), theirs.header(h), "{h} of {what}");
        }
        if theirs.status != 200 {
            continue;
        }
        if path.starts_with("/app") || path.starts_with("/scoped/") {
            let (mut o, mut t) = (comparable(ours.params()), comparable(theirs.params()));
            // lighttpd keeps HTTP_AUTHORIZATION; so does relight.
            for m in [&mut o, &mut t] {
                m.remove("SCRIPT_FILENAME");
            }
            assert_eq!(o, t, "params of {what}");
            // A later block's setenv.add-environment replaces an earlier one's, in both.
            let (ua_ok, posted) = if args.contains(&"-d") {
                (None, Some("yes"))
            } else {
                (Some("1"), None)
            };
            assert_eq!(o.get("UA_OK").map(String::as_str), ua_ok, "{what}");
            assert_eq!(o.get("POSTED").map(String::as_str), posted, "{what}");
            if path.starts_with("/app/admin") {
                assert_eq!(o.get("REMOTE_USER").map(String::as_str), Some("alice"));
                assert_eq!(o.get("AUTH_TYPE").map(String::as_str), Some("Basic"));
            }
        } else {
            assert_eq!(ours.text(), theirs.text(), "body of {what}");
        }
    }
    // What the table shows in passing, stated: the vhost's root, the host's captures in the
    // redirect, the scope's type and header.
    let vhost = curl(&[
        "-H",
        "Host: vhost.example",
        &format!("http://127.0.0.1:{pr}/hello.txt"),
    ]);
    assert_eq!(vhost.text(), "from the vhost\n");
    let redir = curl(&[
        "-H",
        "Host: www.redir.example",
        &format!("http://127.0.0.1:{pr}/a?b"),
    ]);
    assert_eq!(
        redir.header("location").as_deref(),
        Some("http://target.example/www./a?b")
    );
    let md = curl(&[&format!("http://127.0.0.1:{pr}/readme.md")]);
    assert_eq!(md.header("content-type").as_deref(), Some("text/markdown"));
    assert_eq!(md.header("x-local").as_deref(), Some("yes"));
    drop(relight);
}

/// A lighttpd.conf with fastcgi.server host options and more server.* keys, for `port`.
fn options_conf(dir: &Path, www: &Path, port: u16, echo: &Path, handler: &str) -> String {
    let host = |sock: &str, extra: &str| {
        format!(
            r#"(( "socket" => "{}/{sock}.sock", "bin-path" => "{}", "max-procs" => 1, "check-local" => "disable"{extra} ))"#,
            dir.display(),
            echo.display()
        )
    };
    format!(
        r#"server.modules = ( "mod_fastcgi" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
server.name = "device.local"
server.max-keep-alive-requests = 2
server.error-handler-404 = "{handler}"
fastcgi.debug = 1
fastcgi.server = (
  ".php" => {php},
  "/other" => {other},
  "/strip/" => {strip},
  "/app" => {app},
)
fastcgi.map-extensions = ( ".php3" => ".php" )
$HTTP["url"] =^ "/root/" {{
  fastcgi.server = ( "/" => {root} )
}}
$HTTP["url"] =~ "^/noranges/" {{
  server.range-requests = "disable"
}}
"#,
        www = www.display(),
        dir = dir.display(),
        php = host("php", r#", "broken-scriptfilename" => "enable""#),
        other = host("other", r#", "docroot" => "/srv/other""#),
        strip = host(
            "strip",
            r#", "strip-request-uri" => "/strip", "tcp-fin-propagate" => "enable""#
        ),
        app = host("app", ""),
        root = host("root", r#", "fix-root-scriptname" => "enable""#),
    )
}

#[test]
fn fastcgi_host_options_and_server_keys_as_lighttpd() {
    let www = docroot();
    for (f, body) in [
        ("sub/s.php", "<?php\n"),
        ("x.php3", "<?php\n"),
        ("404.html", "custom not found\n"),
        ("noranges/r.txt", "0123456789\n"),
    ] {
        let p = www.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let echo = c_peer("fcgi_echo");
    for handler in ["/404.html", "/app/handler"] {
        let (dl, dr) = (TempDir::new("lt-opts"), TempDir::new("rl-opts"));
        let (pl, pr) = (free_port(), free_port());
        for (d, port) in [(&dl, pl), (&dr, pr)] {
            std::fs::write(
                d.join("lighttpd.conf"),
                options_conf(d.path(), www.path(), port, &echo, handler),
            )
            .unwrap();
        }
        let lighttpd = start_lighttpd(&dl.join("lighttpd.conf"), pl);
        let relight = Relight::start_file(&dr.join("lighttpd.conf"), pr);
        let cases: &[(&str, &[&str])] = &[
            ("/sub/s.php/pi/x?q", &[]),
            ("/x.php3", &[]),
            ("/other/a/b", &[]),
            ("/strip/a/b?c", &[]),
            ("/strip/", &[]),
            ("/root/a/b?x=1", &[]),
            ("/app/x", &["-0", "-H", "Host:"]),
            ("/missing.html?m=1", &[]),
            ("/noranges/r.txt", &["-H", "Range: bytes=0-3"]),
            ("/hello.txt", &["-H", "Range: bytes=0-3"]),
        ];
        for (path, args) in cases {
            let (theirs, ours) = both(pl, pr, path, args);
            let what = format!("{path} {args:?} (handler {handler})");
            assert_eq!(
                ours.status, theirs.status,
                "status of {what}: lighttpd {} / relight {}",
                theirs.head, ours.head
            );
            if theirs.text().contains("FCGI_ROLE=") {
                assert_eq!(
                    comparable(ours.params()),
                    comparable(theirs.params()),
                    "params of {what}"
                );
            } else {
                assert_eq!(ours.text(), theirs.text(), "body of {what}");
                assert_eq!(
                    ours.header("content-range"),
                    theirs.header("content-range"),
                    "{what}"
                );
            }
        }
        // server.max-keep-alive-requests = 2: two more after the first, then a new
        // connection (as lighttpd counts them).
        for port in [pl, pr] {
            let url = format!("http://127.0.0.1:{port}/hello.txt");
            let out = Command::new("curl")
                .args(["-s", "-w", "%{num_connects} "])
                .args(["-o", "/dev/null", &url, "-o", "/dev/null", &url])
                .args(["-o", "/dev/null", &url, "-o", "/dev/null", &url])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "1 0 0 1 ",
                "connections per request on port {port}"
            );
        }
        let log = std::fs::read_to_string(relight.dir.join("stderr.log")).unwrap();
        assert!(
            log.contains("tcp-fin-propagate: accepted;")
                && log.contains("fastcgi.debug: accepted;"),
            "{log}"
        );
        drop((lighttpd, relight));
    }
}

#[test]
fn embedded_device_config_runs_unchanged_and_recovers_the_seed_case() {
    let www = docroot();
    let dir = TempDir::new("emb");
    let seed = dir.join("cgi");
    std::fs::copy(c_peer("seed_cgi"), &seed).unwrap();
    let port = free_port();
    let cfg = dir.join("lighttpd.conf");
    std::fs::write(
        &cfg,
        format!(
            "server.modules = ( \"mod_access\", \"mod_fastcgi\" )\nserver.document-root = \"{}\"\nserver.port = {port}\nserver.bind = \"127.0.0.1\"\nserver.max-worker = 4\n\
             fastcgi.server = ( \"/cgi-bin/cgi\" => (( \"bin-path\" => \"{}\", \"socket\" => \"{}/cgi.sock\", \"max-procs\" => 4, \"check-local\" => \"disable\" )) )\n",
            www.path().display(),
            seed.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-tt", "-f"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "-tt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = Relight::start_file(&cfg, port);
    let prog = seed.to_string_lossy().into_owned();
    let procs = || -> Vec<PsEntry> {
        let all: Vec<PsEntry> = ps(&prog)
            .into_iter()
            .filter(|e| e.cmd.starts_with(&prog))
            .collect();
        all.iter()
            .filter(|e| !all.iter().any(|m| m.pid == e.ppid))
            .cloned()
            .collect()
    };
    let old = wait_for(Duration::from_secs(5), "4 processes", || {
        let p = procs();
        (p.len() == 4).then_some(p)
    });
    let groups: Vec<i32> = old.iter().map(|e| e.pid).collect();
    let mut blocked: Vec<_> = (0..4)
        .map(|_| curl_bg(&["-m", "30", &r.url("/cgi-bin/cgi")]))
        .collect();
    let sleeps = |g: &[i32]| {
        ps("sleep 100000000")
            .into_iter()
            .filter(|e| e.cmd.starts_with("sleep") && g.contains(&e.pgid))
            .count()
    };
    wait_for(
        Duration::from_secs(10),
        "4 requests blocked in system()",
        || (sleeps(&groups) == 4).then_some(()),
    );
    let t = Instant::now();
    for e in &old {
        let _ = Command::new("kill")
            .args(["-SEGV", &e.pid.to_string()])
            .status();
    }
    for c in &mut blocked {
        let _ = c.wait();
    }
    // Under lighttpd the site would now be dead for good; here new processes accept at once.
    let new = wait_for(Duration::from_secs(1), "new processes", || {
        let p = procs();
        (p.len() == 4 && p.iter().all(|e| !groups.contains(&e.pid))).then_some(p)
    });
    let new_groups: Vec<i32> = new.iter().map(|e| e.pid).collect();
    let mut again = curl_bg(&["-m", "30", &r.url("/cgi-bin/cgi")]);
    wait_for(Duration::from_secs(1), "a new process accepting", || {
        (sleeps(&new_groups) == 1).then_some(())
    });
    eprintln!("embedded config: recovered in {:?}", t.elapsed());
    wait_for(Duration::from_secs(3), "the old sleeps gone", || {
        (sleeps(&groups) == 0).then_some(())
    });
    let _ = again.kill();
    let _ = again.wait();
}

#[test]
fn entries_with_the_same_socket_share_one_pool() {
    let www = docroot();
    let dir = TempDir::new("share");
    let echo = dir.join("echo");
    std::fs::copy(c_peer("fcgi_echo"), &echo).unwrap();
    let port = free_port();
    let cfg = dir.join("lighttpd.conf");
    let host = format!(
        "(( \"bin-path\" => \"{}\", \"socket\" => \"{}/s.sock\", \"max-procs\" => 2, \"check-local\" => \"disable\" ))",
        echo.display(),
        dir.path().display()
    );
    std::fs::write(
        &cfg,
        format!(
            "server.modules = ( \"mod_fastcgi\" )\nserver.document-root = \"{}\"\nserver.port = {port}\nserver.bind = \"127.0.0.1\"\nfastcgi.server = ( \"/a\" => {host}, \"/b\" => {host} )\n",
            www.path().display()
        ),
    )
    .unwrap();
    let r = Relight::start_file(&cfg, port);
    assert_eq!(curl(&[&r.url("/a?mode=pid")]).status, 200);
    assert_eq!(curl(&[&r.url("/b?mode=pid")]).status, 200);
    let e = echo.to_string_lossy().into_owned();
    let n = ps(&e).into_iter().filter(|p| p.cmd.starts_with(&e)).count();
    assert_eq!(n, 2, "one pool of max-procs 2, not two");
}

#[test]
fn command_line_as_lighttpd_users_type_it() {
    let www = docroot();
    let dir = TempDir::new("cli");
    let cfg = dir.join("lighttpd.conf");
    std::fs::write(
        &cfg,
        format!(
            "var.root = \"{}\"\nserver.document-root = var.root\nserver.port = 8080\nssl.stapling-file = \"x\"\n$HTTP[\"host\"] == \"x\" {{ server.max-write-idle = 5 }}\n",
            www.path().display()
        ),
    )
    .unwrap();
    let relight = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_relight"))
            .args(args)
            .arg(&cfg)
            .output()
            .unwrap()
    };
    let out = relight(&["-t", "-f"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Syntax OK\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:4:1: ssl.stapling-file: not supported by relight",
            cfg.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "server.max-write-idle inside ($HTTP[\"host\"] == \"x\"): relight applies it to the whole server only"
        ),
        "{err}"
    );
    let out = relight(&["-tt", "-f"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "-tt fails on what relight does not implement"
    );
    let out = relight(&["-p", "-f"]);
    assert!(out.status.success());
    let printed = dir.join("printed.conf");
    std::fs::write(&printed, &out.stdout).unwrap();
    let again = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-p", "-f"])
        .arg(&printed)
        .output()
        .unwrap();
    assert_eq!(again.stdout, out.stdout, "-p output reads back the same");
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-V"])
        .output()
        .unwrap();
    // -V in lighttpd's layout: its sections, and each of its lines with relight's + or -.
    let ours = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(ours.starts_with("relight/0.1.0 (ssl) - "), "{ours}");
    let theirs = Command::new("lighttpd").arg("-V").output().unwrap();
    let theirs = String::from_utf8_lossy(&theirs.stdout).into_owned();
    let sections = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.ends_with(':'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(sections(&ours), sections(&theirs), "{ours}");
    for l in theirs
        .lines()
        .filter(|l| l.starts_with("\t+ ") || l.starts_with("\t- "))
    {
        let what = &l[3..];
        assert!(
            ours.lines()
                .any(|o| o.len() > 3 && o.starts_with('\t') && o[3..].starts_with(what)),
            "relight -V has no line for {what:?}:\n{ours}"
        );
    }
    for truth in [
        "\t+ epoll (Linux)",
        "\t+ linux-sendfile",
        "\t+ zlib support",
        "\t+ brotli support",
        "\t+ zstd support",
        "\t- OpenSSL support",
        "\t- PCRE support",
        "\t+ rustls support",
    ] {
        assert!(ours.contains(truth), "{truth}: {ours}");
    }
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "server.document-root = \"/tmp\"\nserver.port = \n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-t", "-f"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("{}:2:", bad.display())),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --format forces the language: this file is not TOML.
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-t", "--format", "toml", "-f"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn server_socket_blocks_add_listeners_and_username_drops_root() {
    let www = docroot();
    let dir = TempDir::new("sock");
    let (p1, p2) = (free_port(), free_port());
    let echo = dir.join("echo");
    std::fs::copy(c_peer("fcgi_echo"), &echo).unwrap();
    let root = nix::unistd::geteuid().is_root();
    let cfg = dir.join("lighttpd.conf");
    std::fs::write(
        &cfg,
        format!(
            "server.modules = ( \"mod_fastcgi\" )\nserver.document-root = \"{}\"\nserver.port = {p1}\nserver.bind = \"127.0.0.1\"\n\
             server.pid-file = \"{}/relight.pid\"\nserver.username = \"nobody\"\nserver.groupname = \"nogroup\"\n\
             $SERVER[\"socket\"] == \"127.0.0.1:{p2}\" {{ }}\n\
             fastcgi.server = ( \"/app\" => (( \"bin-path\" => \"{}\", \"socket\" => \"{}/app.sock\", \"max-procs\" => 1, \"check-local\" => \"disable\" )) )\n",
            www.path().display(),
            dir.path().display(),
            echo.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    // The backend's socket directory must stay usable by the dropped user.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let r = Relight::start_file(&cfg, p1);
    wait_listening(&format!("127.0.0.1:{p2}"), Duration::from_secs(5));
    assert_eq!(
        curl(&[&format!("http://127.0.0.1:{p2}/hello.txt")]).status,
        200
    );
    let pid_file = std::fs::read_to_string(dir.join("relight.pid")).unwrap();
    assert_eq!(pid_file.trim(), r.proc.pid().to_string());
    assert_eq!(curl(&[&r.url("/app?mode=pid")]).status, 200);
    let uid_of = |pid: u32| -> String {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .to_string();
    if root {
        assert_eq!(
            uid_of(r.proc.pid()),
            nobody,
            "relight dropped root after binding"
        );
        let e = echo.to_string_lossy().into_owned();
        let backend = ps(&e).into_iter().find(|p| p.cmd.starts_with(&e)).unwrap();
        assert_eq!(
            uid_of(backend.pid as u32),
            nobody,
            "its backends run as that user"
        );
    } else {
        // Not root: nothing to drop, and relight says so.
        let log = std::fs::read_to_string(r.dir.join("stderr.log")).unwrap_or_default();
        assert!(
            log.contains("ignored: relight is not running as root"),
            "{log}"
        );
    }
}

#[test]
fn systemd_socket_activation() {
    let www = docroot();
    let dir = TempDir::new("sd");
    let port = free_port();
    let cfg = dir.join("lighttpd.conf");
    std::fs::write(
        &cfg,
        format!(
            "server.document-root = \"{}\"\nserver.port = {port}\nserver.bind = \"127.0.0.1\"\nserver.systemd-socket-activation = \"enable\"\nserver.errorlog = \"{}/error.log\"\n",
            www.path().display(),
            dir.path().display()
        ),
    )
    .unwrap();
    // What systemd does: bind, put the socket on fd 3, say so in LISTEN_FDS/LISTEN_PID, exec.
    // relight binding the port itself would fail (the port is taken by that very socket).
    let script = format!(
        "import os, socket\ns = socket.socket()\ns.bind(('127.0.0.1', {port}))\ns.listen(16)\nos.dup2(s.fileno(), 3)\nos.set_inheritable(3, True)\n\
         os.environ['LISTEN_FDS'] = '1'\nos.environ['LISTEN_PID'] = str(os.getpid())\n\
         os.execv({bin:?}, [{bin:?}, '-D', '-f', {cfg:?}])\n",
        bin = env!("CARGO_BIN_EXE_relight"),
        cfg = cfg.to_string_lossy()
    );
    let _relight = Proc {
        child: Command::new("python3")
            .args(["-c", &script])
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs"),
    };
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(10));
    assert_eq!(
        curl(&[&format!("http://127.0.0.1:{port}/hello.txt")]).text(),
        "hello, world\n"
    );
    wait_for(Duration::from_secs(2), "the log line", || {
        std::fs::read_to_string(dir.join("error.log"))
            .ok()
            .filter(|l| l.contains("socket activation: listening on"))
            .map(|_| ())
    });
}

#[test]
fn server_chroot_serves_from_inside_the_new_root() {
    let jail = TempDir::new("chroot");
    std::fs::create_dir_all(jail.join("htdocs")).unwrap();
    std::fs::write(jail.join("htdocs/hello.txt"), "inside the jail\n").unwrap();
    let dir = TempDir::new("chroot-conf");
    let port = free_port();
    let cfg = dir.join("lighttpd.conf");
    std::fs::write(
        &cfg,
        format!(
            "server.chroot = \"{}\"\nserver.document-root = \"/htdocs\"\nserver.port = {port}\nserver.bind = \"127.0.0.1\"\nserver.username = \"nobody\"\n",
            jail.path().display()
        ),
    )
    .unwrap();
    if !nix::unistd::geteuid().is_root() {
        // Not root: relight refuses to start and says why, rather than serve outside the jail.
        let out = Command::new(env!("CARGO_BIN_EXE_relight"))
            .args(["-D", "-f"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("must start as root"), "{err}");
        return;
    }
    let r = Relight::start_file(&cfg, port);
    let hello = curl(&[&r.url("/hello.txt")]);
    assert_eq!(hello.status, 200);
    assert_eq!(hello.text(), "inside the jail\n");
    let root = std::fs::read_link(format!("/proc/{}/root", r.proc.pid())).unwrap();
    assert_eq!(root, jail.path().canonicalize().unwrap());
    // Paths that leave the jail lead nowhere.
    assert_eq!(curl(&[&r.url("/../../etc/passwd")]).status, 404);
}

#[test]
fn several_hosts_for_one_extension_share_the_load() {
    let www = docroot();
    let dir = TempDir::new("hosts");
    let echo = c_peer("fcgi_echo");
    let port = free_port();
    let cfg = dir.join("lighttpd.conf");
    let host = |n: u32| {
        format!(
            "( \"bin-path\" => \"{}\", \"socket\" => \"{}/h{n}.sock\", \"max-procs\" => 1, \"check-local\" => \"disable\" )",
            echo.display(),
            dir.path().display()
        )
    };
    std::fs::write(
        &cfg,
        format!(
            "server.document-root = \"{}\"\nserver.port = {port}\nserver.bind = \"127.0.0.1\"\nfastcgi.balance = \"least-connection\"\nfastcgi.server = ( \"/app\" => ( {}, {} ) )\n",
            www.path().display(),
            host(1),
            host(2)
        ),
    )
    .unwrap();
    let r = Relight::start_file(&cfg, port);
    let pid = || curl(&[&r.url("/app?mode=pid")]).text();
    let idle = pid();
    assert_eq!(pid(), idle, "an idle backend set: the first host answers");
    // The first host busy with a slow request: the second answers meanwhile.
    let slow = curl_bg(&[&r.url("/app?mode=slow")]);
    std::thread::sleep(Duration::from_millis(150));
    let busy = pid();
    assert_ne!(busy, idle, "the least busy host answers");
    let out = slow.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    assert_eq!(pid(), idle);
}

/// mod_secdownload and mod_evasive, which lighttpd 1.4.68 removed: relight does what 1.4.67
/// did with their keys (md5 and hmac-sha256 links: served, 403 for a wrong signature, 410
/// for an old link; a second request in progress from one address turned away).
#[test]
fn secdownload_and_evasive_as_lighttpd_1_4_67() {
    let www = docroot();
    let dl = TempDir::new("secdl");
    std::fs::create_dir_all(dl.join("dir")).unwrap();
    std::fs::write(dl.join("dir/file.txt"), "the download\n").unwrap();
    let echo = c_peer("fcgi_echo");
    let dir = TempDir::new("secdl-conf");
    let port = free_port();
    let cfg = dir.join("lighttpd.conf");
    std::fs::write(
        &cfg,
        format!(
            r#"server.modules = ( "mod_secdownload", "mod_evasive", "mod_fastcgi" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
secdownload.secret = "s3cret"
secdownload.document-root = "{dl}"
secdownload.uri-prefix = "/dl/"
secdownload.timeout = 60
evasive.max-conns-per-ip = 1
evasive.silent = "enable"
fastcgi.server = ( "/app" => (( "socket" => "{d}/ev.sock", "bin-path" => "{echo}", "max-procs" => 2, "check-local" => "disable" )) )
$HTTP["url"] =^ "/h/" {{
  secdownload.algorithm = "hmac-sha256"
  secdownload.uri-prefix = "/h/"
}}
"#,
            www = www.path().display(),
            dl = dl.path().display(),
            d = dir.path().display(),
            echo = echo.display(),
        ),
    )
    .unwrap();
    let r = Relight::start_file(&cfg, port);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let py = |code: String| -> String {
        let out = Command::new("python3")
            .arg("-c")
            .arg(code)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let md5 = |ts: u64| {
        py(format!(
            "import hashlib; print(hashlib.md5(b's3cret/dir/file.txt{ts:x}').hexdigest())"
        ))
    };
    let ok = curl(&[&r.url(&format!("/dl/{}/{now:x}/dir/file.txt", md5(now)))]);
    assert_eq!((ok.status, ok.text().as_str()), (200, "the download\n"));
    let wrong = curl(&[&r.url(&format!("/dl/{}/{now:x}/dir/file.txt", "0".repeat(32)))]);
    assert_eq!(wrong.status, 403);
    let old = now - 3600;
    let gone = curl(&[&r.url(&format!("/dl/{}/{old:x}/dir/file.txt", md5(old)))]);
    assert_eq!(gone.status, 410);
    let mac = py(format!(
        "import hmac,hashlib,base64; print(base64.urlsafe_b64encode(hmac.new(b's3cret', b'/{now:x}/dir/file.txt', hashlib.sha256).digest()).decode().rstrip('='))"
    ));
    let h = curl(&[&r.url(&format!("/h/{mac}/{now:x}/dir/file.txt"))]);
    assert_eq!((h.status, h.text().as_str()), (200, "the download\n"));
    // Not a signed link's form: an ordinary path.
    assert_eq!(curl(&[&r.url("/dl/short/1/x")]).status, 404);
    // One request in progress per address: the second waits for nothing, 403.
    let slow = curl_bg(&[&r.url("/app/x?mode=slow")]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 403);
    let out = slow.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
}
