//! The differential suite for issue 15's shapes: one lighttpd.conf, run by lighttpd 1.4.69 and
//! by relight, the same requests to both, the answers compared (status, the headers that
//! matter, the body or the backend's parameters). Where relight differs on purpose the case
//! says why, and docs/lighttpd-keys.md explains it. Each test prints its counts.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// lighttpd and relight on the same configuration (each with its own directory for sockets
/// and logs), and the counts of what was compared.
struct Pair {
    lighttpd_port: u16,
    relight_port: u16,
    _lighttpd: Proc,
    relight: Relight,
    _dirs: (TempDir, TempDir),
    compared: usize,
    identical: usize,
    on_purpose: usize,
    name: &'static str,
}

/// How two answers are compared beyond their status.
#[derive(Clone, Copy)]
enum Body {
    /// The bodies byte for byte.
    Same,
    /// The echo peer's parameters (NAME=value lines), but those that name a port or the
    /// server.
    Params,
    /// Not compared (error pages are each server's own).
    Ignored,
    /// The bodies byte for byte when lighttpd's status is 2xx (else each server's error page).
    SameWhenOk,
}

impl Pair {
    /// Writes `conf(dir, port)` for each server and starts both.
    fn start(name: &'static str, conf: impl Fn(&Path, u16) -> String) -> Pair {
        let (dl, dr) = (TempDir::new("lt-15"), TempDir::new("rl-15"));
        let (pl, pr) = (free_port(), free_port());
        std::fs::write(dl.join("lighttpd.conf"), conf(dl.path(), pl)).unwrap();
        std::fs::write(dr.join("lighttpd.conf"), conf(dr.path(), pr)).unwrap();
        let lighttpd = start_lighttpd(&dl.join("lighttpd.conf"), pl);
        let relight = Relight::start_file(&dr.join("lighttpd.conf"), pr);
        Pair {
            lighttpd_port: pl,
            relight_port: pr,
            _lighttpd: lighttpd,
            relight,
            _dirs: (dl, dr),
            compared: 0,
            identical: 0,
            on_purpose: 0,
            name,
        }
    }

    /// `curl ARGS URL` to both: (lighttpd's answer, relight's).
    fn both(&self, path: &str, args: &[&str]) -> (CurlResponse, CurlResponse) {
        let run = |port: u16| {
            let url = format!("http://127.0.0.1:{port}{path}");
            let mut a = args.to_vec();
            a.push(&url);
            curl(&a)
        };
        (run(self.lighttpd_port), run(self.relight_port))
    }

    /// The same request to both must get the same status, the same `headers` and the same
    /// body (as `body` says).
    fn same(&mut self, path: &str, args: &[&str], headers: &[&str], body: Body) -> CurlResponse {
        let (theirs, ours) = self.both(path, args);
        let what = format!("{}: {path} {args:?}", self.name);
        assert_eq!(
            ours.status,
            theirs.status,
            "status of {what}: lighttpd {}\n{}\nrelight {}\n{}",
            theirs.head,
            theirs.text(),
            ours.head,
            ours.text()
        );
        for h in headers {
            assert_eq!(
                ours.header(h),
                theirs.header(h),
                "{h} of {what}: lighttpd {}\nrelight {}",
                theirs.head,
                ours.head
            );
        }
        match body {
            Body::Same => assert_eq!(ours.text(), theirs.text(), "body of {what}"),
            Body::Params => assert_eq!(
                comparable(ours.params()),
                comparable(theirs.params()),
                "backend parameters of {what}"
            ),
            Body::SameWhenOk if (200..300).contains(&theirs.status) => {
                assert_eq!(ours.text(), theirs.text(), "body of {what}")
            }
            Body::Ignored | Body::SameWhenOk => {}
        }
        self.compared += 1;
        self.identical += 1;
        ours
    }

    /// A request where relight differs on purpose (`why`); `check` asserts what each does.
    fn differs(
        &mut self,
        path: &str,
        args: &[&str],
        why: &str,
        check: impl FnOnce(&CurlResponse, &CurlResponse),
    ) {
        let (theirs, ours) = self.both(path, args);
        eprintln!("{}: {path}: differs on purpose: {why}", self.name);
        check(&theirs, &ours);
        self.compared += 1;
        self.on_purpose += 1;
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        eprintln!(
            "differential {}: {} requests compared, {} identical, {} different on purpose",
            self.name, self.compared, self.identical, self.on_purpose
        );
    }
}

/// The echo peer's parameters without those that name a port, the server or a time.
fn comparable(mut p: BTreeMap<String, String>) -> BTreeMap<String, String> {
    // HTTP_AUTHORIZATION holds each server's own Digest nonce.
    for k in [
        "REMOTE_PORT",
        "SERVER_PORT",
        "SERVER_SOFTWARE",
        "HTTP_HOST",
        "HTTP_AUTHORIZATION",
    ] {
        p.remove(k);
    }
    p
}

fn copy_of(peer: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(peer, &to).unwrap();
    to
}

