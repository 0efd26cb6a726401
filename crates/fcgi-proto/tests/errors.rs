//! One test per error: malformed input yields the exact typed reason, never a panic.

use bytes::{Bytes, BytesMut};
use fcgi_proto::app::{RequestDecoder, RequestEvent};
use fcgi_proto::encode::record;
use fcgi_proto::pairs::{decode_pairs, encode_pair};
use fcgi_proto::server::{self, ResponseDecoder, ResponseEvent};
use fcgi_proto::{Error, Limits, ProtocolStatus, RecordDecoder, RecordType, Role};

fn app_err(wire: &[u8], limits: Limits) -> Error {
    let mut d = RequestDecoder::new(limits);
    d.push(wire);
    loop {
        match d.next_event() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error in {wire:?}"),
            Err(e) => return e,
        }
    }
}

fn server_err(wire: &[u8]) -> Error {
    let mut d = ResponseDecoder::new(1, Limits::default());
    d.push(wire);
    loop {
        match d.next_event() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error in {wire:?}"),
            Err(e) => return e,
        }
    }
}

fn rec(t: RecordType, id: u16, content: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    record(&mut b, t, id, content);
    b
}

fn begin(id: u16) -> BytesMut {
    let mut b = BytesMut::new();
    server::encode::begin_request(&mut b, id, Role::Responder, false);
    b
}

#[test]
fn unsupported_version() {
    let mut w = rec(RecordType::Stdout, 1, b"x");
    w[0] = 2;
    assert_eq!(server_err(&w), Error::UnsupportedVersion(2));
    assert_eq!(app_err(&w, Limits::default()), Error::UnsupportedVersion(2));
}

#[test]
fn unexpected_record_type_each_direction() {
    // An application never receives STDOUT; a web server never receives STDIN.
    let mut w = begin(1);
    w.extend_from_slice(&rec(RecordType::Stdout, 1, b"x"));
    assert_eq!(
        app_err(&w, Limits::default()),
        Error::UnexpectedRecordType { record_type: 6 }
    );
    assert_eq!(
        server_err(&rec(RecordType::Stdin, 1, b"x")),
        Error::UnexpectedRecordType { record_type: 5 }
    );
    assert_eq!(
        server_err(&rec(RecordType::GetValues, 0, b"")),
        Error::UnexpectedRecordType { record_type: 9 }
    );
    assert_eq!(
        app_err(&rec(RecordType::GetValuesResult, 0, b""), Limits::default()),
        Error::UnexpectedRecordType { record_type: 10 }
    );
}

#[test]
fn fixed_bodies_must_be_eight_bytes() {
    assert_eq!(
        app_err(
            &rec(RecordType::BeginRequest, 1, &[0, 1, 0]),
            Limits::default()
        ),
        Error::BodyLength {
            record_type: 1,
            expected: 8,
            actual: 3
        }
    );
    assert_eq!(
        server_err(&rec(RecordType::EndRequest, 1, &[0; 9])),
        Error::BodyLength {
            record_type: 3,
            expected: 8,
            actual: 9
        }
    );
    assert_eq!(
        server_err(&rec(RecordType::UnknownType, 0, &[])),
        Error::BodyLength {
            record_type: 11,
            expected: 8,
            actual: 0
        }
    );
}

#[test]
fn request_id_zero_for_request_records() {
    assert_eq!(
        server_err(&rec(RecordType::Stdout, 0, b"x")),
        Error::RequestIdZero { record_type: 6 }
    );
    assert_eq!(
        app_err(
            &rec(RecordType::BeginRequest, 0, &[0, 1, 0, 0, 0, 0, 0, 0]),
            Limits::default()
        ),
        Error::RequestIdZero { record_type: 1 }
    );
}

#[test]
fn management_records_need_id_zero() {
    assert_eq!(
        server_err(&rec(RecordType::GetValuesResult, 3, b"")),
        Error::ManagementRequestId {
            record_type: 10,
            request_id: 3
        }
    );
    assert_eq!(
        app_err(&rec(RecordType::GetValues, 3, b""), Limits::default()),
        Error::ManagementRequestId {
            record_type: 9,
            request_id: 3
        }
    );
}

#[test]
fn unexpected_request_id() {
    assert_eq!(
        server_err(&rec(RecordType::Stdout, 2, b"x")),
        Error::UnexpectedRequestId {
            expected: 1,
            actual: 2
        }
    );
}

#[test]
fn duplicate_begin_request_and_busy() {
    let mut w = begin(1);
    w.extend_from_slice(&begin(1));
    assert_eq!(
        app_err(&w, Limits::default()),
        Error::DuplicateBeginRequest(1)
    );
    // Another id while one is active is not an error: it is refused with CANT_MPX_CONN.
    let mut d = RequestDecoder::new(Limits::default());
    d.push(&begin(1));
    d.push(&begin(2));
    assert!(matches!(
        d.next_event().unwrap(),
        Some(RequestEvent::BeginRequest { .. })
    ));
    assert_eq!(
        d.next_event().unwrap(),
        Some(RequestEvent::BusyBeginRequest { request_id: 2 })
    );
}

