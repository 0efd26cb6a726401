//! Replacing the binary in place (SIGUSR2, nginx's convention). The old relight starts the
//! binary now at its path with the same arguments, handing it the listening sockets and a
//! pipe ([`start_successor`]); the new one finds them in its environment
//! ([`Inherited::from_env`]), binds its backends' sockets beside the old ones, and writes on the
//! pipe once it accepts ([`Inherited::ready`]). Only then does the old one stop accepting and
//! drain. Moving the backends' socket paths is the supervisor's
//! (`supervisor::socket::Takeover`).
//!
//! The descriptors reach the new process through posix_spawn's file actions (a dup2 in the
//! child only): relight's own stay close-on-exec, so no backend started meanwhile can inherit
//! a listening socket.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::process::activation::{Unusable, take_fd, take_listener};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

/// The variable that tells a new relight it replaces one:
/// `pid=OLD listen_fds=N ready_fd=FD` (listeners at fds 3..3+N).
pub(crate) const ENV: &str = "RELIGHT_UPGRADE";

/// The first descriptor the listeners are handed on (as systemd does).
const FIRST_FD: RawFd = 3;

/// What the old relight hands over, as the new one finds it.
#[derive(Debug)]
pub(crate) struct Inherited {
    /// The pid of the relight being replaced (the parent).
    pub(crate) from: i32,
    /// Its listening sockets.
    pub(crate) listeners: Vec<std::net::TcpListener>,
    /// Where to say "ready"; taken by [`Inherited::ready`].
    ready: Option<OwnedFd>,
}

/// Why the handed-over descriptors cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InheritError {
    /// The variable is not `pid=N listen_fds=N ready_fd=N`.
    #[error("{ENV}={0:?}: not `pid=N listen_fds=N ready_fd=N`")]
    Malformed(String),
    /// A descriptor it names is not open, or not what it should be.
    #[error("{ENV}: fd {fd}: {why}")]
    Fd {
        /// The descriptor.
        fd: RawFd,
        /// What is wrong with it.
        why: String,
    },
}

