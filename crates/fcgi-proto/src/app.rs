//! The application's side: what it reads from a web server ([`RequestDecoder`]) and what it
//! writes back ([`encode`]).
//!
//! The decoder tracks one request at a time (no mainstream web server multiplexes); a
//! BEGIN_REQUEST for another id while one is active is reported as
//! [`RequestEvent::BusyBeginRequest`] so the application can answer `FCGI_CANT_MPX_CONN`.

use bytes::{Bytes, BytesMut};

use crate::pairs::{Pair, decode_pairs};
use crate::{BeginRequestBody, Error, Limits, Record, RecordDecoder, RecordType, Role};

/// Encoders for the records an application sends.
pub mod encode {
    use bytes::BytesMut;

    use crate::encode::{pairs_stream, record, stream, stream_end};
    use crate::{EndRequestBody, NULL_REQUEST_ID, ProtocolStatus, RecordType};

    /// STDOUT records carrying `data` (nothing if `data` is empty).
    pub fn stdout(out: &mut BytesMut, request_id: u16, data: &[u8]) {
        stream(out, RecordType::Stdout, request_id, data);
    }

    /// The empty STDOUT record that ends the response.
    pub fn stdout_end(out: &mut BytesMut, request_id: u16) {
        stream_end(out, RecordType::Stdout, request_id);
    }

    /// STDERR records carrying `data` (nothing if `data` is empty).
    pub fn stderr(out: &mut BytesMut, request_id: u16, data: &[u8]) {
        stream(out, RecordType::Stderr, request_id, data);
    }

    /// The empty STDERR record.
    pub fn stderr_end(out: &mut BytesMut, request_id: u16) {
        stream_end(out, RecordType::Stderr, request_id);
    }

    /// END_REQUEST.
    pub fn end_request(
        out: &mut BytesMut,
        request_id: u16,
        app_status: u32,
        protocol_status: ProtocolStatus,
    ) {
        let body = EndRequestBody {
            app_status,
            protocol_status,
        };
        record(out, RecordType::EndRequest, request_id, &body.to_bytes());
    }

    /// GET_VALUES_RESULT with `pairs`.
    pub fn get_values_result<'a, I>(out: &mut BytesMut, pairs: I)
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    {
        let start = out.len();
        pairs_stream(out, RecordType::GetValuesResult, NULL_REQUEST_ID, pairs);
        if out.len() == start {
            record(out, RecordType::GetValuesResult, NULL_REQUEST_ID, &[]);
        }
    }

    /// UNKNOWN_TYPE, the answer to a management record of a type we do not know.
    pub fn unknown_type(out: &mut BytesMut, record_type: u8) {
        let body = [record_type, 0, 0, 0, 0, 0, 0, 0];
        record(out, RecordType::UnknownType, NULL_REQUEST_ID, &body);
    }
}

/// What a web server sends, as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestEvent {
    /// A request begins.
    BeginRequest {
        /// Its id.
        request_id: u16,
        /// The role asked for ([`Role::Other`] must be answered with `FCGI_UNKNOWN_ROLE`).
        role: Role,
        /// Whether to keep the connection open after the request.
        keep_conn: bool,
    },
    /// A BEGIN_REQUEST arrived while another request is in progress; answer it with
    /// `FCGI_CANT_MPX_CONN`.
    BusyBeginRequest {
        /// The id of the refused request.
        request_id: u16,
    },
    /// All the params of the request, once their stream has ended.
    Params(Vec<Pair>),
    /// A chunk of the request body. Never empty.
    Stdin(Bytes),
    /// The request body has ended.
    StdinEnd,
    /// A chunk of the Filter role's data stream. Never empty.
    Data(Bytes),
    /// The data stream has ended.
    DataEnd,
    /// The web server aborts the request.
    AbortRequest,
    /// The web server asks for these values.
    GetValues(Vec<Bytes>),
    /// A management record of a type this version does not know: answer with UNKNOWN_TYPE.
    UnknownType(u8),
}

#[derive(Debug)]
struct Active {
    id: u16,
    params: Option<BytesMut>,
    stdin_done: bool,
    data_done: bool,
}

/// Decodes a web server's records on one connection.
///
/// Records for request ids that are not active are ignored, as the FastCGI specification
/// requires. The params stream is assembled up to [`Limits::max_params_len`], checked before
/// each append.
#[derive(Debug)]
pub struct RequestDecoder {
    records: RecordDecoder,
    limits: Limits,
    active: Option<Active>,
}

impl RequestDecoder {
    /// A decoder for a new connection.
    pub fn new(limits: Limits) -> RequestDecoder {
        RequestDecoder {
            records: RecordDecoder::new(),
            limits,
            active: None,
        }
    }

