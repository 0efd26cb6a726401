//! What a handler gets: the [`Request`] (its role, CGI parameters, and body as a reader) and
//! the [`Response`] (status and headers, then a buffered body writer, and a [`Stderr`] writer
//! to the web server's error log).

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::IpAddr;

use bytes::{Bytes, BytesMut};
use fcgi_proto::app::{RequestEvent, encode};
use fcgi_proto::{ProtocolStatus, Role};

use crate::conn::Conn;

/// Body bytes are sent once this many are buffered.
const FLUSH_AT: usize = 16 << 10;

/// A request: its role, its CGI parameters, and its body (read it with [`Read`]).
pub struct Request<'c> {
    conn: &'c RefCell<Conn>,
    role: Role,
    params: Vec<(Bytes, Bytes)>,
    chunk: Bytes,
    body_done: bool,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("role", &self.role)
            .field("method", &self.method())
            .field("request_uri", &self.request_uri())
            .finish_non_exhaustive()
    }
}

impl<'c> Request<'c> {
    pub(crate) fn new(
        conn: &'c RefCell<Conn>,
        role: Role,
        params: Vec<(Bytes, Bytes)>,
    ) -> Request<'c> {
        Request {
            conn,
            role,
            params,
            chunk: Bytes::new(),
            // An authorizer gets no body (web servers may send an empty FCGI_STDIN or none).
            body_done: role == Role::Authorizer,
        }
    }

    /// Responder (answer the request) or Authorizer (allow it with 200, or answer it).
    pub fn role(&self) -> Role {
        self.role
    }

    /// A parameter's raw value.
    pub fn param_bytes(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(n, _)| n.as_ref() == name.as_bytes())
            .map(|(_, v)| v.as_ref())
    }

    /// A parameter, if it is there and is UTF-8.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.param_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every parameter, in the order the web server sent them.
    pub fn params(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.params.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// REQUEST_METHOD ("GET" if the web server sent none).
    pub fn method(&self) -> &str {
        self.param("REQUEST_METHOD").unwrap_or("GET")
    }

    /// REQUEST_URI: the target as the client sent it (path and query), "" if absent.
    pub fn request_uri(&self) -> &str {
        self.param("REQUEST_URI").unwrap_or("")
    }

    /// SCRIPT_NAME.
    pub fn script_name(&self) -> &str {
        self.param("SCRIPT_NAME").unwrap_or("")
    }

    /// PATH_INFO.
    pub fn path_info(&self) -> &str {
        self.param("PATH_INFO").unwrap_or("")
    }

    /// QUERY_STRING, without the `?`.
    pub fn query_string(&self) -> &str {
        self.param("QUERY_STRING").unwrap_or("")
    }

    /// DOCUMENT_ROOT.
    pub fn document_root(&self) -> Option<&str> {
        self.param("DOCUMENT_ROOT")
    }

    /// SERVER_NAME.
    pub fn server_name(&self) -> Option<&str> {
        self.param("SERVER_NAME")
    }

    /// SERVER_PORT.
    pub fn server_port(&self) -> Option<u16> {
        self.param("SERVER_PORT")?.parse().ok()
    }

    /// REMOTE_ADDR.
    pub fn remote_addr(&self) -> Option<IpAddr> {
        self.param("REMOTE_ADDR")?.parse().ok()
    }

    /// REMOTE_PORT.
    pub fn remote_port(&self) -> Option<u16> {
        self.param("REMOTE_PORT")?.parse().ok()
    }

    /// REMOTE_USER (set by the web server's authentication).
    pub fn remote_user(&self) -> Option<&str> {
        self.param("REMOTE_USER")
    }

    /// CONTENT_LENGTH.
    pub fn content_length(&self) -> Option<u64> {
        self.param("CONTENT_LENGTH")?.parse().ok()
    }

    /// CONTENT_TYPE.
    pub fn content_type(&self) -> Option<&str> {
        self.param("CONTENT_TYPE")
    }

    /// Whether the client connection is TLS (HTTPS = "on").
    pub fn https(&self) -> bool {
        self.param("HTTPS")
            .is_some_and(|v| v.eq_ignore_ascii_case("on"))
    }

    /// A request header by its HTTP name ("User-Agent" reads HTTP_USER_AGENT; "Content-Type"
    /// and "Content-Length" read CONTENT_TYPE and CONTENT_LENGTH).
    pub fn header(&self, name: &str) -> Option<&str> {
        if name.eq_ignore_ascii_case("content-type") {
            return self.param("CONTENT_TYPE");
        }
        if name.eq_ignore_ascii_case("content-length") {
            return self.param("CONTENT_LENGTH");
        }
        let key: String = "HTTP_"
            .chars()
            .chain(name.chars().map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            }))
            .collect();
        self.param(&key)
    }
}

