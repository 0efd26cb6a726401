//! HTTPS and HTTP/2 with real clients: certificates made by `openssl`, requests by curl (HTTP/1.1
//! and HTTP/2 by ALPN, SNI by --resolve) and `openssl s_client`; a libfcgi backend sees the
//! scheme. Bad input: plain HTTP to the TLS port, a stalled and a garbage handshake.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A self-signed certificate (EC P-256) for `names`, as `dir/<tag>.crt` and `dir/<tag>.key`.
fn certificate(dir: &Path, tag: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let (crt, key) = (
        dir.join(format!("{tag}.crt")),
        dir.join(format!("{tag}.key")),
    );
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN={}", names[0]))
        .arg("-addext")
        .arg(format!("subjectAltName={}", san.join(",")))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl runs");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    (crt, key)
}

/// The `certificate` and `key` lines of a `[[tls]]` entry.
fn cert_lines(crt: &Path, key: &Path) -> String {
    format!(
        "certificate = \"{}\"\nkey = \"{}\"\n",
        crt.display(),
        key.display()
    )
}

/// A `[[fastcgi]]` backend "app" for `/app`: the echo peer, spawned on `dir/app.sock`, with
/// `extra` lines.
fn echo_app(dir: &Path, extra: &str) -> String {
    format!(
        "[[fastcgi]]\nname = \"app\"\nmatch = [\"/app\"]\ncommand = [\"{}\"]\nsocket = \"{}\"\n{extra}",
        c_peer("fcgi_echo").display(),
        dir.join("app.sock").display()
    )
}

/// `crt` and `key` in one PEM file, `dir/<tag>.pem` (lighttpd's ssl.pemfile with the key in it).
fn pem_with_key(dir: &Path, tag: &str, crt: &Path, key: &Path) -> PathBuf {
    let pem = dir.join(format!("{tag}.pem"));
    std::fs::write(
        &pem,
        [std::fs::read(crt).unwrap(), std::fs::read(key).unwrap()].concat(),
    )
    .unwrap();
    pem
}

/// curl over HTTPS to `port` for `host` (resolved to loopback), trusting `ca`; `extra` before
/// the URL. Returns the response and the HTTP version curl used.
fn https(port: u16, host: &str, path: &str, ca: &Path, extra: &[&str]) -> (CurlResponse, String) {
    let resolve = format!("{host}:{port}:127.0.0.1");
    let url = format!("https://{host}:{port}{path}");
    let ca = ca.display().to_string();
    let mut args = vec!["--resolve", &resolve, "--cacert", &ca];
    args.extend_from_slice(extra);
    let version = curl(
        &[
            &args[..],
            &["-o", "/dev/null", "-w", "%{http_version}", &url],
        ]
        .concat(),
    );
    let r = curl(&[&args[..], &[url.as_str()]].concat());
    (r, version.text())
}

/// A relight with one HTTPS listener on a free port; returns it and that port.
fn start(dir: &TempDir, www: &Path, tls: &str, rest: &str) -> (Relight, u16) {
    let port = free_port();
    let r = Relight::start(
        www,
        "header_timeout = \"2s\"",
        &format!("{rest}\n[[tls]]\nlisten = [\"127.0.0.1:{port}\"]\n{tls}"),
    );
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(5));
    let _ = dir;
    (r, port)
}

#[test]
fn https_serves_files_and_fastcgi_over_http1_and_http2() {
    let www = docroot();
    let dir = TempDir::new("tls");
    let (crt, key) = certificate(dir.path(), "site", &["localhost"]);
    let backend = echo_app(dir.path(), "");
    let (r, port) = start(&dir, www.path(), &cert_lines(&crt, &key), &backend);
    for (flag, want) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let (page, version) = https(port, "localhost", "/hello.txt", &crt, &[flag]);
        assert_eq!(page.status, 200, "{flag}: {page:?}");
        assert_eq!(page.text(), "hello, world\n");
        assert_eq!(version, want, "{flag}: ALPN chose HTTP/{version}");
        let (app, _) = https(port, "localhost", "/app?x=1", &crt, &[flag]);
        assert_eq!(app.status, 200, "{flag}: {app:?}");
        let p = app.params();
        assert_eq!(p.get("HTTPS").map(String::as_str), Some("on"), "{p:?}");
        assert_eq!(p.get("REQUEST_SCHEME").map(String::as_str), Some("https"));
        assert_eq!(p.get("SERVER_PORT"), Some(&port.to_string()));
        assert_eq!(p.get("QUERY_STRING").map(String::as_str), Some("x=1"));
    }
    // A POST body over HTTP/2 reaches the backend whole.
    let body = "a".repeat(100_000);
    let (echoed, _) = https(
        port,
        "localhost",
        "/app?mode=echo",
        &crt,
        &["--http2", "--data-binary", &body],
    );
    assert_eq!(echoed.status, 200);
    assert_eq!(echoed.body.len(), body.len());
    // The plain listener is still plain, and its backend params say so.
    let plain = curl(&[&r.url("/app")]);
    assert_eq!(plain.params().get("HTTPS"), None);
    assert_eq!(
        plain.params().get("REQUEST_SCHEME").map(String::as_str),
        Some("http")
    );
}

