//! Starting one backend process as lighttpd's mod_fastcgi does: the slot's listening socket as
//! fd 0, stdout on /dev/null, stderr to a pipe relight reads, its own process group, the
//! configured environment, working directory and user. Only `std::process::Command`: the one
//! reaper waits for it, nobody else.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// How to start the processes of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnSpec {
    /// The program (argv[0]).
    pub program: PathBuf,
    /// The arguments after argv[0].
    pub args: Vec<OsString>,
    /// The whole environment of the process.
    pub env: Vec<(OsString, OsString)>,
    /// Its working directory.
    pub cwd: PathBuf,
    /// The user to run as (when relight runs as root).
    pub uid: Option<u32>,
    /// The group to run as (when relight runs as root).
    pub gid: Option<u32>,
}

/// A started process: its pid and the read end of its stderr.
#[derive(Debug)]
pub struct Started {
    /// The pid, also its process group id.
    pub pid: i32,
    /// Its stderr, to be read line by line.
    pub stderr: Option<OwnedFd>,
}

/// Starts a process with `listen` (a dup of it) as fd 0. The caller must hold the reaper's
/// lock, so the pid is registered before its exit can be reaped.
pub fn spawn(spec: &SpawnSpec, listen: &OwnedFd) -> io::Result<Started> {
    let fd0 = listen.try_clone()?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::from(fd0))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: `pre_exec` runs the closure in the child between fork and exec, where only
    // async-signal-safe calls are allowed; `cloexec_inherited` makes only close_range(2) or
    // fcntl(2) system calls and touches no memory shared with the parent.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            cloexec_inherited();
            Ok(())
        });
    }
    if let Some(gid) = spec.gid {
        cmd.gid(gid);
    }
    if let Some(uid) = spec.uid {
        cmd.uid(uid);
    }
    let mut child = cmd.spawn()?;
    let stderr = child.stderr.take().map(OwnedFd::from);
    // Dropping `Child` neither waits nor kills: the reaper owns the exit status.
    Ok(Started {
        pid: child.id() as i32,
        stderr,
    })
}

/// Marks every descriptor above stderr close-on-exec, so that nothing relight inherited or
/// opened without O_CLOEXEC reaches a backend: it gets exactly fd 0 (its socket), 1 and 2.
/// std's own exec-error pipe is close-on-exec already and keeps working.
#[allow(unsafe_code)]
fn cloexec_inherited() {
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only changes descriptor flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r != 0 {
        // Kernels before 5.11: set the flag one descriptor at a time.
        for fd in 3..4096 {
            // SAFETY: fcntl(F_SETFD) on a descriptor that is not open fails with EBADF and
            // changes nothing.
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
    }
}
