//! The one error type of the protocol: each variant says what was wrong with the bytes.

/// Malformed or unexpected FastCGI input.
///
/// Every variant names what was wrong (a version, a length, a record type, an id) so that a
/// caller can log it and a test can assert the exact reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A record header carried a version other than 1.
    #[error("unsupported FastCGI version {0} (only version 1 exists)")]
    UnsupportedVersion(u8),
    /// A record of this type is not valid in this direction of the protocol.
    #[error("unexpected record type {record_type} in this direction")]
    UnexpectedRecordType {
        /// The raw type byte.
        record_type: u8,
    },
    /// A fixed-size record body (BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE) had the wrong length.
    #[error("record type {record_type} must carry {expected} bytes of content, got {actual}")]
    BodyLength {
        /// The raw type byte.
        record_type: u8,
        /// The length the protocol requires.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// An application record (one that belongs to a request) came with request id 0.
    #[error("record type {record_type} requires a non-zero request id")]
    RequestIdZero {
        /// The raw type byte.
        record_type: u8,
    },
    /// A management record (GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE) had a non-zero request id.
    #[error("management record type {record_type} must have request id 0, got {request_id}")]
    ManagementRequestId {
        /// The raw type byte.
        record_type: u8,
        /// The id received.
        request_id: u16,
    },
    /// A record belonged to a request other than the one in progress.
    #[error("record for request id {actual}, expected {expected}")]
    UnexpectedRequestId {
        /// The request id in progress.
        expected: u16,
        /// The id received.
        actual: u16,
    },
    /// A second BEGIN_REQUEST for the request already in progress.
    #[error("duplicate BEGIN_REQUEST for request id {0}")]
    DuplicateBeginRequest(u16),
    /// A stream record came after the empty record that closed that stream.
    #[error("record type {record_type} after the end of its stream")]
    StreamAfterEnd {
        /// The raw type byte.
        record_type: u8,
    },
    /// A record came after END_REQUEST.
    #[error("record type {record_type} after END_REQUEST")]
    RecordAfterEnd {
        /// The raw type byte.
        record_type: u8,
    },
    /// END_REQUEST carried a protocol status this version does not define.
    #[error("invalid protocol status {0} in END_REQUEST")]
    InvalidProtocolStatus(u8),
    /// A name-value pair's lengths ran past the end of its content.
    #[error("truncated name-value pair")]
    PairTruncated,
    /// A name in a name-value pair is longer than the configured limit.
    #[error("name-value pair name of {len} bytes exceeds the limit of {limit}")]
    PairNameTooLong {
        /// The length announced on the wire.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A value in a name-value pair is longer than the configured limit.
    #[error("name-value pair value of {len} bytes exceeds the limit of {limit}")]
    PairValueTooLong {
        /// The length announced on the wire.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A PARAMS stream is larger than the configured limit.
    #[error("params stream of at least {len} bytes exceeds the limit of {limit}")]
    ParamsTooLarge {
        /// The length reached so far.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// More name-value pairs than the configured limit.
    #[error("more than {limit} name-value pairs")]
    TooManyPairs {
        /// The configured limit.
        limit: usize,
    },
    /// The input ended inside a record.
    #[error("input ended inside a record ({buffered} bytes buffered)")]
    TruncatedRecord {
        /// How many bytes of the partial record were buffered.
        buffered: usize,
    },
}