/// Issue 15's first defect: one program behind an authorizer entry and a responder entry (and
/// an `else` block's extension entry): the entry that matched decides the role.
#[test]
fn one_program_behind_an_authorizer_and_a_responder() {
    let www = docroot();
    std::fs::write(www.join("x.php"), "<?php\n").unwrap();
    let echo = c_peer("fcgi_echo");
    let progs = TempDir::new("roles");
    let echo = copy_of(&echo, progs.path(), "echo-roles");
    let mut pair = Pair::start("roles", |dir, port| {
        format!(
            r#"server.modules = ( "mod_fastcgi" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
$HTTP["host"] == "auth.example.org" {{
  fastcgi.server = ( "/" => (
    "a" => ( "socket" => "{dir}/roles.sock", "bin-path" => "{echo}", "max-procs" => 1, "mode" => "authorizer", "check-local" => "disable" ),
    "r" => ( "socket" => "{dir}/roles.sock", "bin-path" => "{echo}", "max-procs" => 1, "check-local" => "disable" ) ) )
}} else {{
  fastcgi.server = ( ".php" => (( "socket" => "{dir}/roles.sock", "bin-path" => "{echo}", "max-procs" => 1 )) )
}}
"#,
            www = www.path().display(),
            dir = dir.display(),
            echo = echo.display(),
        )
    });
    // Without that host: the responder of the else block, not the authorizer.
    let r = pair.same("/x.php?allow", &[], &[], Body::Params);
    assert_eq!(
        r.params().get("FCGI_ROLE").map(String::as_str),
        Some("RESPONDER")
    );
    pair.same("/x.php", &[], &[], Body::Params);
    pair.same("/hello.txt", &[], &[], Body::Same);
    pair.same("/missing.php", &[], &[], Body::Ignored);
    // With it: the authorizer decides, then the responder answers.
    let host = ["-H", "Host: auth.example.org"];
    pair.same("/x.php", &host, &[], Body::Params);
    let r = pair.same("/anything?allow", &host, &[], Body::Params);
    assert_eq!(
        r.params().get("FCGI_ROLE").map(String::as_str),
        Some("RESPONDER"),
        "{}",
        r.text()
    );
    // The else block's entry leaves check-local at its default: lighttpd (and relight) keep the
    // first definition's; relight says so.
    let log = std::fs::read_to_string(pair.relight.dir.join("stderr.log")).unwrap();
    assert!(log.contains("the same program as"), "{log}");
    // One pool of max-procs 1 serves all three entries: one process under each server.
    let e = echo.to_string_lossy().into_owned();
    let n = ps(&e).into_iter().filter(|p| p.cmd.starts_with(&e)).count();
    assert_eq!(n, 2, "one process per server: {:?}", ps(&e));
}

/// Keys inside conditionals (issue 15's second defect), and the harder shapes: conditions on
/// host, url, querystring, user agent, referer, cookie, method, remote address and scheme,
/// `else` chains, nesting, `%n` and `$n` in redirects and rewrites; HTTP/1.0, no Host header,
/// absolute-form targets.
#[test]
fn keys_in_conditionals_and_the_harder_shapes() {
    let www = docroot();
    std::fs::write(www.join("404.html"), "custom not found\n").unwrap();
    std::fs::create_dir_all(www.join("app")).unwrap();
    let echo = c_peer("fcgi_echo");
    let mut pair = Pair::start("conditionals", |dir, port| {
        format!(
            r#"server.modules = ( "mod_access", "mod_rewrite", "mod_redirect", "mod_setenv", "mod_fastcgi" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
server.tag = "global-tag"
fastcgi.server = ( "/app" => (( "socket" => "{dir}/cond.sock", "bin-path" => "{echo}", "max-procs" => 1, "check-local" => "disable" )) )
$HTTP["host"] == "tagged.example" {{
  server.tag = "host-tag"
  server.name = "named.example"
  $HTTP["url"] =^ "/app/deep" {{
    setenv.add-response-header = ( "X-Deep" => "1" )
  }}
}} else $HTTP["host"] =~ "^www\.(.*)$" {{
  url.redirect = ( "^/(.*)" => "http://%1/$1" )
}} else {{
  server.error-handler-404 = "/404.html"
}}
$HTTP["querystring"] =~ "debug" {{
  setenv.add-response-header = ( "X-Debug" => "on" )
}}
$HTTP["useragent"] =~ "badbot" {{
  url.access-deny = ( "" )
}}
$HTTP["referer"] =~ "evil\.example" {{
  url.access-deny = ( "" )
}}
$HTTP["cookie"] =~ "session=([a-z]+)" {{
  url.rewrite-once = ( "^/who$" => "/app/who?user=%1" )
}}
$HTTP["request-method"] == "POST" {{
  setenv.add-response-header = ( "X-Post" => "1" )
}}
$HTTP["remoteip"] == "127.0.0.0/8" {{
  setenv.add-request-header = ( "X-Local" => "yes" )
}}
$HTTP["scheme"] == "http" {{
  setenv.add-environment = ( "SCHEME_SEEN" => "http" )
}}
"#,
            www = www.path().display(),
            dir = dir.display(),
            echo = echo.display(),
        )
    });
    let heads = ["server", "location", "x-deep", "x-debug", "x-post"];
    let tagged = ["-H", "Host: tagged.example"];
    // server.tag and server.name in a host block; the global tag elsewhere.
    let r = pair.same("/app/x", &tagged, &heads, Body::Params);
    assert_eq!(r.header("server").as_deref(), Some("host-tag"));
    assert_eq!(
        r.params().get("SERVER_NAME").map(String::as_str),
        Some("named.example")
    );
    let r = pair.same("/app/x", &[], &heads, Body::Params);
    assert_eq!(r.header("server").as_deref(), Some("global-tag"));
    pair.same("/app/deep/1", &tagged, &heads, Body::Params);
    pair.same("/app/deep/1", &[], &heads, Body::Params);
    pair.same("/hello.txt", &tagged, &heads, Body::Same);
    // The else-if branch: %1 from the host, $1 from the path.
    pair.same(
        "/some/where?q=1",
        &["-H", "Host: www.example.net"],
        &heads,
        Body::Ignored,
    );
    // The else branch: server.error-handler-404 in a block.
    let r = pair.same("/missing.html", &[], &heads, Body::Same);
    assert_eq!(r.text(), "custom not found\n");
    pair.same("/missing.html", &tagged, &heads, Body::Ignored);
    // Query string, method, user agent, referer, cookie (with %1 in a rewrite).
    pair.same("/hello.txt?debug=1", &[], &heads, Body::Same);
    pair.same("/app/post", &["-d", "a=b"], &heads, Body::Params);
    pair.same("/hello.txt", &["-A", "badbot/1.0"], &heads, Body::Ignored);
    pair.same(
        "/hello.txt",
        &["-e", "http://evil.example/x"],
        &heads,
        Body::Ignored,
    );
    pair.same(
        "/hello.txt",
        &["-e", "http://good.example/x"],
        &heads,
        Body::Same,
    );
    let r = pair.same("/who", &["-b", "session=alice"], &heads, Body::Params);
    assert_eq!(
        r.params().get("QUERY_STRING").map(String::as_str),
        Some("user=alice")
    );
    pair.same("/who", &[], &heads, Body::Ignored);
    // HTTP/1.0, with and without a Host header; an absolute-form target.
    pair.same("/app/x", &["--http1.0"], &heads, Body::Params);
    pair.same(
        "/app/x",
        &["--http1.0", "-H", "Host:"],
        &heads,
        Body::Params,
    );
    pair.same(
        "/hello.txt",
        &["--http1.0", "-H", "Host:"],
        &heads,
        Body::Same,
    );
    let abs = [
        "--request-target",
        "http://tagged.example/app/abs?x=1",
        "-H",
        "Host: tagged.example",
    ];
    let r = pair.same("/app/abs", &abs, &heads, Body::Params);
    assert_eq!(r.header("server").as_deref(), Some("host-tag"));
    // An absolute-form target whose authority is not the Host header's.
    pair.differs(
        "/app/abs",
        &["--request-target", "http://tagged.example/app/abs"],
        "RFC 9112 §3.2.2: the target's authority wins over the Host header (lighttpd: 400)",
        |theirs, ours| {
            assert_eq!(theirs.status, 400);
            assert_eq!(ours.status, 200);
            assert_eq!(ours.header("server").as_deref(), Some("host-tag"));
        },
    );
}

