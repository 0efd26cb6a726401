//! Starting one backend process as lighttpd's mod_fastcgi does: the slot's listening socket as
//! fd 0, stdout on /dev/null, stderr to a pipe relight reads, its own process group, the
//! configured environment, working directory and user; and, where relight has cgroups, in a
//! cgroup of its own, entered between fork and exec (while still root, so before the user is
//! changed). A CGI process is started the same way with pipes for stdin and stdout instead
//! ([`spawn_piped`]). Only `std::process::Command`: the one reaper waits for it, nobody else.
//! A process with nothing to do between fork and exec (no cgroup, no user to become) is started
//! by std with posix_spawn (a vfork: nothing of relight's memory is copied); the others are
//! forked, with the child's work in [`with_child_code`].

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
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

/// Starts a process with `listen` (a dup of it) as fd 0, in cgroup `cgroup` if given. The
/// caller must hold the reaper's lock, so the pid is registered before its exit can be reaped.
pub fn spawn(spec: &SpawnSpec, listen: &OwnedFd, cgroup: Option<&Path>) -> io::Result<Started> {
    let fd0 = listen.try_clone()?;
    let (started, _, _) = start(spec, Stdio::from(fd0), Stdio::null(), cgroup)?;
    Ok(started)
}

/// A process started for one request (CGI): its stdin and stdout are pipes, returned with it
/// (relight's ends: stdin's write end, stdout's read end). The caller holds the reaper's lock.
pub(crate) fn spawn_piped(spec: &SpawnSpec) -> io::Result<(Started, OwnedFd, OwnedFd)> {
    match start(spec, Stdio::piped(), Stdio::piped(), None)? {
        (started, Some(stdin), Some(stdout)) => Ok((started, stdin, stdout)),
        // std always makes the pipes asked for.
        _ => Err(io::Error::other("the process's pipes were not made")),
    }
}

/// Starts `spec` with `stdin` and `stdout` as given, stderr to a pipe, in its own process group
/// (and cgroup `cgroup`); returns relight's ends of the piped ones.
fn start(
    spec: &SpawnSpec,
    stdin: Stdio,
    stdout: Stdio,
    cgroup: Option<&Path>,
) -> io::Result<(Started, Option<OwnedFd>, Option<OwnedFd>)> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .process_group(0);
    if cgroup.is_none() && spec.uid.is_none() && spec.gid.is_none() {
        // Nothing to do in the child but what posix_spawn does itself (its descriptors,
        // process group, directory): std then starts it with posix_spawn, a vfork that copies
        // nothing of relight's memory, and learns of a failed exec from its return. Measured
        // with a C CGI program: 1483 -> 2066 requests/s, 170 -> 69 µs of system time each
        // (fork copied relight's page tables, and the event loop waited on std's exec-error
        // pipe). Descriptors: relight's own are all close-on-exec, what it inherited was made
        // so at the start ([`cloexec_inherited`]).
        cmd.current_dir(&spec.cwd);
    } else {
        with_child_code(&mut cmd, spec, cgroup)?;
    }
    let mut child = cmd.spawn()?;
    let stderr = child.stderr.take().map(OwnedFd::from);
    let stdin = child.stdin.take().map(OwnedFd::from);
    let stdout = child.stdout.take().map(OwnedFd::from);
    // Dropping `Child` neither waits nor kills: the reaper owns the exit status.
    let started = Started {
        pid: child.id() as i32,
        stderr,
    };
    Ok((started, stdin, stdout))
}

/// What the child does between fork and exec when posix_spawn cannot: enter its cgroup, become
/// its user, mark every inherited descriptor close-on-exec again, and go to its directory.
fn with_child_code(cmd: &mut Command, spec: &SpawnSpec, cgroup: Option<&Path>) -> io::Result<()> {
    // Made before the fork: the child may not allocate.
    let procs = cgroup
        .map(|c| CString::new(c.join("cgroup.procs").as_os_str().as_bytes()))
        .transpose()?;
    let cwd = CString::new(spec.cwd.as_os_str().as_bytes())?;
    let (uid, gid) = (spec.uid, spec.gid);
    // SAFETY: `pre_exec` runs the closure in the child between fork and exec, where only
    // async-signal-safe calls are allowed: `cloexec_inherited`, `enter_cgroup`,
    // `drop_privileges` and chdir(2) make only system calls, on memory made before the fork.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            cloexec_inherited();
            // Best effort: the parent checks that the process is in its cgroup and falls back
            // to its process group if not.
            if let Some(procs) = &procs {
                let _ = enter_cgroup(procs);
            }
            drop_privileges(uid, gid)?;
            // After the privilege drop, as std orders it: a directory the user may not enter
            // fails the start.
            if libc::chdir(cwd.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(())
}

/// Moves the calling process (the child, before exec) into the cgroup whose `cgroup.procs` is
/// `procs`: everything it starts from now on is born there.
#[allow(unsafe_code)]
fn enter_cgroup(procs: &CString) -> io::Result<()> {
    // SAFETY: open(2), write(2) and close(2) on a path and a buffer that outlive the calls.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // "0": the writing process itself.
        let n = libc::write(fd, b"0".as_ptr().cast(), 1);
        let err = io::Error::last_os_error();
        libc::close(fd);
        if n != 1 {
            return Err(err);
        }
    }
    Ok(())
}

/// Becomes `gid` and `uid`, as std's `Command::uid`/`gid` do (setgid, then without supplementary
/// groups where that is allowed, then setuid), but after [`enter_cgroup`]: moving into a cgroup
/// needs root.
#[allow(unsafe_code)]
fn drop_privileges(uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    // SAFETY: setgid(2), getuid(2), setgroups(2) with no groups, setuid(2): system calls only.
    unsafe {
        if let Some(g) = gid
            && libc::setgid(g) != 0
        {
            return Err(io::Error::last_os_error());
        }
        if let Some(u) = uid {
            if libc::getuid() == 0 {
                // As std: refused in a user namespace that denies it, and that is not fatal.
                let _ = libc::setgroups(0, std::ptr::null());
            }
            if libc::setuid(u) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Marks every descriptor above stderr close-on-exec, so that nothing relight inherited or
/// opened without O_CLOEXEC reaches a backend: it gets exactly fd 0 (its socket), 1 and 2.
/// Called once in relight itself when the supervisor starts (for what it inherited), and in
/// each child that is forked (before exec). std's own exec-error pipe is close-on-exec
/// already and keeps working.
#[allow(unsafe_code)]
pub(crate) fn cloexec_inherited() {
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
