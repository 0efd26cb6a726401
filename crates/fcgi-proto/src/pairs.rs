//! Name-value pairs (PARAMS, GET_VALUES, GET_VALUES_RESULT): lengths of 1 byte (< 128) or
//! 4 bytes (high bit set), then the name, then the value.

use bytes::{BufMut, Bytes};

use crate::{Error, Limits};

/// A name-value pair. Both halves share the buffer they were decoded from.
pub type Pair = (Bytes, Bytes);

/// The largest length a pair can announce (31 bits).
pub const MAX_PAIR_PART_LEN: usize = 0x7fff_ffff;

/// Encoded size of one length.
pub fn length_len(len: usize) -> usize {
    if len < 128 { 1 } else { 4 }
}

/// Encoded size of one pair.
pub fn pair_len(name: &[u8], value: &[u8]) -> usize {
    length_len(name.len()) + length_len(value.len()) + name.len() + value.len()
}

fn put_length(out: &mut impl BufMut, len: usize) {
    assert!(
        len <= MAX_PAIR_PART_LEN,
        "a FastCGI name or value cannot exceed 2^31-1 bytes"
    );
    if len < 128 {
        out.put_u8(len as u8);
    } else {
        out.put_u32(len as u32 | 0x8000_0000);
    }
}

/// Appends one encoded pair.
///
/// # Panics
/// If the name or the value is longer than 2^31-1 bytes, which the format cannot express.
pub fn encode_pair(out: &mut impl BufMut, name: &[u8], value: &[u8]) {
    // Most pairs have short lengths and names: their two lengths and the name go in one
    // write (one capacity check and copy instead of three).
    if name.len() <= SHORT_NAME && value.len() < 128 {
        let mut head = [0u8; SHORT_NAME + 2];
        head[0] = name.len() as u8;
        head[1] = value.len() as u8;
        head[2..2 + name.len()].copy_from_slice(name);
        out.put_slice(&head[..2 + name.len()]);
    } else {
        put_length(out, name.len());
        put_length(out, value.len());
        out.put_slice(name);
    }
    out.put_slice(value);
}

/// The longest name [`encode_pair`] writes with its lengths in one piece (CGI's longest
/// standard names are about 20 bytes; `HTTP_` names of common headers fit too).
const SHORT_NAME: usize = 46;

/// Reads one length at `pos`, returning it and the position after it.
fn read_length(buf: &[u8], pos: usize) -> Result<(usize, usize), Error> {
    let first = *buf.get(pos).ok_or(Error::PairTruncated)?;
    if first & 0x80 == 0 {
        return Ok((first as usize, pos + 1));
    }
    let b = buf.get(pos..pos + 4).ok_or(Error::PairTruncated)?;
    let len = u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]) as usize;
    Ok((len, pos + 4))
}

/// Decodes a complete block of pairs. The block must end exactly at the end of the last pair:
/// trailing bytes are an error ([`Error::PairTruncated`]). Lengths are checked against `limits`
/// before anything is sliced.
pub fn decode_pairs(block: &Bytes, limits: &Limits) -> Result<Vec<Pair>, Error> {
    let mut pairs = Vec::new();
    let mut pos = 0;
    while pos < block.len() {
        if pairs.len() == limits.max_pairs {
            return Err(Error::TooManyPairs {
                limit: limits.max_pairs,
            });
        }
        let (name_len, p) = read_length(block, pos)?;
        let (value_len, p) = read_length(block, p)?;
        if name_len > limits.max_name_len {
            return Err(Error::PairNameTooLong {
                len: name_len,
                limit: limits.max_name_len,
            });
        }
        if value_len > limits.max_value_len {
            return Err(Error::PairValueTooLong {
                len: value_len,
                limit: limits.max_value_len,
            });
        }
        let name_end = p.checked_add(name_len).ok_or(Error::PairTruncated)?;
        let value_end = name_end
            .checked_add(value_len)
            .ok_or(Error::PairTruncated)?;
        if value_end > block.len() {
            return Err(Error::PairTruncated);
        }
        pairs.push((block.slice(p..name_end), block.slice(name_end..value_end)));
        pos = value_end;
    }
    Ok(pairs)
}