/// `user:realm:HA1` lines (htdigest's format), HA1 with MD5 or SHA-256.
fn htdigest_line(user: &str, realm: &str, password: &str, sha256: bool) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import hashlib; print(hashlib.{}(b'{user}:{realm}:{password}').hexdigest())",
            if sha256 { "sha256" } else { "md5" }
        ))
        .output()
        .expect("python3 runs");
    format!(
        "{user}:{realm}:{}\n",
        String::from_utf8_lossy(&out.stdout).trim()
    )
}

/// The `WWW-Authenticate` values of a response, with the nonces taken out.
fn challenges(r: &CurlResponse) -> Vec<String> {
    r.head
        .lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("www-authenticate").then(|| {
                let v = v.trim();
                match v.find("nonce=\"") {
                    Some(i) => {
                        let end = v[i + 7..].find('"').map_or(v.len(), |e| i + 7 + e + 1);
                        format!("{}nonce=N{}", &v[..i], &v[end..])
                    }
                    None => v.to_string(),
                }
            })
        })
        .collect()
}

/// mod_auth complete: Digest (MD5, SHA-256) over htdigest and plain files, Basic over htdigest,
/// require user=, nested conditions, REMOTE_USER and AUTH_TYPE to the backend.
#[test]
fn digest_and_basic_auth_as_lighttpd() {
    let www = docroot();
    for d in ["md5", "sha", "plain", "basic", "both", "inner"] {
        std::fs::create_dir_all(www.join(&format!("app/{d}"))).unwrap();
    }
    let files = TempDir::new("auth-files");
    let mut digest = htdigest_line("alice", "md5 realm", "wonder", false);
    digest.push_str(&htdigest_line("bob", "md5 realm", "builder", false));
    digest.push_str(&htdigest_line("alice", "sha realm", "wonder", true));
    digest.push_str(&htdigest_line("carol", "basic realm", "singer", false));
    std::fs::write(files.join("htdigest"), digest).unwrap();
    std::fs::write(files.join("plain"), "dave:diver\nerin:eagle\n").unwrap();
    let echo = c_peer("fcgi_echo");
    let files_dir = files.path().to_path_buf();
    let mut pair = Pair::start("auth", |dir, port| {
        format!(
            r#"server.modules = ( "mod_auth", "mod_authn_file", "mod_fastcgi" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
auth.backend = "htdigest"
auth.backend.htdigest.userfile = "{files}/htdigest"
auth.backend.plain.userfile = "{files}/plain"
fastcgi.server = ( "/app" => (( "socket" => "{dir}/auth.sock", "bin-path" => "{echo}", "max-procs" => 1, "check-local" => "disable" )) )
auth.require = (
  "/app/md5/" => ( "method" => "digest", "realm" => "md5 realm", "require" => "valid-user" ),
  "/app/sha/" => ( "method" => "digest", "realm" => "sha realm", "algorithm" => "SHA-256", "require" => "user=alice" ),
  "/app/basic/" => ( "method" => "basic", "realm" => "basic realm", "require" => "valid-user" ),
  "/app/both/" => ( "method" => "digest", "realm" => "sha realm", "algorithm" => "MD5|SHA-256", "require" => "valid-user" ),
)
$HTTP["url"] =^ "/app/plain/" {{
  auth.backend = "plain"
  auth.require = ( "/app/plain/" => ( "method" => "digest", "realm" => "plain realm", "require" => "user=dave|user=erin" ) )
}}
$HTTP["host"] == "nested.example" {{
  $HTTP["url"] =^ "/app/inner/" {{
    auth.require = ( "/app/inner/" => ( "method" => "digest", "realm" => "md5 realm", "require" => "user=bob" ) )
  }}
}}
"#,
            www = www.path().display(),
            dir = dir.display(),
            echo = echo.display(),
            files = files_dir.display(),
        )
    });
    let auth_heads: &[&str] = &[];
    // Digest MD5 over htdigest: right, wrong password, unknown user, no credentials.
    let r = pair.same(
        "/app/md5/x",
        &["--digest", "-u", "alice:wonder"],
        auth_heads,
        Body::Params,
    );
    assert_eq!(
        r.params().get("REMOTE_USER").map(String::as_str),
        Some("alice")
    );
    assert_eq!(
        r.params().get("AUTH_TYPE").map(String::as_str),
        Some("Digest")
    );
    pair.same(
        "/app/md5/x?q=1",
        &["--digest", "-u", "bob:builder"],
        auth_heads,
        Body::Params,
    );
    // Wrong credentials: 401 on a closing connection (auth.delay-invalid-creds).
    let r = pair.same(
        "/app/md5/x",
        &["--digest", "-u", "alice:wrong"],
        &["connection"],
        Body::Ignored,
    );
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    pair.same(
        "/app/md5/x",
        &["--digest", "-u", "nobody:x"],
        auth_heads,
        Body::Ignored,
    );
    let r = pair.same("/app/md5/x", &[], auth_heads, Body::Ignored);
    assert_eq!(r.status, 401);
    let (theirs, _) = pair.both("/app/md5/x", &[]);
    assert_eq!(challenges(&r), challenges(&theirs));
    // The challenges, nonces aside: one per algorithm, SHA-256 first.
    let (theirs, ours) = pair.both("/app/both/x", &[]);
    assert_eq!(challenges(&ours), challenges(&theirs));
    assert_eq!(challenges(&ours).len(), 2, "{}", ours.head);
    assert!(
        challenges(&ours)[0].contains("algorithm=SHA-256"),
        "{}",
        ours.head
    );
    pair.compared += 1;
    pair.identical += 1;
    pair.same(
        "/app/md5/x",
        &["--digest", "-u", "alice:wonder", "-d", "a=b"],
        auth_heads,
        Body::Params,
    );
    // Digest SHA-256 (curl answers the SHA-256 challenge), require user=.
    let r = pair.same(
        "/app/sha/x",
        &["--digest", "-u", "alice:wonder"],
        auth_heads,
        Body::Params,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    pair.same(
        "/app/sha/x",
        &["--digest", "-u", "bob:builder"],
        auth_heads,
        Body::Ignored,
    );
    // Basic over an htdigest file.
    let r = pair.same(
        "/app/basic/x",
        &["-u", "carol:singer"],
        auth_heads,
        Body::Params,
    );
    assert_eq!(
        r.params().get("AUTH_TYPE").map(String::as_str),
        Some("Basic")
    );
    pair.same(
        "/app/basic/x",
        &["-u", "carol:wrong"],
        auth_heads,
        Body::Ignored,
    );
    // Basic credentials where Digest is asked for.
    pair.same(
        "/app/md5/x",
        &["-u", "alice:wonder"],
        auth_heads,
        Body::Ignored,
    );
    // The plain backend in a block, require with two users.
    pair.same(
        "/app/plain/x",
        &["--digest", "-u", "dave:diver"],
        auth_heads,
        Body::Params,
    );
    pair.same(
        "/app/plain/x",
        &["--digest", "-u", "erin:eagle"],
        auth_heads,
        Body::Params,
    );
    pair.same(
        "/app/plain/x",
        &["--digest", "-u", "dave:wrong"],
        auth_heads,
        Body::Ignored,
    );
    // Nested conditions: only with that host.
    let nested = ["-H", "Host: nested.example"];
    pair.same("/app/inner/x", &[], auth_heads, Body::Params);
    pair.same("/app/inner/x", &nested, auth_heads, Body::Ignored);
    let mut args = nested.to_vec();
    args.extend(["--digest", "-u", "bob:builder"]);
    pair.same("/app/inner/x", &args, auth_heads, Body::Params);
    let mut args = nested.to_vec();
    args.extend(["--digest", "-u", "alice:wonder"]);
    pair.same("/app/inner/x", &args, auth_heads, Body::Ignored);
    // A malformed Digest header.
    pair.same(
        "/app/md5/x",
        &["-H", "Authorization: Digest username=\"alice"],
        auth_heads,
        Body::Ignored,
    );
}

/// mod_deflate, mod_expire and mod_setenv side by side: the coding chosen, Vary, the ETag's
/// suffix and its 304, what is not compressed (HEAD, small bodies, other types, q=0), the
/// body decoded by curl; Cache-Control by URL and type; request and response headers added
/// and set.
#[test]
fn deflate_expire_and_setenv_as_lighttpd() {
    let www = docroot();
    let page: String = (0..400)
        .map(|i| format!("<p>paragraph {i} of a page that compresses</p>\n"))
        .collect();
    std::fs::write(www.join("page.html"), &page).unwrap();
    std::fs::create_dir_all(www.join("static")).unwrap();
    std::fs::write(www.join("static/style.css"), page.replace("<p>", "p{} ")).unwrap();
    std::fs::write(www.join("image.png"), vec![7u8; 5000]).unwrap();
    std::fs::write(www.join("tiny.html"), "<p>tiny</p>\n").unwrap();
    // lighttpd gives no ETag to a file changed within the last seconds.
    let old = std::process::Command::new("touch")
        .args(["-d", "2 hours ago"])
        .args(
            [
                "page.html",
                "static/style.css",
                "image.png",
                "tiny.html",
                "hello.txt",
            ]
            .map(|f| www.join(f)),
        )
        .status()
        .unwrap();
    assert!(old.success());
    let echo = c_peer("fcgi_echo");
    let mut pair = Pair::start("deflate", |dir, port| {
        format!(
            r#"server.modules = ( "mod_deflate", "mod_expire", "mod_setenv", "mod_fastcgi" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
mimetype.assign = ( ".html" => "text/html", ".css" => "text/css", ".png" => "image/png", ".txt" => "text/plain" )
deflate.mimetypes = ( "text/" )
deflate.allowed-encodings = ( "gzip", "br", "zstd", "deflate" )
expire.url = ( "/static/" => "access plus 1 hours" )
expire.mimetypes = ( "image/" => "access plus 1 days" )
setenv.add-request-header = ( "X-Add" => "added" )
setenv.set-request-header = ( "X-Set" => "set", "X-Remove" => "" )
setenv.add-response-header = ( "X-Resp" => "r" )
setenv.set-response-header = ( "X-Frame-Options" => "DENY" )
fastcgi.server = ( "/app" => (( "socket" => "{dir}/deflate.sock", "bin-path" => "{echo}", "max-procs" => 1, "check-local" => "disable" )) )
$HTTP["url"] =^ "/static/" {{
  deflate.mimetypes = ( "image/" )
}}
"#,
            www = www.path().display(),
            dir = dir.display(),
            echo = echo.display(),
        )
    });
    let heads = [
        "content-encoding",
        "vary",
        "cache-control",
        "x-resp",
        "x-frame-options",
    ];
    for ae in [
        "gzip",
        "br",
        "zstd",
        "deflate",
        "gzip, br, zstd",
        "br;q=0.5, gzip",
        "identity",
        "*",
    ] {
        let r = pair.same(
            "/page.html",
            &["--compressed", "-H", &format!("Accept-Encoding: {ae}")],
            &heads,
            Body::Same,
        );
        assert_eq!(r.text(), page, "{ae}: decoded");
        if let Some(c) = r.header("content-encoding") {
            assert!(r.header("etag").unwrap().ends_with(&format!("-{c}\"")));
        }
    }
    pair.differs(
        "/page.html",
        &["--compressed", "-H", "Accept-Encoding: GZIP"],
        "coding names are case-insensitive (RFC 9110 §8.4.1); lighttpd 1.4.69 reads them case-sensitively",
        |theirs, ours| {
            assert_eq!(theirs.header("content-encoding"), None);
            assert_eq!(ours.header("content-encoding").as_deref(), Some("gzip"));
        },
    );
    let r = pair.same("/page.html", &["--compressed"], &heads, Body::Same);
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    // The compressed ETag gives 304 with the same coding; the file's own too.
    for port in [pair.lighttpd_port, pair.relight_port] {
        let url = format!("http://127.0.0.1:{port}/page.html");
        let first = curl(&["-H", "Accept-Encoding: gzip", &url]);
        let etag = first.header("etag").unwrap();
        let again = curl(&[
            "-H",
            "Accept-Encoding: gzip",
            "-H",
            &format!("If-None-Match: {etag}"),
            &url,
        ]);
        assert_eq!(again.status, 304, "port {port}: {}", again.head);
        assert_eq!(again.header("etag"), Some(etag), "port {port}");
    }
    pair.compared += 2;
    pair.identical += 2;
    // Not compressed: HEAD, a body under deflate.min-compress-size, another type.
    pair.same(
        "/page.html",
        &["-I", "-H", "Accept-Encoding: gzip"],
        &heads,
        Body::Ignored,
    );
    pair.same(
        "/tiny.html",
        &["-H", "Accept-Encoding: gzip"],
        &heads,
        Body::Same,
    );
    pair.same(
        "/image.png",
        &["-H", "Accept-Encoding: gzip"],
        &heads,
        Body::Same,
    );
    // A block's own types; expire by URL and by type (Cache-Control's value compared).
    pair.same(
        "/static/style.css",
        &["-H", "Accept-Encoding: gzip"],
        &heads,
        Body::Same,
    );
    pair.same("/hello.txt", &["--compressed"], &heads, Body::Same);
    // HTTP/1.0 gets Expires instead (its date is each server's clock: present in both).
    let (theirs, ours) = pair.both("/static/style.css", &["--http1.0"]);
    assert_eq!(ours.status, theirs.status);
    assert!(theirs.header("expires").is_some() && ours.header("expires").is_some());
    assert_eq!(ours.header("cache-control"), theirs.header("cache-control"));
    pair.compared += 1;
    pair.identical += 1;
    // A FastCGI response (text/plain): compressed as it streams; setenv's request headers.
    let r = pair.same(
        "/app/x",
        &[
            "--compressed",
            "-H",
            "X-Add: client",
            "-H",
            "X-Remove: secret",
            "-H",
            "X-Set: client",
        ],
        &heads,
        Body::Params,
    );
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    let p = r.params();
    assert_eq!(
        p.get("HTTP_X_ADD").map(String::as_str),
        Some("client, added")
    );
    assert_eq!(p.get("HTTP_X_SET").map(String::as_str), Some("set"));
    assert_eq!(p.get("HTTP_X_REMOVE"), None);
    // A range of a compressible file.
    pair.differs(
        "/page.html",
        &["-H", "Accept-Encoding: gzip", "-H", "Range: bytes=0-99"],
        "a Range request gets its range, uncompressed (lighttpd 1.4.69: the whole file compressed, 200)",
        |theirs, ours| {
            assert_eq!(theirs.status, 200);
            assert_eq!(theirs.header("content-encoding").as_deref(), Some("gzip"));
            assert_eq!(ours.status, 206);
            assert_eq!(ours.body.len(), 100);
        },
    );
}

/// mod_extforward: the client behind a trusted proxy, for conditions, backends and the
/// access log; X-Forwarded-Proto; untrusted and malformed headers change nothing.
#[test]
fn extforward_as_lighttpd() {
    let www = docroot();
    let echo = c_peer("fcgi_echo");
    let mut pair = Pair::start("extforward", |dir, port| {
        format!(
            r#"server.modules = ( "mod_extforward", "mod_access", "mod_fastcgi", "mod_accesslog" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
accesslog.filename = "{dir}/access.log"
extforward.forwarder = ( "127.0.0.1" => "trust", "10.0.0.0/8" => "trust" )
fastcgi.server = ( "/app" => (( "socket" => "{dir}/xff.sock", "bin-path" => "{echo}", "max-procs" => 1, "check-local" => "disable" )) )
$HTTP["remoteip"] == "203.0.113.0/24" {{
  url.access-deny = ( ".txt" )
}}
"#,
            www = www.path().display(),
            dir = dir.display(),
            echo = echo.display(),
        )
    });
    let xff = |v: &'static str| ["-H", v];
    let r = pair.same(
        "/app/x",
        &xff("X-Forwarded-For: 1.1.1.1, 198.51.100.9, 10.1.2.3"),
        &[],
        Body::Params,
    );
    assert_eq!(
        r.params().get("REMOTE_ADDR").map(String::as_str),
        Some("198.51.100.9")
    );
    assert_eq!(r.params().get("REMOTE_PORT").map(String::as_str), Some("0"));
    // The condition on the remote address sees the client.
    pair.same(
        "/hello.txt",
        &xff("X-Forwarded-For: 203.0.113.9"),
        &[],
        Body::Ignored,
    );
    pair.same(
        "/hello.txt",
        &xff("X-Forwarded-For: 198.51.100.9"),
        &[],
        Body::Same,
    );
    // Malformed, all trusted, none.
    pair.same(
        "/app/x",
        &xff("X-Forwarded-For: garbage"),
        &[],
        Body::Params,
    );
    pair.same(
        "/app/x",
        &xff("X-Forwarded-For: 203.0.113.9, abc"),
        &[],
        Body::Params,
    );
    pair.same(
        "/app/x",
        &xff("X-Forwarded-For: 10.0.0.7"),
        &[],
        Body::Params,
    );
    pair.same("/app/x", &[], &[], Body::Params);
    // X-Forwarded-Proto with an address applied.
    let r = pair.same(
        "/app/x",
        &[
            "-H",
            "X-Forwarded-For: 198.51.100.9",
            "-H",
            "X-Forwarded-Proto: https",
        ],
        &[],
        Body::Params,
    );
    assert_eq!(r.params().get("HTTPS").map(String::as_str), Some("on"));
    assert_eq!(
        r.params().get("REQUEST_SCHEME").map(String::as_str),
        Some("https")
    );
    // The access log names the client, in both.
    for dir in [&pair._dirs.0, &pair._dirs.1] {
        let log = std::fs::read_to_string(dir.join("access.log")).unwrap_or_default();
        assert!(
            log.lines().any(|l| l.starts_with("198.51.100.9 ")),
            "{}: {log}",
            dir.path().display()
        );
    }
}

/// The rows of a listing (and its title, heading, README and HEADER), with the date cells
/// taken out (lighttpd writes them in the server's local time, relight in UTC) and the footer
/// (each server's tag).
fn listing_rows(body: &str) -> Vec<String> {
    body.lines()
        .filter(|l| {
            l.starts_with("<tr")
                || l.starts_with("<title>")
                || l.starts_with("<h2>")
                || l.contains("<pre class=")
        })
        .map(
            |l| match (l.find("<td class=\"m\">"), l.find("</td><td class=\"s\">")) {
                (Some(a), Some(b)) if a < b => format!("{}{}", &l[..a], &l[b..]),
                // The footer is each server's tag.
                _ => l
                    .split("<div class=\"foot\">")
                    .next()
                    .unwrap_or(l)
                    .to_owned(),
            },
        )
        .collect()
}

/// mod_dirlisting: the rows of a listing (order, links, names escaped, sizes, types), dot
/// files, excluded names, README and HEADER, charset, the redirect without a slash, HEAD, and
/// index files first; a block that turns listings off.
#[test]
fn dirlisting_as_lighttpd() {
    let www = docroot();
    let d = www.join("d");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::create_dir_all(d.join("Dir B")).unwrap();
    for (name, len) in [
        ("a.txt", 5usize),
        ("B.html", 2000),
        (".hidden", 3),
        ("we<ird>&\"name'.txt", 7),
        ("ümlaut.txt", 9),
        ("big.bin", 3 << 20),
        ("10.txt", 1),
        ("9.txt", 1024),
        ("skip.tmp", 1),
        ("a b%25.txt", 100),
    ] {
        std::fs::write(d.join(name), vec![b'x'; len]).unwrap();
    }
    std::fs::write(d.join("README.txt"), "read <me> & more\n").unwrap();
    std::fs::write(d.join("HEADER.txt"), "the header\n").unwrap();
    std::fs::create_dir_all(www.join("quiet")).unwrap();
    std::fs::write(www.join("quiet/x.txt"), "x").unwrap();
    let mut pair = Pair::start("dirlisting", |dir, port| {
        format!(
            r#"server.modules = ( "mod_indexfile", "mod_dirlisting", "mod_staticfile" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".txt" => "text/plain" )
server.dir-listing = "enable"
dir-listing.exclude = ( "\.tmp$" )
dir-listing.show-readme = "enable"
dir-listing.show-header = "enable"
dir-listing.hide-header-file = "enable"
dir-listing.encoding = "utf-8"
$HTTP["url"] =^ "/quiet/" {{
  dir-listing.activate = "disable"
}}
"#,
            www = www.path().display(),
            dir = dir.display(),
        )
    });
    let (theirs, ours) = pair.both("/d/", &[]);
    assert_eq!(ours.status, 200);
    assert_eq!(ours.status, theirs.status);
    assert_eq!(ours.header("content-type"), theirs.header("content-type"));
    assert_eq!(
        listing_rows(&ours.text()),
        listing_rows(&theirs.text()),
        "{}",
        ours.text()
    );
    assert!(ours.text().contains("read &#x3C;me&#x3E; &#x26; more"));
    pair.compared += 1;
    pair.identical += 1;
    let (theirs_b, ours_b) = pair.both("/d/Dir%20B/", &[]);
    assert_eq!(listing_rows(&ours_b.text()), listing_rows(&theirs_b.text()));
    pair.compared += 1;
    pair.identical += 1;
    pair.same("/d", &[], &["location"], Body::Ignored);
    pair.same("/d/sub?x=1", &[], &["location"], Body::Ignored);
    // HEAD: the headers of the page (relight's page is its own, so its own length).
    let head = pair.same("/d/", &["-I"], &["content-type"], Body::Ignored);
    assert_eq!(
        head.header("content-length"),
        Some(ours.body.len().to_string())
    );
    pair.same("/", &[], &[], Body::Same);
    pair.same("/quiet/", &[], &[], Body::Ignored);
    pair.same("/nonexistent/", &[], &[], Body::Ignored);
}

/// mod_status: the status page's `?auto` fields and `?json` keys as lighttpd writes them (the
/// values are each server's own), the HTML page, statistics and configuration pages, and a
/// status URL set only in a host block.
#[test]
fn status_pages_as_lighttpd() {
    let www = docroot();
    let mut pair = Pair::start("status", |dir, port| {
        format!(
            r#"server.modules = ( "mod_status" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
status.config-url = "/server-config"
$HTTP["host"] == "status.example" {{
  status.status-url = "/server-status"
}}
"#,
            www = www.path().display(),
            dir = dir.display(),
        )
    });
    let host = ["-H", "Host: status.example"];
    // Only with that host.
    pair.same("/server-status", &[], &[], Body::Ignored);
    let (theirs, ours) = pair.both("/server-status?auto", &host);
    assert_eq!(ours.status, 200);
    assert_eq!(ours.status, theirs.status);
    assert_eq!(ours.header("content-type"), theirs.header("content-type"));
    let fields = |r: &CurlResponse| -> Vec<String> {
        r.text()
            .lines()
            .map(|l| l.split(':').next().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(fields(&ours), fields(&theirs), "{}", ours.text());
    // The scoreboard: one character per connection slot, this request's among them.
    let board = |r: &CurlResponse| {
        r.text()
            .lines()
            .find_map(|l| l.strip_prefix("Scoreboard: ").map(str::to_owned))
            .unwrap()
    };
    assert!(board(&ours).contains('h'), "{}", ours.text());
    assert_eq!(board(&ours).len(), 1024, "max_connections slots");
    let (theirs, ours) = pair.both("/server-status?json", &host);
    let keys = |r: &CurlResponse| -> Vec<String> {
        r.text()
            .lines()
            .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
            .collect()
    };
    assert_eq!(keys(&ours), keys(&theirs), "{}", ours.text());
    assert_eq!(ours.header("content-type"), theirs.header("content-type"));
    let (theirs, ours) = pair.both("/server-status", &host);
    assert_eq!(ours.status, theirs.status);
    assert!(
        ours.text().contains("<h1>Server-Status (relight/"),
        "{}",
        ours.text()
    );
    pair.compared += 3;
    pair.identical += 3;
    let r = pair.same("/server-config", &[], &["content-type"], Body::Ignored);
    assert!(r.text().contains("RegEx Conditionals"));
    // Not asked for: 404 in both.
    pair.same("/server-statistics", &[], &[], Body::Ignored);
}

/// Virtual hosts: mod_simple_vhost (with its default host, and a host block's own root when no
/// directory is found), mod_evhost in a block, mod_userdir, server.follow-symlink and
/// server.force-lowercase-filenames.
#[test]
fn virtual_hosts_as_lighttpd() {
    let www = docroot();
    let sv = TempDir::new("vhosts");
    for (host, text) in [("www.example.com", "example"), ("default.test", "default")] {
        std::fs::create_dir_all(sv.join(&format!("{host}/htdocs"))).unwrap();
        std::fs::write(
            sv.join(&format!("{host}/htdocs/who.txt")),
            format!("{text}\n"),
        )
        .unwrap();
    }
    let ev = TempDir::new("evhost");
    std::fs::create_dir_all(ev.join("co.uk/example")).unwrap();
    std::fs::write(ev.join("co.uk/example/who.txt"), "evhost\n").unwrap();
    std::fs::create_dir_all(www.join("own")).unwrap();
    std::fs::write(www.join("who.txt"), "global\n").unwrap();
    std::fs::write(www.join("mixed.txt"), "lower\n").unwrap();
    let homes = TempDir::new("homes");
    std::fs::create_dir_all(homes.join("alice/public_html")).unwrap();
    std::fs::write(homes.join("alice/public_html/index.txt"), "alice's\n").unwrap();
    std::fs::create_dir_all(www.join("links")).unwrap();
    std::fs::write(www.join("real.txt"), "real\n").unwrap();
    std::os::unix::fs::symlink(www.join("real.txt"), www.join("links/link.txt")).unwrap();
    let (svp, evp, hp) = (
        sv.path().to_path_buf(),
        ev.path().to_path_buf(),
        homes.path().to_path_buf(),
    );
    let mut pair = Pair::start("vhosts", |dir, port| {
        format!(
            r#"server.modules = ( "mod_simple_vhost", "mod_evhost", "mod_userdir" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
mimetype.assign = ( ".txt" => "text/plain" )
simple-vhost.server-root = "{sv}/"
simple-vhost.document-root = "htdocs"
simple-vhost.default-host = "default.test"
userdir.path = "public_html"
userdir.basepath = "{homes}"
$HTTP["host"] =~ "\.co\.uk$" {{
  evhost.path-pattern = "{ev}/%0/%3/"
}}
$HTTP["url"] =^ "/links/" {{
  server.follow-symlink = "disable"
}}
$HTTP["host"] == "lower.test" {{
  server.force-lowercase-filenames = "enable"
}}
"#,
            www = www.path().display(),
            dir = dir.display(),
            sv = svp.display(),
            ev = evp.display(),
            homes = hp.display(),
        )
    });
    for (host, path) in [
        ("www.example.com", "/who.txt"),
        ("WWW.Example.COM.", "/who.txt"),
        ("unknown.test", "/who.txt"),
        ("www.example.co.uk", "/who.txt"),
        ("www.example.co.uk", "/missing.txt"),
        ("lower.test", "/MIXED.TXT"),
        ("other.test", "/MIXED.TXT"),
        ("x.test", "/~alice/index.txt"),
        ("x.test", "/~nobody-here/index.txt"),
    ] {
        pair.same(
            path,
            &["-H", &format!("Host: {host}")],
            &["location"],
            Body::SameWhenOk,
        );
    }
    pair.same(
        "/~alice",
        &["-H", "Host: x.test"],
        &["location"],
        Body::Ignored,
    );
    pair.same("/links/link.txt", &[], &[], Body::Ignored);
    pair.same("/real.txt", &[], &[], Body::Ignored);
}

/// server.error-handler (a static page keeps the error's status; a FastCGI handler answers
/// with its own, seeing REDIRECT_STATUS and a GET) over server.error-handler-404, and
/// server.errorfile-prefix in a block.
#[test]
fn error_handlers_as_lighttpd() {
    let www = docroot();
    std::fs::write(www.join("err.html"), "custom error page\n").unwrap();
    std::fs::write(www.join("404.html"), "the 404 page\n").unwrap();
    std::fs::write(www.join("secret.inc"), "no\n").unwrap();
    std::fs::create_dir_all(www.join("files")).unwrap();
    std::fs::write(www.join("files/x.inc"), "no\n").unwrap();
    let errs = TempDir::new("errfiles");
    std::fs::write(errs.join("e-404.html"), "<p>file for 404</p>\n").unwrap();
    std::fs::write(errs.join("e-403.html"), "<p>file for 403</p>\n").unwrap();
    let echo = c_peer("fcgi_echo");
    let ep = errs.path().to_path_buf();
    let mut pair = Pair::start("errors", |dir, port| {
        format!(
            r#"server.modules = ( "mod_access", "mod_fastcgi" )
server.document-root = "{www}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
mimetype.assign = ( ".html" => "text/html", ".txt" => "text/plain" )
url.access-deny = ( ".inc" )
server.error-handler = "/err.html"
server.error-handler-404 = "/404.html"
fastcgi.server = ( "/app" => (( "socket" => "{dir}/err.sock", "bin-path" => "{echo}", "max-procs" => 1, "check-local" => "disable" )) )
$HTTP["host"] == "dyn.test" {{
  server.error-handler = "/app/handler"
}}
$HTTP["url"] =^ "/files/" {{
  server.error-handler = ""
  server.errorfile-prefix = "{errs}/e-"
}}
$HTTP["url"] =^ "/plain/" {{
  server.error-handler = ""
  server.error-handler-404 = ""
  server.errorfile-prefix = "{errs}/e-"
}}
"#,
            www = www.path().display(),
            dir = dir.display(),
            echo = echo.display(),
            errs = ep.display(),
        )
    });
    let heads = ["content-type"];
    let r = pair.same("/missing.txt", &[], &heads, Body::Same);
    assert_eq!((r.status, r.text().as_str()), (404, "custom error page\n"));
    let r = pair.same("/secret.inc", &[], &heads, Body::Same);
    assert_eq!(r.status, 403);
    // A FastCGI handler: its own status, the error in REDIRECT_STATUS, a GET.
    let dyn_host = ["-H", "Host: dyn.test"];
    let r = pair.same("/missing.txt?q=1", &dyn_host, &[], Body::Params);
    assert_eq!(r.status, 200);
    let p = r.params();
    assert_eq!(p.get("REDIRECT_STATUS").map(String::as_str), Some("404"));
    assert_eq!(
        p.get("REQUEST_URI").map(String::as_str),
        Some("/missing.txt?q=1")
    );
    let mut post = dyn_host.to_vec();
    post.extend(["-d", "a=b"]);
    let r = pair.same("/secret.inc", &post, &[], Body::Params);
    assert_eq!(
        r.params().get("REQUEST_METHOD").map(String::as_str),
        Some("GET")
    );
    // A block without the handler: server.error-handler-404's page (200), and the error
    // files for the rest.
    let r = pair.same("/files/missing.txt", &[], &[], Body::Same);
    assert_eq!((r.status, r.text().as_str()), (200, "the 404 page\n"));
    pair.same("/files/x.inc", &[], &[], Body::Same);
    let r = pair.same("/plain/missing.txt", &[], &[], Body::Same);
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, "<p>file for 404</p>\n")
    );
    pair.same("/plain/x.inc", &[], &[], Body::Same);
    // A backend's own error is left alone.
    pair.same("/app/x?mode=status", &[], &[], Body::Ignored);
    // The handler's page is all of it, whatever range or validator the client sent.
    for args in [["-H", "Range: bytes=0-3"], ["-H", "If-None-Match: *"]] {
        let r = curl(&[args[0], args[1], &pair.relight.url("/missing.txt")]);
        assert_eq!(
            (r.status, r.text().as_str()),
            (404, "custom error page\n"),
            "{args:?}"
        );
    }
}
