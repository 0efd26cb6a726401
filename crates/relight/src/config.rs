//! The native configuration: a strict TOML file (unknown keys are errors) read into the model
//! the server runs on. Every error names the file, line and column.
//!
//! Values that need checking (addresses, durations, sizes, match patterns) are parsed while the
//! TOML is deserialized, so their errors carry the position of the value that was wrong.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// A configuration that could not be used, with where in which file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid, at a position.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerConfig,
    /// FastCGI backends, tried in order.
    #[serde(default)]
    pub fastcgi: Vec<FastcgiConfig>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Addresses to listen on.
    pub listen: Vec<ListenAddr>,
    /// Where static files are served from.
    pub document_root: Spanned<PathBuf>,
    /// The error log file; stderr when absent.
    pub error_log: Option<PathBuf>,
    /// The access log file (Combined Log Format); none when absent.
    pub access_log: Option<PathBuf>,
    /// Files tried, in order, for a request to a directory.
    #[serde(default = "default_index_files")]
    pub index_files: Vec<String>,
    /// The most client connections open at once; more wait in the listen backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// The largest request head (request line and headers); larger gets 431.
    #[serde(default = "default_max_header_size")]
    pub max_header_size: Size,
    /// The largest request body; larger gets 413.
    #[serde(default = "default_max_request_body")]
    pub max_request_body: Size,
    /// Time a client has to send a whole request head.
    #[serde(default = "default_header_timeout")]
    pub header_timeout: Timeout,
    /// Time an idle keep-alive connection is kept open waiting for the next request.
    #[serde(default = "default_keep_alive_timeout")]
    pub keep_alive_timeout: Timeout,
    /// Longest wait for the next piece of a request body.
    #[serde(default = "default_read_timeout")]
    pub read_timeout: Timeout,
    /// Longest wait for a client to accept more of a response.
    #[serde(default = "default_write_timeout")]
    pub write_timeout: Timeout,
    /// Where request bodies of unknown length (chunked) are spooled before they go to a
    /// FastCGI backend (lighttpd's server.upload-dirs).
    #[serde(default = "default_upload_dir")]
    pub upload_dir: PathBuf,
    /// The `Server` header and SERVER_SOFTWARE; `""` sends no `Server` header.
    #[serde(default = "default_server_tag")]
    pub server_tag: String,
}

/// `[[fastcgi]]`: one FastCGI backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FastcgiConfig {
    /// The name used in logs and status.
    pub name: Spanned<String>,
    /// URL path prefixes ("/app") and extensions (".php") routed to this backend.
    #[serde(rename = "match")]
    pub matches: Vec<MatchRule>,
    /// Where the backend listens.
    pub address: BackendAddr,
    /// Longest wait for a connection to the backend (then 504).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Timeout,
    /// Longest wait for the next bytes from the backend (then 504).
    #[serde(default = "default_backend_io_timeout")]
    pub read_timeout: Timeout,
    /// Longest wait for the backend to accept more of a request (then 504).
    #[serde(default = "default_backend_io_timeout")]
    pub write_timeout: Timeout,
    /// Keep a connection to the backend open for the next request (FCGI_KEEP_CONN).
    #[serde(default = "default_true")]
    pub keep_alive: bool,
    /// Answer 404 unless the script exists under the document root (lighttpd's check-local).
    /// Unset: checked for extension matches, not for prefix matches.
    pub check_local: Option<bool>,
}

