//! The values a configuration holds that need checking, each checked while it is read so that
//! its error names the file, line and column: durations, sizes, regular expressions,
//! addresses, match rules, signals, file modes and header lists; and where a value was written
//! ([`At`], [`Loc`], [`Pos`]), for the checks that can only run once the whole file is read.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// A position in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Where a value was written: a byte range of the TOML file, or a position in a lighttpd.conf
/// (which may be an included file). [`super::Config::pos`] turns either into a [`Pos`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loc {
    /// Bytes of the TOML file.
    Span(Range<usize>),
    /// A position in a lighttpd.conf or a file it includes.
    Pos(Pos),
}

/// A value and where it was written, for the errors about it found after reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    /// The value.
    pub value: T,
    /// Where.
    pub loc: Loc,
}

impl<T> At<T> {
    /// `value`, written at `loc`.
    pub fn new(value: T, loc: Loc) -> At<T> {
        At { value, loc }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<T>::deserialize(d)?;
        let loc = Loc::Span(s.span());
        Ok(At {
            value: s.into_inner(),
            loc,
        })
    }
}

/// Headers to set or add, checked while read: `{"X-Frame-Options" = "DENY"}`. In name order
/// (a TOML table is unordered; lighttpd's lists are kept in name order too).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "std::collections::BTreeMap<String, String>")]
pub struct Headers(pub Vec<(HeaderName, HeaderValue)>);

impl TryFrom<std::collections::BTreeMap<String, String>> for Headers {
    type Error = String;
    fn try_from(map: std::collections::BTreeMap<String, String>) -> Result<Self, String> {
        map.iter()
            .map(|(k, v)| {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| format!("invalid header name {k:?}"))?;
                let value = HeaderValue::from_str(v)
                    .map_err(|_| format!("invalid header value for {k}: {v:?}"))?;
                Ok((name, value))
            })
            .collect::<Result<_, _>>()
            .map(Headers)
    }
}

/// A signal name: "SIGTERM", "TERM", or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct KillSignal(pub nix::sys::signal::Signal);

impl Default for KillSignal {
    fn default() -> Self {
        KillSignal(nix::sys::signal::Signal::SIGTERM)
    }
}

impl TryFrom<toml::Value> for KillSignal {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        use nix::sys::signal::Signal;
        let bad = || format!("invalid signal {v}: expected a name like \"SIGTERM\" or a number");
        match &v {
            toml::Value::Integer(n) => i32::try_from(*n)
                .ok()
                .and_then(|n| Signal::try_from(n).ok())
                .map(KillSignal)
                .ok_or_else(bad),
            toml::Value::String(s) => {
                let name = if s.starts_with("SIG") {
                    s.clone()
                } else {
                    format!("SIG{s}")
                };
                name.parse::<Signal>().map(KillSignal).map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }
}

/// An octal file mode: "0660".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SocketMode(pub u32);

impl TryFrom<String> for SocketMode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        u32::from_str_radix(&s, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .map(SocketMode)
            .ok_or_else(|| format!("invalid socket_mode {s:?}: expected octal like \"0660\""))
    }
}

/// A regular expression, compiled when the configuration is read.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Pattern(pub regex_lite::Regex);

impl TryFrom<String> for Pattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        regex_lite::Regex::new(&s)
            .map(Pattern)
            .map_err(|e| format!("invalid regular expression {s:?}: {e}"))
    }
}

/// A listening address, `"ip:port"` or `"[ipv6]:port"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ListenAddr(pub SocketAddr);

impl TryFrom<String> for ListenAddr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse().map(ListenAddr).map_err(|_| {
            format!("invalid listen address {s:?}: expected \"ip:port\" or \"[ipv6]:port\"")
        })
    }
}

/// Where a backend listens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum BackendAddr {
    /// `"unix:/path"`.
    Unix(PathBuf),
    /// `"host:port"`.
    Tcp(String),
}

impl TryFrom<String> for BackendAddr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!(
                    "invalid backend address {s:?}: the unix socket path must be absolute"
                ));
            }
            return Ok(BackendAddr::Unix(path.into()));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(BackendAddr::Tcp(s))
            }
            _ => Err(format!(
                "invalid backend address {s:?}: expected \"unix:/path\" or \"host:port\""
            )),
        }
    }
}

