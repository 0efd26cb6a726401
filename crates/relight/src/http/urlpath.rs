//! The request path as the server sees it: percent-decoded, then simplified (`.`/`..`
//! segments and repeated slashes removed, `..` clamped at the root), as lighttpd does before any
//! module runs. Nothing derived from a URL reaches the file system without passing here.
//! Also the other way: percent-encoding, with the set of bytes each part of a URL keeps.

/// Why a request path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathError {
    /// The path does not start with `/`.
    #[error("request path does not start with '/'")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("bad percent-encoding in request path")]
    BadEscape,
    /// The decoded path contains a NUL byte.
    #[error("NUL byte in request path")]
    Nul,
    /// The decoded path contains another control character (CR, LF, DEL, ...): no file has
    /// one, and a backend would get it in PATH_INFO (lighttpd answers 400 too).
    #[error("control character in request path")]
    Control,
    /// The decoded path is not UTF-8.
    #[error("request path is not UTF-8 after decoding")]
    NotUtf8,
}

/// The bytes that are ASCII letters or digits or in `extra`: what one part of a URL keeps as it
/// is (RFC 3986's classes differ from part to part by a few punctuation marks), as a table
/// looked up once per byte.
pub(crate) const fn alnum_and(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
}

/// Appends `s` to `out`, every byte `keep` does not keep written as `%XX` (uppercase hex).
pub(crate) fn push_percent_encoded(out: &mut String, s: &str, keep: &[bool; 256]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    // Most strings have nothing to encode: one pass to see it, one copy.
    let Some(first) = bytes.iter().position(|&b| !keep[usize::from(b)]) else {
        out.push_str(s);
        return;
    };
    out.push_str(&s[..first]);
    for &b in &bytes[first..] {
        if keep[usize::from(b)] {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes.
pub(crate) fn percent_decode(s: &str) -> Result<Vec<u8>, PathError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::BadEscape);
            };
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Decodes and simplifies a request path. The result starts with `/`, has no `.` or `..`
/// segments and no empty segments, and keeps a trailing slash if the input had one.
pub(crate) fn normalize(raw_path: &str) -> Result<String, PathError> {
    if !raw_path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(raw_path) {
        return Ok(raw_path.to_owned());
    }
    let decoded = percent_decode(raw_path)?;
    if decoded.contains(&0) {
        return Err(PathError::Nul);
    }
    if decoded.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(PathError::Control);
    }
    let decoded = String::from_utf8(decoded).map_err(|_| PathError::NotUtf8)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in decoded.split('/') {
        trailing_slash = false;
        match seg {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Whether `path` (absolute) is its own normal form: nothing encoded, no control character,
/// no empty, `.` or `..` segment (the last may be empty: a trailing slash). Most paths are;
/// they are taken as they are, without decoding and rebuilding them.
fn is_normal(path: &str) -> bool {
    // One pass: `seg` is where the current segment starts.
    let b = path.as_bytes();
    let mut seg = 1;
    for (i, &c) in b.iter().enumerate().skip(1) {
        if c == b'%' || c < 0x20 || c == 0x7f {
            return false;
        }
        if c == b'/' {
            if matches!(&b[seg..i], b"" | b"." | b"..") {
                return false;
            }
            seg = i + 1;
        }
    }
    !matches!(&b[seg..], b"." | b"..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplifies_like_lighttpd() {
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("/a/b").unwrap(), "/a/b");
        assert_eq!(normalize("/a/b/").unwrap(), "/a/b/");
        assert_eq!(normalize("//a///b").unwrap(), "/a/b");
        assert_eq!(normalize("/a/./b/.").unwrap(), "/a/b/");
        assert_eq!(normalize("/a/../b").unwrap(), "/b");
        assert_eq!(normalize("/a/b/..").unwrap(), "/a/");
        assert_eq!(normalize("/app/a%20b/%2e%2e/c").unwrap(), "/app/c");
        assert_eq!(normalize("/app/a%2fb/../c").unwrap(), "/app/a/c");
    }

    /// Paths already normal are taken as they are; every other one gives what the full
    /// decoding and simplifying gives.
    #[test]
    fn normal_paths_take_the_short_way() {
        for p in ["/", "/a", "/a/b/", "/a.b/c..d/.e", "/a-b_c~d"] {
            assert!(is_normal(p), "{p}");
            assert_eq!(normalize(p).unwrap(), p);
        }
        for p in [
            "//", "/a//b", "/a/./b", "/a/..", "/.", "/a%20b", "/a/.", "/a/../",
        ] {
            assert!(!is_normal(p), "{p}");
        }
        assert_eq!(normalize("/a/.").unwrap(), "/a/");
        assert_eq!(normalize("/a/../").unwrap(), "/");
        assert_eq!(normalize("//").unwrap(), "/");
    }

    #[test]
    fn never_escapes_the_root() {
        assert_eq!(normalize("/../../etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(
            normalize("/%2e%2e/%2E%2E/etc/passwd").unwrap(),
            "/etc/passwd"
        );
        assert_eq!(normalize("/..%2f..%2fetc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(normalize("/a/..").unwrap(), "/");
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(normalize("a/b"), Err(PathError::NotAbsolute));
        assert_eq!(normalize("/a%2"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%00b"), Err(PathError::Nul));
        assert_eq!(normalize("/a%ff"), Err(PathError::NotUtf8));
        for control in ["/a%0d%0aX-Injected:%201", "/a%01", "/a%7f", "/a%09b"] {
            assert_eq!(normalize(control), Err(PathError::Control), "{control}");
        }
    }
}
