//! The one owner of every process relight spawns. It spawns and it reaps, under one lock, so a
//! pid is always registered before its exit can be collected: on SIGCHLD it loops
//! `waitpid(-1, WNOHANG)` and hands each status to the slot that owns the pid. relight is a
//! child subreaper, so orphaned descendants come back here and are reaped too.
//!
//! Liveness is owned, never probed: a process is alive until its exit status arrives here.
//! Nothing in this module connects to a backend's socket to decide anything.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::sync::{Notify, watch};

use crate::backoff::Backoff;
use crate::pool::{
    DescendantPolicy, ExitRecord, Pool, PoolConfig, Reason, Running, Slot, SlotState,
    describe_status,
};
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

/// Why no process could be had for a request.
#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    /// Every slot is backing off after crashes: answer 503 at once.
    #[error(
        "no process of backend \"{backend}\" can serve: all are restarting (next in {retry_after:?})"
    )]
    Unavailable {
        /// The backend.
        backend: String,
        /// When the next slot is due to restart.
        retry_after: Duration,
    },
    /// Every process stayed busy for the whole wait.
    #[error("no free process of backend \"{backend}\" within {waited:?}")]
    Timeout {
        /// The backend.
        backend: String,
        /// How long the request waited.
        waited: Duration,
    },
    /// relight is shutting down, or the backend was removed by a reload.
    #[error("shutting down, or the backend was removed")]
    Stopping,
}

#[derive(Debug)]
struct Inner {
    pools: Vec<Pool>,
    owners: HashMap<i32, (usize, usize)>,
    /// Adopted descendants already reported (they left their backend's process group and were
    /// re-parented to us), so each is reported once, with the death that orphaned it.
    adoptees: std::collections::HashSet<i32>,
    stopping: bool,
}

impl Inner {
    /// The pool serving backend `name` (not one a reload retired).
    fn live_pool(&self, name: &str) -> Option<usize> {
        self.pools
            .iter()
            .position(|p| !p.retired && p.config.name == name)
    }
}

/// The process manager: every pool, every slot, every process, and the reaper.
#[derive(Debug)]
pub struct Supervisor {
    inner: Mutex<Inner>,
    changed: Notify,
}

/// One process reserved for one request. Dropping it frees the process.
#[derive(Debug)]
pub struct Lease {
    sup: Arc<Supervisor>,
    pool: usize,
    slot: usize,
    pid: i32,
    failed: bool,
    addr: SlotAddr,
    death: watch::Receiver<Option<Arc<ExitRecord>>>,
}

impl Lease {
    /// Where the process listens.
    pub fn addr(&self) -> &SlotAddr {
        &self.addr
    }

