//! The requests' side of the supervisor: a request waits (at most its queue timeout) for a free
//! process of its backend's pool and holds it as a [`Lease`] until it is done. A freed process
//! goes to the request that has waited longest; a pool whose every slot is backing off answers
//! at once ([`AcquireError::Unavailable`]) instead of letting requests wait on a socket nobody
//! serves. A dynamic pool grows here, when no process is free.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::pool::{ExitRecord, Reason};
use crate::slot::{Kept, PoolId, Released, SlotId, SlotState};
use crate::socket::SlotAddr;
use crate::supervisor::{Inner, Supervisor};

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

/// One process reserved for one request. Dropping it frees the process.
#[derive(Debug)]
pub struct Lease {
    sup: Arc<Supervisor>,
    slot: SlotId,
    pid: i32,
    failed: bool,
    addr: SlotAddr,
    death: watch::Receiver<Option<Arc<ExitRecord>>>,
    /// The pool's max_rss, checked when the lease ends.
    max_rss: Option<u64>,
    /// Held by the health check, not a request.
    probe: bool,
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
        self.slot.index
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
        let slot = inner.slot_mut(self.slot)?;
        match slot.kept.take() {
            Some((pid, k)) if pid == self.pid => k.0.downcast::<T>().ok().map(|b| *b),
            _ => None,
        }
    }

    /// Leaves `value` for the next lease of this slot, as long as this process lives (the
    /// gateway's connection to it, kept open with FCGI_KEEP_CONN).
    pub fn keep<T: std::any::Any + Send>(&self, value: T) {
        let mut inner = self.sup.lock();
        if let Some(slot) = inner
            .slot_mut(self.slot)
            .filter(|s| s.proc.as_ref().is_some_and(|r| r.pid == self.pid))
        {
            slot.kept = Some((self.pid, Kept(Box::new(value))));
        }
    }

    /// Ends the process (and its group) for `reason`, explained by `detail` in the logs.
    pub fn kill(&self, reason: Reason, detail: String) {
        self.sup.kill(self.slot, self.pid, reason, detail);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Between requests: a process grown over max_rss is recycled now that it is done (read
        // from /proc here, outside the supervisor's lock).
        let rss_over = self
            .max_rss
            .filter(|_| !self.failed && !self.probe)
            .and_then(|max| Some((crate::procfs::rss(self.pid)?, max)))
            .filter(|(rss, max)| rss > max);
        self.sup
            .release(self.slot, self.pid, self.failed, rss_over, self.probe);
    }
}

/// One request counted among a pool's waiters while it lives.
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<AtomicUsize>) -> Waiting {
        count.fetch_add(1, Ordering::AcqRel);
        Waiting(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Supervisor {
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
        // A free process at once (the common case): no wait to set up. Everything else
        // (stopping, a missing pool, growing, waiting) is the loop's, which looks again.
        {
            let mut inner = self.lock();
            if !inner.stopping
                && let Some(p) = inner.live_pool(backend)
                && let Some(lease) = self.try_take(&mut inner, p, what, avoid, false)
            {
                return Ok(lease);
            }
        }
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
                let freed = inner.pool(p).freed.clone();
                if !avoid.is_empty()
                    && inner
                        .pool(p)
                        .slots
                        .iter()
                        .any(|s| s.state() == SlotState::Ready)
                {
                    // A free process this request avoids: the next waiter may take it.
                    freed.notify_one();
                }
                // Grow a dynamic pool: start a process in an empty slot.
                let pool = inner.pool(p);
                let running = pool.slots.iter().filter(|s| s.proc.is_some()).count();
                if running < pool.config.max_procs
                    && let Some(s) = pool.slots.iter().position(|s| s.state() == SlotState::Idle)
                {
                    self.spawn_in(&mut inner, SlotId { pool: p, index: s });
                    if let Some(lease) =
                        self.try_take(&mut inner, p, what, avoid, waiting.is_some())
                    {
                        drop(waiting);
                        return Ok(lease);
                    }
                }
                let pool = inner.pool(p);
                let serving = pool.slots.iter().any(|s| {
                    matches!(
                        s.state(),
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
        p: PoolId,
        what: &str,
        avoid: &[usize],
        waited: bool,
    ) -> Option<Lease> {
        let pool = inner.pool_mut(p);
        let may_take_reserved = waited || pool.waiting.load(Ordering::Acquire) == 0;
        let max_rss = pool.config.max_rss;
        // The lowest free slot, so the high slots of a dynamic pool go idle and can be stopped.
        let slots = &mut pool.slots;
        let free = |s: &crate::slot::Slot| s.is_free(may_take_reserved);
        let pick = slots
            .iter()
            .position(|s| free(s) && !avoid.contains(&s.index))
            .or_else(|| slots.iter().position(free))?;
        let slot = &mut slots[pick];
        let addr = slot.addr.clone();
        let index = slot.index;
        let run = slot.lease(what)?;
        Some(Lease {
            sup: self.clone(),
            slot: SlotId { pool: p, index },
            pid: run.pid,
            failed: false,
            addr,
            death: run.death.subscribe(),
            max_rss,
            probe: false,
        })
    }

    /// The health check takes process `pid` of slot `id` if it is still there, free (and not
    /// kept for a waiting request), and was not checked within `every`.
    pub(crate) fn take_for_probe(
        self: &Arc<Self>,
        id: SlotId,
        pid: i32,
        every: Duration,
    ) -> Option<Lease> {
        let mut inner = self.lock();
        let slot = inner.slot_mut(id)?;
        let due = slot.proc.as_ref().is_some_and(|r| {
            r.pid == pid && r.inherited_from.is_none() && r.checked.elapsed() >= every
        });
        if !due || !slot.is_free(false) {
            return None;
        }
        let addr = slot.addr.clone();
        let run = slot.lease_probe()?;
        Some(Lease {
            sup: self.clone(),
            slot: id,
            pid: run.pid,
            failed: false,
            addr,
            death: run.death.subscribe(),
            max_rss: None,
            probe: true,
        })
    }

    /// A lease ended: the process is free again (for the request that waited longest), or
    /// recycled after its max_requests.
    fn release(
        self: &Arc<Self>,
        id: SlotId,
        pid: i32,
        failed: bool,
        rss_over: Option<(u64, u64)>,
        probe: bool,
    ) {
        let wake = {
            let mut inner = self.lock();
            // The pool a reload retired is forgotten once its processes are gone.
            let Some(pool) = inner.pools.get_mut(&id.pool) else {
                return;
            };
            let max = pool.config.max_requests;
            let waiters = pool.waiting.load(Ordering::Acquire) > 0;
            let freed = pool.freed.clone();
            let slot = &mut pool.slots[id.index];
            let released = if probe {
                slot.release_probe(pid)
            } else {
                slot.release(pid, failed, max, rss_over)
            };
            match released {
                Released::Stale => None,
                Released::Recycle(reason, detail) => {
                    drop(inner);
                    self.kill(id, pid, reason, detail);
                    return;
                }
                Released::Free if waiters && slot.state() == SlotState::Ready => {
                    // The request that has waited longest gets it (FIFO), instead of every
                    // waiter waking up to race for it, and no request that arrives meanwhile
                    // can take it first.
                    slot.reserved = true;
                    Some(freed)
                }
                Released::Free => None,
            }
        };
        if let Some(freed) = wake {
            freed.notify_one();
        }
    }
}
