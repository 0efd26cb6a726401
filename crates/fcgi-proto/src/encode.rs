//! Writing records: one record, or a stream's content split into records of at most 65535
//! bytes, each padded to a multiple of 8 (what libfcgi and php-fpm read fastest).

use bytes::{BufMut, BytesMut};

use crate::{HEADER_LEN, Header, MAX_CONTENT_LEN, RecordType};

/// Padding that brings `content_len` to a multiple of 8.
pub fn padding_for(content_len: usize) -> u8 {
    ((8 - content_len % 8) % 8) as u8
}

const ZEROS: [u8; 8] = [0; 8];

/// Appends one record. `content` must fit one record.
///
/// # Panics
/// If `content` is longer than 65535 bytes; use [`stream`] for arbitrary lengths.
pub fn record(out: &mut BytesMut, record_type: RecordType, request_id: u16, content: &[u8]) {
    assert!(
        content.len() <= MAX_CONTENT_LEN,
        "record content over 65535 bytes"
    );
    let padding = padding_for(content.len());
    let header = Header {
        record_type,
        request_id,
        content_length: content.len() as u16,
        padding_length: padding,
    };
    out.reserve(HEADER_LEN + content.len() + padding as usize);
    out.put_slice(&header.to_bytes());
    out.put_slice(content);
    out.put_slice(&ZEROS[..padding as usize]);
}

/// Appends `data` as records of a stream type, split at 65535 bytes. Empty `data` writes
/// nothing: the empty record closes a stream, see [`stream_end`].
pub fn stream(out: &mut BytesMut, record_type: RecordType, request_id: u16, data: &[u8]) {
    for chunk in data.chunks(MAX_CONTENT_LEN) {
        record(out, record_type, request_id, chunk);
    }
}

/// Appends the empty record that closes a stream.
pub fn stream_end(out: &mut BytesMut, record_type: RecordType, request_id: u16) {
    record(out, record_type, request_id, &[]);
}

/// The header (and padding length) for a record of `len` bytes of content, for callers that
/// write the content themselves (for example straight from a file or a socket buffer).
///
/// # Panics
/// If `len` is over 65535.
pub fn header_for(record_type: RecordType, request_id: u16, len: usize) -> Header {
    assert!(len <= MAX_CONTENT_LEN, "record content over 65535 bytes");
    Header {
        record_type,
        request_id,
        content_length: len as u16,
        padding_length: padding_for(len),
    }
}

/// Appends name-value pairs as a stream of records of `record_type`: in one record when they
/// fit, split at 65535 bytes (possibly inside a pair, as the protocol allows) when not. Does not
/// close the stream.
pub fn pairs_stream<'a, I>(out: &mut BytesMut, record_type: RecordType, request_id: u16, pairs: I)
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    // Encode in place after a placeholder header; the common case (< 64 KiB) needs no copy.
    let start = out.len();
    out.put_slice(&[0; HEADER_LEN]);
    for (name, value) in pairs {
        crate::pairs::encode_pair(out, name, value);
    }
    let body_len = out.len() - start - HEADER_LEN;
    if body_len == 0 {
        out.truncate(start);
        return;
    }
    if body_len <= MAX_CONTENT_LEN {
        let header = header_for(record_type, request_id, body_len);
        out[start..start + HEADER_LEN].copy_from_slice(&header.to_bytes());
        out.put_slice(&ZEROS[..header.padding_length as usize]);
        return;
    }
    let body = out.split_off(start + HEADER_LEN);
    out.truncate(start);
    stream(out, record_type, request_id, &body);
}
