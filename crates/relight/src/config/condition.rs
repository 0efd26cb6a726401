//! Conditions on a request (lighttpd's conditional blocks, relight's `[[scope]] when`): what
//! the configuration says ([`ConditionConfig`]), compiled once ([`Condition`]), and tested
//! against the facts of each request ([`Facts`]).

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderName, Method, header};
use serde::Deserialize;

use super::values::At;
#[cfg(test)]
use super::values::Loc;

/// One condition on a request: `{ field = "url", op = "=~", value = "^/admin/" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// What is tested: "url" (the decoded path), "host", "remoteip", "querystring",
    /// "request-method", "scheme", "useragent", "referer", "cookie", "language", "socket"
    /// (the listening address), or "header:NAME".
    pub field: String,
    /// "==", "!=", "=~" (regex), "!~", "=^" (prefix), "=$" (suffix).
    pub op: String,
    /// The string, regex, or for remoteip with == / != an address or CIDR network.
    pub value: At<String>,
    /// The condition holds when the test fails (lighttpd's `else` branches).
    #[serde(default)]
    pub negate: bool,
}

/// Why a condition cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConditionError {
    /// A field relight does not know.
    #[error(
        "unknown condition field {0:?}: expected url, host, remoteip, querystring, \
         request-method, scheme, useragent, referer, cookie, language, socket or header:NAME"
    )]
    Field(String),
    /// `header:NAME` with a name that is not a header name.
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    /// An operator relight does not know.
    #[error("unknown condition operator {0:?}: expected ==, !=, =~, !~, =^ or =$")]
    Operator(String),
    /// A regular expression that does not compile (the message says why).
    #[error("{0}")]
    Regex(String),
    /// remoteip == something that is not an address or a network.
    #[error("invalid address {0:?}: expected an IP address or a network like 10.0.0.0/8")]
    Address(String),
    /// socket == something that is not ":port" or "ip:port".
    #[error("invalid socket {0:?}: expected \":port\" or \"ip:port\"")]
    Socket(String),
}

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Url,
    Host,
    RemoteIp,
    QueryString,
    Method,
    Scheme,
    Socket,
    Header(HeaderName),
}

/// How a condition compares.
#[derive(Debug, Clone)]
enum Test {
    Equal(String),
    Regex(regex_lite::Regex),
    Prefix(String),
    Suffix(String),
    /// remoteip == an address or network.
    Network(IpAddr, u8),
    /// socket == ":port" or "ip:port".
    Listener(Option<IpAddr>, u16),
}

/// One compiled condition.
#[derive(Debug, Clone)]
pub struct Condition {
    field: Field,
    test: Test,
    /// `!=`, `!~`, or an `else` branch's negation.
    invert: bool,
}

/// The facts about a request that conditions test.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The normalized (decoded) path.
    pub path: &'a str,
    /// The query string.
    pub query: Option<&'a str>,
    /// The method.
    pub method: &'a Method,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The client.
    pub remote: SocketAddr,
    /// The address the request came in on.
    pub local: SocketAddr,
    /// Whether it came over TLS (`$HTTP["scheme"] == "https"`).
    pub https: bool,
}

fn field(name: &str) -> Result<Field, ConditionError> {
    let header = |n: &str| {
        HeaderName::from_bytes(n.as_bytes())
            .map(Field::Header)
            .map_err(|_| ConditionError::HeaderName(n.to_owned()))
    };
    Ok(match name {
        "url" => Field::Url,
        "host" => Field::Host,
        "remoteip" | "remote-ip" => Field::RemoteIp,
        "querystring" | "query-string" => Field::QueryString,
        "request-method" => Field::Method,
        "scheme" => Field::Scheme,
        "socket" => Field::Socket,
        "useragent" | "user-agent" => Field::Header(header::USER_AGENT),
        "referer" => Field::Header(header::REFERER),
        "cookie" => Field::Header(header::COOKIE),
        "language" => Field::Header(header::ACCEPT_LANGUAGE),
        other => match other.strip_prefix("header:") {
            Some(n) => header(n)?,
            None => return Err(ConditionError::Field(other.to_owned())),
        },
    })
}

