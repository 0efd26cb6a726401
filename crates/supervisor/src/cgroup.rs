//! Containment by cgroup v2, where relight can write one (systemd's `Delegate=yes`, a
//! container, or root on a box whose cgroup2 hierarchy is mounted): every process relight
//! starts gets a cgroup of its own, `relight.<pid>/<backend>.<n>/slot-<N>.<k>` under relight's
//! cgroup, entered between fork and exec, so that everything it ever starts stays in it: a
//! descendant that called setsid() and double-forked is still found and killed with it
//! (`cgroup.kill`), where process groups lose it. A backend's `memory_max` and `pids_max` are
//! its cgroup's `memory.max` and `pids.max`, where those controllers can be enabled.
//!
//! One cgroup per process rather than per slot: a process set aside for its successor (a
//! request timeout) shares its slot with that successor while it is being killed, and killing
//! the old one's cgroup must not touch the new one.
//!
//! Without a writable cgroup v2 this is all off and process groups plus the subreaper contain
//! what they can (said once at start).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// relight's cgroups: the directory it made under its own cgroup.
#[derive(Debug)]
pub(crate) struct Cgroups {
    /// `relight.<pid>` under relight's own cgroup.
    base: PathBuf,
    /// relight's own cgroup (where it made `base`).
    parent: PathBuf,
}

/// Limits of one backend's processes, all together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// `memory.max` in bytes.
    pub memory_max: Option<u64>,
    /// `pids.max`.
    pub pids_max: Option<u64>,
}

impl Limits {
    fn any(&self) -> bool {
        self.memory_max.is_some() || self.pids_max.is_some()
    }
}

/// The cgroup v2 mount point and relight's cgroup under it.
fn own_cgroup() -> Result<PathBuf, String> {
    let cgroups =
        fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    let own = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or("relight is in no cgroup v2 hierarchy")?;
    let mounts = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    // "36 35 0:30 / /sys/fs/cgroup rw,... - cgroup2 cgroup2 rw": the mount point is field 5,
    // the file system type the first field after " - ".
    let mount = mounts
        .lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split_whitespace().next()? == "cgroup2")
                .then(|| left.split_whitespace().nth(4).map(PathBuf::from))
                .flatten()
        })
        .ok_or("no cgroup2 file system is mounted")?;
    Ok(mount.join(own.trim_start_matches('/')))
}

impl Cgroups {
    /// Makes `relight.<pid>` under relight's own cgroup; the error says why there is none
    /// (for the one line at start). Cgroups of an earlier relight that is gone are removed
    /// first, and what it left running in them is killed, unless `keep` (a backend keeps its
    /// descendants: they are then only named in the log).
    pub(crate) fn setup(keep: bool) -> Result<Cgroups, String> {
        let mut parent = own_cgroup()?;
        // Started by a relight that had moved itself to a leaf of its own (a binary upgrade,
        // with limits): that leaf is the predecessor's and goes with it. This relight moves
        // to its own beside it, and makes its cgroups there, not one level deeper per upgrade
        // (where the predecessor's process would also keep controllers from being enabled).
        let me = std::process::id();
        if let Some(up) = parent
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| {
                n.starts_with("relight.")
                    && n.ends_with(".self")
                    && *n != format!("relight.{me}.self")
            })
            .and(parent.parent())
            .map(Path::to_path_buf)
        {
            let own = up.join(format!("relight.{me}.self"));
            match fs::create_dir_all(&own)
                .and_then(|()| fs::write(own.join("cgroup.procs"), me.to_string()))
            {
                Ok(()) => parent = up,
                Err(e) => tracing::warn!("cgroups: cannot move to {}: {e}", own.display()),
            }
        }
        remove_stale(&parent, keep);
        let base = parent.join(format!("relight.{}", std::process::id()));
        match fs::create_dir(&base) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", base.display())),
        }
        if !base.join("cgroup.kill").exists() {
            let _ = fs::remove_dir(&base);
            return Err(format!(
                "{} has no cgroup.kill (Linux 5.14 or later is needed)",
                base.display()
            ));
        }
        Ok(Cgroups { base, parent })
    }

    /// Where relight's cgroups are.
    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    /// The cgroup of a pool named `name` (the `n`th pool made), with `limits`; each limit that
    /// cannot be set is an error in the list (the cgroup itself is still used).
    pub(crate) fn pool(
        &self,
        name: &str,
        n: usize,
        limits: Limits,
    ) -> io::Result<(PathBuf, Vec<String>)> {
        let dir = self.base.join(format!("{}.{n}", dir_name(name)));
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let mut problems = Vec::new();
        if limits.any() {
            if let Err(e) = self.enable_controllers(limits) {
                problems.push(e);
            }
            for (file, value) in [
                ("memory.max", limits.memory_max),
                ("pids.max", limits.pids_max),
            ] {
                if let Some(v) = value
                    && let Err(e) = fs::write(dir.join(file), v.to_string())
                {
                    problems.push(format!("{} in {}: {e}", file, dir.display()));
                }
            }
        }
        Ok((dir, problems))
    }

    /// Enables the controllers `limits` need for the pools' cgroups: in relight's own cgroup
    /// (which must then hold no process: relight moves itself to a leaf of its own,
    /// `relight.<pid>.self`, if the kernel says so) and in `relight.<pid>`.
    fn enable_controllers(&self, limits: Limits) -> Result<(), String> {
        let mut wanted = Vec::new();
        if limits.memory_max.is_some() {
            wanted.push("memory");
        }
        if limits.pids_max.is_some() {
            wanted.push("pids");
        }
        let available =
            fs::read_to_string(self.parent.join("cgroup.controllers")).unwrap_or_default();
        let missing: Vec<_> = wanted
            .iter()
            .filter(|c| !available.split_whitespace().any(|a| a == **c))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the {:?} controller(s) are not available in {} (cgroup.controllers: {:?})",
                missing,
                self.parent.display(),
                available.trim()
            ));
        }
        let line = wanted
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        let enable = |dir: &Path| fs::write(dir.join("cgroup.subtree_control"), &line);
        if let Err(e) = enable(&self.parent) {
            // A cgroup with processes cannot enable controllers for its children (the root
            // excepted): relight leaves its own for a leaf beside its cgroups.
            if e.raw_os_error() != Some(nix::libc::EBUSY) {
                return Err(format!("enabling {line} in {}: {e}", self.parent.display()));
            }
            let me = self
                .parent
                .join(format!("relight.{}.self", std::process::id()));
            fs::create_dir_all(&me)
                .and_then(|()| fs::write(me.join("cgroup.procs"), std::process::id().to_string()))
                .map_err(|e2| format!("moving relight to {}: {e2}", me.display()))?;
            enable(&self.parent)
                .map_err(|e| format!("enabling {line} in {}: {e}", self.parent.display()))?;
        }
        enable(&self.base).map_err(|e| format!("enabling {line} in {}: {e}", self.base.display()))
    }

    /// A new cgroup for one process of slot `slot` of the pool whose cgroup is `pool`.
    pub(crate) fn leaf(pool: &Path, slot: usize) -> io::Result<PathBuf> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = pool.join(format!("slot-{slot}.{}", N.fetch_add(1, Ordering::Relaxed)));
        fs::create_dir(&dir)?;
        Ok(dir)
    }
}