#[test]
fn max_keep_alive_requests_counts_http1_requests_not_http2_streams() {
    let www = docroot();
    let dir = TempDir::new("tls");
    let (crt, key) = certificate(dir.path(), "site", &["localhost"]);
    let port = free_port();
    let _r = Relight::start(
        www.path(),
        "max_keep_alive_requests = 3",
        &format!(
            "[[tls]]\nlisten = [\"127.0.0.1:{port}\"]\n{}",
            cert_lines(&crt, &key)
        ),
    );
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(5));
    // Seven requests in a row on curl's connection: over HTTP/1.1 a new connection after
    // every third (num_connects 1 on the 1st, 4th and 7th); over HTTP/2 one connection for
    // all, as lighttpd 1.4.69 does (it does not count streams against the limit).
    let connects = |flag: &str| -> Vec<String> {
        let mut args: Vec<String> = vec![
            "-s".into(),
            flag.into(),
            "--cacert".into(),
            crt.display().to_string(),
            "--resolve".into(),
            format!("localhost:{port}:127.0.0.1"),
            "-w".into(),
            "%{num_connects}\n".into(),
        ];
        for _ in 0..7 {
            args.extend(["-o".into(), "/dev/null".into()]);
            args.push(format!("https://localhost:{port}/hello.txt"));
        }
        let out = Command::new("curl").args(&args).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(connects("--http1.1"), ["1", "0", "0", "1", "0", "0", "1"]);
    assert_eq!(connects("--http2"), ["1", "0", "0", "0", "0", "0", "0"]);
}

#[test]
fn the_certificate_is_chosen_by_server_name() {
    let www = docroot();
    let dir = TempDir::new("sni");
    let (a_crt, a_key) = certificate(dir.path(), "a", &["a.example.org"]);
    let (b_crt, b_key) = certificate(dir.path(), "b", &["*.b.example.org"]);
    let port = free_port();
    let entry = |crt: &Path, key: &Path, hosts: &str| {
        format!(
            "[[tls]]\nlisten = [\"127.0.0.1:{port}\"]\nhosts = [{hosts}]\ncertificate = \"{}\"\nkey = \"{}\"\n",
            crt.display(),
            key.display()
        )
    };
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "{}{}",
            entry(&a_crt, &a_key, "\"a.example.org\""),
            entry(&b_crt, &b_key, "\"*.b.example.org\"")
        ),
    );
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(5));
    // curl checks the certificate against the name: the right one was sent for each.
    let (a, _) = https(port, "a.example.org", "/hello.txt", &a_crt, &[]);
    assert_eq!(a.status, 200, "{a:?}");
    let (b, _) = https(port, "www.b.example.org", "/hello.txt", &b_crt, &[]);
    assert_eq!(b.status, 200, "{b:?}");
    // A request naming another site than the handshake did (and so another certificate entry,
    // which may verify clients differently) is misdirected: 421.
    let (other, _) = https(
        port,
        "a.example.org",
        "/hello.txt",
        &a_crt,
        &["-H", "Host: www.b.example.org"],
    );
    assert_eq!(other.status, 421, "{other:?}");
    // A name no entry has, with no default: the handshake fails with an alert, and the log
    // names the name.
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "5", "--cacert"])
        .arg(&a_crt)
        .arg("--resolve")
        .arg(format!("other.example.org:{port}:127.0.0.1"))
        .arg(format!("https://other.example.org:{port}/"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(35), "{out:?}");
    wait_for(Duration::from_secs(5), "the refusal in the log", || {
        r.error_log()
            .contains("no certificate for the server name \"other.example.org\"")
            .then_some(())
    });
    // And the server goes on.
    let (again, _) = https(port, "a.example.org", "/hello.txt", &a_crt, &[]);
    assert_eq!(again.status, 200);
}

