//! Property tests: what one side encodes the other decodes, whatever the chunking.

use bytes::{Bytes, BytesMut};
use fcgi_proto::app::{self, RequestDecoder, RequestEvent};
use fcgi_proto::server::{self, ResponseDecoder, ResponseEvent};
use fcgi_proto::{Limits, MAX_CONTENT_LEN, ProtocolStatus, RecordDecoder, Role};
use proptest::prelude::*;

fn big_limits() -> Limits {
    Limits {
        max_params_len: 8 << 20,
        max_name_len: 1 << 20,
        max_value_len: 4 << 20,
        max_pairs: 100_000,
    }
}

/// Feeds `wire` to the decoder in the given chunk sizes (cycled) and collects the events.
fn decode_requests(wire: &[u8], chunks: &[usize], limits: Limits) -> Vec<RequestEvent> {
    let mut dec = RequestDecoder::new(limits);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < wire.len() {
        let n = chunks
            .get(i % chunks.len().max(1))
            .copied()
            .unwrap_or(wire.len())
            .max(1);
        let end = (pos + n).min(wire.len());
        dec.push(&wire[pos..end]);
        pos = end;
        i += 1;
        while let Some(ev) = dec.next_event().expect("valid stream") {
            out.push(ev);
        }
    }
    dec.finish().expect("ends on a record boundary");
    out
}

fn decode_responses(wire: &[u8], chunks: &[usize]) -> Vec<ResponseEvent> {
    let mut dec = ResponseDecoder::new(1, big_limits());
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < wire.len() {
        let n = chunks
            .get(i % chunks.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        let end = (pos + n).min(wire.len());
        dec.push(&wire[pos..end]);
        pos = end;
        i += 1;
        while let Some(ev) = dec.next_event().expect("valid stream") {
            out.push(ev);
        }
    }
    dec.finish().expect("ends on a record boundary");
    out
}

/// Joins consecutive data events so chunking differences disappear.
fn joined_stdin(events: &[RequestEvent]) -> Vec<u8> {
    events
        .iter()
        .flat_map(|e| match e {
            RequestEvent::Stdin(b) => b.to_vec(),
            _ => Vec::new(),
        })
        .collect()
}

fn request_wire(params: &[(Vec<u8>, Vec<u8>)], body: &[u8], keep: bool) -> BytesMut {
    let mut wire = BytesMut::new();
    server::encode::begin_request(&mut wire, 1, Role::Responder, keep);
    server::encode::params(
        &mut wire,
        1,
        params.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
    );
    server::encode::params_end(&mut wire, 1);
    server::encode::stdin(&mut wire, 1, body);
    server::encode::stdin_end(&mut wire, 1);
    wire
}

fn check_request(params: &[(Vec<u8>, Vec<u8>)], body: &[u8], keep: bool, chunks: &[usize]) {
    let wire = request_wire(params, body, keep);
    let events = decode_requests(&wire, chunks, big_limits());
    assert_eq!(
        events[0],
        RequestEvent::BeginRequest {
            request_id: 1,
            role: Role::Responder,
            keep_conn: keep
        }
    );
    let RequestEvent::Params(got) = &events[1] else {
        panic!("second event must be the params, got {:?}", events[1]);
    };
    let got: Vec<(Vec<u8>, Vec<u8>)> = got.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
    assert_eq!(got, params);
    assert_eq!(joined_stdin(&events), body);
    assert_eq!(events.last(), Some(&RequestEvent::StdinEnd));
    // Records never carry more than 65535 bytes and are padded to 8.
    let mut rd = RecordDecoder::new();
    rd.push(&wire);
    while let Some(r) = rd.next_record().unwrap() {
        assert!(r.content.len() <= MAX_CONTENT_LEN);
        assert_eq!((r.content.len() + r.header.padding_length as usize) % 8, 0);
    }
}

fn pair_strategy() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        prop::collection::vec(any::<u8>(), 0..200),
        prop::collection::vec(any::<u8>(), 0..300),
    )
}

proptest! {
    #[test]
    fn request_round_trip_any_chunking(
        params in prop::collection::vec(pair_strategy(), 0..20),
        body in prop::collection::vec(any::<u8>(), 0..3000),
        keep in any::<bool>(),
        chunks in prop::collection::vec(1usize..300, 1..10),
    ) {
        check_request(&params, &body, keep, &chunks);
    }

    #[test]
    fn response_round_trip_any_chunking(
        out in prop::collection::vec(any::<u8>(), 0..5000),
        err in prop::collection::vec(any::<u8>(), 0..500),
        status in any::<u32>(),
        chunks in prop::collection::vec(1usize..300, 1..10),
    ) {
        let mut wire = BytesMut::new();
        app::encode::stdout(&mut wire, 1, &out);
        app::encode::stderr(&mut wire, 1, &err);
        app::encode::stdout_end(&mut wire, 1);
        app::encode::end_request(&mut wire, 1, status, ProtocolStatus::RequestComplete);
        let whole = decode_responses(&wire, &[wire.len().max(1)]);
        let split = decode_responses(&wire, &chunks);
        let stdout = |evs: &[ResponseEvent]| -> Vec<u8> { evs.iter().flat_map(|e| match e { ResponseEvent::Stdout(b) => b.to_vec(), _ => vec![] }).collect() };
        let stderr = |evs: &[ResponseEvent]| -> Vec<u8> { evs.iter().flat_map(|e| match e { ResponseEvent::Stderr(b) => b.to_vec(), _ => vec![] }).collect() };
        prop_assert_eq!(stdout(&whole), out.clone());
        prop_assert_eq!(stdout(&split), out);
        prop_assert_eq!(stderr(&split), err);
        prop_assert_eq!(&whole, &split);
        prop_assert!(split.contains(&ResponseEvent::StdoutEnd));
        let end = split.last().unwrap();
        prop_assert_eq!(end, &ResponseEvent::EndRequest(fcgi_proto::EndRequestBody { app_status: status, protocol_status: ProtocolStatus::RequestComplete }));
    }

    #[test]
    fn same_events_whatever_the_split(
        params in prop::collection::vec(pair_strategy(), 0..10),
        body in prop::collection::vec(any::<u8>(), 0..2000),
        chunks in prop::collection::vec(1usize..64, 1..8),
    ) {
        let wire = request_wire(&params, &body, false);
        let a = decode_requests(&wire, &[wire.len()], big_limits());
        let b = decode_requests(&wire, &chunks, big_limits());
        // Stdin chunk boundaries follow records, not reads, so the event lists are identical.
        prop_assert_eq!(a, b);
    }
}

