//! The CGI response header block a FastCGI responder writes at the start of its stdout (and a
//! CGI script, an SCGI or uwsgi app at the start of theirs: [`read_head`]): lines
//! ended by LF or CRLF, split across records anywhere, then an empty line. `Status:` sets the
//! status (100 to 599; anything else is a broken backend: 502), `Location:` without `Status:`
//! means 302, hop-by-hop headers are dropped. A `Transfer-Encoding` is refused (502): the body
//! of a CGI response is its stdout as it is, and chunk framing forwarded as content would
//! corrupt it.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};

use super::GatewayError;

/// The largest header block accepted from a backend.
pub(crate) const MAX_HEAD: usize = 64 << 10;

/// A parsed header block.
#[derive(Debug)]
pub(crate) struct CgiHead {
    /// The status to send.
    pub status: StatusCode,
    /// The headers to send.
    pub headers: HeaderMap,
    /// `Variable-NAME: value` headers with NAME as written (an authorizer's variables).
    pub variables: Vec<(String, String)>,
}

/// An authorizer's `Variable-*` headers, carried in the response's extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Variables(pub Vec<(String, String)>);

/// What is wrong with a header block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CgiError {
    /// No empty line within [`MAX_HEAD`] bytes.
    #[error("response header block over {MAX_HEAD} bytes")]
    TooLarge,
    /// A line without a colon, or a name or value HTTP cannot carry.
    #[error("malformed response header line {0:?}")]
    BadLine(String),
    /// A `Status:` that is not a 3-digit code from 100 to 599.
    #[error("malformed Status header {0:?}")]
    BadStatus(String),
    /// A `Transfer-Encoding:` header: a CGI body is not framed.
    #[error("Transfer-Encoding {0:?} in a CGI response (its body would be sent framed)")]
    TransferEncoding(String),
}

/// Finds the end of the header block: returns (length of the head without the terminating
/// empty line, offset where the body starts).
pub(crate) fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(nl) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + nl;
        // The line that starts after this LF: is it empty ("\n" or "\r\n")?
        let next = nl + 1;
        if buf.get(next) == Some(&b'\n') {
            return Some((nl, next + 1));
        }
        if buf.get(next) == Some(&b'\r') && buf.get(next + 1) == Some(&b'\n') {
            return Some((nl, next + 2));
        }
        i = next;
    }
    // A block that starts with the empty line has no headers at all.
    if buf.starts_with(b"\r\n") {
        return Some((0, 2));
    }
    if buf.starts_with(b"\n") {
        return Some((0, 1));
    }
    None
}

