//! The one owner of every process relight spawns. It spawns and it reaps, under one lock, so a
//! pid is always registered before its exit can be collected: on SIGCHLD it loops
//! `waitpid(-1, WNOHANG)` and hands each status to the slot that owns the pid. relight is a
//! child subreaper, so orphaned descendants come back here and are reaped too.
//!
//! Liveness is owned, never probed: a process is alive until its exit status arrives here.
//! Nothing in this module connects to a backend's socket to decide anything. A slot's states
//! are [`crate::slot`]'s, what a death means [`crate::exit`]'s, the requests' side
//! [`crate::lease`]'s, stopping everything [`crate::shutdown`]'s; this module does what they
//! decide: spawn, signal, reap, reload.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::sync::{Notify, oneshot};

use crate::backoff::Backoff;
use crate::exit::{self, Ending, Proc, Restart, fmt_procs};
use crate::pool::{ExitRecord, Pool, PoolConfig, Reason, describe_status};
use crate::slot::{PoolId, Running, Slot, SlotId, SlotState};
use crate::socket::{SlotAddr, SocketError, listen};
use crate::{procfs, spawn, stderr};

/// Why the supervisor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A slot's socket could not be created.
    #[error("backend \"{backend}\": {source}")]
    Socket {
        /// The backend.
        backend: String,
        /// Why.
        source: SocketError,
    },
    /// SIGCHLD could not be watched.
    #[error("cannot watch SIGCHLD: {0}")]
    Signal(io::Error),
}

/// Everything the lock guards.
#[derive(Debug)]
pub(crate) struct Inner {
    /// Every pool by id, in the order they were made; a retired pool leaves once its last
    /// process is reaped ([`Inner::prune`]), so reloads do not accumulate them.
    pub(crate) pools: BTreeMap<PoolId, Pool>,
    /// Which slot each running process is in.
    owners: HashMap<i32, SlotId>,
    /// The running processes started for one request (CGI), by pid.
    once: HashMap<i32, crate::once::OnceEntry>,
    /// Adopted descendants already reported (they left their backend's process group and were
    /// re-parented to us), so each is reported once, with the death that orphaned it.
    adoptees: HashSet<i32>,
    /// Shutting down: nothing is started again.
    pub(crate) stopping: bool,
    /// relight's cgroups, when it may write them (else `Err` says why not).
    pub(crate) cgroups: Result<crate::cgroup::Cgroups, String>,
    /// How many pools were made (names their cgroups).
    made: usize,
    /// Cgroups of dead processes that still held descendants (kept by policy, or not yet
    /// reaped): removed by the sweeper once empty.
    pub(crate) dead_cgroups: Vec<std::path::PathBuf>,
    /// A binary upgrade in progress on this side: the sockets being taken over from the
    /// relight this one replaces, until [`Supervisor::take_over_sockets`].
    pub(crate) takeover: Option<crate::socket::Takeover>,
    /// This relight handed its socket paths to its successor: it leaves them at shutdown.
    pub(crate) handed_over: bool,
    /// Processes relight started for itself (a new binary in an upgrade), by pid: what they
    /// are, and who learns how they ended.
    pub(crate) watched: HashMap<i32, (String, oneshot::Sender<String>)>,
}

impl Inner {
    /// Registers a process started for one request (under the lock that spawned it).
    pub(crate) fn add_once(&mut self, pid: i32, entry: crate::once::OnceEntry) {
        self.once.insert(pid, entry);
    }

    /// The running one-request process `pid`.
    pub(crate) fn once_mut(&mut self, pid: i32) -> Option<&mut crate::once::OnceEntry> {
        self.once.get_mut(&pid)
    }

    /// The pids of the running one-request processes.
    pub(crate) fn once_pids(&self) -> Vec<i32> {
        self.once.keys().copied().collect()
    }

    /// The pool serving backend `name` (not one a reload retired).
    pub(crate) fn live_pool(&self, name: &str) -> Option<PoolId> {
        self.pools
            .iter()
            .find(|(_, p)| !p.retired && p.config.name == name)
            .map(|(&id, _)| id)
    }

    /// Pool `p`, which must exist: a live pool, or one with a process in it (the pool of a
    /// process the reaper reports, of a lease whose process is alive).
    pub(crate) fn pool(&self, p: PoolId) -> &Pool {
        &self.pools[&p]
    }

    /// [`Inner::pool`], to change.
    pub(crate) fn pool_mut(&mut self, p: PoolId) -> &mut Pool {
        self.pools
            .get_mut(&p)
            .expect("a pool with a process in it exists")
    }

    pub(crate) fn slot_mut(&mut self, id: SlotId) -> Option<&mut Slot> {
        self.pools.get_mut(&id.pool)?.slots.get_mut(id.index)
    }