#[test]
fn bad_handshakes_are_closed_and_the_server_goes_on() {
    let www = docroot();
    let dir = TempDir::new("tlsbad");
    let (crt, key) = certificate(dir.path(), "site", &["localhost"]);
    let (r, port) = start(&dir, www.path(), &cert_lines(&crt, &key), "");
    let addr = format!("127.0.0.1:{port}");
    // Plain HTTP to the TLS port: no HTTP answer, the connection is closed (after an alert).
    let answer = raw(
        &addr,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    // Garbage records.
    let garbage = raw(
        &addr,
        &[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3],
        Duration::from_secs(5),
    );
    assert!(garbage.len() < 100, "{garbage:?}");
    // A client that sends half a hello and stalls is closed at the header timeout (2 s).
    let mut stalled = TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    let n = stalled.read(&mut buf).unwrap_or(0);
    assert!(
        n < 64 && t.elapsed() < Duration::from_secs(6),
        "{:?}",
        t.elapsed()
    );
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    // Meanwhile and after, HTTPS and plain HTTP are served.
    let (ok, _) = https(port, "localhost", "/hello.txt", &crt, &[]);
    assert_eq!(ok.status, 200);
    assert_eq!(curl(&[&r.url("/hello.txt")]).status, 200);
    let log = r.error_log();
    assert!(log.contains("no TLS handshake within 2s"), "{log}");
}

#[test]
fn a_certificate_that_cannot_be_used_is_an_error_at_its_line() {
    let dir = TempDir::new("tlscheck");
    let (crt, _key) = certificate(dir.path(), "one", &["localhost"]);
    let (_, other_key) = certificate(dir.path(), "two", &["localhost"]);
    let www = docroot();
    for (tls, want) in [
        // No key file, and none in the certificate's.
        (
            format!("certificate = \"{}\"\n", crt.display()),
            "5:15: private key",
        ),
        (
            format!(
                "certificate = \"{}\"\nkey = \"{}\"\n",
                dir.join("missing.crt").display(),
                other_key.display()
            ),
            "5:15: certificate",
        ),
        // Another certificate's key.
        (cert_lines(&crt, &other_key), "6:7: private key"),
        // A TLS 1.2 suite rustls does not have.
        (
            format!(
                "certificate = \"{}\"\nkey = \"{}\"\ntls12_ciphers = [\"AES256-SHA\"]\n",
                crt.display(),
                dir.join("one.key").display()
            ),
            "7:17: tls12_ciphers: \"AES256-SHA\" is not a TLS 1.2 suite rustls has",
        ),
    ] {
        let cfg = dir.join("relight.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\ndocument_root = \"{}\"\n[[tls]]\nlisten = [\"127.0.0.1:1\"]\n{tls}",
                www.path().display()
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_relight"))
            .arg("-t")
            .arg("-f")
            .arg(&cfg)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{tls}: {err}");
        assert!(
            err.contains(&format!("relight.toml:{want}")),
            "{tls}: want {want:?} in {err}"
        );
    }
}

/// A lighttpd.conf with an HTTPS socket block, two names with their own certificates (one
/// `ssl.pemfile` with the key in it, one with `ssl.privkey`) and a FastCGI backend.
fn ssl_conf(dir: &Path, www: &Path, plain: u16, tls: u16, echo: &Path, certs: &Path) -> String {
    format!(
        r#"server.modules = ( "mod_openssl", "mod_redirect", "mod_fastcgi", "mod_setenv", "mod_staticfile" )
server.document-root = "{www}"
server.port = {plain}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
mimetype.assign = ( ".txt" => "text/plain" )
$SERVER["socket"] == "127.0.0.1:{tls}" {{
  ssl.engine = "enable"
  ssl.pemfile = "{certs}/default.pem"
  ssl.openssl.ssl-conf-cmd = ( "MinProtocol" => "TLSv1.2" )
  $HTTP["host"] == "a.example.org" {{
    ssl.pemfile = "{certs}/a.pem"
  }}
  $HTTP["host"] == "b.example.org" {{
    ssl.pemfile = "{certs}/b.crt"
    ssl.privkey = "{certs}/b.key"
  }}
}}
$HTTP["scheme"] == "https" {{
  setenv.add-response-header = ( "X-Scheme" => "https" )
}}
$HTTP["scheme"] == "http" {{
  url.redirect = ( "^/moved" => "https://${{url.authority}}${{url.path}}${{qsa}}" )
}}
fastcgi.server = ( "/app" => (( "socket" => "{dir}/app.sock", "bin-path" => "{echo}", "max-procs" => 1, "check-local" => "disable" )) )
"#,
        www = www.display(),
        dir = dir.display(),
        echo = echo.display(),
        certs = certs.display(),
    )
}

#[test]
fn an_ssl_lighttpd_conf_serves_as_lighttpd_does() {
    let www = docroot();
    let certs = TempDir::new("ltcerts");
    let pem = |tag: &str, name: &str| {
        let (crt, key) = certificate(certs.path(), tag, &[name]);
        pem_with_key(certs.path(), tag, &crt, &key);
        crt
    };
    let default_crt = pem("default", "localhost");
    let a_crt = pem("a", "a.example.org");
    let b_crt = pem("b", "b.example.org");
    let echo = c_peer("fcgi_echo");
    let (dl, dr) = (TempDir::new("lt-ssl"), TempDir::new("rl-ssl"));
    let (pl, tl, pr, tr) = (free_port(), free_port(), free_port(), free_port());
    std::fs::write(
        dl.join("lighttpd.conf"),
        ssl_conf(dl.path(), www.path(), pl, tl, &echo, certs.path()),
    )
    .unwrap();
    std::fs::write(
        dr.join("lighttpd.conf"),
        ssl_conf(dr.path(), www.path(), pr, tr, &echo, certs.path()),
    )
    .unwrap();
    let _lighttpd = start_lighttpd(&dl.join("lighttpd.conf"), pl);
    wait_listening(&format!("127.0.0.1:{tl}"), Duration::from_secs(5));
    let relight = Relight::start_file(&dr.join("lighttpd.conf"), pr);
    wait_listening(&format!("127.0.0.1:{tr}"), Duration::from_secs(5));
    let comparable = |mut p: std::collections::BTreeMap<String, String>| {
        for k in ["REMOTE_PORT", "SERVER_PORT", "HTTP_HOST", "SERVER_SOFTWARE"] {
            p.remove(k);
        }
        p
    };
    for (host, ca) in [
        ("localhost", &default_crt),
        ("a.example.org", &a_crt),
        ("b.example.org", &b_crt),
    ] {
        for path in ["/hello.txt", "/app/x?q=1"] {
            let (theirs, _) = https(tl, host, path, ca, &["--http1.1"]);
            let (ours, _) = https(tr, host, path, ca, &["--http1.1"]);
            assert_eq!(theirs.status, 200, "lighttpd {host}{path}: {theirs:?}");
            assert_eq!(ours.status, theirs.status, "{host}{path}: {ours:?}");
            assert_eq!(ours.header("x-scheme").as_deref(), Some("https"));
            assert_eq!(theirs.header("x-scheme").as_deref(), Some("https"));
            if path == "/hello.txt" {
                assert_eq!(ours.body, theirs.body);
            } else {
                assert_eq!(
                    comparable(ours.params()),
                    comparable(theirs.params()),
                    "{host}{path}: backend params, relight (left) vs lighttpd (right)"
                );
            }
        }
    }
    // HTTP to HTTPS as lighttpd users write it: the same Location (but for the port).
    let moved = |port: u16| {
        let r = curl(&[&format!("http://127.0.0.1:{port}/moved/a%20b?x=1&y=2")]);
        (
            r.status,
            r.header("location")
                .unwrap_or_default()
                .replace(&port.to_string(), "PORT"),
        )
    };
    assert_eq!(
        moved(pl),
        (
            301,
            "https://127.0.0.1:PORT/moved/a%20b?x=1&y=2".to_string()
        )
    );
    assert_eq!(moved(pr), moved(pl));
    // The plain listener: no X-Scheme, and HTTPS unset for the backend, in both.
    let plain = curl(&[&format!("http://127.0.0.1:{pr}/app")]);
    assert_eq!(plain.header("x-scheme"), None);
    assert_eq!(plain.params().get("HTTPS"), None);
    let _ = relight;
}

#[test]
fn sigusr1_loads_new_certificates_and_keeps_the_old_ones_if_the_new_cannot_be_used() {
    let www = docroot();
    let dir = TempDir::new("tlsreload");
    let (old_crt, _) = certificate(dir.path(), "old", &["localhost"]);
    let (crt, key) = (dir.join("site.crt"), dir.join("site.key"));
    std::fs::copy(&old_crt, &crt).unwrap();
    std::fs::copy(dir.join("old.key"), &key).unwrap();
    let (r, port) = start(&dir, www.path(), &cert_lines(&crt, &key), "");
    let ok = |ca: &Path| https(port, "localhost", "/hello.txt", ca, &[]).0.status == 200;
    assert!(ok(&old_crt));
    // A renewed certificate, in place: served to new connections after SIGUSR1.
    let (new_crt, new_key) = certificate(dir.path(), "new", &["localhost"]);
    std::fs::copy(&new_crt, &crt).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    r.proc.signal("USR1");
    wait_for(Duration::from_secs(5), "the reload", || {
        r.error_log()
            .contains("SIGUSR1: configuration reloaded")
            .then_some(())
    });
    assert!(ok(&new_crt), "the new certificate is served");
    assert!(!ok(&old_crt), "the old one is not");
    // A key that is not the certificate's: nothing is reloaded, the log says why, and the
    // certificate in use goes on.
    let (_, stray_key) = certificate(dir.path(), "stray", &["localhost"]);
    std::fs::copy(&stray_key, &key).unwrap();
    r.proc.signal("USR1");
    wait_for(Duration::from_secs(5), "the refusal", || {
        r.error_log()
            .contains("not reloading, keeping the current certificates")
            .then_some(())
    });
    let log = r.error_log();
    assert!(
        log.contains("it is not the key of that certificate"),
        "{log}"
    );
    assert!(ok(&new_crt), "still served with the certificate in use");
}

#[test]
fn self_signed_makes_a_certificate_on_first_start_and_reuses_it() {
    let www = docroot();
    let dir = TempDir::new("selfsigned");
    let port = free_port();
    let cfg = dir.join("relight.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\ndocument_root = \"{}\"\nerror_log = \"{}\"\n[[tls]]\nlisten = [\"127.0.0.1:{port}\"]\nself_signed = true\n",
            www.path().display(),
            dir.join("error.log").display()
        ),
    )
    .unwrap();
    // `relight -t` writes nothing.
    let t = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-t", "-f"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(t.status.success(), "{t:?}");
    let (crt, key) = (
        dir.join("relight-selfsigned.crt"),
        dir.join("relight-selfsigned.key"),
    );
    assert!(!crt.exists());
    let first = {
        let r = Relight::start_file(&cfg, port);
        let (page, _) = https(port, "localhost", "/hello.txt", &crt, &[]);
        assert_eq!(page.status, 200, "{page:?}");
        // The certificate names the listen address too.
        let by_ip = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&crt)
            .arg(format!("https://127.0.0.1:{port}/hello.txt"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&by_ip.stdout), "200");
        drop(r);
        std::fs::read(&crt).unwrap()
    };
    for f in [&crt, &key] {
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(f).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "{}", f.display());
    }
    // The next start uses the same certificate.
    let _r = Relight::start_file(&cfg, port);
    let (page, _) = https(port, "localhost", "/hello.txt", &crt, &[]);
    assert_eq!(page.status, 200);
    assert_eq!(
        std::fs::read(&crt).unwrap(),
        first,
        "reused, not made again"
    );
}

