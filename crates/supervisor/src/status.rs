//! What the status page and the metrics show of the supervisor: a snapshot of every pool and
//! slot, taken under the lock and handed out as plain data.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::pool::{ExitRecord, Reason};
use crate::slot::SlotState;
use crate::supervisor::Supervisor;

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
    /// The last exits and failed starts (at most [`crate::RECENT_EXITS`]), oldest first.
    pub recent_exits: Vec<Arc<ExitRecord>>,
}

/// A snapshot of one pool.
#[derive(Debug, Clone)]
pub struct PoolStatus {
    /// The backend's name.
    pub name: String,
    /// Its slots.
    pub slots: Vec<SlotStatus>,
}

impl Supervisor {
    /// How many pools a reload retired still have a process that has not been reaped (a pool
    /// is forgotten with its last process).
    pub fn retired_pools(&self) -> usize {
        self.lock().pools.values().filter(|p| p.retired).count()
    }

    /// A snapshot of every pool (but those a reload retired) for the status page.
    pub fn status(&self) -> Vec<PoolStatus> {
        let inner = self.lock();
        inner
            .pools
            .values()
            .filter(|pool| !pool.retired)
            .map(|pool| PoolStatus {
                name: pool.config.name.clone(),
                slots: pool
                    .slots
                    .iter()
                    .map(|s| SlotStatus {
                        index: s.index,
                        addr: s.addr.to_string(),
                        state: s.state(),
                        pid: s.proc.as_ref().map(|r| r.pid),
                        started_at: s.proc.as_ref().map(|r| r.started_at),
                        requests: s.requests,
                        current: s.proc.as_ref().and_then(|r| r.current.clone()),
                        restarts: s.restarts.clone(),
                        last_exit: s.last_exit().cloned(),
                        recent_exits: s.recent_exits.iter().cloned().collect(),
                    })
                    .collect(),
            })
            .collect()
    }
}
