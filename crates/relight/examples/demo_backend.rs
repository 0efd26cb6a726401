//! A tiny FastCGI backend for the README demo, written on `fcgi-proto` alone. Spawned by relight
//! it accepts on fd 0, as libfcgi programs do (or on the unix socket given as its argument).
//! One request at a time, like a libfcgi program. By PATH_INFO:
//!
//! - `/crash`: dies (abort, SIGABRT);
//! - `/seed`: starts `sleep 100000000` (which inherits the listening socket on fd 0, as
//!   `system()` children do in the field report), then dies (SIGABRT);
//! - `/hang`: never answers (relight's request_timeout ends it);
//! - anything else: a page with its pid and the CGI parameters relight sent.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};

use bytes::BytesMut;
use fcgi_proto::app::{RequestDecoder, RequestEvent, encode};
use fcgi_proto::{Limits, ProtocolStatus, Role};

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn serve(mut conn: UnixStream) -> std::io::Result<()> {
    let mut dec = RequestDecoder::new(Limits::default());
    let mut buf = vec![0u8; 65536];
    let mut params = Vec::new();
    let mut body_len = 0usize;
    let mut request_id = 0;
    let mut keep = false;
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        dec.push(&buf[..n]);
        while let Some(ev) = dec.next_event().map_err(std::io::Error::other)? {
            let mut out = BytesMut::new();
            match ev {
                RequestEvent::BeginRequest {
                    request_id: id,
                    role,
                    keep_conn,
                } => {
                    request_id = id;
                    keep = keep_conn;
                    if role != Role::Responder {
                        encode::end_request(&mut out, id, 0, ProtocolStatus::UnknownRole);
                        dec.finish_request();
                    }
                }
                RequestEvent::BusyBeginRequest { request_id: id } => {
                    encode::end_request(&mut out, id, 0, ProtocolStatus::CantMpxConn);
                }
                RequestEvent::Params(p) => params = p,
                RequestEvent::Stdin(b) => body_len += b.len(),
                RequestEvent::StdinEnd => {
                    let path_info = params
                        .iter()
                        .find(|(k, _)| &k[..] == b"PATH_INFO")
                        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default();
                    match path_info.as_str() {
                        "/crash" => crash(),
                        "/seed" => {
                            // Inherits fd 0, the slot's listening socket, like a system() child.
                            let _ = std::process::Command::new("sleep").arg("100000000").spawn();
                            crash();
                        }
                        "/hang" => loop {
                            std::thread::sleep(std::time::Duration::from_secs(3600));
                        },
                        _ => {}
                    }
                    let mut rows = String::new();
                    for (k, v) in &params {
                        rows.push_str(&format!(
                            "<tr><td>{}</td><td>{}</td></tr>\n",
                            html_escape(&String::from_utf8_lossy(k)),
                            html_escape(&String::from_utf8_lossy(v))
                        ));
                    }
                    let page = format!(
                        "Content-Type: text/html; charset=utf-8\r\n\r\n<!DOCTYPE html><html><head><title>relight demo backend</title></head><body>\
                         <h1>Hello from the demo FastCGI backend</h1><p>pid {}; request body {} bytes</p>\
                         <p><a href=\"/\">back to the static page</a></p><table>{rows}</table></body></html>\n",
                        std::process::id(),
                        body_len
                    );
                    encode::stdout(&mut out, request_id, page.as_bytes());
                    encode::stdout_end(&mut out, request_id);
                    encode::end_request(&mut out, request_id, 0, ProtocolStatus::RequestComplete);
                    dec.finish_request();
                    body_len = 0;
                }
                RequestEvent::GetValues(_) => {
                    encode::get_values_result(
                        &mut out,
                        [(fcgi_proto::values::MPXS_CONNS, &b"0"[..])],
                    );
                }
                RequestEvent::UnknownType(t) => encode::unknown_type(&mut out, t),
                RequestEvent::AbortRequest => {
                    encode::end_request(&mut out, request_id, 1, ProtocolStatus::RequestComplete);
                    dec.finish_request();
                }
                _ => {}
            }
            conn.write_all(&out)?;
            if dec.active_request().is_none() && !keep && !out.is_empty() {
                return Ok(());
            }
        }
    }
}

fn crash() -> ! {
    eprintln!(
        "demo_backend: pid {} crashing on purpose (abort)",
        std::process::id()
    );
    std::process::abort()
}

fn main() {
    use std::os::fd::AsFd;
    let listener = match std::env::args().nth(1) {
        Some(path) => {
            let _ = std::fs::remove_file(&path);
            UnixListener::bind(&path).unwrap_or_else(|e| {
                eprintln!("demo_backend: cannot listen on {path}: {e}");
                std::process::exit(1);
            })
        }
        // Spawned by a web server: the listening socket is fd 0.
        None => match std::io::stdin().as_fd().try_clone_to_owned() {
            Ok(fd) => UnixListener::from(fd),
            Err(e) => {
                eprintln!("demo_backend: no socket on fd 0: {e}");
                std::process::exit(2);
            }
        },
    };
    eprintln!("demo_backend: pid {} ready", std::process::id());
    for conn in listener.incoming() {
        match conn {
            Ok(c) => {
                if let Err(e) = serve(c) {
                    eprintln!("demo_backend: {e}");
                }
            }
            Err(e) => eprintln!("demo_backend: accept: {e}"),
        }
    }
}