#[test]
fn https_redirect_sends_plain_http_to_the_tls_port() {
    let www = docroot();
    std::fs::create_dir_all(www.join(".well-known")).unwrap();
    std::fs::write(www.join(".well-known/token"), "t").unwrap();
    let dir = TempDir::new("toredirect");
    let (crt, key) = certificate(dir.path(), "site", &["localhost"]);
    let port = free_port();
    let r = Relight::start(
        www.path(),
        "https_redirect = true",
        &format!(
            "[[tls]]\nlisten = [\"127.0.0.1:{port}\"]\ncertificate = \"{}\"\nkey = \"{}\"\n\
             [[scope]]\nwhen = [{{ field = \"url\", op = \"=^\", value = \"/.well-known/\" }}]\nhttps_redirect = false\n",
            crt.display(),
            key.display()
        ),
    );
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(5));
    let plain = curl(&["-H", "Host: localhost:8080", &r.url("/dir/a%20b?x=1")]);
    assert_eq!(plain.status, 301, "{plain:?}");
    assert_eq!(
        plain.header("location").as_deref(),
        Some(format!("https://localhost:{port}/dir/a%20b?x=1").as_str())
    );
    // Followed, it is served over HTTPS.
    let (followed, _) = https(port, "localhost", "/hello.txt", &crt, &[]);
    assert_eq!(followed.status, 200);
    // Where a scope turns it off, plain HTTP is served.
    assert_eq!(curl(&[&r.url("/.well-known/token")]).status, 200);
    // Without any [[tls]], the setting is an error at start.
    let cfg = dir.join("bad.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"{}\"\nhttps_redirect = true\n",
            www.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_relight"))
        .args(["-t", "-f"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("https_redirect: there is no [[tls]]"),
        "{out:?}"
    );
}

/// Runs the hostile HTTP/2 client (tests/peers/h2_hostile.py, Debian's python3-h2) against
/// `port`: its one-line report of what the server did.
fn h2_hostile(port: u16, mode: &str, n: usize, path: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/h2_hostile.py");
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .args(["127.0.0.1", &port.to_string(), mode, &n.to_string(), path])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The count `name=N` in a report of [`h2_hostile`].
fn count(report: &str, name: &str) -> usize {
    report
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {report:?}"))
}

#[test]
fn http2_floods_are_bounded_and_other_connections_go_on() {
    let www = docroot();
    let dir = TempDir::new("h2flood");
    let (crt, key) = certificate(dir.path(), "site", &["localhost"]);
    let (r, port) = start(
        &dir,
        www.path(),
        &cert_lines(&crt, &key),
        &echo_app(dir.path(), "procs = 2\nqueue_timeout = \"2s\"\n"),
    );
    let pid = r.proc.pid();
    let rss_before = proc_status_kib(pid, "VmRSS:");
    // "Rapid reset" (CVE-2023-44487): streams opened and reset at once are cut off with
    // GOAWAY.
    let rapid = h2_hostile(port, "rapid-reset", 2000, "/app?mode=pid");
    assert!(rapid.starts_with("goaway"), "{rapid}");
    // More streams than allowed (128): the rest are refused, each with RST_STREAM.
    let streams = h2_hostile(port, "streams", 300, "/app?mode=sleep&n=3000");
    assert!(count(&streams, "rst") >= 300 - 128, "{streams}");
    // A header list far over max_header_size: no response, the connection or stream ends.
    let big = h2_hostile(port, "headers", 200_000, "/hello.txt");
    assert_eq!(count(&big, "headers"), 0, "{big}");
    // SETTINGS and PING floods are answered as they come, nothing piles up.
    for mode in ["settings", "ping"] {
        let flood = h2_hostile(port, mode, 20_000, "/");
        assert!(!flood.starts_with("closed"), "{mode}: {flood}");
    }
    // A connection that asks nothing, only PINGs, is closed (GOAWAY) at the header timeout (2 s
    // here); one whose streams were reset as they came counts as idle too.
    let t = Instant::now();
    let idle = h2_hostile(port, "idle", 10, "/");
    assert!(idle.starts_with("goaway"), "{idle}");
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    // Other clients were served throughout, and memory came back; h2load, 100 streams at once
    // on each of 4 connections, gets every answer.
    let h2load = Command::new("h2load")
        .args(["-n", "2000", "-c", "4", "-m", "100"])
        .arg(format!("https://127.0.0.1:{port}/hello.txt"))
        .output()
        .expect("h2load runs (nghttp2-client)");
    let text = String::from_utf8_lossy(&h2load.stdout);
    assert!(
        text.contains("2000 total, 2000 started, 2000 done, 2000 succeeded"),
        "{text}"
    );
    let (ok, version) = https(port, "localhost", "/hello.txt", &crt, &["--http2"]);
    assert_eq!((ok.status, version.as_str()), (200, "2"));
    let rss_after = proc_status_kib(pid, "VmRSS:");
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS {rss_before} -> {rss_after} KiB"
    );
}

#[test]
fn a_reset_stream_gives_up_its_backend_request_and_keeps_the_process() {
    let www = docroot();
    let dir = TempDir::new("h2reset");
    let (crt, key) = certificate(dir.path(), "site", &["localhost"]);
    let (r, port) = start(
        &dir,
        www.path(),
        &cert_lines(&crt, &key),
        &echo_app(dir.path(), "procs = 1\n"),
    );
    let (first, _) = https(port, "localhost", "/app?mode=pid", &crt, &["--http2"]);
    assert_eq!(first.status, 200);
    // The stream is reset 300 ms into a 1.5 s backend request; the connection stays open.
    let report = h2_hostile(port, "reset-after", 300, "/app?mode=sleep&n=1500");
    assert!(report.starts_with("open"), "{report}");
    wait_for(Duration::from_secs(5), "the request given up", || {
        r.error_log()
            .contains("GET /app?mode=sleep&n=1500: client went away before the response")
            .then_some(())
    });
    // The process was not killed for it (lighttpd's semantics): the same pid answers next.
    let (next, _) = https(port, "localhost", "/app?mode=pid", &crt, &["--http2"]);
    assert_eq!(next.text(), first.text());
}

#[test]
fn testssl_rates_nothing_high_or_critical_but_the_test_certificate() {
    let www = docroot();
    let dir = TempDir::new("testssl");
    // RSA, as most deployed certificates (ECDSA is covered by the other tests).
    let (crt, key) = (dir.join("rsa.crt"), dir.join("rsa.key"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .unwrap();
    assert!(made.status.success());
    let (_r, port) = start(&dir, www.path(), &cert_lines(&crt, &key), "");
    let json = dir.join("testssl.json");
    // Protocols, cipher categories, forward secrecy, server preferences and defaults, and
    // every vulnerability check; no DNS (no network here), no questions asked.
    let out = Command::new("testssl")
        .args([
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "batch",
            "--nodns",
            "none",
        ])
        .args(["-p", "-s", "-f", "-P", "-S", "-U", "--jsonfile"])
        .arg(&json)
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("testssl runs (Debian's testssl.sh)");
    let report = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // Findings are objects with "id", "severity" and "finding"; the certificate's own (a
    // self-signed test certificate, valid two days, no OCSP: "cert_*") are the test's, not
    // relight's.
    let findings: Vec<(String, String, String)> = report
        .split('{')
        .filter_map(|o| {
            let field = |name: &str| {
                let at = o.find(&format!("\"{name}\""))?;
                let rest = &o[at + name.len() + 2..];
                let start = rest.find('"')? + 1;
                let end = start + rest[start..].find('"')?;
                Some(rest[start..end].to_string())
            };
            Some((field("id")?, field("severity")?, field("finding")?))
        })
        .collect();
    assert!(findings.len() > 20, "{report}");
    let bad: Vec<_> = findings
        .iter()
        .filter(|(id, sev, _)| (sev == "HIGH" || sev == "CRITICAL") && !id.starts_with("cert_"))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    let offered = |id: &str| findings.iter().find(|f| f.0 == id).map(|f| f.2.clone());
    assert_eq!(offered("TLS1").as_deref(), Some("not offered"));
    assert_eq!(offered("TLS1_3").as_deref(), Some("offered with final"));
}

/// Runs `openssl args` in `dir`; it must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`dir/ca.crt`, `.key`) and a client certificate it signed for `subject`
/// (`dir/<tag>.crt`, `.key`, serial 0x5A); made with openssl, as a device maker would.
fn client_certificate(dir: &Path, ca: &str, tag: &str, subject: &str) -> (PathBuf, PathBuf) {
    client_certificate_numbered(dir, ca, tag, subject, "0x5A")
}

/// Revokes `cert` (signed by `dir/<ca>.crt`) and writes the CA's revocation list to
/// `dir/<ca>.crl.pem`, with `openssl ca` as a device maker would.
fn revoke(dir: &Path, ca: &str, cert: &Path) -> PathBuf {
    let run = |args: &[&str]| openssl(dir, args);
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n",
    )
    .unwrap();
    if !dir.join("index.txt").exists() {
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
    }
    let (key, crt) = (format!("{ca}.key"), format!("{ca}.crt"));
    let cert = cert.display().to_string();
    let base = ["ca", "-config", "ca.cnf", "-keyfile", &key, "-cert", &crt];
    run(&[&base[..], &["-revoke", &cert]].concat());
    let out = format!("{ca}.crl.pem");
    run(&[&base[..], &["-gencrl", "-out", &out]].concat());
    dir.join(out)
}

/// [`client_certificate`] with serial `serial`.
fn client_certificate_numbered(
    dir: &Path,
    ca: &str,
    tag: &str,
    subject: &str,
    serial: &str,
) -> (PathBuf, PathBuf) {
    let run = |args: &[&str]| openssl(dir, args);
    if !dir.join(format!("{ca}.crt")).exists() {
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/O=Relight/CN={ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.crt"),
        ]);
    }
    std::fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        &format!("{tag}.key"),
        "-out",
        &format!("{tag}.csr"),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &format!("{tag}.csr"),
        "-CA",
        &format!("{ca}.crt"),
        "-CAkey",
        &format!("{ca}.key"),
        "-set_serial",
        serial,
        "-days",
        "2",
        "-extfile",
        "client.ext",
        "-out",
        &format!("{tag}.crt"),
    ]);
    (
        dir.join(format!("{tag}.crt")),
        dir.join(format!("{tag}.key")),
    )
}

