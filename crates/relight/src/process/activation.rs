//! systemd socket activation (lighttpd's server.systemd-socket-activation): listening sockets
//! handed over as fds 3.. with LISTEN_FDS and LISTEN_PID. The one place in relight that turns a
//! raw descriptor number into a socket.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The first descriptor systemd passes.
const SD_LISTEN_FDS_START: RawFd = 3;

/// The sockets passed by systemd (or anything that follows its protocol), if the environment
/// names this process; none otherwise.
pub fn listeners_from_env() -> Result<Vec<std::net::TcpListener>, String> {
    let (Ok(pid), Ok(fds)) = (std::env::var("LISTEN_PID"), std::env::var("LISTEN_FDS")) else {
        return Ok(Vec::new());
    };
    if pid.parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(Vec::new());
    }
    let n: RawFd = fds
        .parse()
        .map_err(|_| format!("LISTEN_FDS={fds:?} is not a number"))?;
    let mut out = Vec::new();
    for fd in SD_LISTEN_FDS_START..SD_LISTEN_FDS_START + n {
        // The descriptor must be open before we take ownership of it.
        #[allow(unsafe_code)]
        // SAFETY: borrowed only for the fcntl call below; F_GETFD on a number that is not open
        // fails with EBADF and does nothing else.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        if nix::fcntl::fcntl(borrowed, nix::fcntl::FcntlArg::F_GETFD).is_err() {
            return Err(format!("LISTEN_FDS={n}, but fd {fd} is not open"));
        }
        // SAFETY: the protocol hands fds 3..3+LISTEN_FDS to this process (LISTEN_PID checked
        // above) and nothing else in relight uses them; checked open just above.
        #[allow(unsafe_code)]
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let sock = socket2::Socket::from(owned);
        if !matches!(sock.r#type(), Ok(t) if t == socket2::Type::STREAM) {
            return Err(format!("fd {fd} from LISTEN_FDS is not a stream socket"));
        }
        sock.set_cloexec(true)
            .map_err(|e| format!("fd {fd}: {e}"))?;
        sock.set_nonblocking(true)
            .map_err(|e| format!("fd {fd}: {e}"))?;
        out.push(std::net::TcpListener::from(sock));
    }
    Ok(out)
}