impl Read for Request<'_> {
    /// Reads the request body; an aborted request reads as an error (ConnectionAborted).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if self.body_done {
                return Ok(0);
            }
            let ev = self.conn.borrow_mut().next_event()?;
            match ev {
                Some(RequestEvent::Stdin(b)) => self.chunk = b,
                Some(RequestEvent::StdinEnd) => self.body_done = true,
                Some(RequestEvent::AbortRequest) => {
                    self.body_done = true;
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the web server aborted the request",
                    ));
                }
                Some(_) => {} // the Filter role's data stream: not ours
                None => {
                    self.body_done = true;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the web server closed the connection in the request body",
                    ));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}

/// The response: set the status and headers, then write the body (it is buffered and sent in
/// pieces; the status and headers go with the first piece and cannot change after it).
pub struct Response<'c> {
    conn: &'c RefCell<Conn>,
    id: u16,
    status: u16,
    headers: Vec<(String, String)>,
    head_sent: bool,
    body: BytesMut,
    out: BytesMut,
}

impl std::fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("head_sent", &self.head_sent)
            .finish_non_exhaustive()
    }
}

impl<'c> Response<'c> {
    pub(crate) fn new(conn: &'c RefCell<Conn>, id: u16) -> Response<'c> {
        Response {
            conn,
            id,
            status: 200,
            headers: Vec::new(),
            head_sent: false,
            body: BytesMut::new(),
            out: BytesMut::new(),
        }
    }

    /// Sets the status (200 unless set). Returns false, changing nothing, once the head is
    /// sent.
    pub fn set_status(&mut self, status: u16) -> bool {
        if self.head_sent {
            return false;
        }
        self.status = status;
        true
    }

    /// Adds a header (an authorizer's `Variable-NAME: value` headers become parameters of the
    /// responder). Returns false, changing nothing, once the head is sent, or if the name or
    /// value would break the header block (a line break, or a colon in the name).
    pub fn set_header(&mut self, name: &str, value: &str) -> bool {
        let bad = |s: &str| s.contains(['\r', '\n']);
        if self.head_sent || name.is_empty() || name.contains(':') || bad(name) || bad(value) {
            return false;
        }
        self.headers.push((name.to_string(), value.to_string()));
        true
    }

    /// Whether the status and headers are sent already.
    pub fn head_sent(&self) -> bool {
        self.head_sent
    }

    /// Forgets the status, headers and unsent body (only before the head is sent).
    pub(crate) fn reset(&mut self) {
        if !self.head_sent {
            self.status = 200;
            self.headers.clear();
            self.body.clear();
        }
    }

    /// A writer to the web server's error log for this request (FCGI_STDERR).
    pub fn stderr(&mut self) -> Stderr<'_, 'c> {
        Stderr { resp: self }
    }

    fn head(&self, out: &mut Vec<u8>) {
        let reason = reason(self.status);
        out.extend_from_slice(format!("Status: {} {reason}\r\n", self.status).as_bytes());
        let mut typed = false;
        for (n, v) in &self.headers {
            typed |= n.eq_ignore_ascii_case("content-type") || n.eq_ignore_ascii_case("location");
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !typed && !matches!(self.status, 204 | 304) {
            out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Sends the head (if not yet) and the buffered body.
    fn send(&mut self) -> io::Result<()> {
        if self.conn.borrow().aborted {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the web server aborted the request",
            ));
        }
        if !self.head_sent {
            let mut head = Vec::with_capacity(128);
            self.head(&mut head);
            encode::stdout(&mut self.out, self.id, &head);
            self.head_sent = true;
        }
        if !self.body.is_empty() {
            encode::stdout(&mut self.out, self.id, &self.body);
            self.body.clear();
        }
        if !self.out.is_empty() {
            let r = self.conn.borrow_mut().write_all(&self.out);
            self.out.clear();
            r?;
        }
        Ok(())
    }

    /// Sends what is left and ends the request with `app_status`.
    pub(crate) fn end(&mut self, app_status: u32) -> io::Result<()> {
        if !self.conn.borrow().aborted {
            self.send()?;
            encode::stdout_end(&mut self.out, self.id);
        }
        encode::end_request(
            &mut self.out,
            self.id,
            app_status,
            ProtocolStatus::RequestComplete,
        );
        let r = self.conn.borrow_mut().write_all(&self.out);
        self.out.clear();
        r
    }
}

impl Write for Response<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.body.extend_from_slice(buf);
        if self.body.len() >= FLUSH_AT {
            self.send()?;
        }
        Ok(buf.len())
    }

    /// Sends the head and everything written so far.
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Writes to the web server's error log for one request (FCGI_STDERR records).
pub struct Stderr<'r, 'c> {
    resp: &'r mut Response<'c>,
}

impl std::fmt::Debug for Stderr<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stderr").finish_non_exhaustive()
    }
}

impl Write for Stderr<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = BytesMut::new();
        encode::stderr(&mut out, self.resp.id, buf);
        self.resp.conn.borrow_mut().write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reason phrase of a status.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}
