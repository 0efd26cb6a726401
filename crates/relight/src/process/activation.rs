//! systemd socket activation (lighttpd's server.systemd-socket-activation): listening sockets
//! handed over as fds 3.. with LISTEN_FDS and LISTEN_PID. The one place in relight that turns a
//! raw descriptor number it was handed into a socket ([`take_listener`], used by an upgrade
//! too).

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
        out.push(take_listener(fd).map_err(|e| match e {
            Unusable::NotOpen => ActivationError::NotOpen { count: n, fd },
            Unusable::NotStream => ActivationError::NotStream(fd),
            Unusable::Setup(source) => ActivationError::Setup { fd, source },
        })?);
    }
    Ok(out)
}

/// Why a descriptor handed to relight is not a listening socket it can use.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unusable {
    /// It is not open.
    #[error("not open")]
    NotOpen,
    /// It is not a stream socket.
    #[error("not a stream socket")]
    NotStream,
    /// It could not be made close-on-exec and non-blocking.
    #[error("{0}")]
    Setup(std::io::Error),
}

/// Takes descriptor `fd`, which the process that started relight handed to it (systemd, or
/// the relight this one replaces), checked open.
pub(crate) fn take_fd(fd: RawFd) -> Result<OwnedFd, Unusable> {
    #[allow(unsafe_code)]
    // SAFETY: borrowed only for the fcntl call below; F_GETFD on a number that is not open
    // fails with EBADF and does nothing else.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    if nix::fcntl::fcntl(borrowed, nix::fcntl::FcntlArg::F_GETFD).is_err() {
        return Err(Unusable::NotOpen);
    }
    // SAFETY: the caller's protocol hands `fd` to this process (LISTEN_PID, or the parent
    // named in RELIGHT_UPGRADE, checked by the caller) and nothing else in relight uses it;
    // checked open just above.
    #[allow(unsafe_code)]
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Takes descriptor `fd` as a listening stream socket, close-on-exec and non-blocking.
pub(crate) fn take_listener(fd: RawFd) -> Result<std::net::TcpListener, Unusable> {
    let sock = socket2::Socket::from(take_fd(fd)?);
    if !matches!(sock.r#type(), Ok(t) if t == socket2::Type::STREAM) {
        return Err(Unusable::NotStream);
    }
    sock.set_cloexec(true)
        .and_then(|()| sock.set_nonblocking(true))
        .map_err(Unusable::Setup)?;
    Ok(std::net::TcpListener::from(sock))
}