#[test]
fn boundary_sizes() {
    for &n in &[0usize, 1, 127, 128, 65535, 65536, 200_000] {
        let value = vec![b'v'; n];
        let name = vec![b'n'; n.min(4000)];
        let params = vec![(name, value.clone()), (b"A".to_vec(), b"B".to_vec())];
        check_request(&params, &value, n % 2 == 0, &[7, 65536, 1]);
    }
}

#[test]
fn params_over_64k_are_split_and_reassembled() {
    let params: Vec<(Vec<u8>, Vec<u8>)> = (0..300)
        .map(|i| (format!("HTTP_X_{i}").into_bytes(), vec![b'x'; 400]))
        .collect();
    let wire = request_wire(&params, b"", false);
    let mut rd = RecordDecoder::new();
    rd.push(&wire);
    let mut params_records = 0;
    while let Some(r) = rd.next_record().unwrap() {
        if r.header.record_type == fcgi_proto::RecordType::Params && !r.content.is_empty() {
            params_records += 1;
        }
    }
    assert!(
        params_records >= 2,
        "over 64 KiB of params needs several records"
    );
    check_request(&params, b"", false, &[1000]);
}

#[test]
fn small_params_fit_one_record() {
    let params = vec![(b"REQUEST_METHOD".to_vec(), b"GET".to_vec()); 50];
    let mut wire = BytesMut::new();
    server::encode::params(
        &mut wire,
        1,
        params.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
    );
    let mut rd = RecordDecoder::new();
    rd.push(&wire);
    assert!(rd.next_record().unwrap().is_some());
    assert!(rd.next_record().unwrap().is_none());
    assert_eq!(rd.buffered(), 0);
}

#[test]
fn get_values_round_trip() {
    let mut wire = BytesMut::new();
    server::encode::get_values(
        &mut wire,
        [
            fcgi_proto::values::MAX_CONNS,
            fcgi_proto::values::MPXS_CONNS,
        ],
    );
    let events = decode_requests(&wire, &[3], Limits::default());
    assert_eq!(
        events,
        vec![RequestEvent::GetValues(vec![
            Bytes::from_static(b"FCGI_MAX_CONNS"),
            Bytes::from_static(b"FCGI_MPXS_CONNS")
        ])]
    );
    let mut back = BytesMut::new();
    app::encode::get_values_result(&mut back, [(&b"FCGI_MPXS_CONNS"[..], &b"0"[..])]);
    app::encode::unknown_type(&mut back, 42);
    let mut dec = ResponseDecoder::new(1, Limits::default());
    dec.push(&back);
    assert_eq!(
        dec.next_event().unwrap(),
        Some(ResponseEvent::GetValuesResult(vec![(
            Bytes::from_static(b"FCGI_MPXS_CONNS"),
            Bytes::from_static(b"0")
        )]))
    );
    assert_eq!(
        dec.next_event().unwrap(),
        Some(ResponseEvent::UnknownType(42))
    );
}

#[test]
fn keep_alive_connection_carries_two_requests() {
    let mut wire = request_wire(&[(b"A".to_vec(), b"1".to_vec())], b"one", true);
    let mut dec = RequestDecoder::new(Limits::default());
    dec.push(&wire);
    let mut evs = Vec::new();
    while let Some(e) = dec.next_event().unwrap() {
        evs.push(e);
    }
    assert_eq!(evs.len(), 4);
    dec.finish_request();
    wire.clear();
    server::encode::begin_request(&mut wire, 1, Role::Authorizer, false);
    dec.push(&wire);
    assert_eq!(
        dec.next_event().unwrap(),
        Some(RequestEvent::BeginRequest {
            request_id: 1,
            role: Role::Authorizer,
            keep_conn: false
        })
    );
}

/// Every length class of names and values (short names written with their lengths in one
/// piece, longer ones, one- and four-byte lengths) decodes back to what was encoded.
#[test]
fn pairs_round_trip_at_every_length_class() {
    use fcgi_proto::pairs::{decode_pairs, encode_pair};
    let mut out = BytesMut::new();
    let mut want = Vec::new();
    for n in [0, 1, 45, 46, 47, 127, 128, 300] {
        for v in [0, 1, 127, 128, 70_000] {
            let name = vec![b'N'; n];
            let value: Vec<u8> = (0..v).map(|i| (i % 251) as u8).collect();
            encode_pair(&mut out, &name, &value);
            want.push((Bytes::from(name), Bytes::from(value)));
        }
    }
    let got = decode_pairs(&out.freeze(), &big_limits()).unwrap();
    assert_eq!(got, want);
}