#[test]
fn client_certificates_are_verified_and_described_to_backends() {
    let www = docroot();
    let dir = TempDir::new("clientcert");
    let (crt, key) = certificate(dir.path(), "site", &["localhost"]);
    let (device, device_key) =
        client_certificate(dir.path(), "ca", "device", "/C=DE/O=Relight/CN=device-1");
    let (stranger, stranger_key) =
        client_certificate(dir.path(), "otherca", "stranger", "/CN=stranger");
    let backend = echo_app(dir.path(), "");
    let tls = |verify: &str| {
        format!(
            "certificate = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\nclient_verify = \"{verify}\"\nclient_username = \"SSL_CLIENT_S_DN_CN\"\n",
            crt.display(),
            key.display(),
            dir.join("ca.crt").display()
        )
    };
    let as_client = |port: u16, cert: Option<(&Path, &Path)>| {
        let (c, k);
        let mut extra: Vec<&str> = Vec::new();
        if let Some((cert, key)) = cert {
            c = cert.display().to_string();
            k = key.display().to_string();
            extra.extend(["--cert", &c, "--key", &k]);
        }
        https(port, "localhost", "/app", &crt, &extra).0
    };
    {
        let (_r, port) = start(&dir, www.path(), &tls("required"), &backend);
        let ok = as_client(port, Some((&device, &device_key)));
        assert_eq!(ok.status, 200, "{ok:?}");
        let p = ok.params();
        for (k, v) in [
            ("SSL_CLIENT_VERIFY", "SUCCESS"),
            ("SSL_CLIENT_S_DN", "C = DE, O = Relight, CN = device-1"),
            ("SSL_CLIENT_S_DN_CN", "device-1"),
            ("SSL_CLIENT_S_DN_O", "Relight"),
            ("SSL_CLIENT_M_SERIAL", "5A"),
            ("REMOTE_USER", "device-1"),
            ("AUTH_TYPE", "SSL_CLIENT_VERIFY"),
        ] {
            assert_eq!(p.get(k).map(String::as_str), Some(v), "{k} in {p:?}");
        }
        // No certificate, or one of another CA: refused in the handshake.
        assert_eq!(as_client(port, None).status, 0);
        assert_eq!(as_client(port, Some((&stranger, &stranger_key))).status, 0);
    }
    let (_r, port) = start(&dir, www.path(), &tls("optional"), &backend);
    let anonymous = as_client(port, None);
    assert_eq!(anonymous.status, 200);
    assert_eq!(
        anonymous
            .params()
            .get("SSL_CLIENT_VERIFY")
            .map(String::as_str),
        Some("NONE")
    );
    assert_eq!(anonymous.params().get("REMOTE_USER"), None);
    assert_eq!(as_client(port, Some((&stranger, &stranger_key))).status, 0);
}

