//! The library as a web server sees it, record by record: GET_VALUES, roles, keep-conn, a
//! second request on a busy connection, abort, panics and failures of the handler, big bodies
//! both ways, FCGI_WEB_SERVER_ADDRS. The application runs in this process on a socket of the
//! test; the web server is played with fcgi-proto's encoders.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fcgi_app::{Address, Builder, Listener, Request, Response};
use fcgi_proto::server::encode;
use fcgi_proto::{EndRequestBody, ProtocolStatus, Record, RecordDecoder, RecordType, Role};

/// Runs `handler` on a new unix socket with 4 workers; returns the socket's path.
fn app(
    handler: impl Fn(&mut Request, &mut Response) -> std::io::Result<()> + Send + Sync + 'static,
) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = PathBuf::from(format!(
        "/tmp/fa-proto-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let listener = Listener::bind(&Address::Unix(path.clone())).unwrap();
    std::thread::spawn(move || Builder::new().workers(4).serve(listener, handler));
    path
}

/// A web server's end of one connection.
struct Peer {
    s: UnixStream,
    dec: RecordDecoder,
}

impl Peer {
    fn connect(path: &PathBuf) -> Peer {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Peer {
            s,
            dec: RecordDecoder::new(),
        }
    }

    fn send(&mut self, f: impl FnOnce(&mut BytesMut)) {
        let mut out = BytesMut::new();
        f(&mut out);
        self.s.write_all(&out).unwrap();
    }

    /// A request's head: BEGIN_REQUEST and the params.
    fn begin(&mut self, id: u16, role: Role, keep: bool, params: &[(&str, &str)]) {
        self.send(|o| {
            encode::begin_request(o, id, role, keep);
            encode::params(
                o,
                id,
                params.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
            );
            encode::params_end(o, id);
        });
    }

    /// The next record; `None` when the application closed the connection.
    fn record(&mut self) -> Option<Record> {
        loop {
            if let Some(r) = self.dec.next_record().unwrap() {
                return Some(r);
            }
            let mut buf = [0u8; 65536];
            let n = self.s.read(&mut buf).unwrap();
            if n == 0 {
                return None;
            }
            self.dec.push(&buf[..n]);
        }
    }

    /// Everything request `id` sends up to its END_REQUEST: (stdout, stderr, end).
    fn response(&mut self, id: u16) -> (Vec<u8>, Vec<u8>, EndRequestBody) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        loop {
            let r = self
                .record()
                .expect("the response before the connection closes");
            assert_eq!(r.header.request_id, id, "{r:?}");
            match r.header.record_type {
                RecordType::Stdout => out.extend_from_slice(&r.content),
                RecordType::Stderr => err.extend_from_slice(&r.content),
                RecordType::EndRequest => {
                    return (out, err, EndRequestBody::parse(&r.content).unwrap());
                }
                t => panic!("unexpected {t:?}"),
            }
        }
    }
}

fn hello(req: &mut Request, resp: &mut Response) -> std::io::Result<()> {
    resp.set_header("Content-Type", "text/plain");
    write!(resp, "hello {}", req.request_uri())
}

#[test]
fn get_values_and_unknown_types_are_answered() {
    let path = app(hello);
    let mut p = Peer::connect(&path);
    p.send(|o| {
        encode::get_values(
            o,
            [
                &b"FCGI_MAX_CONNS"[..],
                b"FCGI_MAX_REQS",
                b"FCGI_MPXS_CONNS",
                b"SOMETHING_ELSE",
            ],
        )
    });
    let r = p.record().unwrap();
    assert_eq!(r.header.record_type, RecordType::GetValuesResult);
    let pairs = fcgi_proto::pairs::decode_pairs(&r.content, &Default::default()).unwrap();
    let got: Vec<(Bytes, Bytes)> = pairs;
    assert_eq!(
        got,
        vec![
            (
                Bytes::from_static(b"FCGI_MAX_CONNS"),
                Bytes::from_static(b"4")
            ),
            (
                Bytes::from_static(b"FCGI_MAX_REQS"),
                Bytes::from_static(b"4")
            ),
            (
                Bytes::from_static(b"FCGI_MPXS_CONNS"),
                Bytes::from_static(b"0")
            ),
        ]
    );
    // A management record of a type FastCGI 1.0 does not define.
    p.s.write_all(&[1, 42, 0, 0, 0, 0, 0, 0]).unwrap();
    let r = p.record().unwrap();
    assert_eq!(r.header.record_type, RecordType::UnknownType);
    assert_eq!(r.content[0], 42);
}