/// A name fit for a cgroup directory: letters, digits, `-` and `_`; anything else becomes `_`.
fn dir_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The processes in cgroup `dir` (not in its children).
pub(crate) fn members(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Sends `sig` to every process in cgroup `dir` that is not in process group `pgid` (the
/// group gets it from killpg: a process must not get the kill signal twice, a second SIGTERM
/// or SIGINT means "now" to some programs).
pub(crate) fn signal_outside_group(dir: &Path, sig: Signal, pgid: i32) {
    for pid in members(dir) {
        if crate::procfs::process(pid).is_some_and(|p| p.pgid != pgid) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
        }
    }
}

/// SIGKILLs every process in cgroup `dir` and its children, at once (`cgroup.kill`).
pub(crate) fn kill(dir: &Path) {
    let _ = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.kill"))
        .and_then(|mut f| f.write_all(b"1"));
}

/// Removes cgroup `dir` and its children, deepest first; false if one still holds a process
/// (one already gone counts as removed).
pub(crate) fn remove_tree(dir: &Path) -> bool {
    let mut all_gone = true;
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                all_gone &= remove_tree(&e.path());
            }
        }
    }
    all_gone
        && match fs::remove_dir(dir) {
            Ok(()) => true,
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }
}

/// Empties and removes the cgroups of relights that are gone (a crash leaves its backends
/// running in them, holding what they held); with `keep`, what runs there is left alone.
fn remove_stale(parent: &Path, keep: bool) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("relight."))
            .and_then(|n| n.strip_suffix(".self").unwrap_or(n).parse::<i32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() as i32 || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let left = tree_members(&e.path());
        if !left.is_empty() && keep {
            tracing::info!(
                "cgroup {} of a relight that is gone still holds {left:?}: left running (descendants = \"keep\")",
                e.path().display()
            );
            continue;
        }
        if !left.is_empty() {
            tracing::warn!(
                "cgroup {} of a relight that is gone still holds {left:?}: SIGKILL",
                e.path().display()
            );
        }
        kill(&e.path());
        // Killed processes leave their cgroup when they are reaped: give them a moment.
        for _ in 0..50 {
            if remove_tree(&e.path()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// Every process in cgroup `dir` and its children.
fn tree_members(dir: &Path) -> Vec<i32> {
    let mut all = members(dir);
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                all.extend(tree_members(&e.path()));
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_fit_for_directories() {
        assert_eq!(dir_name("php-app_1"), "php-app_1");
        assert_eq!(dir_name("a/b c.."), "a_b_c__");
    }
}