impl Condition {
    /// Compiles a condition of the configuration; the error says what is wrong with it.
    pub fn compile(c: &ConditionConfig) -> Result<Condition, ConditionError> {
        let field = field(&c.field)?;
        let value = &c.value.value;
        let (test, invert) = match c.op.as_str() {
            "==" | "!=" => {
                let test = match field {
                    Field::RemoteIp => network(value)?,
                    Field::Socket => listener(value)?,
                    _ => Test::Equal(value.clone()),
                };
                (test, c.op == "!=")
            }
            "=~" | "!~" => (
                Test::Regex(regex_lite::Regex::new(value).map_err(|e| {
                    ConditionError::Regex(format!("invalid regular expression {value:?}: {e}"))
                })?),
                c.op == "!~",
            ),
            "=^" => (Test::Prefix(value.clone()), false),
            "=$" => (Test::Suffix(value.clone()), false),
            op => return Err(ConditionError::Operator(op.to_owned())),
        };
        Ok(Condition {
            field,
            test,
            invert: invert != c.negate,
        })
    }

    /// Whether the condition holds for the request; a regex that matched leaves its captures
    /// in `caps`.
    pub fn holds(&self, f: &Facts<'_>, caps: &mut Option<Vec<String>>) -> bool {
        let host;
        let ip;
        let value: &str = match &self.field {
            Field::Url => f.path,
            Field::QueryString => f.query.unwrap_or(""),
            Field::Method => f.method.as_str(),
            Field::Scheme => {
                if f.https {
                    "https"
                } else {
                    "http"
                }
            }
            Field::Host => {
                host = host_of(f.headers);
                &host
            }
            Field::RemoteIp => {
                if let Test::Network(net, bits) = &self.test {
                    return in_network(f.remote.ip(), *net, *bits) != self.invert;
                }
                ip = f.remote.ip().to_string();
                &ip
            }
            Field::Socket => {
                if let Test::Listener(want_ip, port) = &self.test {
                    let hit = f.local.port() == *port && want_ip.is_none_or(|w| w == f.local.ip());
                    return hit != self.invert;
                }
                ip = f.local.to_string();
                &ip
            }
            Field::Header(name) => f
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        };
        let hit = match &self.test {
            Test::Equal(s) => value == s,
            Test::Prefix(s) => value.starts_with(s.as_str()),
            Test::Suffix(s) => value.ends_with(s.as_str()),
            Test::Regex(re) => match re.captures(value) {
                Some(c) => {
                    if !self.invert {
                        *caps = Some(
                            c.iter()
                                .map(|m| m.map_or(String::new(), |m| m.as_str().to_owned()))
                                .collect(),
                        );
                    }
                    true
                }
                None => false,
            },
            Test::Network(..) | Test::Listener(..) => false,
        };
        hit != self.invert
    }
}

/// The Host of a request as lighttpd's `$HTTP["host"]` sees it: lower case, without a port
/// (checked against lighttpd 1.4.69).
fn host_of(headers: &HeaderMap) -> String {
    let h = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    crate::http::host_name(h).to_ascii_lowercase()
}

fn network(s: &str) -> Result<Test, ConditionError> {
    let n = Network::parse(s).ok_or_else(|| ConditionError::Address(s.to_owned()))?;
    Ok(Test::Network(n.addr, n.bits))
}

/// An address or a network (`"10.0.0.0/8"`, `"::1"`), as remoteip conditions and trusted
/// proxies name them; an IPv4 network holds the IPv4-mapped IPv6 addresses of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    bits: u8,
}