    /// Forgets the retired pools that have no process left (set-aside ones included): what
    /// still names one (a lease or a timer of a process that is gone) finds it missing and
    /// does nothing, as it would for a stale pid.
    pub(crate) fn prune(&mut self) {
        self.pools.retain(|_, p| {
            !p.retired
                || p.slots
                    .iter()
                    .any(|s| s.proc.is_some() || !s.aside.is_empty())
        });
    }

    /// Appends a built pool, with its cgroup (and its limits) when relight has cgroups; a limit
    /// that cannot be applied is logged as an error, naming the backend and why.
    pub(crate) fn add_pool(&mut self, mut pool: Pool) -> PoolId {
        let n = self.made;
        self.made += 1;
        let limits = pool.config.limits;
        let name = pool.config.name.clone();
        let unapplied = |why: &str| {
            tracing::error!("backend \"{name}\": memory_max/pids_max not applied: {why}");
        };
        match &self.cgroups {
            Ok(c) => match c.pool(&name, n, limits) {
                Ok((dir, problems)) => {
                    for p in problems {
                        unapplied(&p);
                    }
                    pool.cgroup = Some(dir);
                }
                Err(e) => tracing::error!(
                    "backend \"{name}\": cannot create its cgroup under {}: {e}; its processes are contained by process group only",
                    c.base().display()
                ),
            },
            Err(why) if limits != crate::cgroup::Limits::default() => {
                unapplied(&format!("they need a cgroup v2 relight may write ({why})"));
            }
            Err(_) => {}
        }
        let id = PoolId(n);
        self.pools.insert(id, pool);
        id
    }
}

/// The process manager: every pool, every slot, every process, and the reaper.
#[derive(Debug)]
pub struct Supervisor {
    inner: Mutex<Inner>,
    /// Any change of the pools (a process ready, a reload, a stop): wakes every waiting request.
    pub(crate) changed: Notify,
}

/// What a reload did to the pools, by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Kept running as they were.
    pub unchanged: Vec<String>,
    /// Replaced by a new pool.
    pub changed: Vec<String>,
    /// Started.
    pub added: Vec<String>,
    /// Stopped.
    pub removed: Vec<String>,
}

impl Supervisor {
    /// Creates every slot's socket, starts `min_procs` processes per pool and the reaper.
    /// Must run inside a tokio runtime. A program that is missing or dies at once does not stop
    /// the start: its slots back off and retry for ever. With `cgroups`, each process is
    /// contained in a cgroup v2 of its own where relight may make one (`crate::cgroup`).
    pub fn start(configs: Vec<PoolConfig>, cgroups: bool) -> Result<Arc<Supervisor>, StartError> {
        Supervisor::start_after(configs, cgroups, None)
    }