#[test]
fn stream_after_end() {
    let mut w = BytesMut::new();
    fcgi_proto::app::encode::stdout_end(&mut w, 1);
    fcgi_proto::app::encode::stdout(&mut w, 1, b"late");
    assert_eq!(server_err(&w), Error::StreamAfterEnd { record_type: 6 });

    let mut w = begin(1);
    server::encode::stdin_end(&mut w, 1);
    server::encode::stdin(&mut w, 1, b"late");
    assert_eq!(
        app_err(&w, Limits::default()),
        Error::StreamAfterEnd { record_type: 5 }
    );

    let mut w = begin(1);
    server::encode::params_end(&mut w, 1);
    server::encode::params(&mut w, 1, [(&b"A"[..], &b"B"[..])]);
    assert_eq!(
        app_err(&w, Limits::default()),
        Error::StreamAfterEnd { record_type: 4 }
    );
}

#[test]
fn record_after_end_request() {
    let mut w = BytesMut::new();
    fcgi_proto::app::encode::end_request(&mut w, 1, 0, ProtocolStatus::RequestComplete);
    fcgi_proto::app::encode::stdout(&mut w, 1, b"late");
    assert_eq!(server_err(&w), Error::RecordAfterEnd { record_type: 6 });
}

#[test]
fn invalid_protocol_status() {
    assert_eq!(
        server_err(&rec(RecordType::EndRequest, 1, &[0, 0, 0, 0, 9, 0, 0, 0])),
        Error::InvalidProtocolStatus(9)
    );
}

#[test]
fn pair_errors() {
    let l = Limits::default();
    // A 4-byte length cut short, a length that runs past the end, trailing garbage.
    assert_eq!(
        decode_pairs(&Bytes::from_static(&[0x80, 0]), &l),
        Err(Error::PairTruncated)
    );
    assert_eq!(
        decode_pairs(&Bytes::from_static(&[5, 1, b'a']), &l),
        Err(Error::PairTruncated)
    );
    let mut b = BytesMut::new();
    encode_pair(&mut b, b"A", b"B");
    b.extend_from_slice(&[3]);
    assert_eq!(decode_pairs(&b.freeze(), &l), Err(Error::PairTruncated));
    // Huge announced lengths are refused before any slicing or allocation.
    let huge = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_eq!(
        decode_pairs(&huge, &l),
        Err(Error::PairNameTooLong {
            len: 0x7fff_ffff,
            limit: l.max_name_len
        })
    );
    let huge_value = Bytes::from_static(&[0x01, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        decode_pairs(&huge_value, &l),
        Err(Error::PairValueTooLong {
            len: 0x7fff_ffff,
            limit: l.max_value_len
        })
    );
    let tight = Limits { max_pairs: 2, ..l };
    let mut b = BytesMut::new();
    for _ in 0..3 {
        encode_pair(&mut b, b"A", b"B");
    }
    assert_eq!(
        decode_pairs(&b.freeze(), &tight),
        Err(Error::TooManyPairs { limit: 2 })
    );
}

#[test]
fn params_too_large() {
    let limits = Limits {
        max_params_len: 100,
        ..Limits::default()
    };
    let mut w = begin(1);
    server::encode::params(&mut w, 1, [(&b"A"[..], &[b'x'; 60][..])]);
    server::encode::params(&mut w, 1, [(&b"B"[..], &[b'x'; 60][..])]);
    assert_eq!(
        app_err(&w, limits),
        Error::ParamsTooLarge {
            len: 126,
            limit: 100
        }
    );
}

#[test]
fn truncated_record_at_finish() {
    let w = rec(RecordType::Stdout, 1, b"hello");
    let mut d = RecordDecoder::new();
    d.push(&w[..10]);
    assert_eq!(d.next_record(), Ok(None));
    assert_eq!(d.finish(), Err(Error::TruncatedRecord { buffered: 10 }));
}

#[test]
fn unknown_management_type_is_an_event_not_an_error() {
    let mut d = RequestDecoder::new(Limits::default());
    d.push(&rec(RecordType::Other(42), 0, b""));
    assert_eq!(d.next_event().unwrap(), Some(RequestEvent::UnknownType(42)));
    // Records for a request that is not active are ignored, as the specification says.
    d.push(&rec(RecordType::Stdin, 7, b"stray"));
    assert_eq!(d.next_event().unwrap(), None);
    let mut s = ResponseDecoder::new(1, Limits::default());
    s.push(&rec(RecordType::UnknownType, 0, &[42, 0, 0, 0, 0, 0, 0, 0]));
    assert_eq!(
        s.next_event().unwrap(),
        Some(ResponseEvent::UnknownType(42))
    );
}
