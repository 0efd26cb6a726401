//! Content codings (lighttpd's mod_deflate): the codings relight compresses with (gzip,
//! deflate, brotli, zstd; each a cargo feature), the choice among those a client accepts, and
//! the encoder that a body is compressed through as it is sent, one chunk at a time, so a
//! streamed response is compressed with bounded memory (the encoder's window and one chunk).

use std::io;
#[cfg(any(feature = "gzip", feature = "brotli", feature = "zstd"))]
use std::io::Write;

use bytes::Bytes;

/// A content coding relight can compress with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Coding {
    /// gzip (RFC 1952); "x-gzip" is its old name.
    Gzip,
    /// zlib-wrapped deflate (RFC 1950), what "deflate" means in HTTP.
    Deflate,
    /// Brotli (RFC 7932).
    Brotli,
    /// Zstandard (RFC 8878).
    Zstd,
}

impl TryFrom<String> for Coding {
    type Error = String;
    fn try_from(s: String) -> Result<Coding, String> {
        let c = Coding::from_name(&s).ok_or_else(|| {
            format!("unknown coding {s:?}: expected \"zstd\", \"br\", \"gzip\" or \"deflate\"")
        })?;
        if c.built() {
            Ok(c)
        } else {
            Err(format!("{s:?}: this relight was built without it"))
        }
    }
}

impl Coding {
    /// Every coding, in the order lighttpd prefers them when a client accepts several.
    pub const ALL: [Coding; 4] = [Coding::Zstd, Coding::Brotli, Coding::Gzip, Coding::Deflate];

    /// The coding a `deflate.allowed-encodings` / `Accept-Encoding` name means.
    pub fn from_name(name: &str) -> Option<Coding> {
        match name.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Coding::Gzip),
            "deflate" => Some(Coding::Deflate),
            "br" => Some(Coding::Brotli),
            "zstd" => Some(Coding::Zstd),
            _ => None,
        }
    }

    /// Its name in Content-Encoding.
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// Whether this build can compress with it (each coding is a cargo feature).
    pub fn built(self) -> bool {
        match self {
            Coding::Gzip | Coding::Deflate => cfg!(feature = "gzip"),
            Coding::Brotli => cfg!(feature = "brotli"),
            Coding::Zstd => cfg!(feature = "zstd"),
        }
    }
}

/// The coding to answer with: of `offered` (in relight's order of preference, as lighttpd:
/// the server decides, not the order the client lists them in), the first the client's
/// `Accept-Encoding` names with a q-value above 0. `*` and `identity` name none (lighttpd
/// 1.4.69 does not read them either); unlike lighttpd, `q=0` refuses a coding (RFC 9110).
pub(crate) fn choose(accept: &str, offered: &[Coding]) -> Option<Coding> {
    let mut accepted: Vec<(String, bool)> = Vec::new();
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let zero = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .or_else(|| p.strip_prefix("Q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        accepted.push((name, !zero));
    }
    let verdict = |c: Coding| -> Option<bool> {
        let names: &[&str] = match c {
            Coding::Gzip => &["gzip", "x-gzip"],
            other => &[other.name()],
        };
        accepted
            .iter()
            .find(|(n, _)| names.contains(&n.as_str()))
            .map(|(_, ok)| *ok)
    };
    offered
        .iter()
        .copied()
        .find(|&c| c.built() && verdict(c) == Some(true))
}

/// How hard to compress: lighttpd's deflate.compression-level (zlib's 1..9; brotli and zstd
/// keep lighttpd's own defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Level(pub Option<u32>);

/// Compresses a body chunk by chunk.
pub(crate) struct Encoder {
    inner: Inner,
}

enum Inner {
    #[cfg(feature = "gzip")]
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    #[cfg(feature = "gzip")]
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
    #[cfg(feature = "brotli")]
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    #[cfg(feature = "zstd")]
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    /// None can be made: keeps the matches whole in a build without any coding.
    #[allow(dead_code)]
    Never(std::convert::Infallible),
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encoder")
    }
}

/// Brotli's quality and window (log2): quality 5, lighttpd's default, fast enough to compress
/// as the response is sent; a 1 MiB window (lighttpd leaves brotli's 4 MiB), so one
/// response's encoder stays near a megabyte on a small device.
#[cfg(feature = "brotli")]
const BROTLI: (u32, u32) = (5, 20);