    /// [`Supervisor::start`], replacing relight `predecessor` (a binary upgrade) when given:
    /// the unix socket paths its generation holds are bound at a name of their own and become
    /// this supervisor's at [`Supervisor::take_over_sockets`] (see
    /// [`crate::socket::Takeover`]).
    pub fn start_after(
        configs: Vec<PoolConfig>,
        cgroups: bool,
        predecessor: Option<i32>,
    ) -> Result<Arc<Supervisor>, StartError> {
        // What relight inherited (its own descriptors are close-on-exec) reaches no process it
        // starts, including those started with posix_spawn, which closes nothing itself.
        crate::spawn::cloexec_inherited();
        // Orphaned descendants must come back to us to be reaped and reported.
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            tracing::warn!("cannot become a child subreaper ({e}): orphans of backends go to init");
        }
        let sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
            .map_err(StartError::Signal)?;
        let keep = configs
            .iter()
            .any(|c| c.descendants == crate::pool::DescendantPolicy::Keep);
        let cgroups = if cgroups {
            crate::cgroup::Cgroups::setup(keep)
        } else {
            Err("turned off (cgroups = false)".to_owned())
        };
        match &cgroups {
            Ok(c) => tracing::info!(
                "containment: each backend process in a cgroup of its own under {}",
                c.base().display()
            ),
            Err(why) if !configs.is_empty() => {
                tracing::info!("containment: process groups (no cgroup v2 for relight: {why})")
            }
            Err(_) => {}
        }
        let mut inner = Inner {
            pools: BTreeMap::new(),
            owners: HashMap::new(),
            once: HashMap::new(),
            adoptees: HashSet::new(),
            stopping: false,
            cgroups,
            made: 0,
            dead_cgroups: Vec::new(),
            takeover: predecessor.map(crate::socket::Takeover::from_pid),
            handed_over: false,
            watched: HashMap::new(),
        };
        for config in configs {
            let pool = build_pool(config, &mut HashMap::new(), inner.takeover.as_mut())?;
            inner.add_pool(pool);
        }
        let sup = Arc::new(Supervisor {
            inner: Mutex::new(inner),
            changed: Notify::new(),
        });
        {
            let mut inner = sup.lock();
            let ids: Vec<PoolId> = inner.pools.keys().copied().collect();
            for pool in ids {
                for index in 0..inner.pool(pool).config.min_procs {
                    sup.spawn_in(&mut inner, SlotId { pool, index });
                }
            }
        }
        tokio::spawn(reaper(Arc::downgrade(&sup), sigchld));
        tokio::spawn(sweeper(Arc::downgrade(&sup)));
        Ok(sup)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a process in slot `id`. On failure the slot backs off.
    pub(crate) fn spawn_in(self: &Arc<Self>, inner: &mut Inner, id: SlotId) {
        let pool = inner
            .pools
            .get_mut(&id.pool)
            .expect("a slot is started in a pool that exists");
        // A process will take the socket's connections again.
        pool.stand_in = None;
        let config = &pool.config;
        let slot = &mut pool.slots[id.index];
        slot.spawning();
        let Some(fd) = slot.fd.as_ref() else { return };
        let s = id.index;
        let leaf = pool.cgroup.as_ref().and_then(|dir| {
            crate::cgroup::Cgroups::leaf(dir, s)
                .inspect_err(|e| {
                    tracing::warn!(
                        "backend \"{}\" slot {s}: cannot create a cgroup in {}: {e}; this process is contained by its process group only",
                        config.name,
                        dir.display()
                    );
                })
                .ok()
        });
        match spawn::spawn(&config.spec, fd, leaf.as_deref()) {
            Ok(started) => {
                let mut run = Running::new(started.pid);
                run.inherited_from = slot.inherit.take();
                if let Some(dir) = leaf {
                    // The child enters it before exec; if it could not, its process group is
                    // all there is.
                    if crate::cgroup::members(&dir).contains(&started.pid) {
                        run.cgroup = Some(dir);
                    } else {
                        tracing::warn!(
                            "backend \"{}\" slot {s}: pid {} could not enter its cgroup {}; it is contained by its process group only",
                            config.name,
                            started.pid,
                            dir.display()
                        );
                        let _ = std::fs::remove_dir(&dir);
                    }
                }
                slot.started(run);
                inner.owners.insert(started.pid, id);
                tracing::info!(
                    "backend \"{}\" slot {s}: started pid {} ({}) on {}",
                    config.name,
                    started.pid,
                    config.spec.program.display(),
                    slot.addr
                );
                if let Some(fd) = started.stderr {
                    let tag = format!("backend \"{}\" slot {s} pid {}", config.name, started.pid);
                    stderr::forward(fd, tag);
                }
            }
            Err(e) => {
                if let Some(leaf) = &leaf {
                    let _ = std::fs::remove_dir(leaf);
                }
                let delay = slot.backoff.on_exit(Duration::ZERO, 0);
                tracing::error!(
                    "backend \"{}\" slot {s}: cannot start {}: {e}; retrying in {delay:?}",
                    config.name,
                    config.spec.program.display()
                );
                let record = ExitRecord {
                    backend: config.name.clone(),
                    slot: s,
                    pid: 0,
                    reason: Reason::SpawnFailed,
                    detail: e.to_string(),
                    uptime: Duration::ZERO,
                    request: None,
                    killed: Vec::new(),
                    left: Vec::new(),
                    request_queued: false,
                    at: SystemTime::now(),
                };
                slot.spawn_failed(Arc::new(record), Instant::now() + delay);
                let generation = slot.generation;
                self.schedule_respawn(id, generation, delay);
                stand_in_if_down(pool);
            }
        }
        self.changed.notify_waiters();
    }