#[test]
fn responder_keep_conn_and_filter_role() {
    let path = app(hello);
    let mut p = Peer::connect(&path);
    for (id, uri) in [(1, "/a"), (2, "/b")] {
        p.begin(id, Role::Responder, true, &[("REQUEST_URI", uri)]);
        p.send(|o| encode::stdin_end(o, id));
        let (out, _, end) = p.response(id);
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("Status: 200 OK\r\n"), "{out}");
        assert!(out.ends_with(&format!("\r\n\r\nhello {uri}")), "{out}");
        assert_eq!(end.protocol_status, ProtocolStatus::RequestComplete);
    }
    // Filter is not served: FCGI_UNKNOWN_ROLE, and the connection goes on.
    p.begin(3, Role::Filter, true, &[]);
    let (_, _, end) = p.response(3);
    assert_eq!(end.protocol_status, ProtocolStatus::UnknownRole);
    p.begin(4, Role::Responder, false, &[("REQUEST_URI", "/c")]);
    p.send(|o| encode::stdin_end(o, 4));
    let (out, _, _) = p.response(4);
    assert!(String::from_utf8(out).unwrap().ends_with("hello /c"));
    assert!(
        p.record().is_none(),
        "no FCGI_KEEP_CONN: the application closes"
    );
}

#[test]
fn a_second_request_on_a_busy_connection_gets_cant_mpx_conn() {
    let path = app(|req: &mut Request, resp: &mut Response| {
        let mut body = String::new();
        req.read_to_string(&mut body)?;
        write!(resp, "body={body}")
    });
    let mut p = Peer::connect(&path);
    p.begin(1, Role::Responder, true, &[]);
    p.send(|o| {
        encode::stdin(o, 1, b"first ");
        encode::begin_request(o, 2, Role::Responder, true);
    });
    let r = p.record().unwrap();
    assert_eq!(r.header.request_id, 2);
    assert_eq!(
        EndRequestBody::parse(&r.content).unwrap().protocol_status,
        ProtocolStatus::CantMpxConn
    );
    p.send(|o| {
        encode::stdin(o, 1, b"part");
        encode::stdin_end(o, 1);
    });
    let (out, _, _) = p.response(1);
    assert!(String::from_utf8(out).unwrap().ends_with("body=first part"));
}

#[test]
fn abort_ends_the_request_and_the_handler_sees_it() {
    let saw = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = saw.clone();
    let path = app(move |req: &mut Request, resp: &mut Response| {
        let mut body = Vec::new();
        let r = req.read_to_end(&mut body);
        *seen.lock().unwrap() = format!("{:?}", r.map_err(|e| e.kind()));
        let w = resp.write_all(b"too late").and_then(|_| resp.flush());
        *seen.lock().unwrap() += &format!(" {:?}", w.map_err(|e| e.kind()));
        Ok(())
    });
    let mut p = Peer::connect(&path);
    p.begin(1, Role::Responder, true, &[]);
    p.send(|o| {
        encode::stdin(o, 1, b"some");
        encode::abort_request(o, 1);
    });
    let (out, _, end) = p.response(1);
    assert!(out.is_empty(), "nothing after the abort");
    assert_eq!(end.protocol_status, ProtocolStatus::RequestComplete);
    assert_eq!(
        *saw.lock().unwrap(),
        "Err(ConnectionAborted) Err(ConnectionAborted)"
    );
    // The connection serves the next request.
    p.begin(2, Role::Responder, false, &[]);
    p.send(|o| encode::stdin_end(o, 2));
    let (_, _, end) = p.response(2);
    assert_eq!(end.app_status, 0);
}

#[test]
fn a_panic_or_an_error_is_a_500_and_the_process_goes_on() {
    let path = app(
        |req: &mut Request, resp: &mut Response| match req.query_string() {
            "panic" => panic!("the handler's bug"),
            "fail" => Err(std::io::Error::other("no database")),
            "late" => {
                resp.write_all(b"partial")?;
                resp.flush()?;
                panic!("after the head");
            }
            _ => write!(resp, "fine"),
        },
    );
    for (q, status, body_end) in [
        ("panic", "500", "500 Internal Server Error\n"),
        ("fail", "500", "500 Internal Server Error\n"),
        ("late", "200", "partial"),
        ("", "200", "fine"),
    ] {
        let mut p = Peer::connect(&path);
        p.begin(1, Role::Responder, false, &[("QUERY_STRING", q)]);
        p.send(|o| encode::stdin_end(o, 1));
        let (out, err, end) = p.response(1);
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with(&format!("Status: {status} ")), "{q}: {out}");
        assert!(out.ends_with(body_end), "{q}: {out}");
        let err = String::from_utf8(err).unwrap();
        if q.is_empty() {
            assert_eq!(end.app_status, 0);
            assert!(err.is_empty());
        } else {
            assert_eq!(end.app_status, 1, "{q}");
            assert!(err.contains("the handler"), "{q}: {err}");
        }
    }
}

