//! Giving up what relight needs only to start, once the listening sockets are bound: the file
//! system outside `server.chroot`, then root (lighttpd's server.username and
//! server.groupname): supplementary groups, then gid, then uid, for every thread of the
//! process. Backends spawned afterwards run inside the same root, as that user too, unless
//! they set their own. And the ambient capabilities a service manager gave relight, which
//! would pass on to every process it starts.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::{Gid, Group, Uid, User, setgid, setgroups, setuid};

/// Why relight could not give up what it must.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivilegeError {
    /// server.chroot, and relight is not root.
    #[error("chroot {0}: relight must start as root to change its root directory")]
    ChrootNeedsRoot(PathBuf),
    /// chroot(2) or the chdir into the new root failed.
    #[error("chroot {dir}: {source}")]
    Chroot {
        /// The new root.
        dir: PathBuf,
        /// Why.
        source: Errno,
    },
    /// The user or group could not be looked up.
    #[error("{what} {name:?}: {source}")]
    Lookup {
        /// "user" or "group".
        what: &'static str,
        /// The name.
        name: String,
        /// Why.
        source: Errno,
    },
    /// No such user.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// No such group.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    /// setgroups, setgid or setuid failed.
    #[error("{call}: {source}")]
    Switch {
        /// The call, with its argument.
        call: String,
        /// Why.
        source: Errno,
    },
}

/// Changes the root directory to `chroot` (if set; needs root), then becomes `user` (and
/// `group`, default: the user's primary group) if running as root. Names are looked up before
/// the chroot, where /etc/passwd is. Not root: no user to drop, and the caller is told so (to
/// log, never to ignore in silence).
pub(crate) fn confine(
    chroot: Option<&Path>,
    user: Option<&str>,
    group: Option<&str>,
) -> Result<Option<String>, PrivilegeError> {
    if let Some(dir) = chroot {
        if !Uid::effective().is_root() {
            return Err(PrivilegeError::ChrootNeedsRoot(dir.to_path_buf()));
        }
        // Resolve the names first: /etc/passwd is outside the new root.
        let ids = resolve(user, group)?;
        let failed = |source| PrivilegeError::Chroot {
            dir: dir.to_path_buf(),
            source,
        };
        nix::unistd::chroot(dir).map_err(failed)?;
        nix::unistd::chdir("/").map_err(failed)?;
        let note = format!("root directory is now {}", dir.display());
        return match ids {
            None => Ok(Some(note)),
            Some((uid, gid)) => apply(uid, gid).map(|n| Some(format!("{note}; {n}"))),
        };
    }
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    if !Uid::effective().is_root() {
        return Ok(Some(format!(
            "server.user/group ({}:{}) ignored: relight is not running as root",
            user.unwrap_or("-"),
            group.unwrap_or("-")
        )));
    }
    match resolve(user, group)? {
        Some((uid, gid)) => apply(uid, gid).map(Some),
        None => Ok(None),
    }
}

/// The uid (if a user is named) and gid to become; `None` if neither is named.
fn resolve(
    user: Option<&str>,
    group: Option<&str>,
) -> Result<Option<(Option<Uid>, Gid)>, PrivilegeError> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    fn lookup(what: &'static str, name: &str) -> impl FnOnce(Errno) -> PrivilegeError {
        let name = name.to_owned();
        move |source| PrivilegeError::Lookup { what, name, source }
    }
    let u = match user {
        Some(name) => Some(
            User::from_name(name)
                .map_err(lookup("user", name))?
                .ok_or_else(|| PrivilegeError::UnknownUser(name.to_owned()))?,
        ),
        None => None,
    };
    let gid: Gid = match group {
        Some(name) => {
            Group::from_name(name)
                .map_err(lookup("group", name))?
                .ok_or_else(|| PrivilegeError::UnknownGroup(name.to_owned()))?
                .gid
        }
        None => u.as_ref().map_or(Gid::effective(), |u| u.gid),
    };
    Ok(Some((u.map(|u| u.uid), gid)))
}

fn apply(uid: Option<Uid>, gid: Gid) -> Result<String, PrivilegeError> {
    let switch = |call: String| move |source| PrivilegeError::Switch { call, source };
    setgroups(&[gid]).map_err(switch("setgroups".into()))?;
    setgid(gid).map_err(switch(format!("setgid({gid})")))?;
    if let Some(uid) = uid {
        setuid(uid).map_err(switch(format!("setuid({uid})")))?;
    }
    Ok(format!("running as uid {} gid {gid}", Uid::effective()))
}

/// Clears the ambient capabilities relight was started with (systemd's
/// `AmbientCapabilities=CAP_NET_BIND_SERVICE`, to bind port 80 as www-data): they would pass
/// on through exec to every backend and CGI script. relight keeps its own effective ones, so it
/// still binds its listeners. Per thread: called before relight starts any other thread that
/// spawns (threads made later inherit the cleared set). A kernel without ambient capabilities
/// (before 4.3) has none to clear.
pub(crate) fn clear_ambient_capabilities() {
    #[allow(unsafe_code)]
    // SAFETY: prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) takes no pointers and
    // changes only the calling thread's ambient set; nix has no wrapper for it.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if r != 0 {
        tracing::debug!("ambient capabilities: {}", std::io::Error::last_os_error());
    }
}