    /// Starts a process in slot `id` after `delay`, unless the slot moved on meanwhile (a
    /// newer spawn or death: its generation changed) or relight is stopping.
    fn schedule_respawn(self: &Arc<Self>, id: SlotId, generation: u64, delay: Duration) {
        let sup = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(sup) = sup.upgrade() else { return };
            let mut inner = sup.lock();
            // A retired pool may be gone.
            let Some(pool) = inner.pools.get(&id.pool) else {
                return;
            };
            let slot = &pool.slots[id.index];
            if !inner.stopping
                && !pool.retired
                && slot.generation == generation
                && slot.state() == SlotState::Backoff
            {
                sup.spawn_in(&mut inner, id);
            }
        });
    }

    /// Collects every exited child. Called on SIGCHLD.
    pub(crate) fn reap(self: &Arc<Self>) {
        let mut inner = self.lock();
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(status @ (WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _))) => {
                    let raw = pid.as_raw();
                    if let Some((what, tell)) = inner.watched.remove(&raw) {
                        let (_, detail) = describe_status(&status);
                        tracing::info!("reaped {what} pid {pid}: {detail}");
                        let _ = tell.send(detail);
                        continue;
                    }
                    if let Some(entry) = inner.once.remove(&raw) {
                        self.on_once_exit(&mut inner, entry, raw, &status);
                        continue;
                    }
                    match inner.owners.remove(&raw) {
                        Some(id) => self.on_exit(&mut inner, id, raw, &status),
                        None => {
                            inner.adoptees.remove(&pid.as_raw());
                            let (_, detail) = describe_status(&status);
                            tracing::info!("reaped pid {pid} (a backend's descendant): {detail}");
                        }
                    }
                }
                Ok(_) => continue,
            }
        }
        inner.prune();
    }

    /// A backend process died: what happened ([`exit::record`]), what to do
    /// ([`exit::decide`]), then doing it: contain its descendants, answer its request, log the
    /// death, and restart the slot now, later or not.
    fn on_exit(self: &Arc<Self>, inner: &mut Inner, id: SlotId, pid: i32, status: &WaitStatus) {
        let stopping = inner.stopping || inner.pool(id.pool).retired;
        // One look at every process: the dead process's group, and descendants that left the
        // group and were just re-parented to us (a double-forked daemon).
        // With cgroups, its cgroup holds every descendant, whatever group it moved to.
        let leaf = {
            let slot = &inner.pool(id.pool).slots[id.index];
            slot.proc
                .iter()
                .chain(slot.aside.iter())
                .find(|r| r.pid == pid)
                .and_then(|r| r.cgroup.clone())
        };
        let in_leaf: HashSet<i32> = leaf
            .as_deref()
            .map(crate::cgroup::members)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let procs = procfs::all();
        let (members, escaped) = group_and_escaped(inner, &procs, pid, &in_leaf);
        inner.adoptees.extend(escaped.iter().map(|(p, _)| *p));
        let pool = inner.pool_mut(id.pool);
        let config = &pool.config;
        let slot = &mut pool.slots[id.index];
        // The slot's process, or one set aside for a successor (its death changes nothing in
        // the slot: a new process serves it already).
        let current = slot.proc.as_ref().is_some_and(|r| r.pid == pid);
        // Checked before the restart, which would accept it.
        let queued = current
            && slot
                .fd
                .as_ref()
                .is_some_and(crate::socket::has_pending_connection);
        let died = if current {
            slot.died()
        } else {
            slot.died_aside(pid)
        };
        let Some(run) = died else { return };
        // The request queued for it is served by its successor: the successor is known to be
        // busy with it until that request's lease ends (`Slot::release`).
        if queued && run.current.is_some() {
            slot.inherit = Some(pid);
        }

        // What happened, and what to do.
        let reason = run
            .kill_reason
            .as_ref()
            .map_or_else(|| describe_status(status).0, |k| k.0);
        let decision = exit::decide(
            reason,
            if current {
                Ending::Slot { stopping }
            } else {
                Ending::SetAside
            },
            run.started.elapsed(),
            run.requests,
            config.descendants,
            !members.is_empty(),
            &mut slot.backoff,
        );
        let record = Arc::new(exit::record(
            &config.name,
            id.index,
            &run,
            status,
            members,
            escaped,
            decision.signal_group,
            queued,
        ));

        // Doing it.
        let mut kept_cgroup = None;
        if decision.signal_group {
            contain(self, pid, leaf, config.kill_signal, config.kill_grace);
        } else if let Some(leaf) = leaf
            && !crate::cgroup::remove_tree(&leaf)
        {
            // Descendants kept by policy: removed once they are gone.
            kept_cgroup = Some(leaf);
        }
        let _ = run.death.send(Some(record.clone()));
        *slot.restarts.entry(record.reason).or_default() += 1;
        slot.remember_exit(record.clone());
        let (warn, line) = exit::log_line(&record, decision.restart, config.kill_signal);
        if warn {
            tracing::warn!("{line}");
        } else {
            tracing::info!("{line}");
        }
        match decision.restart {
            Restart::Never | Restart::Replaced => {}
            Restart::Now => self.spawn_in(inner, id),
            Restart::After(delay) => {
                slot.back_off(Instant::now() + delay);
                let generation = slot.generation;
                self.schedule_respawn(id, generation, delay);
                stand_in_if_down(pool);
            }
        }
        inner.dead_cgroups.extend(kept_cgroup);
        self.changed.notify_waiters();
    }

    /// A process started for one request exited: what it left running in its group is
    /// contained by its policy, descendants that left the group are noted, the request learns
    /// how it ended, and an end that is news (not a clean exit 0 with nothing left) is logged.
    fn on_once_exit(
        self: &Arc<Self>,
        inner: &mut Inner,
        mut entry: crate::once::OnceEntry,
        pid: i32,
        status: &WaitStatus,
    ) {
        // A script that leaves nothing behind is the common case, hundreds a second: a look at
        // every process in /proc only when its group has a member left or relight has a child
        // it does not know (a descendant that left the group and was re-parented here).
        let unknown_child = procfs::own_children().is_none_or(|children| {
            children.iter().any(|c| {
                !inner.owners.contains_key(c)
                    && !inner.once.contains_key(c)
                    && !inner.adoptees.contains(c)
            })
        });
        let (members, escaped) = if procfs::group_alive(pid) || unknown_child {
            let procs = procfs::all();
            let (members, escaped) = group_and_escaped(inner, &procs, pid, &HashSet::new());
            inner.adoptees.extend(escaped.iter().map(|(p, _)| *p));
            (members, escaped)
        } else {
            (Vec::new(), Vec::new())
        };
        let (status_reason, status_detail) = describe_status(status);
        let success = matches!(status, WaitStatus::Exited(_, 0)) && entry.stopped.is_none();
        let (reason, detail) = entry
            .stopped
            .take()
            .unwrap_or((status_reason, status_detail));
        let kill = entry.descendants == crate::pool::DescendantPolicy::Kill;
        if kill && !members.is_empty() {
            contain(self, pid, None, entry.kill_signal, entry.kill_grace);
        }
        let (killed, mut left) = if kill {
            (members, Vec::new())
        } else {
            (Vec::new(), members)
        };
        left.extend(escaped);
        let exit = Arc::new(crate::once::OnceExit {
            pid,
            reason,
            detail,
            success,
            runtime: entry.started.elapsed(),
            killed,
            left,
        });
        let mut line = format!(
            "{} pid {pid} ended: {}, after {:.3}s",
            entry.tag,
            exit.detail,
            exit.runtime.as_secs_f64()
        );
        if !exit.killed.is_empty() {
            line.push_str(&format!(
                "; {} its process group: {}",
                entry.kill_signal.as_str(),
                fmt_procs(&exit.killed)
            ));
        }
        if !exit.left.is_empty() {
            line.push_str(&format!("; left running: {}", fmt_procs(&exit.left)));
        }
        match exit.reason {
            _ if success && exit.killed.is_empty() && exit.left.is_empty() => {
                tracing::debug!("{line}")
            }
            Reason::Exited => tracing::info!("{line}"),
            _ => tracing::warn!("{line}"),
        }
        if let Some(done) = entry.done.take() {
            let _ = done.send(exit);
        }
    }

    /// Ends process `pid` of slot `id` (its whole group): the kill signal, then SIGKILL after
    /// the grace period. Its exit will be explained by `reason` and `detail`. A process stuck in
    /// a request (request timeout) is set aside and a new one started in its slot at once: the
    /// stuck one does not accept, so the new one serves from the same socket while the old one
    /// gets its grace period.
    pub(crate) fn kill(self: &Arc<Self>, id: SlotId, pid: i32, reason: Reason, detail: String) {
        self.kill_where(id, pid, reason, detail, false);
    }

    /// [`Supervisor::kill`], if the process is still free (`Ready`) when it is applied.
    fn kill_if_idle(self: &Arc<Self>, id: SlotId, pid: i32, reason: Reason, detail: String) {
        self.kill_where(id, pid, reason, detail, true);
    }

    fn kill_where(
        self: &Arc<Self>,
        id: SlotId,
        pid: i32,
        reason: Reason,
        detail: String,
        only_if_idle: bool,
    ) {
        let mut inner = self.lock();
        let stopping = inner.stopping;
        // A retired pool whose processes are all gone is forgotten: nothing to kill.
        let Some(pool) = inner.pools.get_mut(&id.pool) else {
            return;
        };
        let retired = pool.retired;
        let (sig, grace) = (pool.config.kill_signal, pool.config.kill_grace);
        let slot = &mut pool.slots[id.index];
        // The lease of a request its predecessor left queued names the predecessor: it means
        // the process now serving that request.
        let Some(run) = slot
            .proc
            .as_ref()
            .filter(|r| r.pid == pid || r.inherited_from == Some(pid))
        else {
            return;
        };
        let pid = run.pid;
        if run.kill_reason.is_some() || (only_if_idle && slot.state() != SlotState::Ready) {
            return;
        }
        tracing::info!(
            "backend \"{}\" slot {} pid {pid}: {detail}: sending {} to its process group, SIGKILL after {grace:?}",
            pool.config.name,
            id.index,
            sig.as_str()
        );
        let leaf = run.cgroup.clone();
        slot.stop(reason, detail);
        contain(self, pid, leaf, sig, grace);
        // A process stuck in a request, or wedged while idle, does not accept: its successor
        // can serve from the same socket at once.
        if matches!(reason, Reason::RequestTimeout | Reason::HealthCheck)
            && !stopping
            && !retired
            && slot.set_aside()
        {
            self.spawn_in(&mut inner, id);
        }
        self.changed.notify_waiters();
    }

    /// Starts a process of relight's own (`what` names it in the log: a new binary in an
    /// upgrade) with `spawn`, under the reaper's lock, so that its exit is reported to the
    /// receiver returned with its pid ("exit code 1", "signal SIGSEGV"), never taken for a
    /// backend's descendant.
    pub fn spawn_watched<T>(
        &self,
        what: &str,
        spawn: impl FnOnce() -> io::Result<(i32, T)>,
    ) -> io::Result<(i32, T, oneshot::Receiver<String>)> {
        let mut inner = self.lock();
        let (pid, value) = spawn()?;
        let (tx, rx) = oneshot::channel();
        inner.watched.insert(pid, (what.to_owned(), tx));
        Ok((pid, value, rx))
    }

    /// A binary upgrade, the new side: renames the sockets bound for the predecessor's paths
    /// over them (from now on its requests reach this supervisor's processes) and returns how
    /// many. Nothing to do when this supervisor replaces no one.
    pub fn take_over_sockets(&self) -> Result<usize, crate::socket::SocketError> {
        let mut inner = self.lock();
        match inner.takeover.take() {
            Some(mut t) => t.commit(),
            None => Ok(0),
        }
    }

    /// A binary upgrade, the old side: the socket paths now belong to the successor, so
    /// shutting down leaves the files where they are.
    pub fn hand_over(&self) {
        self.lock().handed_over = true;
    }

    /// Applies a new set of pools (a configuration reload): a pool whose configuration did not
    /// change keeps its processes; a changed one is replaced (its processes get the kill signal
    /// and a grace period, and the new pool keeps the old listening sockets where the addresses
    /// are the same); a new one starts; a removed one stops and its socket files go.
    pub fn reconcile(
        self: &Arc<Self>,
        configs: Vec<PoolConfig>,
    ) -> Result<ReloadReport, StartError> {
        let mut report = ReloadReport::default();
        let mut inner = self.lock();
        let live: Vec<PoolId> = inner
            .pools
            .iter()
            .filter(|(_, p)| !p.retired)
            .map(|(&id, _)| id)
            .collect();
        for &p in &live {
            if !configs.iter().any(|c| c.name == inner.pool(p).config.name) {
                report.removed.push(inner.pool(p).config.name.clone());
                close_sockets(self.retire(&mut inner, p, "reload: backend removed"));
            }
        }
        for config in configs {
            let old = inner.live_pool(&config.name);
            let mut reuse = HashMap::new();
            match old {
                Some(p) if inner.pool(p).config == config => {
                    report.unchanged.push(config.name);
                    continue;
                }
                Some(p) => {
                    report.changed.push(config.name.clone());
                    reuse = self.retire(&mut inner, p, "reload: backend changed");
                }
                None => report.added.push(config.name.clone()),
            }
            let pool = build_pool(config, &mut reuse, inner.takeover.as_mut());
            // Sockets of the old pool that the new one does not use are closed.
            close_sockets(reuse);
            let pool = pool?;
            let min = pool.config.min_procs;
            let p = inner.add_pool(pool);
            for index in 0..min {
                self.spawn_in(&mut inner, SlotId { pool: p, index });
            }
        }
        inner.prune();
        drop(inner);
        self.changed.notify_waiters();
        Ok(report)
    }

    /// Stops a pool for good: its processes get the kill signal (SIGKILL after the grace
    /// period) and are not restarted. Returns its listening sockets by address, for a successor.
    fn retire(
        self: &Arc<Self>,
        inner: &mut Inner,
        p: PoolId,
        why: &str,
    ) -> HashMap<SlotAddr, OwnedFd> {
        let pool = inner.pool_mut(p);
        pool.retired = true;
        pool.stand_in = None;
        let (sig, grace) = (pool.config.kill_signal, pool.config.kill_grace);
        let mut fds = HashMap::new();
        for slot in &mut pool.slots {
            let leaf = slot.proc.as_ref().and_then(|r| r.cgroup.clone());
            let (pid, fd) = slot.retire(why);
            if let Some(pid) = pid {
                contain(self, pid, leaf, sig, grace);
            }
            if let Some(fd) = fd {
                fds.entry(slot.addr.clone()).or_insert(fd);
            }
        }
        tracing::info!(
            "backend \"{}\": {why}: stopping its processes",
            pool.config.name
        );
        // Its cgroup goes once its processes' are gone.
        if let Some(dir) = pool.cgroup.clone() {
            inner.dead_cgroups.push(dir);
        }
        fds
    }
}

