//! The HTTP vocabulary every layer answers with, with no I/O of its own: response bodies
//! ([`body`]), the pages relight makes up itself ([`pages`]), HTTP dates ([`date`]), request
//! paths ([`urlpath`]) and host names. It sits below everything that builds a response (static
//! files, gateways, the request steps), so it imports none of them.

pub(crate) mod body;
pub(crate) mod date;
pub(crate) mod pages;
pub(crate) mod urlpath;

/// The host name of a Host header: without the port, keeping IPv6 brackets.
pub(crate) fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("example.com:8080"), "example.com");
        assert_eq!(host_name("example.com"), "example.com");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
    }
}