#[test]
fn revoked_client_certificates_are_refused_as_lighttpd_refuses_them() {
    let www = docroot();
    let dir = TempDir::new("crl");
    let (crt, key) = certificate(dir.path(), "site", &["localhost"]);
    let (good, good_key) = client_certificate(dir.path(), "ca", "good", "/CN=good");
    let (lost, lost_key) =
        client_certificate_numbered(dir.path(), "ca", "lost", "/CN=lost", "0x5B");
    let crl = revoke(dir.path(), "ca", &lost);
    // The same lighttpd.conf for both servers, on two ports.
    let conf = |port: u16, log: &str| {
        format!(
            "server.document-root = \"{}\"\nserver.port = {port}\nserver.bind = \"127.0.0.1\"\n\
             server.modules = ( \"mod_openssl\" )\nserver.errorlog = \"{log}\"\n\
             ssl.engine = \"enable\"\nssl.pemfile = \"{}\"\nssl.privkey = \"{}\"\n\
             ssl.verifyclient.activate = \"enable\"\nssl.verifyclient.enforce = \"enable\"\n\
             ssl.verifyclient.ca-file = \"{}\"\nssl.verifyclient.ca-crl-file = \"{}\"\n",
            www.path().display(),
            crt.display(),
            key.display(),
            dir.join("ca.crt").display(),
            crl.display()
        )
    };
    let (lport, rport) = (free_port(), free_port());
    std::fs::write(
        dir.join("l.conf"),
        conf(lport, &dir.join("l.log").display().to_string()),
    )
    .unwrap();
    std::fs::write(
        dir.join("r.conf"),
        conf(rport, &dir.join("r.log").display().to_string()),
    )
    .unwrap();
    let _lighttpd = start_lighttpd(&dir.join("l.conf"), lport);
    let _relight = Relight::start_file(&dir.join("r.conf"), rport);
    for port in [lport, rport] {
        let with = |c: &Path, k: &Path| {
            let (c, k) = (c.display().to_string(), k.display().to_string());
            https(
                port,
                "localhost",
                "/hello.txt",
                &crt,
                &["--cert", &c, "--key", &k],
            )
            .0
        };
        let ok = with(&good, &good_key);
        assert_eq!(ok.status, 200, "port {port} (lighttpd {lport}): {ok:?}");
        let revoked = with(&lost, &lost_key);
        assert_eq!(
            revoked.status, 0,
            "port {port} (lighttpd {lport}): a revoked certificate got in"
        );
    }
}