/// Creates a pool's slots and their sockets, taking a socket from `reuse` where one is already
/// bound at the same address (a backend changed by a reload keeps its listening sockets, so
/// connections queued on them are not lost).
fn build_pool(
    config: PoolConfig,
    reuse: &mut HashMap<SlotAddr, OwnedFd>,
    mut takeover: Option<&mut crate::socket::Takeover>,
) -> Result<Pool, StartError> {
    let socket_err = |source| StartError::Socket {
        backend: config.name.clone(),
        source,
    };
    let mut open = |addr: &SlotAddr| -> Result<OwnedFd, StartError> {
        match reuse.remove(addr) {
            Some(fd) => Ok(fd),
            None => match takeover.as_deref_mut() {
                Some(t) => {
                    crate::socket::listen_taking_over(addr, config.backlog, config.socket_mode, t)
                }
                None => listen(addr, config.backlog, config.socket_mode),
            }
            .map_err(socket_err),
        }
    };
    let shared = if config.shared_socket {
        let addr = config.addr.exact();
        let fd = open(&addr)?;
        Some((addr, fd))
    } else {
        None
    };
    let mut slots = Vec::new();
    for index in 0..config.max_procs {
        let (addr, fd) = match &shared {
            Some((addr, fd)) => (
                addr.clone(),
                fd.try_clone().map_err(|source| {
                    socket_err(SocketError::Io {
                        addr: addr.clone(),
                        source,
                    })
                })?,
            ),
            None => {
                let addr = config.addr.slot(index);
                let fd = open(&addr)?;
                (addr, fd)
            }
        };
        // A shared socket is `relight spawn`'s: the requests go to it from the web server in
        // front, unseen.
        let backoff = if config.shared_socket {
            Backoff::requests_unseen()
        } else {
            Backoff::default()
        };
        slots.push(Slot::new(index, addr, fd, backoff));
    }
    Ok(Pool {
        config,
        slots,
        retired: false,
        waiting: Arc::default(),
        freed: Arc::default(),
        stand_in: None,
        cgroup: None,
    })
}

