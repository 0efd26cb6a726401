//! The FastCGI 1.0 wire protocol, sans-IO.
//!
//! This crate owns the bytes on the wire and nothing else: it never reads or writes a socket,
//! never spawns, never sleeps. Both ends of the protocol are here:
//!
//! - [`server`]: what a web server writes to an application ([`server::encode`]) and reads back
//!   from it ([`server::ResponseDecoder`]);
//! - [`app`]: what an application reads from a web server ([`app::RequestDecoder`]) and writes
//!   back ([`app::encode`]).
//!
//! Underneath both are the record framing ([`record`]), the name-value pair format ([`pairs`]) and
//! a stream encoder that splits content into records of at most 65535 bytes padded to a multiple
//! of 8 ([`encode`]).
//!
//! Every length read from the wire is checked against [`Limits`] before anything is allocated for
//! it, and malformed input is a typed [`Error`] that says what was wrong, never a panic. The
//! decoders are incremental: input may be pushed split at any byte.
//!
//! ```
//! use bytes::BytesMut;
//! use fcgi_proto::{server, app, Role, Limits};
//!
//! // The web server sends a request...
//! let mut wire = BytesMut::new();
//! server::encode::begin_request(&mut wire, 1, Role::Responder, false);
//! server::encode::params(&mut wire, 1, [(&b"REQUEST_METHOD"[..], &b"GET"[..])]);
//! server::encode::params_end(&mut wire, 1);
//! server::encode::stdin_end(&mut wire, 1);
//!
//! // ...and the application decodes it, fed one byte at a time.
//! let mut dec = app::RequestDecoder::new(Limits::default());
//! let mut events = Vec::new();
//! for b in wire.iter() {
//!     dec.push(&[*b]);
//!     while let Some(ev) = dec.next_event().unwrap() {
//!         events.push(ev);
//!     }
//! }
//! assert!(matches!(events[0], app::RequestEvent::BeginRequest { request_id: 1, .. }));
//! ```
#![forbid(unsafe_code)]

pub mod app;
pub mod encode;
mod error;
mod limits;
pub mod pairs;
pub mod record;
pub mod server;

pub use error::Error;
pub use limits::Limits;
pub use record::{
    BeginRequestBody, EndRequestBody, HEADER_LEN, Header, KEEP_CONN, MAX_CONTENT_LEN,
    NULL_REQUEST_ID, ProtocolStatus, Record, RecordDecoder, RecordType, Role, VERSION_1,
};

/// The names an application may be asked about with `FCGI_GET_VALUES`.
pub mod values {
    /// The maximum number of concurrent transport connections the application will accept.
    pub const MAX_CONNS: &[u8] = b"FCGI_MAX_CONNS";
    /// The maximum number of concurrent requests the application will accept.
    pub const MAX_REQS: &[u8] = b"FCGI_MAX_REQS";
    /// "0" if the application does not multiplex connections, "1" if it does.
    pub const MPXS_CONNS: &[u8] = b"FCGI_MPXS_CONNS";
}
