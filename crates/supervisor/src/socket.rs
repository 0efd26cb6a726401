//! The listening sockets of process slots. relight creates each one, keeps it for the life of
//! the slot and hands a duplicate to every process it starts there as fd 0. The socket is
//! blocking (libfcgi treats EAGAIN from accept as fatal) and is never registered with tokio.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::procfs;

/// Where one slot listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SlotAddr {
    /// A unix socket path (`<socket>-N`).
    Unix(PathBuf),
    /// A TCP address (`127.0.0.1:(port+N)`).
    Tcp(SocketAddr),
}

impl std::fmt::Display for SlotAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotAddr::Unix(p) => write!(f, "unix:{}", p.display()),
            SlotAddr::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// The base address of a pool; slot N's address is derived from it as lighttpd does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BaseAddr {
    /// Slot N listens on `<path>-N`.
    Unix(PathBuf),
    /// Slot N listens on `ip:(port+N)`.
    Tcp(SocketAddr),
}

impl BaseAddr {
    /// The address itself, for a socket all slots share.
    pub fn exact(&self) -> SlotAddr {
        match self {
            BaseAddr::Unix(p) => SlotAddr::Unix(p.clone()),
            BaseAddr::Tcp(a) => SlotAddr::Tcp(*a),
        }
    }

    /// The address of slot `n`.
    pub fn slot(&self, n: usize) -> SlotAddr {
        match self {
            BaseAddr::Unix(p) => {
                let mut s = p.as_os_str().to_owned();
                s.push(format!("-{n}"));
                SlotAddr::Unix(PathBuf::from(s))
            }
            BaseAddr::Tcp(a) => {
                let mut a = *a;
                a.set_port(a.port().wrapping_add(n as u16));
                SlotAddr::Tcp(a)
            }
        }
    }
}

/// Why a slot's socket could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The address is held by another process.
    #[error("{addr} is in use by {holders}")]
    InUse {
        /// The address.
        addr: SlotAddr,
        /// "pid N (cmdline)" of each holder, or "an unknown process".
        holders: String,
    },
    /// Anything else.
    #[error("{addr}: {source}")]
    Io {
        /// The address.
        addr: SlotAddr,
        /// Why.
        source: io::Error,
    },
}

fn describe(holders: &[(i32, String)]) -> String {
    if holders.is_empty() {
        return "an unknown process".into();
    }
    holders
        .iter()
        .map(|(pid, cmd)| format!("pid {pid} ({cmd})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Taking the unix socket paths over from the relight this one replaces (a binary upgrade):
/// a path its generation holds (that relight, its backends and what they started) is bound
/// here at a name of its own (`<path>.upgrade`) and renamed over the path by [`commit`]
/// (atomic: a connect finds one socket or the other, never nothing), once this relight is
/// about to serve. Until then the predecessor's requests still reach its own backends, and a
/// start that fails leaves its paths untouched.
///
/// [`commit`]: Takeover::commit
#[derive(Debug)]
pub struct Takeover {
    /// The pid of the relight being replaced.
    from: i32,
    /// (bound at, to be renamed to).
    pending: Vec<(PathBuf, PathBuf)>,
}

impl Takeover {
    /// Taking over from relight `from`.
    pub fn from_pid(from: i32) -> Takeover {
        Takeover {
            from,
            pending: Vec::new(),
        }
    }

    /// Renames every socket bound meanwhile over its path; returns how many. The first that
    /// fails stops it (the error names the path).
    pub fn commit(&mut self) -> Result<usize, SocketError> {
        let n = self.pending.len();
        for (at, path) in self.pending.drain(..) {
            std::fs::rename(&at, &path).map_err(|source| SocketError::Io {
                addr: SlotAddr::Unix(path.clone()),
                source,
            })?;
        }
        Ok(n)
    }

    /// The names the sockets not yet renamed are bound at (this relight's own files until
    /// then; the paths are still the predecessor's).
    pub(crate) fn bound_at(&self) -> impl Iterator<Item = &Path> {
        self.pending.iter().map(|(at, _)| at.as_path())
    }

    /// Whether `pid` is the predecessor or one of its descendants (its backends, what they
    /// started, orphans re-parented to it).
    fn in_generation(&self, pid: i32) -> bool {
        let mut p = pid;
        // Bounded: a parent chain never loops, but /proc may change under us.
        for _ in 0..64 {
            if p == self.from {
                return true;
            }
            match procfs::process(p) {
                Some(info) if info.ppid > 1 => p = info.ppid,
                _ => return false,
            }
        }
        false
    }
}

/// The name a socket taken over is bound at before it is renamed over `path`.
fn upgrade_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".upgrade");
    PathBuf::from(s)
}

/// Who holds the socket at `path`: /proc/net/unix names a socket by the path it was bound at,
/// which for one taken over in an upgrade is its [`upgrade_name`].
fn holders(path: &Path) -> Vec<(i32, String)> {
    let mut h = procfs::unix_holders(path);
    h.extend(procfs::unix_holders(&upgrade_name(path)));
    h.sort();
    h.dedup();
    h
}

/// [`listen`], during a binary upgrade: a unix path the predecessor's generation holds is
/// bound at its upgrade name and left for [`Takeover::commit`]; any other address as
/// [`listen`] does.
pub fn listen_taking_over(
    addr: &SlotAddr,
    backlog: i32,
    mode: Option<u32>,
    takeover: &mut Takeover,
) -> Result<OwnedFd, SocketError> {
    let SlotAddr::Unix(path) = addr else {
        return listen(addr, backlog, mode);
    };
    let held = holders(path);
    if held.is_empty() || !held.iter().all(|(pid, _)| takeover.in_generation(*pid)) {
        return listen(addr, backlog, mode);
    }
    let at = upgrade_name(path);
    let fd = listen(&SlotAddr::Unix(at.clone()), backlog, mode).map_err(|e| match e {
        SocketError::Io { source, .. } => SocketError::Io {
            addr: addr.clone(),
            source,
        },
        other => other,
    })?;
    takeover.pending.push((at, path.clone()));
    Ok(fd)
}

/// Creates, binds and listens on a slot's socket. A stale unix socket file (no process holds
/// it) is removed first; one that a process holds is an error naming that process.
pub fn listen(addr: &SlotAddr, backlog: i32, mode: Option<u32>) -> Result<OwnedFd, SocketError> {
    let io_err = |source| SocketError::Io {
        addr: addr.clone(),
        source,
    };
    let sock = match addr {
        SlotAddr::Unix(path) => {
            remove_stale(addr, path)?;
            let s = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(io_err)?;
            s.bind(&SockAddr::unix(path).map_err(io_err)?)
                .map_err(io_err)?;
            if let Some(mode) = mode {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .map_err(io_err)?;
            }
            s
        }
        SlotAddr::Tcp(a) => {
            let s = Socket::new(Domain::for_address(*a), Type::STREAM, None).map_err(io_err)?;
            s.set_reuse_address(true).map_err(io_err)?;
            if let Err(e) = s.bind(&(*a).into()) {
                if e.kind() == io::ErrorKind::AddrInUse {
                    return Err(SocketError::InUse {
                        addr: addr.clone(),
                        holders: describe(&procfs::tcp_listeners(a.port())),
                    });
                }
                return Err(io_err(e));
            }
            s
        }
    };
    sock.listen(backlog).map_err(io_err)?;
    // socket2 creates sockets close-on-exec and blocking: children get a dup as fd 0 only.
    Ok(sock.into())
}

fn remove_stale(addr: &SlotAddr, path: &Path) -> Result<(), SocketError> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.file_type().is_socket() => {
            let holders = holders(path);
            if !holders.is_empty() {
                return Err(SocketError::InUse {
                    addr: addr.clone(),
                    holders: describe(&holders),
                });
            }
            std::fs::remove_file(path).map_err(|source| SocketError::Io {
                addr: addr.clone(),
                source,
            })
        }
        Ok(_) => Err(SocketError::Io {
            addr: addr.clone(),
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket; not removing it",
            ),
        }),
    }
}