    /// Appends input.
    pub fn push(&mut self, data: &[u8]) {
        self.records.push(data);
    }

    /// The input buffer, for reading from a socket straight into it.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        self.records.buffer_mut()
    }

    /// The id of the request in progress.
    pub fn active_request(&self) -> Option<u16> {
        self.active.as_ref().map(|a| a.id)
    }

    /// Marks the request in progress as finished (the application sent END_REQUEST), so that
    /// the next BEGIN_REQUEST starts a new one.
    pub fn finish_request(&mut self) {
        self.active = None;
    }

    /// Checks that the input ended on a record boundary.
    pub fn finish(&self) -> Result<(), Error> {
        self.records.finish()
    }

    /// The next event, `Ok(None)` if more input is needed.
    pub fn next_event(&mut self) -> Result<Option<RequestEvent>, Error> {
        loop {
            let Some(Record { header, content }) = self.records.next_record()? else {
                return Ok(None);
            };
            if let Some(ev) = self.on_record(header.record_type, header.request_id, content)? {
                return Ok(Some(ev));
            }
        }
    }

    fn on_record(
        &mut self,
        t: RecordType,
        id: u16,
        content: Bytes,
    ) -> Result<Option<RequestEvent>, Error> {
        let raw = t.as_u8();
        if id == 0 {
            return match t {
                RecordType::GetValues => {
                    let pairs = decode_pairs(&content, &self.limits)?;
                    Ok(Some(RequestEvent::GetValues(
                        pairs.into_iter().map(|(n, _)| n).collect(),
                    )))
                }
                RecordType::Other(b) => Ok(Some(RequestEvent::UnknownType(b))),
                RecordType::GetValuesResult | RecordType::UnknownType => {
                    Err(Error::UnexpectedRecordType { record_type: raw })
                }
                _ => Err(Error::RequestIdZero { record_type: raw }),
            };
        }
        if t == RecordType::GetValues {
            return Err(Error::ManagementRequestId {
                record_type: raw,
                request_id: id,
            });
        }
        match t {
            RecordType::BeginRequest => {
                let body = BeginRequestBody::parse(&content)?;
                match &self.active {
                    Some(a) if a.id == id => Err(Error::DuplicateBeginRequest(id)),
                    Some(_) => Ok(Some(RequestEvent::BusyBeginRequest { request_id: id })),
                    None => {
                        self.active = Some(Active {
                            id,
                            params: Some(BytesMut::new()),
                            stdin_done: false,
                            data_done: false,
                        });
                        Ok(Some(RequestEvent::BeginRequest {
                            request_id: id,
                            role: body.role,
                            keep_conn: body.keep_conn(),
                        }))
                    }
                }
            }
            RecordType::AbortRequest
            | RecordType::Params
            | RecordType::Stdin
            | RecordType::Data => {
                let Some(active) = self.active.as_mut().filter(|a| a.id == id) else {
                    return Ok(None); // not an active request: ignored, per the specification
                };
                match t {
                    RecordType::AbortRequest => Ok(Some(RequestEvent::AbortRequest)),
                    RecordType::Params => {
                        let Some(buf) = active.params.as_mut() else {
                            return Err(Error::StreamAfterEnd { record_type: raw });
                        };
                        if content.is_empty() {
                            let block = active.params.take().unwrap_or_default().freeze();
                            return Ok(Some(RequestEvent::Params(decode_pairs(
                                &block,
                                &self.limits,
                            )?)));
                        }
                        let len = buf.len() + content.len();
                        if len > self.limits.max_params_len {
                            return Err(Error::ParamsTooLarge {
                                len,
                                limit: self.limits.max_params_len,
                            });
                        }
                        buf.extend_from_slice(&content);
                        Ok(None)
                    }
                    _ => {
                        let (done, data, end): (_, fn(Bytes) -> RequestEvent, _) =
                            if t == RecordType::Stdin {
                                (
                                    &mut active.stdin_done,
                                    RequestEvent::Stdin,
                                    RequestEvent::StdinEnd,
                                )
                            } else {
                                (
                                    &mut active.data_done,
                                    RequestEvent::Data,
                                    RequestEvent::DataEnd,
                                )
                            };
                        if *done {
                            return Err(Error::StreamAfterEnd { record_type: raw });
                        }
                        if content.is_empty() {
                            *done = true;
                            Ok(Some(end))
                        } else {
                            Ok(Some(data(content)))
                        }
                    }
                }
            }
            _ => Err(Error::UnexpectedRecordType { record_type: raw }),
        }
    }
}
