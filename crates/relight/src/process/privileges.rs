//! Giving up what relight needs only to start, once the listening sockets are bound: the file
//! system outside `server.chroot`, then root (lighttpd's server.username and
//! server.groupname): supplementary groups, then gid, then uid, for every thread of the
//! process. Backends spawned afterwards run inside the same root, as that user too, unless
//! they set their own.

use nix::unistd::{Gid, Group, Uid, User, setgid, setgroups, setuid};

/// Changes the root directory to `chroot` (if set; needs root), then becomes `user` (and
/// `group`, default: the user's primary group) if running as root. Names are looked up before
/// the chroot, where /etc/passwd is. Not root: no user to drop, and the caller is told so (to
/// log, never to ignore in silence).
pub fn confine(
    chroot: Option<&std::path::Path>,
    user: Option<&str>,
    group: Option<&str>,
) -> Result<Option<String>, String> {
    if let Some(dir) = chroot {
        if !Uid::effective().is_root() {
            return Err(format!(
                "chroot {}: relight must start as root to change its root directory",
                dir.display()
            ));
        }
        // Resolve the names first: /etc/passwd is outside the new root.
        let ids = resolve(user, group)?;
        nix::unistd::chroot(dir).map_err(|e| format!("chroot {}: {e}", dir.display()))?;
        nix::unistd::chdir("/").map_err(|e| format!("chdir / in {}: {e}", dir.display()))?;
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
fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Option<(Option<Uid>, Gid)>, String> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    let u = match user {
        Some(name) => Some(
            User::from_name(name)
                .map_err(|e| format!("user {name:?}: {e}"))?
                .ok_or_else(|| format!("unknown user {name:?}"))?,
        ),
        None => None,
    };
    let gid: Gid = match group {
        Some(name) => {
            Group::from_name(name)
                .map_err(|e| format!("group {name:?}: {e}"))?
                .ok_or_else(|| format!("unknown group {name:?}"))?
                .gid
        }
        None => u.as_ref().map_or(Gid::effective(), |u| u.gid),
    };
    Ok(Some((u.map(|u| u.uid), gid)))
}

fn apply(uid: Option<Uid>, gid: Gid) -> Result<String, String> {
    setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?;
    setgid(gid).map_err(|e| format!("setgid({gid}): {e}"))?;
    if let Some(uid) = uid {
        setuid(uid).map_err(|e| format!("setuid({uid}): {e}"))?;
    }
    Ok(format!("running as uid {} gid {gid}", Uid::effective()))
}
