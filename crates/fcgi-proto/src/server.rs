//! The web server's side: what it writes to an application ([`encode`]) and what it reads back
//! ([`ResponseDecoder`]).

use bytes::Bytes;

use crate::pairs::{Pair, decode_pairs};
use crate::record::parse_unknown_type_body;
use crate::{EndRequestBody, Error, Limits, Record, RecordDecoder, RecordType};

/// Encoders for the records a web server sends.
pub mod encode {
    use bytes::BytesMut;

    use crate::encode::{pairs_stream, record, stream, stream_end};
    use crate::{BeginRequestBody, KEEP_CONN, NULL_REQUEST_ID, RecordType, Role};

    /// BEGIN_REQUEST.
    pub fn begin_request(out: &mut BytesMut, request_id: u16, role: Role, keep_conn: bool) {
        let body = BeginRequestBody {
            role,
            flags: if keep_conn { KEEP_CONN } else { 0 },
        };
        record(out, RecordType::BeginRequest, request_id, &body.to_bytes());
    }

    /// PARAMS records carrying `pairs` (one record when they fit). Call [`params_end`] after.
    pub fn params<'a, I>(out: &mut BytesMut, request_id: u16, pairs: I)
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    {
        pairs_stream(out, RecordType::Params, request_id, pairs);
    }

    /// The empty PARAMS record that ends the params.
    pub fn params_end(out: &mut BytesMut, request_id: u16) {
        stream_end(out, RecordType::Params, request_id);
    }

    /// STDIN records carrying `data` (nothing if `data` is empty).
    pub fn stdin(out: &mut BytesMut, request_id: u16, data: &[u8]) {
        stream(out, RecordType::Stdin, request_id, data);
    }

    /// The empty STDIN record that ends the request body.
    pub fn stdin_end(out: &mut BytesMut, request_id: u16) {
        stream_end(out, RecordType::Stdin, request_id);
    }

    /// DATA records (the Filter role's second stream).
    pub fn data(out: &mut BytesMut, request_id: u16, data: &[u8]) {
        stream(out, RecordType::Data, request_id, data);
    }

    /// The empty DATA record.
    pub fn data_end(out: &mut BytesMut, request_id: u16) {
        stream_end(out, RecordType::Data, request_id);
    }

    /// ABORT_REQUEST.
    pub fn abort_request(out: &mut BytesMut, request_id: u16) {
        record(out, RecordType::AbortRequest, request_id, &[]);
    }

    /// GET_VALUES asking for `names` (values are sent empty).
    pub fn get_values<'a, I>(out: &mut BytesMut, names: I)
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let pairs = names.into_iter().map(|n| (n, &b""[..]));
        let start = out.len();
        pairs_stream(out, RecordType::GetValues, NULL_REQUEST_ID, pairs);
        if out.len() == start {
            record(out, RecordType::GetValues, NULL_REQUEST_ID, &[]);
        }
    }
}

/// What an application sends back, as the web server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseEvent {
    /// A chunk of the response (CGI headers, then body). Never empty.
    Stdout(Bytes),
    /// The application closed its stdout stream.
    StdoutEnd,
    /// A chunk of the application's error output. Never empty.
    Stderr(Bytes),
    /// The application closed its stderr stream.
    StderrEnd,
    /// The request is over.
    EndRequest(EndRequestBody),
    /// The answer to GET_VALUES.
    GetValuesResult(Vec<Pair>),
    /// The application did not know a management record type we sent.
    UnknownType(u8),
}

/// Decodes an application's records for one request id at a time.
///
/// It checks what a web server may receive: STDOUT, STDERR, END_REQUEST for the request in
/// progress, and GET_VALUES_RESULT / UNKNOWN_TYPE with request id 0. Anything else, or anything
/// after END_REQUEST, is an [`Error`].
#[derive(Debug)]
pub struct ResponseDecoder {
    records: RecordDecoder,
    limits: Limits,
    request_id: u16,
    stdout_done: bool,
    stderr_done: bool,
    ended: bool,
}

impl ResponseDecoder {
    /// A decoder for the responses to `request_id`.
    pub fn new(request_id: u16, limits: Limits) -> ResponseDecoder {
        ResponseDecoder {
            records: RecordDecoder::new(),
            limits,
            request_id,
            stdout_done: false,
            stderr_done: false,
            ended: false,
        }
    }

    /// Starts decoding the response to a new request on the same (kept-alive) connection.
    /// Input already buffered is kept.
    pub fn reset(&mut self, request_id: u16) {
        self.request_id = request_id;
        self.stdout_done = false;
        self.stderr_done = false;
        self.ended = false;
    }

    /// Appends input.
    pub fn push(&mut self, data: &[u8]) {
        self.records.push(data);
    }

    /// The input buffer, for reading from a socket straight into it.
    pub fn buffer_mut(&mut self) -> &mut bytes::BytesMut {
        self.records.buffer_mut()
    }

    /// Whether END_REQUEST has been seen.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Bytes received and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.records.buffered()
    }

    /// The next event, `Ok(None)` if more input is needed.
    pub fn next_event(&mut self) -> Result<Option<ResponseEvent>, Error> {
        let Some(Record { header, content }) = self.records.next_record()? else {
            return Ok(None);
        };
        let t = header.record_type;
        let raw = t.as_u8();
        if t.is_management() {
            if header.request_id != 0 {
                return Err(Error::ManagementRequestId {
                    record_type: raw,
                    request_id: header.request_id,
                });
            }
            return match t {
                RecordType::GetValuesResult => Ok(Some(ResponseEvent::GetValuesResult(
                    decode_pairs(&content, &self.limits)?,
                ))),
                RecordType::UnknownType => Ok(Some(ResponseEvent::UnknownType(
                    parse_unknown_type_body(&content)?,
                ))),
                _ => Err(Error::UnexpectedRecordType { record_type: raw }),
            };
        }
        if !matches!(
            t,
            RecordType::Stdout | RecordType::Stderr | RecordType::EndRequest
        ) {
            return Err(Error::UnexpectedRecordType { record_type: raw });
        }
        if header.request_id == 0 {
            return Err(Error::RequestIdZero { record_type: raw });
        }
        if header.request_id != self.request_id {
            return Err(Error::UnexpectedRequestId {
                expected: self.request_id,
                actual: header.request_id,
            });
        }
        if self.ended {
            return Err(Error::RecordAfterEnd { record_type: raw });
        }
        match t {
            RecordType::EndRequest => {
                self.ended = true;
                Ok(Some(ResponseEvent::EndRequest(EndRequestBody::parse(
                    &content,
                )?)))
            }
            RecordType::Stdout | RecordType::Stderr => {
                let (done, data_ev, end_ev) = if t == RecordType::Stdout {
                    (
                        &mut self.stdout_done,
                        ResponseEvent::Stdout as fn(Bytes) -> ResponseEvent,
                        ResponseEvent::StdoutEnd,
                    )
                } else {
                    (
                        &mut self.stderr_done,
                        ResponseEvent::Stderr as fn(Bytes) -> ResponseEvent,
                        ResponseEvent::StderrEnd,
                    )
                };
                if *done {
                    return Err(Error::StreamAfterEnd { record_type: raw });
                }
                if content.is_empty() {
                    *done = true;
                    return Ok(Some(end_ev));
                }
                Ok(Some(data_ev(content)))
            }
            _ => unreachable!("filtered above"),
        }
    }

    /// Checks that the input ended on a record boundary.
    pub fn finish(&self) -> Result<(), Error> {
        self.records.finish()
    }
}