impl fmt::Display for BackendAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendAddr::Unix(p) => write!(f, "unix:{}", p.display()),
            BackendAddr::Tcp(a) => f.write_str(a),
        }
    }
}

/// One routing rule of a backend.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum MatchRule {
    /// `"/prefix"`: the URL path starts with it.
    Prefix(String),
    /// `".ext"`: a path segment ends with it (the script, with PATH_INFO after it).
    Extension(String),
}

impl TryFrom<String> for MatchRule {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.starts_with('/') {
            Ok(MatchRule::Prefix(s))
        } else if s.len() > 1 && s.starts_with('.') && !s.contains('/') {
            Ok(MatchRule::Extension(s))
        } else {
            Err(format!(
                "invalid match {s:?}: expected a URL prefix (\"/app\") or an extension (\".php\")"
            ))
        }
    }
}

/// A duration: `"30s"`, `"500ms"`, `"5m"`, `"1h"`, or an integer number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct Timeout(pub Duration);

/// A duration as written: `"30s"`, `"500ms"`, `"5m"`, `"1h"`, or seconds (zero included).
fn duration(v: &toml::Value) -> Result<Duration, String> {
    let bad =
        || format!("invalid duration {v}: expected \"500ms\", \"30s\", \"5m\", \"1h\" or seconds");
    Ok(match v {
        toml::Value::Integer(n) if *n >= 0 => Duration::from_secs(*n as u64),
        toml::Value::String(s) => {
            let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            let n: u64 = s[..split].parse().map_err(|_| bad())?;
            match &s[split..] {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                _ => return Err(bad()),
            }
        }
        _ => return Err(bad()),
    })
}

impl TryFrom<toml::Value> for Timeout {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let d = duration(&v)?;
        if d.is_zero() {
            return Err(format!("invalid duration {v}: must be more than zero"));
        }
        Ok(Timeout(d))
    }
}

/// A time limit that `0` turns off: `"5m"`, or `0` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct Limit(pub Option<Duration>);

impl TryFrom<toml::Value> for Limit {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let d = duration(&v)?;
        Ok(Limit((!d.is_zero()).then_some(d)))
    }
}

/// A size in bytes: an integer, or `"64K"`, `"16M"`, `"1G"` (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct Size(pub u64);

impl TryFrom<toml::Value> for Size {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let bad = || format!("invalid size {v}: expected bytes, or a number with K, M or G");
        match &v {
            toml::Value::Integer(n) if *n >= 0 => Ok(Size(*n as u64)),
            toml::Value::String(s) => {
                let (num, mult) = match s.as_bytes().last() {
                    Some(b'K' | b'k') => (&s[..s.len() - 1], 1u64 << 10),
                    Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
                    Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
                    _ => (&s[..], 1),
                };
                let n: u64 = num.parse().map_err(|_| bad())?;
                n.checked_mul(mult).map(Size).ok_or_else(bad)
            }
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(
            Size::try_from(toml::Value::String("64K".into())),
            Ok(Size(65536))
        );
        assert_eq!(Size::try_from(toml::Value::Integer(10)), Ok(Size(10)));
        assert!(Size::try_from(toml::Value::String("lots".into())).is_err());
        assert_eq!(
            Timeout::try_from(toml::Value::String("250ms".into())),
            Ok(Timeout(Duration::from_millis(250)))
        );
        assert_eq!(
            Timeout::try_from(toml::Value::Integer(3)),
            Ok(Timeout(Duration::from_secs(3)))
        );
        assert!(Timeout::try_from(toml::Value::String("0s".into())).is_err());
    }

    #[test]
    fn header_lists_are_checked() {
        let ok: std::collections::BTreeMap<_, _> = [
            ("X-B".to_string(), "2".to_string()),
            ("X-A".into(), "1".into()),
        ]
        .into();
        let h = Headers::try_from(ok).unwrap();
        assert_eq!(h.0[0].0, "x-a", "in name order");
        let bad: std::collections::BTreeMap<_, _> =
            [("Bad Name".to_string(), "x".to_string())].into();
        assert_eq!(
            Headers::try_from(bad).unwrap_err(),
            "invalid header name \"Bad Name\""
        );
        let bad: std::collections::BTreeMap<_, _> =
            [("X-A".to_string(), "a\nb".to_string())].into();
        assert!(
            Headers::try_from(bad)
                .unwrap_err()
                .starts_with("invalid header value for X-A")
        );
    }
}
