//! systemd socket activation (lighttpd's server.systemd-socket-activation): listening sockets
//! handed over as fds 3.. with LISTEN_FDS and LISTEN_PID. The one place in relight that turns a
//! raw descriptor number into a socket.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The first descriptor systemd passes.
const SD_LISTEN_FDS_START: RawFd = 3;

/// Why the sockets systemd passed cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActivationError {
    /// LISTEN_FDS is not a number.
    #[error("LISTEN_FDS={0:?} is not a number")]
    Count(String),
    /// A descriptor LISTEN_FDS counts is not open.
    #[error("LISTEN_FDS={count}, but fd {fd} is not open")]
    NotOpen {
        /// LISTEN_FDS.
        count: RawFd,
        /// The descriptor.
        fd: RawFd,
    },
    /// A descriptor is not a stream socket.
    #[error("fd {0} from LISTEN_FDS is not a stream socket")]
    NotStream(RawFd),
    /// A descriptor could not be set up (close-on-exec, non-blocking).
    #[error("fd {fd}: {source}")]
    Setup {
        /// The descriptor.
        fd: RawFd,
        /// Why.
        source: std::io::Error,
    },
}

/// The sockets passed by systemd (or anything that follows its protocol), if the environment
/// names this process; none otherwise.
pub(crate) fn listeners_from_env() -> Result<Vec<std::net::TcpListener>, ActivationError> {
    let (Ok(pid), Ok(fds)) = (std::env::var("LISTEN_PID"), std::env::var("LISTEN_FDS")) else {
        return Ok(Vec::new());
    };
    if pid.parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(Vec::new());
    }
    let n: RawFd = fds
        .parse()
        .map_err(|_| ActivationError::Count(fds.clone()))?;
    let mut out = Vec::new();
    for fd in SD_LISTEN_FDS_START..SD_LISTEN_FDS_START + n {
        // The descriptor must be open before we take ownership of it.
        #[allow(unsafe_code)]
        // SAFETY: borrowed only for the fcntl call below; F_GETFD on a number that is not open
        // fails with EBADF and does nothing else.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        if nix::fcntl::fcntl(borrowed, nix::fcntl::FcntlArg::F_GETFD).is_err() {
            return Err(ActivationError::NotOpen { count: n, fd });
        }
        // SAFETY: the protocol hands fds 3..3+LISTEN_FDS to this process (LISTEN_PID checked
        // above) and nothing else in relight uses them; checked open just above.
        #[allow(unsafe_code)]
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let sock = socket2::Socket::from(owned);
        if !matches!(sock.r#type(), Ok(t) if t == socket2::Type::STREAM) {
            return Err(ActivationError::NotStream(fd));
        }
        sock.set_cloexec(true)
            .and_then(|()| sock.set_nonblocking(true))
            .map_err(|source| ActivationError::Setup { fd, source })?;
        out.push(std::net::TcpListener::from(sock));
    }
    Ok(out)
}