/// Answers 503 on a `relight spawn` pool's socket while every one of its slots backs off (the
/// web server in front would otherwise wait on a socket nobody accepts); see
/// [`crate::stand_in`].
fn stand_in_if_down(pool: &mut Pool) {
    if !pool.config.shared_socket || pool.stand_in.is_some() || pool.retired {
        return;
    }
    let down = pool
        .slots
        .iter()
        .all(|s| s.state() == SlotState::Backoff && s.aside.is_empty());
    let retry_at = pool.slots.iter().filter_map(|s| s.retry_at).min();
    let socket = pool.slots.iter().find_map(|s| s.fd.as_ref());
    if let (true, Some(retry_at), Some(fd)) = (down, retry_at, socket) {
        match fd.try_clone() {
            Ok(fd) => {
                pool.stand_in = Some(crate::stand_in::StandIn::start(
                    pool.config.name.clone(),
                    fd,
                    retry_at,
                ));
            }
            Err(e) => tracing::warn!(
                "backend \"{}\": cannot answer 503 while it restarts: {e}",
                pool.config.name
            ),
        }
    }
}

/// Closes listening sockets nobody takes over, removing unix socket files.
fn close_sockets(fds: HashMap<SlotAddr, OwnedFd>) {
    for (addr, fd) in fds {
        drop(fd);
        if let SlotAddr::Unix(path) = addr {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Stops process `pgid`'s group with `sig`, and with it everything in its cgroup `leaf` (a
/// descendant that left the group stays in the cgroup); after `grace`, SIGKILL to what is left
/// of both. The cgroup is removed once it is empty.
/// Of `procs`, the members of process group `pid` (and of its cgroup `in_leaf`), and relight's
/// children outside it that nothing owns: descendants of the dead process that left its group
/// and were re-parented here (not yet reported: not among the adoptees).
fn group_and_escaped(
    inner: &Inner,
    procs: &[procfs::ProcInfo],
    pid: i32,
    in_leaf: &HashSet<i32>,
) -> (Vec<Proc>, Vec<Proc>) {
    let me = std::process::id() as i32;
    let members = procs
        .iter()
        .filter(|m| m.pgid == pid || in_leaf.contains(&m.pid))
        .map(|m| (m.pid, m.cmdline.clone()))
        .collect();
    let escaped = procs
        .iter()
        .filter(|m| {
            m.ppid == me
                && m.pgid != pid
                && !in_leaf.contains(&m.pid)
                && !inner.owners.contains_key(&m.pid)
                && !inner.once.contains_key(&m.pid)
                && !inner.adoptees.contains(&m.pid)
                && !inner.watched.contains_key(&m.pid)
        })
        .map(|m| (m.pid, format!("{}, outside its process group", m.cmdline)))
        .collect();
    (members, escaped)
}

pub(crate) fn contain(
    sup: &Arc<Supervisor>,
    pgid: i32,
    leaf: Option<std::path::PathBuf>,
    sig: Signal,
    grace: Duration,
) {
    let _ = killpg(Pid::from_raw(pgid), sig);
    if let Some(leaf) = &leaf {
        crate::cgroup::signal_outside_group(leaf, sig, pgid);
    }
    let sup = Arc::downgrade(sup);
    tokio::spawn(async move {
        if sig != Signal::SIGKILL {
            tokio::time::sleep(grace).await;
        }
        let left = procfs::group_members(pgid);
        if !left.is_empty() {
            tracing::warn!(
                "process group {pgid} still has {} after {grace:?}: SIGKILL",
                fmt_procs(
                    &left
                        .into_iter()
                        .map(|m| (m.pid, m.cmdline))
                        .collect::<Vec<_>>()
                )
            );
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        let Some(leaf) = leaf else { return };
        let left = crate::cgroup::members(&leaf);
        if !left.is_empty() {
            tracing::warn!(
                "cgroup {} still has {} after {grace:?}: SIGKILL",
                leaf.display(),
                fmt_procs(
                    &left
                        .iter()
                        .map(|&p| (p, procfs::cmdline(p).unwrap_or_default()))
                        .collect::<Vec<_>>()
                )
            );
            crate::cgroup::kill(&leaf);
        }
        // Its processes leave it as they are reaped.
        for _ in 0..100 {
            if crate::cgroup::remove_tree(&leaf) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A process that does not die at once from SIGKILL (in uninterruptible sleep): the
        // sweeper removes the cgroup when it is empty.
        tracing::warn!(
            "cgroup {} is still not empty 5 s after SIGKILL; removed when it is",
            leaf.display()
        );
        if let Some(sup) = sup.upgrade() {
            sup.lock().dead_cgroups.push(leaf);
        }
    });
}

async fn reaper(sup: std::sync::Weak<Supervisor>, mut sigchld: tokio::signal::unix::Signal) {
    // A child may have exited before the handler was polled the first time.
    if let Some(s) = sup.upgrade() {
        s.reap();
    }
    while sigchld.recv().await.is_some() {
        let Some(s) = sup.upgrade() else { return };
        s.reap();
    }
}

/// Once a second: stops processes of dynamic pools that sat idle past the idle timeout, down
/// to min_procs, recycles idle processes whose resident memory is over their pool's max_rss
/// (a busy one is checked when its request ends), and starts the health check of idle
/// processes that are due (`health`). A process is stopped only if it is still idle when the
/// stop is applied: a request may have taken it meanwhile.
async fn sweeper(sup: std::sync::Weak<Supervisor>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(sup) = sup.upgrade() else { return };
        let mut idle = Vec::new();
        let mut measure = Vec::new();
        let mut check = Vec::new();
        {
            let mut inner = sup.lock();
            if inner.stopping {
                return;
            }
            inner
                .dead_cgroups
                .retain(|dir| !crate::cgroup::remove_tree(dir));
            for (&p, pool) in &inner.pools {
                let mut running = pool.slots.iter().filter(|s| s.proc.is_some()).count();
                for slot in pool.slots.iter().rev() {
                    // A process serving a request its predecessor left queued is not idle.
                    let Some(run) = slot
                        .proc
                        .as_ref()
                        .filter(|r| slot.state() == SlotState::Ready && r.inherited_from.is_none())
                    else {
                        continue;
                    };
                    let id = SlotId {
                        pool: p,
                        index: slot.index,
                    };
                    if running > pool.config.min_procs
                        && run.last_used.elapsed() >= pool.config.idle_timeout
                    {
                        idle.push((id, run.pid, pool.config.idle_timeout));
                        running -= 1;
                        continue;
                    }
                    if let Some(max) = pool.config.max_rss {
                        measure.push((id, run.pid, max));
                    }
                    if let Some(h) = pool.config.health_check
                        && !pool.config.shared_socket
                        && run.last_used.elapsed() >= h.every
                        && run.checked.elapsed() >= h.every
                    {
                        check.push((id, run.pid, h));
                    }
                }
            }
        }
        for (id, pid, t) in idle {
            sup.kill_if_idle(id, pid, Reason::IdleTimeout, format!("idle for {t:?}"));
        }
        // /proc is read outside the lock.
        for (id, pid, max) in measure {
            if let Some(rss) = crate::procfs::rss(pid).filter(|&r| r > max) {
                let detail = crate::slot::over_max_rss(rss, max, "while idle");
                sup.kill_if_idle(id, pid, Reason::MaxRss, detail);
            }
        }
        for (id, pid, h) in check {
            let Some(lease) = sup.take_for_probe(id, pid, h.every) else {
                continue;
            };
            tokio::spawn(async move {
                if let Err(why) = crate::health::ask(lease.addr(), h.timeout).await {
                    lease.kill(Reason::HealthCheck, format!("health check: {why}"));
                }
            });
        }
    }
}
