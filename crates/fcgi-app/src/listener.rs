//! Where connections come from: the listening socket a web server passed as fd 0 (taken off
//! fd 0 at once, so that no child process can inherit it), or an address bound when the
//! application runs on its own. Also `FCGI_WEB_SERVER_ADDRS`, the peers a TCP listener accepts.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockaddrLike, SockaddrStorage, getpeername, getsockname};

use crate::Error;

/// An address to listen on when not started by a web server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A unix socket path (`unix:/path` or `/path`).
    Unix(PathBuf),
    /// A TCP address (`host:port`, `[::1]:port`).
    Tcp(String),
}

impl std::str::FromStr for Address {
    type Err = Error;

    fn from_str(s: &str) -> Result<Address, Error> {
        if let Some(p) = s.strip_prefix("unix:") {
            return Ok(Address::Unix(p.into()));
        }
        if s.starts_with('/') || s.starts_with('.') {
            return Ok(Address::Unix(s.into()));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Address::Tcp(s.to_string()))
            }
            _ => Err(Error::BadAddress(s.to_string())),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix:{}", p.display()),
            Address::Tcp(a) => f.write_str(a),
        }
    }
}

/// A listening socket, close-on-exec, blocking.
#[derive(Debug)]
pub enum Listener {
    /// A unix socket.
    Unix(UnixListener),
    /// A TCP socket, and the peers it accepts (all when `None`).
    Tcp(TcpListener, Option<Vec<IpAddr>>),
}

/// One accepted connection, close-on-exec.
#[derive(Debug)]
pub enum Stream {
    /// Over a unix socket.
    Unix(UnixStream),
    /// Over TCP.
    Tcp(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The peers `FCGI_WEB_SERVER_ADDRS` allows (comma-separated IP addresses), as libfcgi reads it.
fn web_server_addrs() -> Option<Vec<IpAddr>> {
    let v = std::env::var("FCGI_WEB_SERVER_ADDRS").ok()?;
    let addrs: Vec<IpAddr> = v.split(',').filter_map(|a| a.trim().parse().ok()).collect();
    Some(addrs)
}

impl Listener {
    /// The listening socket a web server passed as fd 0, if there is one (libfcgi's test: fd 0
    /// is a socket and `getpeername` fails with ENOTCONN). It is moved to a new close-on-exec
    /// descriptor and `/dev/null` is put on fd 0, so no child process, however started, gets
    /// it.
    pub fn from_stdin() -> Result<Option<Listener>, Error> {
        match getpeername::<SockaddrStorage>(0) {
            Err(Errno::ENOTCONN) => {}
            _ => return Ok(None),
        }
        let family = getsockname::<SockaddrStorage>(0)
            .map_err(|e| Error::Io(e.into()))?
            .family();
        // F_DUPFD_CLOEXEC: the copy is close-on-exec.
        let owned = io::stdin().as_fd().try_clone_to_owned()?;
        let null = std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/null")?;
        nix::unistd::dup2_stdin(&null).map_err(|e| Error::Io(e.into()))?;
        let listener = match family {
            Some(AddressFamily::Unix) => Listener::Unix(UnixListener::from(owned)),
            Some(AddressFamily::Inet | AddressFamily::Inet6) => {
                Listener::Tcp(TcpListener::from(owned), web_server_addrs())
            }
            other => return Err(Error::UnsupportedSocket(format!("{other:?}"))),
        };
        // libfcgi needs a blocking socket, and so do we; a web server may have passed either.
        match &listener {
            Listener::Unix(l) => l.set_nonblocking(false)?,
            Listener::Tcp(l, _) => l.set_nonblocking(false)?,
        }
        Ok(Some(listener))
    }

    /// Binds `addr`. A unix socket file left by an earlier run is replaced if nothing
    /// listens on it any more.
    pub fn bind(addr: &Address) -> Result<Listener, Error> {
        let bind_err = |source| Error::Bind {
            address: addr.to_string(),
            source,
        };
        match addr {
            Address::Unix(path) => {
                if UnixStream::connect(path).is_err() && path.exists() {
                    use std::os::unix::fs::FileTypeExt;
                    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                        let _ = std::fs::remove_file(path);
                    }
                }
                UnixListener::bind(path)
                    .map(Listener::Unix)
                    .map_err(bind_err)
            }
            Address::Tcp(a) => TcpListener::bind(a.as_str())
                .map(|l| Listener::Tcp(l, web_server_addrs()))
                .map_err(bind_err),
        }
    }

    /// The next connection from an allowed peer.
    pub fn accept(&self) -> io::Result<Stream> {
        loop {
            match self {
                Listener::Unix(l) => return l.accept().map(|(s, _)| Stream::Unix(s)),
                Listener::Tcp(l, allowed) => {
                    let (s, peer): (TcpStream, SocketAddr) = l.accept()?;
                    if let Some(allowed) = allowed
                        && !allowed.contains(&peer.ip())
                    {
                        eprintln!(
                            "fcgi-app: connection from {peer} refused: not in FCGI_WEB_SERVER_ADDRS"
                        );
                        continue;
                    }
                    let _ = s.set_nodelay(true);
                    return Ok(Stream::Tcp(s));
                }
            }
        }
    }

    /// The address it listens on, for messages.
    pub fn describe(&self) -> String {
        match self {
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix socket".into()),
            Listener::Tcp(l, _) => l
                .local_addr()
                .map_or_else(|_| "tcp socket".into(), |a| a.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            "unix:/run/a.sock".parse::<Address>().unwrap(),
            Address::Unix("/run/a.sock".into())
        );
        assert_eq!(
            "/run/a.sock".parse::<Address>().unwrap(),
            Address::Unix("/run/a.sock".into())
        );
        assert_eq!(
            "127.0.0.1:9000".parse::<Address>().unwrap(),
            Address::Tcp("127.0.0.1:9000".into())
        );
        assert!("nowhere".parse::<Address>().is_err());
    }
}