impl Inherited {
    /// The hand-over this process was started with, if its parent is the relight named in the
    /// environment (a variable left over from elsewhere is ignored).
    pub(crate) fn from_env() -> Result<Option<Inherited>, InheritError> {
        let Some(value) = std::env::var_os(ENV) else {
            return Ok(None);
        };
        let text = value.to_string_lossy().into_owned();
        let malformed = || InheritError::Malformed(text.clone());
        let mut from = None;
        let mut n = None;
        let mut ready = None;
        for part in text.split_whitespace() {
            let (k, v) = part.split_once('=').ok_or_else(malformed)?;
            let v: i32 = v.parse().map_err(|_| malformed())?;
            match k {
                "pid" => from = Some(v),
                "listen_fds" => n = Some(v),
                "ready_fd" => ready = Some(v),
                _ => return Err(malformed()),
            }
        }
        let (Some(from), Some(n), Some(ready)) = (from, n, ready) else {
            return Err(malformed());
        };
        if from != nix::unistd::getppid().as_raw() {
            return Ok(None);
        }
        if !(0..=1024).contains(&n) || ready != FIRST_FD + n {
            return Err(malformed());
        }
        let unusable = |fd: RawFd| {
            move |e: Unusable| InheritError::Fd {
                fd,
                why: e.to_string(),
            }
        };
        let mut listeners = Vec::new();
        for fd in FIRST_FD..FIRST_FD + n {
            listeners.push(take_listener(fd).map_err(unusable(fd))?);
        }
        let ready = take_fd(ready).map_err(unusable(ready))?;
        nix::fcntl::fcntl(
            &ready,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(|e| InheritError::Fd {
            fd: ready.as_raw_fd(),
            why: e.to_string(),
        })?;
        Ok(Some(Inherited {
            from,
            listeners,
            ready: Some(ready),
        }))
    }

    /// Tells the old relight that this one accepts: it stops accepting and drains.
    pub(crate) fn ready(&mut self) -> io::Result<()> {
        match self.ready.take() {
            Some(fd) => nix::unistd::write(&fd, b"ready\n")
                .map(drop)
                .map_err(io::Error::from),
            None => Ok(()),
        }
    }
}

/// The new relight, as the old one holds it until it is ready.
#[derive(Debug)]
pub(crate) struct Successor {
    /// Its pid.
    pub(crate) pid: i32,
    /// The pipe it says "ready" on.
    ready: OwnedFd,
}

impl Successor {
    /// Waits until the new relight says it accepts (`Ok`), or closes the pipe without saying
    /// so: it exited, or failed before it listened (`Err`). Read by the runtime (no thread
    /// blocked in read): dropping the future gives up on it.
    pub(crate) async fn ready(self) -> io::Result<()> {
        use tokio::io::AsyncReadExt;
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(self.ready)?;
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        loop {
            let n = pipe.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if got.ends_with(b"\n") || got.len() > 64 {
                break;
            }
        }
        if got == b"ready\n" {
            Ok(())
        } else {
            Err(io::Error::other(
                "it ended before it was ready (its own error is on stderr)",
            ))
        }
    }
}

/// Starts `exe` with `args` (argv[1..]) and this process's environment (without a previous
/// hand-over's variable, nor systemd's variables addressed to this pid), `listeners` on fds 3.. and a pipe to say it is ready after them.
/// The signals the new process inherits are reset: default dispositions, nothing blocked.
pub(crate) fn start_successor(
    exe: &Path,
    args: &[OsString],
    listeners: &[BorrowedFd<'_>],
) -> io::Result<Successor> {
    use nix::fcntl::{FcntlArg, fcntl};
    use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags, posix_spawn};
    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let n = listeners.len() as RawFd;
    // Every source is first duplicated above every target, so no dup2 of the file actions
    // overwrites a source still to be moved. The copies are close-on-exec: only the targets
    // reach the new process.
    let floor = FIRST_FD + n + 1;
    let mut sources = Vec::new();
    for fd in listeners.iter().map(|l| l.as_fd()).chain([ready_w.as_fd()]) {
        sources.push(owned(fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(floor))?));
    }
    let mut actions = PosixSpawnFileActions::init()?;
    for (i, src) in sources.iter().enumerate() {
        actions.add_dup2(src.as_raw_fd(), FIRST_FD + i as RawFd)?;
    }
    let mut attr = PosixSpawnAttr::init()?;
    attr.set_sigmask(&nix::sys::signal::SigSet::empty())?;
    attr.set_sigdefault(&nix::sys::signal::SigSet::all())?;
    attr.set_flags(
        PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
    )?;
    let cstr = |b: Vec<u8>| CString::new(b).map_err(io::Error::other);
    let path = cstr(exe.as_os_str().to_owned().into_vec())?;
    let mut argv = vec![path.clone()];
    for a in args {
        argv.push(cstr(a.clone().into_vec())?);
    }
    let mut envp = Vec::new();
    for (k, v) in std::env::vars_os() {
        // A previous hand-over's variable, and what systemd addressed to this pid only: the
        // new process would take the watchdog as someone else's (and never send WATCHDOG=1),
        // and LISTEN_FDS as not its own anyway.
        if k == ENV
            || ["WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]
                .contains(&k.to_str().unwrap_or(""))
        {
            continue;
        }
        let mut kv = k.into_vec();
        kv.push(b'=');
        kv.extend(v.into_vec());
        envp.push(cstr(kv)?);
    }
    envp.push(cstr(
        format!(
            "{ENV}=pid={} listen_fds={n} ready_fd={}",
            std::process::id(),
            FIRST_FD + n
        )
        .into_bytes(),
    )?);
    let pid = posix_spawn(path.as_c_str(), &actions, &attr, &argv, &envp)?;
    drop(sources);
    drop(ready_w);
    Ok(Successor {
        pid: pid.as_raw(),
        ready: ready_r,
    })
}

/// Owns a descriptor fcntl just returned.
fn owned(fd: RawFd) -> OwnedFd {
    #[allow(unsafe_code)]
    // SAFETY: `fd` was just returned by F_DUPFD_CLOEXEC: open, and owned by nothing else.
    unsafe {
        OwnedFd::from_raw_fd(fd)
    }
}

/// How the new relight `pid` ended, for the log line that says the upgrade failed: from the
/// supervisor's reaper (`exit`) when relight has one, else from waiting for it here (nothing
/// else reaps then). Waits at most 5 s: a process that closed the pipe and lives on is
/// reported as such (it is left running; it serves nothing of this relight's).
pub(crate) async fn exit_of(
    pid: i32,
    exit: Option<tokio::sync::oneshot::Receiver<String>>,
) -> String {
    const WAIT: std::time::Duration = std::time::Duration::from_secs(5);
    let detail = match exit {
        Some(rx) => tokio::time::timeout(WAIT, rx)
            .await
            .ok()
            .and_then(|r| r.ok()),
        None => {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
                match waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                        break Some(::supervisor::pool::describe_status(&s).1);
                    }
                    _ => break None,
                }
            }
        }
    };
    match detail {
        Some(d) => format!("ended ({d}) before it accepted"),
        None => "closed its pipe without saying it accepts".to_owned(),
    }
}