fn default_index_files() -> Vec<String> {
    vec!["index.html".into()]
}
fn default_max_connections() -> usize {
    1024
}
fn default_max_header_size() -> Size {
    Size(16 << 10)
}
fn default_max_request_body() -> Size {
    Size(1 << 30)
}
fn default_header_timeout() -> Timeout {
    Timeout(Duration::from_secs(30))
}
fn default_keep_alive_timeout() -> Timeout {
    Timeout(Duration::from_secs(5))
}
fn default_read_timeout() -> Timeout {
    Timeout(Duration::from_secs(60))
}
fn default_write_timeout() -> Timeout {
    Timeout(Duration::from_secs(360))
}
fn default_connect_timeout() -> Timeout {
    Timeout(Duration::from_secs(5))
}
fn default_backend_io_timeout() -> Timeout {
    Timeout(Duration::from_secs(60))
}
fn default_upload_dir() -> PathBuf {
    PathBuf::from("/var/tmp")
}
fn default_true() -> bool {
    true
}
fn default_server_tag() -> String {
    concat!("relight/", env!("CARGO_PKG_VERSION")).into()
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

impl TryFrom<toml::Value> for Timeout {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let bad = || {
            format!("invalid duration {v}: expected \"500ms\", \"30s\", \"5m\", \"1h\" or seconds")
        };
        let d = match &v {
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
        };
        if d.is_zero() {
            return Err(format!("invalid duration {v}: must be more than zero"));
        }
        Ok(Timeout(d))
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

/// Line and column (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, col)
}

impl Config {
    /// Reads, parses and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and checks configuration text; `path` is used in errors and to resolve relative
    /// paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        };
        let mut config: Config = toml::from_str(text)
            .map_err(|e| invalid(e.span().map_or(0, |s| s.start), e.message().to_owned()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let root = config.server.document_root.get_ref();
        let span = config.server.document_root.span();
        let root = base.join(root);
        let root = if root.ends_with(".") {
            root.parent().map_or(root.clone(), Path::to_path_buf)
        } else {
            root
        };
        match std::fs::metadata(&root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(invalid(
                    span.start,
                    format!("document_root {}: not a directory", root.display()),
                ));
            }
            Err(e) => {
                return Err(invalid(
                    span.start,
                    format!("document_root {}: {e}", root.display()),
                ));
            }
        }
        config.server.document_root = Spanned::new(span, root);
        if config.server.listen.is_empty() {
            return Err(invalid(
                0,
                "server.listen: at least one address is needed".into(),
            ));
        }
        if config.server.max_header_size.0 < 8192 {
            return Err(invalid(
                0,
                "server.max_header_size: must be at least 8192".into(),
            ));
        }
        for (i, b) in config.fastcgi.iter().enumerate() {
            if let Some(prev) = config.fastcgi[..i]
                .iter()
                .find(|p| p.name.get_ref() == b.name.get_ref())
            {
                let (line, _) = line_col(text, prev.name.span().start);
                return Err(invalid(
                    b.name.span().start,
                    format!(
                        "duplicate fastcgi name {:?} (first defined on line {line})",
                        b.name.get_ref()
                    ),
                ));
            }
            if b.matches.is_empty() {
                return Err(invalid(
                    b.name.span().start,
                    format!("fastcgi {:?}: match is empty", b.name.get_ref()),
                ));
            }
        }
        for p in [&mut config.server.error_log, &mut config.server.access_log]
            .into_iter()
            .flatten()
        {
            *p = base.join(&*p);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/tmp/test.toml"))
    }

    #[test]
    fn minimal_and_defaults() {
        let c = parse(
            "[server]\nlisten = [\"127.0.0.1:8080\", \"[::1]:8081\"]\ndocument_root = \"/tmp\"\n",
        )
        .unwrap();
        assert_eq!(c.server.listen.len(), 2);
        assert_eq!(c.server.index_files, vec!["index.html"]);
        assert_eq!(c.server.keep_alive_timeout.0, Duration::from_secs(5));
        assert!(c.fastcgi.is_empty());
    }

    #[test]
    fn unknown_key_is_an_error_at_its_line() {
        let err =
            parse("[server]\nlisten = [\"127.0.0.1:8080\"]\ndocument_root = \"/tmp\"\nlisen = 1\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:4:1: unknown field `lisen`"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_position() {
        let err = parse("[server]\nlisten = [\"127.0.0.1\"]\ndocument_root = \"/tmp\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:2:10: invalid listen address"),
            "{err}"
        );
        let base = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n";
        let err = parse(&format!(
            "{base}[[fastcgi]]\nname = \"a\"\nmatch = [\"php\"]\naddress = \"unix:/x\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:6:9: invalid match \"php\""),
            "{err}"
        );
        let err = parse(&format!(
            "{base}[[fastcgi]]\nname = \"a\"\nmatch = [\".php\"]\naddress = \"nowhere\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains(":7:11: invalid backend address"), "{err}");
        let err = parse(&format!("{base}[[fastcgi]]\nname = \"a\"\nmatch = [\"/a\"]\naddress = \"unix:/x\"\nread_timeout = \"10 parsecs\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(":8:16: invalid duration"), "{err}");
        let err = parse(
            "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/nonexistent-relight\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "/tmp/test.toml:3:17: document_root /nonexistent-relight: No such file"
            ),
            "{err}"
        );
    }

    #[test]
    fn duplicate_backend_names() {
        let text = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n\
            [[fastcgi]]\nname = \"a\"\nmatch = [\"/a\"]\naddress = \"127.0.0.1:9000\"\n\
            [[fastcgi]]\nname = \"a\"\nmatch = [\"/b\"]\naddress = \"127.0.0.1:9001\"\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains(":9:8: duplicate fastcgi name \"a\" (first defined on line 5)"),
            "{err}"
        );
    }

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
}
