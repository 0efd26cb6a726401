//! Record framing: the 8-byte header, the record types, the fixed-size bodies, and a decoder
//! that cuts a byte stream into whole records. It knows nothing of which side it runs on.

use bytes::{Buf, Bytes, BytesMut};

use crate::Error;

/// The only FastCGI version.
pub const VERSION_1: u8 = 1;
/// Length of a record header.
pub const HEADER_LEN: usize = 8;
/// The largest content one record can carry.
pub const MAX_CONTENT_LEN: usize = 65535;
/// The request id of management records.
pub const NULL_REQUEST_ID: u16 = 0;
/// BEGIN_REQUEST flag: keep the connection open after this request.
pub const KEEP_CONN: u8 = 1;

/// A record type. Types this version does not define are kept as [`RecordType::Other`], because
/// an application must answer them with UNKNOWN_TYPE rather than fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// FCGI_BEGIN_REQUEST (1).
    BeginRequest,
    /// FCGI_ABORT_REQUEST (2).
    AbortRequest,
    /// FCGI_END_REQUEST (3).
    EndRequest,
    /// FCGI_PARAMS (4).
    Params,
    /// FCGI_STDIN (5).
    Stdin,
    /// FCGI_STDOUT (6).
    Stdout,
    /// FCGI_STDERR (7).
    Stderr,
    /// FCGI_DATA (8).
    Data,
    /// FCGI_GET_VALUES (9).
    GetValues,
    /// FCGI_GET_VALUES_RESULT (10).
    GetValuesResult,
    /// FCGI_UNKNOWN_TYPE (11).
    UnknownType,
    /// Any other type byte.
    Other(u8),
}

impl RecordType {
    /// The type for a type byte.
    pub fn from_u8(b: u8) -> RecordType {
        match b {
            1 => RecordType::BeginRequest,
            2 => RecordType::AbortRequest,
            3 => RecordType::EndRequest,
            4 => RecordType::Params,
            5 => RecordType::Stdin,
            6 => RecordType::Stdout,
            7 => RecordType::Stderr,
            8 => RecordType::Data,
            9 => RecordType::GetValues,
            10 => RecordType::GetValuesResult,
            11 => RecordType::UnknownType,
            other => RecordType::Other(other),
        }
    }

    /// The type byte.
    pub fn as_u8(self) -> u8 {
        match self {
            RecordType::BeginRequest => 1,
            RecordType::AbortRequest => 2,
            RecordType::EndRequest => 3,
            RecordType::Params => 4,
            RecordType::Stdin => 5,
            RecordType::Stdout => 6,
            RecordType::Stderr => 7,
            RecordType::Data => 8,
            RecordType::GetValues => 9,
            RecordType::GetValuesResult => 10,
            RecordType::UnknownType => 11,
            RecordType::Other(b) => b,
        }
    }

    /// Whether records of this type carry request id 0.
    pub fn is_management(self) -> bool {
        matches!(
            self,
            RecordType::GetValues | RecordType::GetValuesResult | RecordType::UnknownType
        )
    }
}

/// A record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The record type.
    pub record_type: RecordType,
    /// The request this record belongs to, 0 for management records.
    pub request_id: u16,
    /// Bytes of content that follow the header.
    pub content_length: u16,
    /// Bytes of padding that follow the content.
    pub padding_length: u8,
}

impl Header {
    /// Reads a header, rejecting any version but 1.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Header, Error> {
        if b[0] != VERSION_1 {
            return Err(Error::UnsupportedVersion(b[0]));
        }
        Ok(Header {
            record_type: RecordType::from_u8(b[1]),
            request_id: u16::from_be_bytes([b[2], b[3]]),
            content_length: u16::from_be_bytes([b[4], b[5]]),
            padding_length: b[6],
        })
    }

    /// The header's 8 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let id = self.request_id.to_be_bytes();
        let len = self.content_length.to_be_bytes();
        [
            VERSION_1,
            self.record_type.as_u8(),
            id[0],
            id[1],
            len[0],
            len[1],
            self.padding_length,
            0,
        ]
    }

    /// Header, content and padding together.
    pub fn record_len(&self) -> usize {
        HEADER_LEN + self.content_length as usize + self.padding_length as usize
    }
}

/// An application role, as asked for in BEGIN_REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// FCGI_RESPONDER (1): answers an HTTP request.
    Responder,
    /// FCGI_AUTHORIZER (2): allows or denies an HTTP request.
    Authorizer,
    /// FCGI_FILTER (3): transforms a data stream.
    Filter,
    /// A role this version does not define; the application answers FCGI_UNKNOWN_ROLE.
    Other(u16),
}

impl Role {
    /// The role for its wire value.
    pub fn from_u16(v: u16) -> Role {
        match v {
            1 => Role::Responder,
            2 => Role::Authorizer,
            3 => Role::Filter,
            other => Role::Other(other),
        }
    }

