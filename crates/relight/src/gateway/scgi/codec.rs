//! The request heads of SCGI and uwsgi, as lighttpd's mod_scgi writes them; no I/O here.
//!
//! SCGI: a netstring (`<length>:` + pairs + `,`) of `name\0value\0` pairs, CONTENT_LENGTH first
//! and `SCGI` = `1` last. uwsgi: a 4-byte header (modifier1 0, the size of the pairs as u16
//! little-endian, modifier2 0), then each pair as u16-LE length + name, u16-LE length + value.
//! The body follows either head as it is.

use bytes::{BufMut, BytesMut};

/// Why a request cannot be encoded for uwsgi.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeadError {
    /// One name or value is over 65535 bytes (lighttpd: 400).
    #[error("uwsgi: a variable of {0} bytes is over uwsgi's 65535")]
    VariableTooLong(usize),
    /// All the variables together are over 65535 bytes (lighttpd: 431).
    #[error("uwsgi: {0} bytes of variables are over uwsgi's 65535")]
    TooLarge(usize),
}

/// Appends the SCGI head of `params` (in any order; CONTENT_LENGTH is put first, as SCGI
/// requires).
pub(crate) fn encode_scgi<'a>(
    out: &mut BytesMut,
    params: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
) {
    let mut pairs = BytesMut::new();
    let content_length = params
        .clone()
        .find(|(k, _)| *k == b"CONTENT_LENGTH")
        .map_or(&b"0"[..], |(_, v)| v);
    let mut put = |k: &[u8], v: &[u8]| {
        pairs.put_slice(k);
        pairs.put_u8(0);
        pairs.put_slice(v);
        pairs.put_u8(0);
    };
    put(b"CONTENT_LENGTH", content_length);
    for (k, v) in params.filter(|(k, _)| *k != b"CONTENT_LENGTH") {
        put(k, v);
    }
    put(b"SCGI", b"1");
    out.put_slice(pairs.len().to_string().as_bytes());
    out.put_u8(b':');
    out.put_slice(&pairs);
    out.put_u8(b',');
}

/// Appends the uwsgi head of `params` (CONTENT_LENGTH first, as lighttpd sends it).
pub(crate) fn encode_uwsgi<'a>(
    out: &mut BytesMut,
    params: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
) -> Result<(), HeadError> {
    let mut pairs = BytesMut::new();
    let ordered = params
        .clone()
        .filter(|(k, _)| *k == b"CONTENT_LENGTH")
        .chain(params.filter(|(k, _)| *k != b"CONTENT_LENGTH"));
    for (k, v) in ordered {
        for part in [k, v] {
            let n =
                u16::try_from(part.len()).map_err(|_| HeadError::VariableTooLong(part.len()))?;
            pairs.put_u16_le(n);
            pairs.put_slice(part);
        }
    }
    let size = u16::try_from(pairs.len()).map_err(|_| HeadError::TooLarge(pairs.len()))?;
    out.put_u8(0);
    out.put_u16_le(size);
    out.put_u8(0);
    out.put_slice(&pairs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(&'static [u8], &'static [u8])> {
        vec![
            (b"QUERY_STRING", b""),
            (b"CONTENT_LENGTH", b"27"),
            (b"REQUEST_METHOD", b"POST"),
        ]
    }

    #[test]
    fn scgi_is_a_netstring_with_content_length_first_and_scgi_last() {
        let mut out = BytesMut::new();
        encode_scgi(&mut out, params().into_iter());
        let body =
            b"CONTENT_LENGTH\x0027\x00QUERY_STRING\x00\x00REQUEST_METHOD\x00POST\x00SCGI\x001\x00";
        let mut want = format!("{}:", body.len()).into_bytes();
        want.extend_from_slice(body);
        want.push(b',');
        assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn uwsgi_has_its_header_and_little_endian_lengths() {
        let mut out = BytesMut::new();
        encode_uwsgi(&mut out, params().into_iter()).unwrap();
        let mut pairs = Vec::new();
        for (k, v) in [
            (&b"CONTENT_LENGTH"[..], &b"27"[..]),
            (b"QUERY_STRING", b""),
            (b"REQUEST_METHOD", b"POST"),
        ] {
            pairs.extend_from_slice(&(k.len() as u16).to_le_bytes());
            pairs.extend_from_slice(k);
            pairs.extend_from_slice(&(v.len() as u16).to_le_bytes());
            pairs.extend_from_slice(v);
        }
        let mut want = vec![0u8];
        want.extend_from_slice(&(pairs.len() as u16).to_le_bytes());
        want.push(0);
        want.extend_from_slice(&pairs);
        assert_eq!(&out[..], &want[..]);
        // Too large for uwsgi's 16-bit sizes.
        let long = vec![b'a'; 70_000];
        let too_long = vec![(&b"X"[..], &long[..])];
        assert_eq!(
            encode_uwsgi(&mut BytesMut::new(), too_long.into_iter()),
            Err(HeadError::VariableTooLong(70_000))
        );
        let many = vec![b'a'; 40_000];
        let too_many = vec![(&b"A"[..], &many[..]), (&b"B"[..], &many[..])];
        assert!(matches!(
            encode_uwsgi(&mut BytesMut::new(), too_many.into_iter()),
            Err(HeadError::TooLarge(_))
        ));
    }
}
