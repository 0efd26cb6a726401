//! One connection from a web server: reading records, answering the management ones
//! (GET_VALUES, unknown types) and a second BEGIN_REQUEST (FCGI_CANT_MPX_CONN) wherever they
//! arrive, and running the handler for each request in turn.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::BytesMut;
use fcgi_proto::app::{RequestDecoder, RequestEvent, encode};
use fcgi_proto::{Limits, ProtocolStatus, Role, values};

use crate::Handler;
use crate::listener::Stream;
use crate::request::{Request, Response};

/// How the application answers FCGI_GET_VALUES.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Capacity {
    /// Connections (and requests) served at once: the worker threads.
    pub workers: usize,
}

/// Writes to `out` the answer to a record the application answers on its own, whatever request
/// is in progress: GET_VALUES (MAX_CONNS and MAX_REQS are `workers`, MPXS_CONNS is 0), a
/// management record of an unknown type, and a second BEGIN_REQUEST (FCGI_CANT_MPX_CONN).
/// Returns false, writing nothing, for every other event.
pub(crate) fn answer_management(ev: &RequestEvent, workers: usize, out: &mut BytesMut) -> bool {
    match ev {
        RequestEvent::GetValues(names) => {
            let n = workers.to_string();
            let answer = names.iter().filter_map(|name| {
                let v: &[u8] = match name.as_ref() {
                    values::MAX_CONNS | values::MAX_REQS => n.as_bytes(),
                    values::MPXS_CONNS => b"0",
                    _ => return None,
                };
                Some((name.as_ref(), v))
            });
            encode::get_values_result(out, answer);
        }
        RequestEvent::UnknownType(t) => encode::unknown_type(out, *t),
        RequestEvent::BusyBeginRequest { request_id } => {
            encode::end_request(out, *request_id, 0, ProtocolStatus::CantMpxConn);
        }
        _ => return false,
    }
    true
}

/// The socket and the decoder of one connection.
pub(crate) struct Conn {
    stream: Stream,
    decoder: RequestDecoder,
    capacity: Capacity,
    eof: bool,
    /// The web server sent FCGI_ABORT_REQUEST for the request in progress.
    pub aborted: bool,
}

impl Conn {
    pub(crate) fn new(stream: Stream, limits: Limits, capacity: Capacity) -> Conn {
        Conn {
            stream,
            decoder: RequestDecoder::new(limits),
            capacity,
            eof: false,
            aborted: false,
        }
    }

    /// Writes whole records.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next event of the request in progress (or a BEGIN_REQUEST); management records are
    /// answered on the way. `Ok(None)` at the end of the connection.
    pub(crate) fn next_event(&mut self) -> io::Result<Option<RequestEvent>> {
        loop {
            match self.decoder.next_event() {
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                Ok(Some(ev)) => {
                    let mut out = BytesMut::new();
                    if answer_management(&ev, self.capacity.workers, &mut out) {
                        self.write_all(&out)?;
                        continue;
                    }
                    if ev == RequestEvent::AbortRequest {
                        self.aborted = true;
                    }
                    return Ok(Some(ev));
                }
                Ok(None) => {
                    if self.eof {
                        return Ok(None);
                    }
                    let buf = self.decoder.buffer_mut();
                    buf.reserve(16 << 10);
                    let start = buf.len();
                    let cap = buf.capacity();
                    buf.resize(cap, 0);
                    let n = match self.stream.read(&mut buf[start..]) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                        Err(e) => {
                            buf.truncate(start);
                            return Err(e);
                        }
                    };
                    buf.truncate(start + n);
                    if n == 0 {
                        self.eof = true;
                        if let Err(e) = self.decoder.finish() {
                            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, e));
                        }
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The request in progress is over (END_REQUEST was sent).
    fn finish_request(&mut self) {
        self.decoder.finish_request();
        self.aborted = false;
    }
}

/// Serves requests on `stream` until the web server closes it or asks to (no FCGI_KEEP_CONN).
pub(crate) fn serve(stream: Stream, handler: &dyn Handler, limits: Limits, capacity: Capacity) {
    let conn = RefCell::new(Conn::new(stream, limits, capacity));
    loop {
        let ev = conn.borrow_mut().next_event();
        let (id, role, keep_conn) = match ev {
            Ok(Some(RequestEvent::BeginRequest {
                request_id,
                role,
                keep_conn,
            })) => (request_id, role, keep_conn),
            Ok(Some(_)) => continue, // records of no request in progress
            Ok(None) => return,
            Err(e) => {
                eprintln!("fcgi-app: connection dropped: {e}");
                return;
            }
        };
        let result = match role {
            Role::Responder | Role::Authorizer => serve_request(&conn, handler, id, role),
            _ => {
                let mut out = BytesMut::new();
                encode::end_request(&mut out, id, 0, ProtocolStatus::UnknownRole);
                conn.borrow_mut().write_all(&out)
            }
        };
        conn.borrow_mut().finish_request();
        if let Err(e) = result {
            if e.kind() != io::ErrorKind::ConnectionAborted {
                eprintln!("fcgi-app: request {id}: {e}");
            }
            return;
        }
        if !keep_conn {
            return;
        }
    }
}

/// Reads the params, runs the handler, finishes the response (500 if the handler failed or
/// panicked before it answered) and ends the request.
fn serve_request(
    conn: &RefCell<Conn>,
    handler: &dyn Handler,
    id: u16,
    role: Role,
) -> io::Result<()> {
    let params = loop {
        let ev = conn.borrow_mut().next_event()?;
        match ev {
            Some(RequestEvent::Params(p)) => break p,
            Some(RequestEvent::AbortRequest) => {
                let mut out = BytesMut::new();
                encode::end_request(&mut out, id, 0, ProtocolStatus::RequestComplete);
                return conn.borrow_mut().write_all(&out);
            }
            Some(_) => continue,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the web server closed the connection before the params",
                ));
            }
        }
    };
    let mut req = Request::new(conn, role, params);
    let mut resp = Response::new(conn, id);
    let outcome = catch_unwind(AssertUnwindSafe(|| handler.handle(&mut req, &mut resp)));
    let failed = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("the handler failed: {e}")),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Some(format!("the handler panicked: {what}"))
        }
    };
    if conn.borrow().aborted {
        return resp.end(1);
    }
    if let Some(why) = &failed {
        let _ = writeln!(resp.stderr(), "{why}");
        if !resp.head_sent() {
            resp.reset();
            resp.set_status(500);
            resp.set_header("Content-Type", "text/plain; charset=utf-8");
            let _ = resp.write_all(b"500 Internal Server Error\n");
        }
    }
    // The rest of the body is read, so that the next request on the connection starts clean.
    let drained = io::copy(&mut req, &mut io::sink());
    if conn.borrow().aborted {
        return resp.end(1);
    }
    resp.end(u32::from(failed.is_some()))?;
    drained.map(|_| ())
}