/// Parses the header block (without its terminating empty line).
pub(crate) fn parse_head(head: &[u8]) -> Result<CgiHead, CgiError> {
    let mut status = None;
    let mut headers = HeaderMap::new();
    let mut variables = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let bad = || CgiError::BadLine(String::from_utf8_lossy(line).into_owned());
        let colon = line.iter().position(|&b| b == b':').ok_or_else(bad)?;
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"status") {
            let s = String::from_utf8_lossy(value).into_owned();
            let code = value
                .get(..3)
                .filter(|_| value.len() == 3 || value[3] == b' ')
                .and_then(|c| StatusCode::from_bytes(c).ok())
                .filter(|c| (100..600).contains(&c.as_u16()))
                .ok_or(CgiError::BadStatus(s))?;
            status = Some(code);
            continue;
        }
        if name.len() > 9 && name[..9].eq_ignore_ascii_case(b"variable-") {
            variables.push((
                String::from_utf8_lossy(&name[9..]).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            ));
        }
        let name = HeaderName::from_bytes(name).map_err(|_| bad())?;
        if name == header::TRANSFER_ENCODING {
            return Err(CgiError::TransferEncoding(
                String::from_utf8_lossy(value).into_owned(),
            ));
        }
        if is_hop_by_hop(&name) {
            continue;
        }
        let value = HeaderValue::from_bytes(value).map_err(|_| bad())?;
        headers.append(name, value);
    }
    let status = status.unwrap_or(if headers.contains_key(header::LOCATION) {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    Ok(CgiHead {
        status,
        headers,
        variables,
    })
}

/// The response head at the start of a backend's output `buf` (a CGI script's stdout, an
/// SCGI or uwsgi response), once it is complete (or `eof`), with the body bytes after it;
/// `Ok(None)` while it is not. A first line `HTTP/1.x NNN ...` (NPH, or a uwsgi app's status
/// line) gives the status. A first line that is not a header (no colon): with `headless`, the
/// whole output is the body of a 200 (lighttpd's mod_cgi), else a malformed head (502).
/// Output that ends inside the head is `CgiNoHead`.
pub(crate) fn read_head(
    buf: &[u8],
    eof: bool,
    headless: bool,
) -> Result<Option<(Response<()>, Bytes)>, GatewayError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let first_line_end = buf.iter().position(|&b| b == b'\n');
    let first = &buf[..first_line_end.unwrap_or(buf.len())];
    let nph = first.starts_with(b"HTTP/");
    if first_line_end.is_some() || eof {
        let blank = first.strip_suffix(b"\r").unwrap_or(first).is_empty();
        if !nph && !blank && !first.contains(&b':') {
            if !headless {
                let line = String::from_utf8_lossy(first).into_owned();
                return Err(CgiError::BadLine(line).into());
            }
            return Ok(Some((Response::new(()), Bytes::copy_from_slice(buf))));
        }
    }
    let Some((head_len, body_at)) = find_head_end(buf) else {
        if buf.len() > MAX_HEAD {
            return Err(CgiError::TooLarge.into());
        }
        // Output that ends inside its header block: a broken script (lighttpd: 500).
        return if eof {
            Err(GatewayError::CgiNoHead)
        } else {
            Ok(None)
        };
    };
    if head_len > MAX_HEAD {
        return Err(CgiError::TooLarge.into());
    }
    let (status_line, head) = match (nph, first_line_end) {
        (true, Some(end)) => (Some(first), &buf[(end + 1).min(head_len)..head_len]),
        _ => (None, &buf[..head_len]),
    };
    let parsed = parse_head(head)?;
    let mut status = parsed.status;
    if let Some(line) = status_line {
        let line = String::from_utf8_lossy(line);
        let code = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .and_then(|c| StatusCode::from_u16(c).ok())
            .filter(|c| (100..600).contains(&c.as_u16()))
            .ok_or_else(|| CgiError::BadStatus(line.trim_end().to_owned()))?;
        status = code;
    }
    let mut r = Response::new(());
    *r.status_mut() = status;
    *r.headers_mut() = parsed.headers;
    Ok(Some((r, Bytes::copy_from_slice(&buf[body_at..]))))
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == "keep-alive"
        || name == "proxy-connection"
        || name == header::UPGRADE
        || name == header::TE
        || name == header::TRAILER
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(all: &[u8]) -> (CgiHead, usize) {
        let (head, body) = find_head_end(all).expect("complete head");
        (parse_head(&all[..head]).unwrap(), body)
    }

    #[test]
    fn crlf_lf_and_mixed() {
        let (h, body) = parse(b"Content-Type: text/plain\r\n\r\nhello");
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.headers["content-type"], "text/plain");
        assert_eq!(body, 28);
        let (h, body) = parse(b"Content-Type: a\nX-A: b\n\nbody");
        assert_eq!(h.headers["x-a"], "b");
        assert_eq!(&b"Content-Type: a\nX-A: b\n\nbody"[body..], b"body");
        let (_, body) = parse(b"X: 1\r\nY: 2\n\r\nrest");
        assert_eq!(&b"X: 1\r\nY: 2\n\r\nrest"[body..], b"rest");
        assert_eq!(find_head_end(b"X: 1\r\nY: 2\r\n"), None);
        assert_eq!(find_head_end(b"\r\nbody"), Some((0, 2)));
    }

    #[test]
    fn status_and_location() {
        let (h, _) = parse(b"Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n");
        assert_eq!(h.status, StatusCode::NOT_FOUND);
        assert!(!h.headers.contains_key("status"));
        let (h, _) = parse(b"Location: /x\r\n\r\n");
        assert_eq!(h.status, StatusCode::FOUND);
        let (h, _) = parse(b"Status: 201\r\nLocation: /x\r\n\r\n");
        assert_eq!(h.status, StatusCode::CREATED);
        let (h, _) = parse(b"Connection: close\r\nKeep-Alive: 5\r\nX-Ok: 1\r\n\r\n");
        assert_eq!(h.headers.len(), 1);
    }

    #[test]
    fn malformed() {
        assert!(matches!(
            parse_head(b"no colon here"),
            Err(CgiError::BadLine(_))
        ));
        assert!(matches!(
            parse_head(b"Status: abc"),
            Err(CgiError::BadStatus(_))
        ));
        assert!(matches!(
            parse_head(b"Status: 2000"),
            Err(CgiError::BadStatus(_))
        ));
        assert!(matches!(
            parse_head(b"Bad Name: x"),
            Err(CgiError::BadLine(_))
        ));
        for status in [&b"Status: 999"[..], b"Status: 099 Odd", b"Status: 600"] {
            assert!(
                matches!(parse_head(status), Err(CgiError::BadStatus(_))),
                "{}",
                String::from_utf8_lossy(status)
            );
        }
        assert_eq!(
            parse_head(b"Transfer-Encoding: chunked").unwrap_err(),
            CgiError::TransferEncoding("chunked".into())
        );
    }
}
