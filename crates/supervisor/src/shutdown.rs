//! Stopping everything (relight's shutdown, `relight spawn` ending): every process gets the kill
//! signal, `grace` to exit, then SIGKILL of its group; descendants that left their groups are
//! stopped too (unless every pool keeps them); the unix socket files are removed. Nothing
//! spawned is left running, and the report says what had to be killed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::exit::fmt_procs;
use crate::pool::{DescendantPolicy, Reason};
use crate::procfs;
use crate::socket::SlotAddr;
use crate::supervisor::Supervisor;

/// What a shutdown had to do.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Processes that stopped on the kill signal.
    pub stopped: usize,
    /// Processes (pid, command line) that needed SIGKILL.
    pub killed: Vec<(i32, String)>,
}

impl Supervisor {
    /// Stops every process and its group: the kill signal, `grace` to exit, then SIGKILL;
    /// then removes the unix socket files (unless they were handed over to a successor).
    /// Nothing spawned is left running.
    pub async fn shutdown(self: &Arc<Self>, grace: Duration) -> ShutdownReport {
        let mut groups = Vec::new();
        {
            let mut inner = self.lock();
            inner.stopping = true;
            for pool in inner.pools.values_mut() {
                pool.stand_in = None;
                for slot in &mut pool.slots {
                    if let Some(pid) = slot.stop(Reason::Shutdown, "shutdown".into()) {
                        groups.push(pid);
                        let _ = killpg(Pid::from_raw(pid), pool.config.kill_signal);
                    }
                }
            }
            // The processes run for one request (CGI) stop with the rest.
            for pid in inner.once_pids() {
                if let Some(entry) = inner.once_mut(pid) {
                    entry.stopped = Some((Reason::Shutdown, "shutdown".into()));
                    groups.push(pid);
                    let _ = killpg(Pid::from_raw(pid), entry.kill_signal);
                }
            }
        }
        self.changed.notify_waiters();
        let deadline = Instant::now() + grace;
        let alive = |groups: &[i32]| -> Vec<(i32, String)> {
            groups
                .iter()
                .flat_map(|g| procfs::group_members(*g))
                .map(|m| (m.pid, m.cmdline))
                .collect()
        };
        while Instant::now() < deadline && !alive(&groups).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut report = ShutdownReport {
            stopped: groups.len(),
            killed: alive(&groups),
        };
        if !report.killed.is_empty() {
            tracing::warn!(
                "shutdown: still running after {grace:?}, sending SIGKILL: {}",
                fmt_procs(&report.killed)
            );
            for g in &groups {
                let _ = killpg(Pid::from_raw(*g), Signal::SIGKILL);
            }
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end && !alive(&groups).is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        // Every backend is gone: a child of ours now is a descendant that left its group (we
        // are a subreaper). Stopped too, unless every pool keeps descendants.
        let keep_all = self
            .lock()
            .pools
            .values()
            .all(|p| p.config.descendants == DescendantPolicy::Keep);
        let me = std::process::id() as i32;
        // relight's own processes (the new binary an upgrade started) are nobody's descendants.
        let own: HashSet<i32> = self.lock().watched.keys().copied().collect();
        let escaped = || -> Vec<(i32, String)> {
            procfs::all()
                .into_iter()
                .filter(|p| p.ppid == me && !own.contains(&p.pid))
                .map(|p| (p.pid, p.cmdline))
                .collect()
        };
        let left = escaped();
        if !left.is_empty() && keep_all {
            tracing::info!(
                "shutdown: leaving descendants running (descendants = \"keep\"): {}",
                fmt_procs(&left)
            );
        } else if !left.is_empty() {
            tracing::info!(
                "shutdown: stopping descendants outside the backends' process groups: {}",
                fmt_procs(&left)
            );
            for (pid, _) in &left {
                let _ = nix::sys::signal::kill(Pid::from_raw(*pid), Signal::SIGTERM);
            }
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline && !escaped().is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let stubborn = escaped();
            for (pid, _) in &stubborn {
                let _ = nix::sys::signal::kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
            report.killed.extend(stubborn);
        }
        // Reap what is left now rather than wait for the SIGCHLD task.
        self.reap();
        // Anything still in relight's cgroups (a descendant that escaped even the subreaper)
        // is killed with them, unless descendants are kept; then the cgroups go.
        let base = self
            .lock()
            .cgroups
            .as_ref()
            .ok()
            .map(|c| c.base().to_path_buf());
        if let Some(base) = base {
            if !keep_all {
                crate::cgroup::kill(&base);
            }
            for _ in 0..100 {
                self.reap();
                if crate::cgroup::remove_tree(&base) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        report.stopped -= report
            .killed
            .iter()
            .filter(|(pid, _)| groups.contains(pid))
            .count();
        let inner = self.lock();
        // Stopped while taking over from a predecessor (before the rename): the paths are
        // still its sockets; this relight's own are the names they were bound at.
        if let Some(t) = &inner.takeover {
            for at in t.bound_at() {
                let _ = std::fs::remove_file(at);
            }
        }
        // After a hand-over the paths are the successor's sockets.
        let pools = if inner.handed_over || inner.takeover.is_some() {
            None
        } else {
            Some(inner.pools.values())
        };
        for pool in pools.into_iter().flatten() {
            for slot in &pool.slots {
                if let SlotAddr::Unix(path) = &slot.addr {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        report
    }
}
