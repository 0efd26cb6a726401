//! Dropping root once the listening sockets are bound (lighttpd's server.username and
//! server.groupname): supplementary groups, then gid, then uid, for every thread of the
//! process. Backends spawned afterwards run as that user too, unless they set their own.

use nix::unistd::{Gid, Group, Uid, User, setgid, setgroups, setuid};

/// Becomes `user` (and `group`, default: the user's primary group) if running as root. Not
/// root: nothing to drop, and the caller is told so (to log, never to ignore in silence).
pub fn drop_to(user: Option<&str>, group: Option<&str>) -> Result<Option<String>, String> {
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
    setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?;
    setgid(gid).map_err(|e| format!("setgid({gid}): {e}"))?;
    if let Some(u) = &u {
        setuid(u.uid).map_err(|e| format!("setuid({}): {e}", u.uid))?;
    }
    Ok(Some(format!(
        "running as uid {} gid {gid}",
        Uid::effective()
    )))
}