impl Encoder {
    /// An encoder for `coding` (one this build has: see [`Coding::built`]).
    #[cfg_attr(
        not(any(feature = "gzip", feature = "brotli", feature = "zstd")),
        allow(unreachable_code, unused_variables)
    )]
    pub(crate) fn new(coding: Coding, level: Level) -> io::Result<Encoder> {
        // A build without a coding reads no level.
        let _ = &level;
        let inner: Inner = match coding {
            #[cfg(feature = "gzip")]
            Coding::Gzip => Inner::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(level.0.unwrap_or(6).min(9)),
            )),
            #[cfg(feature = "gzip")]
            Coding::Deflate => Inner::Deflate(flate2::write::ZlibEncoder::new(
                Vec::new(),
                flate2::Compression::new(level.0.unwrap_or(6).min(9)),
            )),
            #[cfg(feature = "brotli")]
            Coding::Brotli => Inner::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                level.0.unwrap_or(BROTLI.0).min(11),
                BROTLI.1,
            ))),
            #[cfg(feature = "zstd")]
            Coding::Zstd => Inner::Zstd(zstd::stream::write::Encoder::new(Vec::new(), 3)?),
            #[allow(unreachable_patterns)]
            other => {
                return Err(io::Error::other(format!(
                    "{} is not in this build",
                    other.name()
                )));
            }
        };
        Ok(Encoder { inner })
    }

    /// Feeds `data`; returns the compressed bytes ready so far (often none: encoders keep a
    /// block before they emit it).
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<Bytes> {
        let _ = data;
        match &mut self.inner {
            #[cfg(feature = "gzip")]
            Inner::Gzip(e) => {
                e.write_all(data)?;
                Ok(take(e.get_mut()))
            }
            #[cfg(feature = "gzip")]
            Inner::Deflate(e) => {
                e.write_all(data)?;
                Ok(take(e.get_mut()))
            }
            #[cfg(feature = "brotli")]
            Inner::Brotli(e) => {
                e.write_all(data)?;
                Ok(take(e.get_mut()))
            }
            #[cfg(feature = "zstd")]
            Inner::Zstd(e) => {
                e.write_all(data)?;
                Ok(take(e.get_mut()))
            }
            Inner::Never(n) => match *n {},
        }
    }

    /// Ends the stream: the rest of the compressed bytes.
    #[cfg_attr(
        not(any(feature = "gzip", feature = "brotli", feature = "zstd")),
        allow(unreachable_code, unused_variables)
    )]
    pub(crate) fn finish(self) -> io::Result<Bytes> {
        let out: Vec<u8> = match self.inner {
            #[cfg(feature = "gzip")]
            Inner::Gzip(e) => e.finish()?,
            #[cfg(feature = "gzip")]
            Inner::Deflate(e) => e.finish()?,
            #[cfg(feature = "brotli")]
            Inner::Brotli(e) => e.into_inner(),
            #[cfg(feature = "zstd")]
            Inner::Zstd(e) => e.finish()?,
            Inner::Never(n) => match n {},
        };
        Ok(Bytes::from(out))
    }
}

/// The bytes in `buf`, leaving it empty (its capacity kept for the next ones).
#[allow(dead_code)]
fn take(buf: &mut Vec<u8>) -> Bytes {
    if buf.is_empty() {
        return Bytes::new();
    }
    Bytes::copy_from_slice(&std::mem::take(buf))
}

/// Compresses `data` at once (a whole file for the cache directory).
pub(crate) fn compress(coding: Coding, level: Level, data: &[u8]) -> io::Result<Bytes> {
    let mut e = Encoder::new(coding, level)?;
    let mut out = bytes::BytesMut::from(&e.write(data)?[..]);
    out.extend_from_slice(&e.finish()?);
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_with_q_values_and_star() {
        let all = Coding::ALL;
        assert_eq!(choose("gzip", &all), Some(Coding::Gzip));
        assert_eq!(choose("gzip, br, zstd", &all), Some(Coding::Zstd));
        assert_eq!(choose("br;q=0, gzip", &all), Some(Coding::Gzip));
        assert_eq!(choose("x-gzip", &all), Some(Coding::Gzip));
        assert_eq!(choose("identity", &all), None);
        assert_eq!(choose("*", &all), None);
        assert_eq!(choose("br;q=0.5, gzip", &all), Some(Coding::Brotli));
        assert_eq!(choose("gzip;q=0", &all), None);
        assert_eq!(choose("", &all), None);
        assert_eq!(choose("gzip, br", &[Coding::Gzip]), Some(Coding::Gzip));
    }

    /// What each coding makes is what a standard decoder reads back (the reference tools: gzip -d,
    /// brotli -d, zstd -d, python's zlib), in chunks or at once.
    #[test]
    #[cfg(any(feature = "gzip", feature = "brotli", feature = "zstd"))]
    fn each_coding_round_trips_through_the_reference_tool() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("line {i} of a text that compresses well\n").into_bytes())
            .take(300_000)
            .collect();
        for (coding, tool) in [
            (Coding::Gzip, vec!["gzip", "-dc"]),
            (
                Coding::Deflate,
                vec![
                    "python3",
                    "-c",
                    "import sys,zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))",
                ],
            ),
            (Coding::Brotli, vec!["brotli", "-dc"]),
            (Coding::Zstd, vec!["zstd", "-dc"]),
        ] {
            if !coding.built() {
                continue;
            }
            let mut e = Encoder::new(coding, Level(None)).unwrap();
            let mut out = Vec::new();
            for chunk in text.chunks(16 * 1024) {
                out.extend_from_slice(&e.write(chunk).unwrap());
            }
            out.extend_from_slice(&e.finish().unwrap());
            assert!(out.len() < text.len() / 4, "{coding:?} compresses");
            let mut child = std::process::Command::new(tool[0])
                .args(&tool[1..])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}", tool[0]));
            let mut stdin = child.stdin.take().unwrap();
            let input = out.clone();
            let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
            let got = child.wait_with_output().unwrap();
            writer.join().unwrap().unwrap();
            assert!(got.status.success(), "{coding:?}: {tool:?} failed");
            assert_eq!(got.stdout, text, "{coding:?} round trip");
        }
    }
}