    /// The process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The slot.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Resolves with the exit record when the process dies.
    pub async fn died(&self) -> Arc<ExitRecord> {
        let mut rx = self.death.clone();
        loop {
            if let Some(rec) = rx.borrow_and_update().clone() {
                return rec;
            }
            if rx.changed().await.is_err() {
                // The sender is gone only when the slot's process record is dropped without a
                // death, which does not happen; wait for ever rather than invent one.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Marks the request as failed on the backend's side (it closed the connection, sent
    /// garbage, ...): it is not counted as served, and if the process turns out to be dying,
    /// its exit is explained with this request.
    pub fn failed(&mut self) {
        self.failed = true;
    }

    /// What the previous lease of this slot left with this same process ([`Lease::keep`]),
    /// taken out.
    pub fn take_kept<T: std::any::Any>(&self) -> Option<T> {
        let mut inner = self.sup.lock();
        let slot = inner.pools.get_mut(self.pool)?.slots.get_mut(self.slot)?;
        match slot.kept.take() {
            Some((pid, k)) if pid == self.pid => k.0.downcast::<T>().ok().map(|b| *b),
            _ => None,
        }
    }

    /// Leaves `value` for the next lease of this slot, as long as this process lives (the
    /// gateway's connection to it, kept open with FCGI_KEEP_CONN).
    pub fn keep<T: std::any::Any + Send>(&self, value: T) {
        let mut inner = self.sup.lock();
        let alive =
            |slot: &crate::pool::Slot| slot.proc.as_ref().is_some_and(|r| r.pid == self.pid);
        if let Some(slot) = inner
            .pools
            .get_mut(self.pool)
            .and_then(|p| p.slots.get_mut(self.slot))
            .filter(|s| alive(s))
        {
            slot.kept = Some((self.pid, crate::pool::Kept(Box::new(value))));
        }
    }

    /// Ends the process (and its group) for `reason`, explained by `detail` in the logs.
    pub fn kill(&self, reason: Reason, detail: String) {
        self.sup
            .kill(self.pool, self.slot, self.pid, reason, detail);
    }
}

/// One request counted among a pool's waiters while it lives.
struct Waiting(Arc<std::sync::atomic::AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> Waiting {
        count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Waiting(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.sup
            .release(self.pool, self.slot, self.pid, self.failed);
    }
}

/// A snapshot of one slot for the status page.
#[derive(Debug, Clone)]
pub struct SlotStatus {
    /// The slot number.
    pub index: usize,
    /// Where it listens.
    pub addr: String,
    /// Its state.
    pub state: SlotState,
    /// Its process.
    pub pid: Option<i32>,
    /// When that process started.
    pub started_at: Option<SystemTime>,
    /// Requests served by the slot (all its processes).
    pub requests: u64,
    /// The request in flight.
    pub current: Option<String>,
    /// Restarts by reason.
    pub restarts: BTreeMap<Reason, u64>,
    /// The last exit.
    pub last_exit: Option<Arc<ExitRecord>>,
}

/// A snapshot of one pool.
#[derive(Debug, Clone)]
pub struct PoolStatus {
    /// The backend's name.
    pub name: String,
    /// Its slots.
    pub slots: Vec<SlotStatus>,
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

/// What a shutdown had to do.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Processes that stopped on the kill signal.
    pub stopped: usize,
    /// Processes (pid, command line) that needed SIGKILL.
    pub killed: Vec<(i32, String)>,
}

fn fmt_procs(list: &[(i32, String)]) -> String {
    list.iter()
        .map(|(pid, cmd)| format!("pid {pid} ({cmd})"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Supervisor {
    /// Creates every slot's socket, starts `min_procs` processes per pool and the reaper.
    /// Must run inside a tokio runtime. A program that is missing or dies at once does not stop
    /// the start: its slots back off and retry for ever.
    pub fn start(configs: Vec<PoolConfig>) -> Result<Arc<Supervisor>, StartError> {
        // Orphaned descendants must come back to us to be reaped and reported.
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            tracing::warn!("cannot become a child subreaper ({e}): orphans of backends go to init");
        }
        let sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
            .map_err(StartError::Signal)?;
        let mut pools = Vec::new();
        for config in configs {
            pools.push(build_pool(config, &mut HashMap::new())?);
        }
        let sup = Arc::new(Supervisor {
            inner: Mutex::new(Inner {
                pools,
                owners: HashMap::new(),
                adoptees: Default::default(),
                stopping: false,
            }),
            changed: Notify::new(),
        });
        {
            let mut inner = sup.lock();
            for p in 0..inner.pools.len() {
                for s in 0..inner.pools[p].config.min_procs {
                    sup.spawn_in(&mut inner, p, s);
                }
            }
        }
        tokio::spawn(reaper(Arc::downgrade(&sup), sigchld));
        tokio::spawn(idle_sweeper(Arc::downgrade(&sup)));
        Ok(sup)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a process in slot `s` of pool `p`. On failure the slot backs off.
    fn spawn_in(self: &Arc<Self>, inner: &mut Inner, p: usize, s: usize) {
        let pool = &mut inner.pools[p];
        let config = &pool.config;
        let slot = &mut pool.slots[s];
        slot.generation += 1;
        slot.retry_at = None;
        let Some(fd) = slot.fd.as_ref() else { return };
        match spawn::spawn(&config.spec, fd) {
            Ok(started) => {
                let (death, _) = watch::channel(None);
                let now = Instant::now();
                slot.proc = Some(Running {
                    pid: started.pid,
                    started: now,
                    started_at: SystemTime::now(),
                    requests: 0,
                    current: None,
                    last_used: now,
                    kill_reason: None,
                    death,
                });
                slot.state = SlotState::Ready;
                inner.owners.insert(started.pid, (p, s));
                tracing::info!(
                    "backend \"{}\" slot {s}: started pid {} ({}) on {}",
                    config.name,
                    started.pid,
                    config.spec.program.display(),
                    slot.addr
                );
                if let Some(fd) = started.stderr {
                    stderr::forward(fd, config.name.clone(), s, started.pid);
                }
            }
            Err(e) => {
                let delay = slot.backoff.on_exit(Duration::ZERO, 0);
                tracing::error!(
                    "backend \"{}\" slot {s}: cannot start {}: {e}; retrying in {delay:?}",
                    config.name,
                    config.spec.program.display()
                );
                *slot.restarts.entry(Reason::SpawnFailed).or_default() += 1;
                slot.last_exit = Some(Arc::new(ExitRecord {
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
                }));
                slot.state = SlotState::Backoff;
                slot.retry_at = Some(Instant::now() + delay);
                let generation = slot.generation;
                self.schedule_respawn(p, s, generation, delay);
            }
        }
        self.changed.notify_waiters();
    }

    fn schedule_respawn(self: &Arc<Self>, p: usize, s: usize, generation: u64, delay: Duration) {
        let sup = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(sup) = sup.upgrade() else { return };
            let mut inner = sup.lock();
            let slot = &inner.pools[p].slots[s];
            if !inner.stopping
                && !inner.pools[p].retired
                && slot.generation == generation
                && slot.state == SlotState::Backoff
            {
                sup.spawn_in(&mut inner, p, s);
            }
        });
    }

    /// Collects every exited child. Called on SIGCHLD.
    fn reap(self: &Arc<Self>) {
        let mut inner = self.lock();
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(status @ (WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _))) => {
                    match inner.owners.remove(&pid.as_raw()) {
                        Some((p, s)) => self.on_exit(&mut inner, p, s, pid.as_raw(), &status),
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
    }

    /// A backend process died: explain it, contain its descendants, answer its request, and
    /// decide when the slot restarts.
    fn on_exit(
        self: &Arc<Self>,
        inner: &mut Inner,
        p: usize,
        s: usize,
        pid: i32,
        status: &WaitStatus,
    ) {
        let stopping = inner.stopping || inner.pools[p].retired;
        // One look at every process: the dead process's group, and descendants that left the
        // group and were just re-parented to us (a double-forked daemon).
        let me = std::process::id() as i32;
        let procs = procfs::all();
        let members: Vec<(i32, String)> = procs
            .iter()
            .filter(|m| m.pgid == pid)
            .map(|m| (m.pid, m.cmdline.clone()))
            .collect();
        let escaped: Vec<(i32, String)> = procs
            .iter()
            .filter(|m| {
                m.ppid == me
                    && m.pgid != pid
                    && !inner.owners.contains_key(&m.pid)
                    && !inner.adoptees.contains(&m.pid)
            })
            .map(|m| (m.pid, format!("{}, outside its process group", m.cmdline)))
            .collect();
        inner.adoptees.extend(escaped.iter().map(|(p, _)| *p));
        let pool = &mut inner.pools[p];
        let config = &pool.config;
        let slot = &mut pool.slots[s];
        let Some(run) = slot.proc.take() else { return };
        slot.kept = None;
        let uptime = run.started.elapsed();
        let (status_reason, status_detail) = describe_status(status);
        let (reason, detail) = match run.kill_reason {
            Some((r, d)) => (r, format!("{d} ({status_detail})")),
            None => (status_reason, status_detail),
        };
        // The group outlives its leader while members live: the seed's `sh -c sleep`.
        let (killed, mut left) = match config.descendants {
            DescendantPolicy::Kill if !members.is_empty() => {
                signal_group(pid, config.kill_signal, config.kill_grace);
                (members, Vec::new())
            }
            _ => (Vec::new(), members),
        };
        // Without a cgroup these cannot be told apart from another backend's: reported only.
        left.extend(escaped);
        let record = Arc::new(ExitRecord {
            backend: config.name.clone(),
            slot: s,
            pid,
            reason,
            detail,
            uptime,
            request: run.current.clone(),
            killed,
            left,
            // Checked before the restart, which would accept it.
            request_queued: slot
                .fd
                .as_ref()
                .is_some_and(crate::socket::has_pending_connection),
            at: SystemTime::now(),
        });
        let _ = run.death.send(Some(record.clone()));
        *slot.restarts.entry(reason).or_default() += 1;
        slot.last_exit = Some(record.clone());
        slot.generation += 1;

        let restart = !stopping && reason != Reason::IdleTimeout;
        let delay = if !restart || reason.is_planned() || reason == Reason::RequestTimeout {
            Duration::ZERO
        } else {
            slot.backoff.on_exit(uptime, run.requests)
        };
        let mut line = format!(
            "backend \"{}\" slot {s} pid {pid} ended: {}, after {:.3}s",
            config.name,
            record.detail,
            uptime.as_secs_f64()
        );
        if let Some(r) = &record.request {
            line.push_str(&format!(", while serving \"{r}\""));
        }
        if !record.killed.is_empty() {
            line.push_str(&format!(
                "; its process group got {}: {}",
                config.kill_signal.as_str(),
                fmt_procs(&record.killed)
            ));
        }
        if !record.left.is_empty() {
            line.push_str(&format!("; left running: {}", fmt_procs(&record.left)));
        }
        if !restart {
            line.push_str("; not restarting");
        } else if delay.is_zero() {
            line.push_str("; restarting now");
        } else {
            line.push_str(&format!("; restarting in {delay:?} (crash loop backoff)"));
        }
        if reason.is_planned() || reason == Reason::Exited && !restart {
            tracing::info!("{line}");
        } else {
            tracing::warn!("{line}");
        }

        if !restart {
            slot.state = SlotState::Idle;
        } else if delay.is_zero() {
            self.spawn_in(inner, p, s);
        } else {
            slot.state = SlotState::Backoff;
            slot.retry_at = Some(Instant::now() + delay);
            let generation = slot.generation;
            self.schedule_respawn(p, s, generation, delay);
        }
        self.changed.notify_waiters();
    }

    /// Ends process `pid` of a slot (its whole group): the kill signal, then SIGKILL after the
    /// grace period. Its exit will be explained by `reason` and `detail`.
    pub fn kill(self: &Arc<Self>, p: usize, s: usize, pid: i32, reason: Reason, detail: String) {
        let mut inner = self.lock();
        let pool = &mut inner.pools[p];
        let (sig, grace) = (pool.config.kill_signal, pool.config.kill_grace);
        let slot = &mut pool.slots[s];
        let Some(run) = slot.proc.as_mut().filter(|r| r.pid == pid) else {
            return;
        };
        if run.kill_reason.is_some() {
            return;
        }
        tracing::info!(
            "backend \"{}\" slot {s} pid {pid}: {detail}: sending {} to its process group, SIGKILL after {grace:?}",
            pool.config.name,
            sig.as_str()
        );
        slot.stop(reason, detail);
        signal_group(pid, sig, grace);
        self.changed.notify_waiters();
    }

    /// Reserves a free process of the pool named `backend` for a request described by `what`
    /// (method + URI), waiting at most `wait` for one. Fails at once when every slot is backing
    /// off. The pool is looked up by name each time, so a request that started before a reload
    /// is served by the pool that replaced its backend's.
    pub async fn acquire(
        self: &Arc<Self>,
        backend: &str,
        wait: Duration,
        what: &str,
    ) -> Result<Lease, AcquireError> {
        self.acquire_avoiding(backend, wait, what, &[]).await
    }

    /// [`Supervisor::acquire`], preferring slots not in `avoid` (slots a request already
    /// failed to connect to); an avoided slot is used only when no other is ready.
    pub async fn acquire_avoiding(
        self: &Arc<Self>,
        backend: &str,
        wait: Duration,
        what: &str,
        avoid: &[usize],
    ) -> Result<Lease, AcquireError> {
        let deadline = tokio::time::Instant::now() + wait;
        // Counted among the pool's waiters from the first wait on (and uncounted when this
        // returns or is dropped).
        let mut waiting: Option<Waiting> = None;
        loop {
            // Any change of the pools (a process ready, a reload, a stop) wakes every waiter;
            // a freed process wakes the one that has waited longest.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let freed_notify = {
                let mut inner = self.lock();
                if inner.stopping {
                    return Err(AcquireError::Stopping);
                }
                let Some(p) = inner.live_pool(backend) else {
                    return Err(AcquireError::Stopping);
                };
                if let Some(lease) = self.try_take(&mut inner, p, what, avoid, waiting.is_some()) {
                    // No longer a waiter, before the lock is let go.
                    drop(waiting);
                    return Ok(lease);
                }
                let freed = inner.pools[p].freed.clone();
                if !avoid.is_empty()
                    && inner.pools[p]
                        .slots
                        .iter()
                        .any(|s| s.state == SlotState::Ready)
                {
                    // A free process this request avoids: the next waiter may take it.
                    freed.notify_one();
                }
                // Grow a dynamic pool: start a process in an empty slot.
                let pool = &inner.pools[p];
                let running = pool.slots.iter().filter(|s| s.proc.is_some()).count();
                if running < pool.config.max_procs
                    && let Some(s) = pool.slots.iter().position(|s| s.state == SlotState::Idle)
                {
                    self.spawn_in(&mut inner, p, s);
                    if let Some(lease) =
                        self.try_take(&mut inner, p, what, avoid, waiting.is_some())
                    {
                        drop(waiting);
                        return Ok(lease);
                    }
                }
                let pool = &inner.pools[p];
                let serving = pool.slots.iter().any(|s| {
                    matches!(
                        s.state,
                        SlotState::Ready | SlotState::Busy | SlotState::Stopping
                    )
                });
                if !serving {
                    let now = Instant::now();
                    let retry_after = pool
                        .slots
                        .iter()
                        .filter_map(|s| s.retry_at)
                        .min()
                        .map_or(Duration::from_secs(1), |t| t.saturating_duration_since(now));
                    return Err(AcquireError::Unavailable {
                        backend: pool.config.name.clone(),
                        retry_after,
                    });
                }
                if waiting.is_none() {
                    waiting = Some(Waiting::new(&pool.waiting));
                }
                freed
            };
            let freed = freed_notify.notified();
            let woken = async {
                tokio::select! {
                    _ = changed => {}
                    _ = freed => {}
                }
            };
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return Err(AcquireError::Timeout {
                    backend: backend.to_owned(),
                    waited: wait,
                });
            }
        }
    }

    /// Takes a free slot of pool `p`: the lowest not in `avoid`, else the lowest. A slot
    /// freed for the waiting requests is left to them unless `waited` (the caller is one) or
    /// none is left.
    fn try_take(
        self: &Arc<Self>,
        inner: &mut Inner,
        p: usize,
        what: &str,
        avoid: &[usize],
        waited: bool,
    ) -> Option<Lease> {
        let pool = &mut inner.pools[p];
        let may_take_reserved =
            waited || pool.waiting.load(std::sync::atomic::Ordering::Acquire) == 0;
        // The lowest free slot, so the high slots of a dynamic pool go idle and can be stopped.
        let slots = &mut pool.slots;
        let free = |s: &Slot| s.state == SlotState::Ready && (may_take_reserved || !s.reserved);
        let pick = slots
            .iter()
            .position(|s| free(s) && !avoid.contains(&s.index))
            .or_else(|| slots.iter().position(free))?;
        let slot = &mut slots[pick];
        slot.reserved = false;
        let run = slot.proc.as_mut()?;
        slot.state = SlotState::Busy;
        run.current = Some(what.to_owned());
        run.last_used = Instant::now();
        Some(Lease {
            sup: self.clone(),
            pool: p,
            slot: slot.index,
            pid: run.pid,
            failed: false,
            addr: slot.addr.clone(),
            death: run.death.subscribe(),
        })
    }

    fn release(self: &Arc<Self>, p: usize, s: usize, pid: i32, failed: bool) {
        let mut recycle = None;
        let mut wake = None;
        {
            let mut inner = self.lock();
            let pool = &mut inner.pools[p];
            let max = pool.config.max_requests;
            let waiters = pool.waiting.load(std::sync::atomic::Ordering::Acquire) > 0;
            let slot = &mut pool.slots[s];
            if let Some(run) = slot.proc.as_mut().filter(|r| r.pid == pid) {
                run.last_used = Instant::now();
                if !failed {
                    run.requests += 1;
                    run.current = None;
                    slot.requests += 1;
                }
                if slot.state == SlotState::Busy {
                    slot.state = SlotState::Ready;
                }
                if max.is_some_and(|m| run.requests >= m) && run.kill_reason.is_none() {
                    recycle = Some(run.requests);
                } else if waiters && slot.state == SlotState::Ready {
                    // The request that has waited longest gets it (FIFO), instead of every
                    // waiter waking up to race for it, and no request that arrives meanwhile
                    // can take it first.
                    slot.reserved = true;
                    wake = Some(pool.freed.clone());
                }
            }
        }
        if let Some(n) = recycle {
            self.kill(
                p,
                s,
                pid,
                Reason::MaxRequests,
                format!("recycled after {n} requests (max_requests)"),
            );
            return;
        }
        if let Some(freed) = wake {
            freed.notify_one();
        }
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
        let live: Vec<usize> = (0..inner.pools.len())
            .filter(|&i| !inner.pools[i].retired)
            .collect();
        for &i in &live {
            if !configs.iter().any(|c| c.name == inner.pools[i].config.name) {
                report.removed.push(inner.pools[i].config.name.clone());
                close_sockets(self.retire(&mut inner, i, "reload: backend removed"));
            }
        }
        for config in configs {
            let old = inner.live_pool(&config.name);
            let mut reuse = HashMap::new();
            match old {
                Some(i) if inner.pools[i].config == config => {
                    report.unchanged.push(config.name);
                    continue;
                }
                Some(i) => {
                    report.changed.push(config.name.clone());
                    reuse = self.retire(&mut inner, i, "reload: backend changed");
                }
                None => report.added.push(config.name.clone()),
            }
            let pool = build_pool(config, &mut reuse);
            // Sockets of the old pool that the new one does not use are closed.
            close_sockets(reuse);
            let pool = pool?;
            let p = inner.pools.len();
            let min = pool.config.min_procs;
            inner.pools.push(pool);
            for s in 0..min {
                self.spawn_in(&mut inner, p, s);
            }
        }
        drop(inner);
        self.changed.notify_waiters();
        Ok(report)
    }

    /// Stops a pool for good: its processes get the kill signal (SIGKILL after the grace
    /// period) and are not restarted. Returns its listening sockets by address, for a successor.
    fn retire(&self, inner: &mut Inner, p: usize, why: &str) -> HashMap<SlotAddr, OwnedFd> {
        let pool = &mut inner.pools[p];
        pool.retired = true;
        let (sig, grace) = (pool.config.kill_signal, pool.config.kill_grace);
        let mut fds = HashMap::new();
        for slot in &mut pool.slots {
            if let Some(run) = slot.proc.as_ref() {
                if run.kill_reason.is_none()
                    && let Some(pid) = slot.stop(Reason::Shutdown, why.to_owned())
                {
                    signal_group(pid, sig, grace);
                }
                slot.state = SlotState::Stopping;
            } else {
                slot.state = SlotState::Idle;
            }
            if let Some(fd) = slot.fd.take() {
                fds.entry(slot.addr.clone()).or_insert(fd);
            }
        }
        tracing::info!(
            "backend \"{}\": {why}: stopping its processes",
            pool.config.name
        );
        fds
    }

    /// A snapshot of every pool for the status page.
    pub fn status(&self) -> Vec<PoolStatus> {
        let inner = self.lock();
        inner
            .pools
            .iter()
            .filter(|pool| !pool.retired)
            .map(|pool| PoolStatus {
                name: pool.config.name.clone(),
                slots: pool
                    .slots
                    .iter()
                    .map(|s| SlotStatus {
                        index: s.index,
                        addr: s.addr.to_string(),
                        state: s.state,
                        pid: s.proc.as_ref().map(|r| r.pid),
                        started_at: s.proc.as_ref().map(|r| r.started_at),
                        requests: s.requests,
                        current: s.proc.as_ref().and_then(|r| r.current.clone()),
                        restarts: s.restarts.clone(),
                        last_exit: s.last_exit.clone(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Stops every process and its group: the kill signal, `grace` to exit, then SIGKILL;
    /// then removes the unix socket files. Nothing spawned is left running.
    pub async fn shutdown(self: &Arc<Self>, grace: Duration) -> ShutdownReport {
        let mut groups = Vec::new();
        {
            let mut inner = self.lock();
            inner.stopping = true;
            for pool in &mut inner.pools {
                for slot in &mut pool.slots {
                    if let Some(pid) = slot.stop(Reason::Shutdown, "shutdown".into()) {
                        groups.push(pid);
                        let _ = killpg(Pid::from_raw(pid), pool.config.kill_signal);
                    }
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
            .iter()
            .all(|p| p.config.descendants == DescendantPolicy::Keep);
        let me = std::process::id() as i32;
        let escaped = || -> Vec<(i32, String)> {
            procfs::all()
                .into_iter()
                .filter(|p| p.ppid == me)
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
        report.stopped -= report
            .killed
            .iter()
            .filter(|(pid, _)| groups.contains(pid))
            .count();
        let inner = self.lock();
        for pool in &inner.pools {
            for slot in &pool.slots {
                if let SlotAddr::Unix(path) = &slot.addr {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        report
    }
}

/// Creates a pool's slots and their sockets, taking a socket from `reuse` where one is already
/// bound at the same address (a backend changed by a reload keeps its listening sockets, so
/// connections queued on them are not lost).
fn build_pool(
    config: PoolConfig,
    reuse: &mut HashMap<SlotAddr, OwnedFd>,
) -> Result<Pool, StartError> {
    let socket_err = |source| StartError::Socket {
        backend: config.name.clone(),
        source,
    };
    let mut open = |addr: &SlotAddr| -> Result<OwnedFd, StartError> {
        match reuse.remove(addr) {
            Some(fd) => Ok(fd),
            None => listen(addr, config.backlog, config.socket_mode).map_err(socket_err),
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
        slots.push(Slot {
            index,
            addr,
            fd: Some(fd),
            state: SlotState::Idle,
            proc: None,
            backoff: Backoff::default(),
            retry_at: None,
            generation: 0,
            restarts: BTreeMap::new(),
            last_exit: None,
            requests: 0,
            kept: None,
            reserved: false,
        });
    }
    Ok(Pool {
        config,
        slots,
        retired: false,
        waiting: Arc::default(),
        freed: Arc::default(),
    })
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

/// Sends `sig` to a process group, and SIGKILL after `grace` if any member is still there.
fn signal_group(pgid: i32, sig: Signal, grace: Duration) {
    let _ = killpg(Pid::from_raw(pgid), sig);
    if sig == Signal::SIGKILL {
        return;
    }
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
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

/// Stops processes of dynamic pools that sat idle past the idle timeout, down to min_procs.
async fn idle_sweeper(sup: std::sync::Weak<Supervisor>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(sup) = sup.upgrade() else { return };
        let mut victims = Vec::new();
        {
            let inner = sup.lock();
            if inner.stopping {
                return;
            }
            for (p, pool) in inner.pools.iter().enumerate() {
                let mut running = pool.slots.iter().filter(|s| s.proc.is_some()).count();
                for slot in pool.slots.iter().rev() {
                    if running <= pool.config.min_procs {
                        break;
                    }
                    if let Some(run) = &slot.proc
                        && slot.state == SlotState::Ready
                        && run.last_used.elapsed() >= pool.config.idle_timeout
                    {
                        victims.push((p, slot.index, run.pid, pool.config.idle_timeout));
                        running -= 1;
                    }
                }
            }
        }
        for (p, s, pid, t) in victims {
            sup.kill(p, s, pid, Reason::IdleTimeout, format!("idle for {t:?}"));
        }
    }
}