#[test]
fn authorizer_role_and_params() {
    let path = app(|req: &mut Request, resp: &mut Response| {
        assert_eq!(req.role(), Role::Authorizer);
        if req.header("X-Token") == Some("secret") && req.remote_addr().is_some() {
            resp.set_header("Variable-USER", "alice");
        } else {
            resp.set_status(403);
        }
        Ok(())
    });
    for (token, status) in [("secret", "200"), ("wrong", "403")] {
        let mut p = Peer::connect(&path);
        p.begin(
            1,
            Role::Authorizer,
            false,
            &[("HTTP_X_TOKEN", token), ("REMOTE_ADDR", "127.0.0.1")],
        );
        let (out, _, _) = p.response(1);
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with(&format!("Status: {status}")), "{out}");
        assert_eq!(out.contains("Variable-USER: alice\r\n"), status == "200");
    }
}

#[test]
fn big_bodies_stream_both_ways() {
    let path = app(|req: &mut Request, resp: &mut Response| {
        let mut n = 0u64;
        let mut sum = 0u64;
        let mut buf = [0u8; 8192];
        loop {
            let k = req.read(&mut buf)?;
            if k == 0 {
                break;
            }
            n += k as u64;
            sum += buf[..k].iter().map(|b| u64::from(*b)).sum::<u64>();
        }
        writeln!(resp, "{n} {sum}")?;
        for i in 0..1000u32 {
            resp.write_all(&[(i % 251) as u8; 1000])?;
        }
        Ok(())
    });
    let mut p = Peer::connect(&path);
    p.begin(1, Role::Responder, false, &[("CONTENT_LENGTH", "5000000")]);
    let chunk = vec![7u8; 100_000];
    let writer = {
        let mut s = p.s.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..50 {
                let mut o = BytesMut::new();
                encode::stdin(&mut o, 1, &chunk);
                s.write_all(&o).unwrap();
            }
            let mut o = BytesMut::new();
            encode::stdin_end(&mut o, 1);
            s.write_all(&o).unwrap();
        })
    };
    let (out, _, end) = p.response(1);
    writer.join().unwrap();
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body = &out[head_end..];
    assert!(body.starts_with(b"5000000 35000000\n"));
    assert_eq!(body.len(), "5000000 35000000\n".len() + 1_000_000);
    assert_eq!(end.app_status, 0);
}

#[test]
fn fcgi_web_server_addrs_limits_tcp_peers() {
    // Run in a child process of this test binary, so that the variable is set for it alone
    // (this process never sets environment variables).
    if std::env::var("FA_ADDRS_CHILD").is_ok() {
        let l = Listener::bind(&Address::Tcp("127.0.0.1:0".into())).unwrap();
        let Listener::Tcp(tcp, _) = &l else { panic!() };
        println!("PORT {}", tcp.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        Builder::new().workers(1).serve(l, hello);
        return;
    }
    for (allowed, served) in [("10.9.9.9", false), ("10.9.9.9, 127.0.0.1", true)] {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "fcgi_web_server_addrs_limits_tcp_peers",
                "--nocapture",
            ])
            .env("FA_ADDRS_CHILD", "1")
            .env("FCGI_WEB_SERVER_ADDRS", allowed)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let port = loop {
            let mut line = String::new();
            assert!(std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0);
            if let Some(p) = line.trim().strip_prefix("PORT ") {
                break p.parse::<u16>().unwrap();
            }
        };
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut o = BytesMut::new();
        encode::begin_request(&mut o, 1, Role::Responder, false);
        encode::params_end(&mut o, 1);
        encode::stdin_end(&mut o, 1);
        s.write_all(&o).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        assert_eq!(!got.is_empty(), served, "FCGI_WEB_SERVER_ADDRS={allowed}");
        let _ = child.kill();
        let _ = child.wait();
    }
}
