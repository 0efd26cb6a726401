//! Limits on what a peer may make us allocate. Checked before allocating, never after.

/// Bounds on lengths read from the wire.
///
/// A record's content is at most 65535 bytes by construction of the header, so the framing needs
/// no limit; these bound what is assembled across records (a PARAMS stream) and what a
/// name-value pair may announce with its 4-byte lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest PARAMS stream accepted, in bytes (all records together).
    pub max_params_len: usize,
    /// The longest name in a name-value pair.
    pub max_name_len: usize,
    /// The longest value in a name-value pair.
    pub max_value_len: usize,
    /// The most name-value pairs in one PARAMS stream or GET_VALUES record.
    pub max_pairs: usize,
}

impl Default for Limits {
    /// 1 MiB of params, names up to 1 KiB, values up to 512 KiB, 1024 pairs.
    fn default() -> Self {
        Limits {
            max_params_len: 1 << 20,
            max_name_len: 1 << 10,
            max_value_len: 512 << 10,
            max_pairs: 1024,
        }
    }
}