/// Whether a listening socket has a connection waiting to be accepted.
pub fn has_pending_connection(listener: impl std::os::fd::AsFd) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_connection_waiting_in_the_queue() {
        let dir = std::env::temp_dir().join(format!("sv-queue-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("q");
        let fd = listen(&SlotAddr::Unix(path.clone()), 16, None).unwrap();
        assert!(!has_pending_connection(&fd));
        let _c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        assert!(has_pending_connection(&fd), "queued, never accepted");
        let l = std::os::unix::net::UnixListener::from(fd);
        let _a = l.accept().unwrap();
        assert!(!has_pending_connection(&l));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn slot_addresses_follow_lighttpd() {
        assert_eq!(
            BaseAddr::Unix("/run/app.sock".into()).slot(2),
            SlotAddr::Unix("/run/app.sock-2".into())
        );
        assert_eq!(
            BaseAddr::Tcp("127.0.0.1:9000".parse().unwrap()).slot(3),
            SlotAddr::Tcp("127.0.0.1:9003".parse().unwrap())
        );
    }

    #[test]
    fn stale_unix_socket_is_replaced_and_a_held_port_names_its_holder() {
        let dir = std::env::temp_dir().join(format!("sv-sock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s-0");
        // A socket file nobody holds any more.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let fd = listen(&SlotAddr::Unix(path.clone()), 16, Some(0o660)).unwrap();
        // Now we hold it: a second listen must name us.
        let err = listen(&SlotAddr::Unix(path.clone()), 16, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(fd);
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = listen(&SlotAddr::Tcp(busy.local_addr().unwrap()), 16, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("in use by pid"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_path_the_predecessor_holds_is_taken_over_at_commit_and_no_one_elses() {
        let dir = std::env::temp_dir().join(format!("sv-takeover-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.sock-0");
        let addr = SlotAddr::Unix(path.clone());
        let old = std::os::unix::net::UnixListener::from(listen(&addr, 16, None).unwrap());
        // This process plays the predecessor: its socket is bound beside, not over, the path.
        let mut t = Takeover::from_pid(std::process::id() as i32);
        let new = std::os::unix::net::UnixListener::from(
            listen_taking_over(&addr, 16, Some(0o660), &mut t).unwrap(),
        );
        let c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        assert!(
            has_pending_connection(&old),
            "before commit the path is the old one's"
        );
        assert!(!has_pending_connection(&new));
        assert_eq!(t.commit().unwrap(), 1);
        let _c2 = std::os::unix::net::UnixStream::connect(&path).unwrap();
        assert!(
            has_pending_connection(&new),
            "after commit the path is the new one's"
        );
        assert!(!upgrade_name(&path).exists(), "renamed, not copied");
        drop(c);
        // The next generation finds the socket under the name it was bound at, and refuses a
        // path held by a process outside the predecessor's generation (pid 1 is not ours).
        let mut other = Takeover::from_pid(1);
        let err = listen_taking_over(&addr, 16, None, &mut other)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