#[test]
fn client_certificates_as_lighttpd_describes_them() {
    let www = docroot();
    let certs = TempDir::new("ltclient");
    let (crt, key) = certificate(certs.path(), "site", &["localhost"]);
    pem_with_key(certs.path(), "site", &crt, &key);
    let (device, device_key) = client_certificate(
        certs.path(),
        "ca",
        "device",
        "/C=DE/ST=Bayern/O=Relight Test/OU=Devices/CN=device-1",
    );
    let echo = c_peer("fcgi_echo");
    let conf = |dir: &Path, plain: u16, tls: u16| {
        format!(
            r#"server.modules = ( "mod_openssl", "mod_fastcgi" )
server.document-root = "{www}"
server.port = {plain}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/error.log"
$SERVER["socket"] == "127.0.0.1:{tls}" {{
  ssl.engine = "enable"
  ssl.pemfile = "{certs}/site.pem"
  ssl.verifyclient.activate = "enable"
  ssl.verifyclient.ca-file = "{certs}/ca.crt"
  ssl.verifyclient.enforce = "disable"
  ssl.verifyclient.username = "SSL_CLIENT_S_DN_CN"
  ssl.verifyclient.exportcert = "enable"
}}
fastcgi.server = ( "/app" => (( "socket" => "{dir}/app.sock", "bin-path" => "{echo}", "max-procs" => 1, "check-local" => "disable" )) )
"#,
            www = www.path().display(),
            dir = dir.display(),
            certs = certs.path().display(),
            echo = echo.display(),
        )
    };
    let (dl, dr) = (TempDir::new("lt-cc"), TempDir::new("rl-cc"));
    let (pl, tl, pr, tr) = (free_port(), free_port(), free_port(), free_port());
    std::fs::write(dl.join("lighttpd.conf"), conf(dl.path(), pl, tl)).unwrap();
    std::fs::write(dr.join("lighttpd.conf"), conf(dr.path(), pr, tr)).unwrap();
    let _lighttpd = start_lighttpd(&dl.join("lighttpd.conf"), pl);
    wait_listening(&format!("127.0.0.1:{tl}"), Duration::from_secs(5));
    let _relight = Relight::start_file(&dr.join("lighttpd.conf"), pr);
    wait_listening(&format!("127.0.0.1:{tr}"), Duration::from_secs(5));
    let (c, k) = (
        device.display().to_string(),
        device_key.display().to_string(),
    );
    let client: &[&str] = &["--cert", &c, "--key", &k];
    let ssl_params = |port: u16, args: &[&str]| {
        let (r, _) = https(port, "localhost", "/app", &crt, args);
        assert_eq!(r.status, 200, "{r:?}");
        r.params()
            .into_iter()
            .filter(|(k, _)| k.starts_with("SSL_CLIENT") || k == "REMOTE_USER" || k == "AUTH_TYPE")
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    for args in [client, &[][..]] {
        let theirs = ssl_params(tl, args);
        let ours = ssl_params(tr, args);
        assert_eq!(ours, theirs, "relight (left) vs lighttpd (right), {args:?}");
    }
}

#[test]
fn h2c_with_prior_knowledge_on_a_plain_listener_when_asked() {
    let www = docroot();
    let version = |r: &Relight, extra: &str| {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{http_version}",
            ])
            .args(extra.split_whitespace())
            .arg(r.url("/hello.txt"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let on = Relight::start(www.path(), "h2c = true", "");
    assert_eq!(version(&on, "--http2-prior-knowledge"), "200 2");
    // HTTP/1.1 on the same listener is what it was (files by sendfile included).
    assert_eq!(version(&on, "--http1.1"), "200 1.1");
    let big = www.join("big.bin");
    std::fs::write(&big, vec![7u8; 3 << 20]).unwrap();
    let body = curl(&["--http2-prior-knowledge", &on.url("/big.bin")]);
    assert_eq!(body.body.len(), 3 << 20);
    // A client that sends nothing has the header timeout once, not once for the preface
    // and again for HTTP/1.
    let quick = Relight::start(www.path(), "h2c = true\nheader_timeout = \"1s\"", "");
    let mut idle = std::net::TcpStream::connect(quick.addr()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let _ = std::io::Read::read(&mut idle, &mut buf);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1800),
        "closed after {took:?}"
    );
    // Off (the default): the preface is not HTTP/1, and no HTTP/2 is spoken.
    let off = Relight::start(www.path(), "", "");
    assert_ne!(version(&off, "--http2-prior-knowledge"), "200 2");
    assert_eq!(version(&off, "--http1.1"), "200 1.1");
}

/// The TLS 1.2 suite `openssl s_client -tls1_2` negotiates with `port` (its default offer), or
/// "" if the handshake fails.
fn tls12_suite(port: u16, client_ciphers: Option<&str>) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-tls1_2",
    ]);
    if let Some(c) = client_ciphers {
        cmd.args(["-cipher", c]);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Cipher    : "))
        .filter(|c| *c != "0000")
        .unwrap_or("")
        .to_string()
}