impl Network {
    /// `"a.b.c.d"`, `"a.b.c.d/n"`, or the same in IPv6.
    pub fn parse(s: &str) -> Option<Network> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Network { addr, bits })
    }

    /// Whether `ip` is in it.
    pub fn contains(&self, ip: IpAddr) -> bool {
        in_network(ip, self.addr, self.bits)
    }
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn listener(s: &str) -> Result<Test, ConditionError> {
    let bad = || ConditionError::Socket(s.to_owned());
    if let Some(p) = s.strip_prefix(':') {
        return Ok(Test::Listener(None, p.parse().map_err(|_| bad())?));
    }
    let a: SocketAddr = s.parse().map_err(|_| bad())?;
    let ip = (!a.ip().is_unspecified()).then_some(a.ip());
    Ok(Test::Listener(ip, a.port()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn config(field: &str, op: &str, value: &str) -> ConditionConfig {
        ConditionConfig {
            field: field.into(),
            op: op.into(),
            value: At::new(value.into(), Loc::Span(0..0)),
            negate: false,
        }
    }

    fn cond(field: &str, op: &str, value: &str) -> Condition {
        Condition::compile(&config(field, op, value)).unwrap()
    }

    #[test]
    fn the_scheme_is_the_connections() {
        let h = HeaderMap::new();
        let mut f = facts("/", &h, "10.1.2.3:5555");
        let https = cond("scheme", "==", "https");
        assert!(!https.holds(&f, &mut None));
        f.https = true;
        assert!(https.holds(&f, &mut None));
        assert!(!cond("scheme", "==", "http").holds(&f, &mut None));
    }

    fn facts<'a>(path: &'a str, headers: &'a HeaderMap, remote: &str) -> Facts<'a> {
        Facts {
            path,
            query: Some("a=1"),
            method: &Method::GET,
            headers,
            remote: remote.parse().unwrap(),
            local: "127.0.0.1:8080".parse().unwrap(),
            https: false,
        }
    }

    #[test]
    fn conditions() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("Example.COM:80"));
        h.insert(header::USER_AGENT, HeaderValue::from_static("curl/8"));
        let f = facts("/admin/x", &h, "10.1.2.3:5555");
        let mut caps = None;
        for (field, op, value, want) in [
            ("url", "=~", "^/admin/(.*)$", true),
            ("url", "!~", "^/admin/", false),
            ("url", "=^", "/adm", true),
            ("url", "=$", "/x", true),
            ("url", "==", "/admin", false),
            ("host", "==", "example.com", true),
            ("remoteip", "==", "10.0.0.0/8", true),
            ("remoteip", "!=", "10.0.0.0/8", false),
            ("remoteip", "==", "10.1.2.4", false),
            ("remoteip", "=~", "^10\\.", true),
            ("querystring", "==", "a=1", true),
            ("request-method", "==", "GET", true),
            ("scheme", "==", "https", false),
            ("useragent", "=~", "^curl", true),
            ("header:X-Nope", "==", "", true),
            ("socket", "==", ":8080", true),
            ("socket", "==", "127.0.0.2:8080", false),
        ] {
            assert_eq!(
                cond(field, op, value).holds(&f, &mut caps),
                want,
                "{field} {op} {value}"
            );
        }
        let mut caps = None;
        assert!(cond("url", "=~", "^/admin/(.*)$").holds(&f, &mut caps));
        assert_eq!(caps, Some(vec!["/admin/x".to_string(), "x".to_string()]));
        for (field, op, value, msg) in [
            ("uri", "==", "/", "unknown condition field"),
            ("url", "<>", "/", "unknown condition operator"),
            ("url", "=~", "(", "invalid regular expression"),
            ("remoteip", "==", "10.0.0.0/33", "invalid address"),
            ("socket", "==", "nowhere", "invalid socket"),
        ] {
            let e = Condition::compile(&config(field, op, value))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(msg), "{e}");
        }
    }

    #[test]
    fn ipv4_networks_match_mapped_v6_clients() {
        let net: IpAddr = "192.168.0.0".parse().unwrap();
        assert!(in_network("::ffff:192.168.4.5".parse().unwrap(), net, 16));
        assert!(!in_network("192.169.0.1".parse().unwrap(), net, 16));
        assert!(in_network("1.2.3.4".parse().unwrap(), net, 0));
    }
}