    /// The wire value.
    pub fn as_u16(self) -> u16 {
        match self {
            Role::Responder => 1,
            Role::Authorizer => 2,
            Role::Filter => 3,
            Role::Other(v) => v,
        }
    }
}

/// The protocol-level outcome of a request, in END_REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolStatus {
    /// FCGI_REQUEST_COMPLETE (0).
    RequestComplete,
    /// FCGI_CANT_MPX_CONN (1): the application does not multiplex and a request is in progress.
    CantMpxConn,
    /// FCGI_OVERLOADED (2).
    Overloaded,
    /// FCGI_UNKNOWN_ROLE (3).
    UnknownRole,
}

impl ProtocolStatus {
    /// The status for its wire value.
    pub fn from_u8(b: u8) -> Result<ProtocolStatus, Error> {
        Ok(match b {
            0 => ProtocolStatus::RequestComplete,
            1 => ProtocolStatus::CantMpxConn,
            2 => ProtocolStatus::Overloaded,
            3 => ProtocolStatus::UnknownRole,
            other => return Err(Error::InvalidProtocolStatus(other)),
        })
    }

    /// The wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            ProtocolStatus::RequestComplete => 0,
            ProtocolStatus::CantMpxConn => 1,
            ProtocolStatus::Overloaded => 2,
            ProtocolStatus::UnknownRole => 3,
        }
    }
}

/// The body of BEGIN_REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeginRequestBody {
    /// The role asked for.
    pub role: Role,
    /// Raw flags; see [`BeginRequestBody::keep_conn`].
    pub flags: u8,
}

impl BeginRequestBody {
    /// Reads the 8-byte body.
    pub fn parse(content: &[u8]) -> Result<BeginRequestBody, Error> {
        let b = fixed_body(RecordType::BeginRequest, content)?;
        Ok(BeginRequestBody {
            role: Role::from_u16(u16::from_be_bytes([b[0], b[1]])),
            flags: b[2],
        })
    }

    /// The 8-byte body.
    pub fn to_bytes(&self) -> [u8; 8] {
        let r = self.role.as_u16().to_be_bytes();
        [r[0], r[1], self.flags, 0, 0, 0, 0, 0]
    }

    /// Whether the web server asked to keep the connection open after the request.
    pub fn keep_conn(&self) -> bool {
        self.flags & KEEP_CONN != 0
    }
}

/// The body of END_REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndRequestBody {
    /// The application's exit status for the request (CGI's exit code).
    pub app_status: u32,
    /// The protocol-level outcome.
    pub protocol_status: ProtocolStatus,
}

impl EndRequestBody {
    /// Reads the 8-byte body.
    pub fn parse(content: &[u8]) -> Result<EndRequestBody, Error> {
        let b = fixed_body(RecordType::EndRequest, content)?;
        Ok(EndRequestBody {
            app_status: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            protocol_status: ProtocolStatus::from_u8(b[4])?,
        })
    }

    /// The 8-byte body.
    pub fn to_bytes(&self) -> [u8; 8] {
        let s = self.app_status.to_be_bytes();
        [
            s[0],
            s[1],
            s[2],
            s[3],
            self.protocol_status.as_u8(),
            0,
            0,
            0,
        ]
    }
}

/// Reads the 8-byte body of an UNKNOWN_TYPE record: the type the peer did not know.
pub fn parse_unknown_type_body(content: &[u8]) -> Result<u8, Error> {
    Ok(fixed_body(RecordType::UnknownType, content)?[0])
}

fn fixed_body(t: RecordType, content: &[u8]) -> Result<&[u8; 8], Error> {
    content.try_into().map_err(|_| Error::BodyLength {
        record_type: t.as_u8(),
        expected: 8,
        actual: content.len(),
    })
}

/// One whole record: its header and its content, without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The header.
    pub header: Header,
    /// The content (padding removed).
    pub content: Bytes,
}

/// Cuts a byte stream into records. Push bytes in any split; pull whole records.
///
/// Memory is bounded: a record is at most 8 + 65535 + 255 bytes, and the decoder never holds
/// more than one partial record beyond what was pushed.
#[derive(Debug, Default)]
pub struct RecordDecoder {
    buf: BytesMut,
}

impl RecordDecoder {
    /// An empty decoder.
    pub fn new() -> RecordDecoder {
        RecordDecoder::default()
    }

    /// Appends input.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The input buffer, for reading from a socket straight into it.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes pushed but not yet returned as records.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole record, `Ok(None)` if more input is needed.
    pub fn next_record(&mut self) -> Result<Option<Record>, Error> {
        let Some(head) = self.buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let header = Header::parse(head)?;
        if self.buf.len() < header.record_len() {
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        let content = self.buf.split_to(header.content_length as usize).freeze();
        self.buf.advance(header.padding_length as usize);
        Ok(Some(Record { header, content }))
    }

    /// Checks that the input ended on a record boundary.
    pub fn finish(&self) -> Result<(), Error> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::TruncatedRecord {
                buffered: self.buf.len(),
            })
        }
    }
}