#[test]
fn cipher_lists_choose_tls12_suites_as_lighttpd_does() {
    let www = docroot();
    let certs = TempDir::new("ciphers");
    let (crt, key) = certificate(certs.path(), "site", &["localhost"]);
    pem_with_key(certs.path(), "site", &crt, &key);
    // (the list, a suite it leaves out)
    for (list, left_out) in [
        ("EECDH+CHACHA20", Some("ECDHE-ECDSA-AES256-GCM-SHA384")),
        ("ECDHE-ECDSA-AES128-GCM-SHA256:HIGH", None),
        (
            "HIGH:!AES256:!CHACHA20",
            Some("ECDHE-ECDSA-CHACHA20-POLY1305"),
        ),
    ] {
        let conf = |dir: &Path, plain: u16, tls: u16| {
            format!(
                "server.modules = ( \"mod_openssl\" )\nserver.document-root = \"{}\"\nserver.port = {plain}\nserver.bind = \"127.0.0.1\"\nserver.errorlog = \"{}/error.log\"\n$SERVER[\"socket\"] == \"127.0.0.1:{tls}\" {{\n  ssl.engine = \"enable\"\n  ssl.pemfile = \"{}/site.pem\"\n  ssl.cipher-list = \"{list}\"\n}}\n",
                www.path().display(),
                dir.display(),
                certs.path().display()
            )
        };
        let (dl, dr) = (TempDir::new("lt-ciph"), TempDir::new("rl-ciph"));
        let (pl, tl, pr, tr) = (free_port(), free_port(), free_port(), free_port());
        std::fs::write(dl.join("lighttpd.conf"), conf(dl.path(), pl, tl)).unwrap();
        std::fs::write(dr.join("lighttpd.conf"), conf(dr.path(), pr, tr)).unwrap();
        let _l = start_lighttpd(&dl.join("lighttpd.conf"), pl);
        wait_listening(&format!("127.0.0.1:{tl}"), Duration::from_secs(5));
        let _r = Relight::start_file(&dr.join("lighttpd.conf"), pr);
        wait_listening(&format!("127.0.0.1:{tr}"), Duration::from_secs(5));
        let theirs = tls12_suite(tl, None);
        assert!(!theirs.is_empty(), "{list}: lighttpd negotiated nothing");
        assert_eq!(tls12_suite(tr, None), theirs, "{list}");
        // A client that offers only a suite the list leaves out is refused by both.
        if let Some(out) = left_out {
            assert_eq!(tls12_suite(tl, Some(out)), "", "{list}: lighttpd");
            assert_eq!(tls12_suite(tr, Some(out)), "", "{list}: relight");
        }
    }
}
