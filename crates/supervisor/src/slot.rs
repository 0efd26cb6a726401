//! One process slot: a listening socket that lives as long as the slot, at most one process,
//! and the state the slot is in. The states and what moves a slot between them are here and
//! nowhere else: [`SlotState::next`] is the whole state machine (as rustls writes its
//! handshake states), and the slot's event methods ([`Slot::started`], [`Slot::lease`],
//! [`Slot::died`], ...) are the only code that changes a slot's state, each through it.
//!
//! The transitions (`the_whole_state_machine` below checks this table is all there is):
//!
//! | from                   | event         | to       |
//! |------------------------|---------------|----------|
//! | Idle, Backoff          | `Started`     | Ready    |
//! | Idle, Backoff          | `SpawnFailed` | Backoff  |
//! | Ready                  | `Leased`      | Busy     |
//! | Busy                   | `Released`    | Ready    |
//! | Stopping               | `Released`    | Stopping |
//! | Ready, Busy, Stopping  | `Stopped`     | Stopping |
//! | Ready, Busy, Stopping  | `Died`        | Idle     |
//! | Stopping               | `SetAside`    | Idle     |
//! | Idle                   | `BackingOff`  | Backoff  |
//! | Idle, Backoff          | `Retired`     | Idle     |
//!
//! Liveness is owned: only the reaper's [`Event::Died`] takes a process out of a slot.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::pool::{ExitRecord, Reason};
use crate::socket::SlotAddr;

/// A pool, by the order pools were made in (never reused: a retired pool is forgotten once
/// its processes are gone, and an id that named it then names nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PoolId(pub usize);

/// A slot of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SlotId {
    /// Its pool.
    pub pool: PoolId,
    /// Its number in the pool (slot N listens on `socket-N` or `port+N`).
    pub index: usize,
}

/// The state of a slot, as the status page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// No process and none wanted (above min_procs, or stopped).
    Idle,
    /// A process is running and free.
    Ready,
    /// A process is running a request.
    Busy,
    /// The process died early; the slot restarts it after a delay.
    Backoff,
    /// The process was told to stop and has not been reaped yet.
    Stopping,
}

impl SlotState {
    /// The name used in status output.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Idle => "idle",
            SlotState::Ready => "ready",
            SlotState::Busy => "busy",
            SlotState::Backoff => "backoff",
            SlotState::Stopping => "stopping",
        }
    }

    /// The state after `event`; `None` when the event cannot happen in this state (a bug:
    /// [`Slot::apply`] logs it and leaves the state as it was).
    pub(crate) fn next(self, event: Event) -> Option<SlotState> {
        use Event::*;
        use SlotState::*;
        Some(match (self, event) {
            (Idle | Backoff, Started) => Ready,
            (Idle | Backoff, SpawnFailed) => Backoff,
            (Ready, Leased) => Busy,
            (Busy, Released) => Ready,
            // The request of a process told to stop ends; the process still has to exit.
            (Stopping, Released) => Stopping,
            (Ready | Busy | Stopping, Stopped) => Stopping,
            (Ready | Busy | Stopping, Died) => Idle,
            (Stopping, SetAside) => Idle,
            (Idle, BackingOff) => Backoff,
            (Idle | Backoff, Retired) => Idle,
            _ => return None,
        })
    }
}

/// What happens to a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// A process was started in it.
    Started,
    /// A process could not be started in it; it tries again after a delay.
    SpawnFailed,
    /// A request took its process.
    Leased,
    /// The request is done with its process.
    Released,
    /// relight told its process to stop (recycle, timeout, idle, reload, shutdown).
    Stopped,
    /// The reaper collected its process.
    Died,
    /// Its stopping process was set aside (still reaped, no longer the slot's) so that a new
    /// one can start at once.
    SetAside,
    /// It waits before starting a process again (crash-loop backoff).
    BackingOff,
    /// Its pool was retired while it had no process.
    Retired,
}

/// The process running in a slot.
#[derive(Debug)]
pub(crate) struct Running {
    pub pid: i32,
    pub started: Instant,
    pub started_at: SystemTime,
    pub requests: u64,
    pub current: Option<String>,
    pub last_used: Instant,
    /// When the health check last asked it (or when it started).
    pub checked: Instant,
    /// Its own cgroup (and its descendants'), when relight has cgroups.
    pub cgroup: Option<std::path::PathBuf>,
    /// The predecessor whose queued request it serves first (that request's lease names the
    /// predecessor); `None` once that lease ended.
    pub inherited_from: Option<i32>,
    /// Set when relight decided to end it, so the exit is explained by that, not the signal.
    pub kill_reason: Option<(Reason, String)>,
    /// Fires with the exit record when the reaper reports the death.
    pub death: watch::Sender<Option<Arc<ExitRecord>>>,
}

impl Running {
    /// A process `pid` that started now.
    pub(crate) fn new(pid: i32) -> Running {
        let (death, _) = watch::channel(None);
        let now = Instant::now();
        Running {
            pid,
            started: now,
            started_at: SystemTime::now(),
            requests: 0,
            current: None,
            last_used: now,
            checked: now,
            cgroup: None,
            inherited_from: None,
            kill_reason: None,
            death,
        }
    }
}

/// Something a lease leaves with a slot's process for the next lease of that slot (the
/// gateway's open connection to it); dropped when that process ends.
pub(crate) struct Kept(pub Box<dyn std::any::Any + Send>);

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kept(..)")
    }
}

/// How many exits a slot keeps for the status page's timeline.
pub const RECENT_EXITS: usize = 20;

/// One process slot: a socket that lives as long as the slot, and at most one process.
#[derive(Debug)]
pub(crate) struct Slot {
    pub index: usize,
    pub addr: SlotAddr,
    /// The listening socket; `None` once the pool is retired and the socket handed on or closed.
    pub fd: Option<OwnedFd>,
    /// Changed only by [`Slot::apply`].
    state: SlotState,
    pub proc: Option<Running>,
    pub backoff: Backoff,
    pub retry_at: Option<Instant>,
    /// Bumped at every spawn and death, so a stale timer cannot act on a newer process.
    pub generation: u64,
    pub restarts: BTreeMap<Reason, u64>,
    /// The last [`RECENT_EXITS`] exits and failed starts, oldest first (the status page's
    /// timeline; the last of them is the slot's last exit).
    pub recent_exits: std::collections::VecDeque<Arc<ExitRecord>>,
    pub requests: u64,
    /// What the last lease left for the next one, with the pid of the process it belongs to.
    pub kept: Option<(i32, Kept)>,
    /// Freed while requests were waiting: only a waiting request may take it (unless none is
    /// left), so a request that just arrived cannot overtake them.
    pub reserved: bool,
    /// Processes told to stop and set aside ([`Slot::set_aside`]) until they are reaped.
    pub aside: Vec<Running>,
    /// A process that died with a request queued on the socket: the next process started
    /// serves that request first.
    pub inherit: Option<i32>,
}

/// How a recycle for memory is explained: resident memory `rss` over `max` (bytes), `when`.
pub(crate) fn over_max_rss(rss: u64, max: u64, when: &str) -> String {
    format!(
        "recycled {when}: resident memory {} KiB over max_rss ({} KiB)",
        rss >> 10,
        max >> 10
    )
}

/// What releasing a process found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Released {
    /// The lease's process is gone, or not this slot's any more: nothing changed.
    Stale,
    /// The process is to be recycled, for this reason (max_requests, max_rss), so explained.
    Recycle(Reason, String),
    /// The process is free again (`Ready`), or still stopping.
    Free,
}

impl Slot {
    /// An idle slot listening on `fd` at `addr`.
    pub(crate) fn new(index: usize, addr: SlotAddr, fd: OwnedFd, backoff: Backoff) -> Slot {
        Slot {
            index,
            addr,
            fd: Some(fd),
            state: SlotState::Idle,
            proc: None,
            backoff,
            retry_at: None,
            generation: 0,
            restarts: BTreeMap::new(),
            recent_exits: std::collections::VecDeque::new(),
            requests: 0,
            kept: None,
            reserved: false,
            aside: Vec::new(),
            inherit: None,
        }
    }

    /// The slot's state.
    pub(crate) fn state(&self) -> SlotState {
        self.state
    }

    /// Moves the slot on `event`. An event that cannot happen in the state the slot is in is
    /// a bug: logged, and the state stays (a debug build stops on it, so tests find it).
    fn apply(&mut self, event: Event) {
        match self.state.next(event) {
            Some(s) => self.state = s,
            None => {
                tracing::error!(
                    "slot {}: {event:?} in state {:?} cannot happen; state kept",
                    self.index,
                    self.state
                );
                debug_assert!(false, "slot {}: {event:?} in {:?}", self.index, self.state);
            }
        }
    }

    /// A spawn is about to be tried: a timer set for an earlier one no longer applies.
    pub(crate) fn spawning(&mut self) {
        self.generation += 1;
        self.retry_at = None;
    }

    /// `run` started in the slot: it serves from now on.
    pub(crate) fn started(&mut self, run: Running) {
        self.apply(Event::Started);
        self.proc = Some(run);
    }

    /// No process could be started (explained by `record`); the next try is at `retry_at`.
    pub(crate) fn spawn_failed(&mut self, record: Arc<ExitRecord>, retry_at: Instant) {
        self.apply(Event::SpawnFailed);
        *self.restarts.entry(Reason::SpawnFailed).or_default() += 1;
        self.remember_exit(record);
        self.retry_at = Some(retry_at);
    }

    /// Keeps `record` among the recent exits (the oldest goes beyond [`RECENT_EXITS`]).
    pub(crate) fn remember_exit(&mut self, record: Arc<ExitRecord>) {
        if self.recent_exits.len() == RECENT_EXITS {
            self.recent_exits.pop_front();
        }
        self.recent_exits.push_back(record);
    }

    /// The slot's last exit or failed start.
    pub(crate) fn last_exit(&self) -> Option<&Arc<ExitRecord>> {
        self.recent_exits.back()
    }

    /// Whether a request may take the process: it is free, and not kept for the requests
    /// already waiting unless `may_take_reserved`.
    pub(crate) fn is_free(&self, may_take_reserved: bool) -> bool {
        self.state == SlotState::Ready && (may_take_reserved || !self.reserved)
    }

    /// A request described by `what` takes the process; `None` if there is none to take.
    pub(crate) fn lease(&mut self, what: &str) -> Option<&Running> {
        self.proc.as_ref()?;
        self.apply(Event::Leased);
        self.reserved = false;
        let run = self.proc.as_mut()?;
        run.current = Some(what.to_owned());
        run.last_used = Instant::now();
        Some(run)
    }

    /// The health check takes the free process (as a request would, but it is not a use: the
    /// idle time goes on), and what a lease kept open to it is closed, so that it accepts.
    pub(crate) fn lease_probe(&mut self) -> Option<&Running> {
        self.proc.as_ref()?;
        self.apply(Event::Leased);
        self.kept = None;
        let run = self.proc.as_mut()?;
        run.current = Some("(health check)".to_owned());
        run.checked = Instant::now();
        Some(run)
    }

    /// The health check of process `pid` is done: it is free again (not counted as served).
    pub(crate) fn release_probe(&mut self, pid: i32) -> Released {
        let Some(run) = self.proc.as_mut().filter(|r| r.pid == pid) else {
            return Released::Stale;
        };
        run.current = None;
        if matches!(self.state, SlotState::Busy | SlotState::Stopping) {
            self.apply(Event::Released);
        }
        Released::Free
    }

    /// The request on process `pid` is done (`failed`: on the backend's side; it is not
    /// counted as served, and stays the one the process is explained with if it dies).
    /// `max_requests` recycles a process that served that many; `rss_over` (its resident
    /// memory and max_rss, when over) recycles it too.
    pub(crate) fn release(
        &mut self,
        pid: i32,
        failed: bool,
        max_requests: Option<u64>,
        rss_over: Option<(u64, u64)>,
    ) -> Released {
        let Some(run) = self.proc.as_mut().filter(|r| r.pid == pid) else {
            // The request its predecessor left queued is done: this process is idle now.
            if let Some(run) = self.proc.as_mut().filter(|r| r.inherited_from == Some(pid)) {
                run.inherited_from = None;
                run.last_used = Instant::now();
            }
            if self.inherit == Some(pid) {
                self.inherit = None;
            }
            return Released::Stale;
        };
        run.last_used = Instant::now();
        if !failed {
            run.requests += 1;
            run.current = None;
            self.requests += 1;
        }
        let (served, stopping) = (run.requests, run.kill_reason.is_some());
        if matches!(self.state, SlotState::Busy | SlotState::Stopping) {
            self.apply(Event::Released);
        }
        if stopping {
            return Released::Free;
        }
        if max_requests.is_some_and(|m| served >= m) {
            return Released::Recycle(
                Reason::MaxRequests,
                format!("recycled after {served} requests (max_requests)"),
            );
        }
        if let Some((rss, max)) = rss_over {
            return Released::Recycle(Reason::MaxRss, over_max_rss(rss, max, "after its request"));
        }
        Released::Free
    }

    /// Marks the process as stopping for `reason` and closes what a lease kept with it (a kept
    /// connection holds a libfcgi process in read(), where a caught SIGTERM only sets a flag:
    /// closed first, the process goes back to accept and can stop). Returns its pid; the caller
    /// sends the signal.
    pub(crate) fn stop(&mut self, reason: Reason, detail: String) -> Option<i32> {
        let run = self.proc.as_mut()?;
        run.kill_reason = Some((reason, detail));
        let pid = run.pid;
        self.apply(Event::Stopped);
        self.kept = None;
        Some(pid)
    }

    /// The reaper collected the process: it leaves the slot (with what a lease kept for it).
    pub(crate) fn died(&mut self) -> Option<Running> {
        let run = self.proc.take()?;
        self.kept = None;
        self.apply(Event::Died);
        self.generation += 1;
        Some(run)
    }

    /// The stopping process leaves the slot (it is reaped all the same): a process stuck in a
    /// request does not accept, so a new one can serve from the same socket while the old one
    /// is being killed. False when the slot's process is not stopping.
    pub fn set_aside(&mut self) -> bool {
        if self.state != SlotState::Stopping {
            return false;
        }
        let Some(run) = self.proc.take() else {
            return false;
        };
        self.aside.push(run);
        self.kept = None;
        self.apply(Event::SetAside);
        self.generation += 1;
        true
    }

    /// The reaper collected a process set aside: it leaves the slot for good.
    pub fn died_aside(&mut self, pid: i32) -> Option<Running> {
        let i = self.aside.iter().position(|r| r.pid == pid)?;
        Some(self.aside.remove(i))
    }

    /// The slot waits until `retry_at` before starting a process again.
    pub(crate) fn back_off(&mut self, retry_at: Instant) {
        self.apply(Event::BackingOff);
        self.retry_at = Some(retry_at);
    }

    /// Its pool is retired: a process gets `why` as its stop reason (the pid is returned for
    /// the signal, unless it was already stopping); a slot without one goes idle. The listening
    /// socket is handed back, for a successor pool.
    pub(crate) fn retire(&mut self, why: &str) -> (Option<i32>, Option<OwnedFd>) {
        let pid = match &self.proc {
            Some(run) if run.kill_reason.is_none() => self.stop(Reason::Shutdown, why.to_owned()),
            Some(_) => None,
            None => {
                self.apply(Event::Retired);
                None
            }
        };
        (pid, self.fd.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SlotState::*;

    /// Every transition, each with a reason to exist; everything else cannot happen.
    #[test]
    fn the_whole_state_machine() {
        use Event::*;
        const STATES: [SlotState; 5] = [Idle, Ready, Busy, Backoff, Stopping];
        const EVENTS: [Event; 9] = [
            Started,
            SpawnFailed,
            Leased,
            Released,
            Stopped,
            Died,
            SetAside,
            BackingOff,
            Retired,
        ];
        let allowed = [
            (Idle, Started, Ready),
            (Backoff, Started, Ready),
            (Idle, SpawnFailed, Backoff),
            (Backoff, SpawnFailed, Backoff),
            (Ready, Leased, Busy),
            (Busy, Released, Ready),
            (Stopping, Released, Stopping),
            (Ready, Stopped, Stopping),
            (Busy, Stopped, Stopping),
            (Stopping, Stopped, Stopping),
            (Ready, Died, Idle),
            (Busy, Died, Idle),
            (Stopping, Died, Idle),
            (Stopping, SetAside, Idle),
            (Idle, BackingOff, Backoff),
            (Idle, Retired, Idle),
            (Backoff, Retired, Idle),
        ];
        for s in STATES {
            for e in EVENTS {
                let want = allowed
                    .iter()
                    .find(|(from, ev, _)| *from == s && *ev == e)
                    .map(|(_, _, to)| *to);
                assert_eq!(s.next(e), want, "{s:?} on {e:?}");
            }
        }
    }

    fn slot() -> Slot {
        let fd = std::os::fd::OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        Slot::new(
            0,
            SlotAddr::Unix("/nonexistent/s-0".into()),
            fd,
            crate::backoff::Backoff::default(),
        )
    }

    fn record() -> Arc<ExitRecord> {
        Arc::new(ExitRecord {
            backend: "b".into(),
            slot: 0,
            pid: 0,
            reason: Reason::SpawnFailed,
            detail: "no such file".into(),
            uptime: std::time::Duration::ZERO,
            request: None,
            killed: Vec::new(),
            left: Vec::new(),
            request_queued: false,
            at: SystemTime::now(),
        })
    }

    #[test]
    fn a_started_process_serves_one_request_at_a_time() {
        let mut s = slot();
        s.spawning();
        s.started(Running::new(42));
        assert_eq!(s.state(), Ready);
        assert!(s.is_free(false));
        assert_eq!(s.lease("GET /a").map(|r| r.pid), Some(42));
        assert_eq!(s.state(), Busy);
        assert!(!s.is_free(true));
        assert_eq!(s.proc.as_ref().unwrap().current.as_deref(), Some("GET /a"));
        assert_eq!(s.release(42, false, None, None), Released::Free);
        assert_eq!(s.state(), Ready);
        assert_eq!(
            (s.requests, s.proc.as_ref().unwrap().current.clone()),
            (1, None)
        );
    }

    #[test]
    fn a_reserved_process_is_for_the_waiting_requests() {
        let mut s = slot();
        s.started(Running::new(1));
        s.reserved = true;
        assert!(!s.is_free(false));
        assert!(s.is_free(true));
        s.lease("GET /");
        assert!(!s.reserved);
    }

    #[test]
    fn a_failed_request_is_not_counted_and_stays_the_explanation() {
        let mut s = slot();
        s.started(Running::new(7));
        s.lease("GET /crash");
        assert_eq!(s.release(7, true, None, None), Released::Free);
        assert_eq!(s.requests, 0);
        assert_eq!(
            s.proc.as_ref().unwrap().current.as_deref(),
            Some("GET /crash")
        );
    }

    #[test]
    fn max_requests_recycles_and_a_stale_release_changes_nothing() {
        let mut s = slot();
        s.started(Running::new(7));
        s.lease("GET /");
        assert_eq!(
            s.release(8, false, Some(1), None),
            Released::Stale,
            "another pid"
        );
        assert_eq!(s.state(), Busy);
        assert_eq!(
            s.release(7, false, Some(1), None),
            Released::Recycle(
                Reason::MaxRequests,
                "recycled after 1 requests (max_requests)".into()
            )
        );
        assert_eq!(s.state(), Ready, "free until the recycle stops it");
    }

    #[test]
    fn a_successor_serving_its_predecessors_queued_request_is_busy_until_that_lease_ends() {
        let mut s = slot();
        s.started(Running::new(7));
        s.lease("GET /queued");
        s.died();
        s.inherit = Some(7);
        let mut next = Running::new(8);
        next.inherited_from = s.inherit.take();
        s.started(next);
        assert_eq!(s.proc.as_ref().unwrap().inherited_from, Some(7));
        assert_eq!(
            s.release(7, false, None, None),
            Released::Stale,
            "the lease names the predecessor"
        );
        assert_eq!(
            s.proc.as_ref().unwrap().inherited_from,
            None,
            "idle from now on"
        );
        assert_eq!(s.requests, 0, "not counted for the successor");
    }

    #[test]
    fn a_process_over_max_rss_is_recycled_after_its_request() {
        let mut s = slot();
        s.started(Running::new(7));
        s.lease("GET /big");
        assert_eq!(
            s.release(7, false, Some(100), Some((300 << 20, 200 << 20))),
            Released::Recycle(
                Reason::MaxRss,
                "recycled after its request: resident memory 307200 KiB over max_rss (204800 KiB)"
                    .into()
            )
        );
        s.lease("GET /big");
        s.stop(Reason::Shutdown, "reload".into());
        assert_eq!(
            s.release(7, false, None, Some((300 << 20, 200 << 20))),
            Released::Free,
            "already stopping"
        );
    }

    #[test]
    fn stopping_closes_what_was_kept_and_ends_with_the_death() {
        let mut s = slot();
        s.started(Running::new(9));
        s.lease("GET /slow");
        s.kept = Some((9, Kept(Box::new(1u8))));
        assert_eq!(s.stop(Reason::RequestTimeout, "too slow".into()), Some(9));
        assert_eq!(s.state(), Stopping);
        assert!(s.kept.is_none());
        assert_eq!(
            s.release(9, true, Some(1), None),
            Released::Free,
            "no recycle: stopping"
        );
        assert_eq!(s.state(), Stopping);
        let generation = s.generation;
        let run = s.died().unwrap();
        assert_eq!(run.kill_reason.unwrap().0, Reason::RequestTimeout);
        assert_eq!(s.state(), Idle);
        assert_eq!(s.generation, generation + 1);
        assert!(s.died().is_none(), "one death per process");
    }

    #[test]
    fn a_stuck_process_is_set_aside_for_a_new_one_and_still_reaped() {
        let mut s = slot();
        s.started(Running::new(11));
        s.lease("GET /stuck");
        assert!(!s.set_aside(), "only a stopping process");
        s.stop(Reason::RequestTimeout, "ran over request_timeout".into());
        assert!(s.set_aside());
        assert_eq!(s.state(), Idle);
        assert!(s.proc.is_none());
        s.started(Running::new(12));
        assert_eq!(s.state(), Ready, "the new process serves at once");
        assert!(s.died_aside(12).is_none(), "not set aside");
        let old = s.died_aside(11).unwrap();
        assert_eq!(old.current.as_deref(), Some("GET /stuck"));
        assert!(s.aside.is_empty());
        assert_eq!(s.proc.as_ref().map(|r| r.pid), Some(12), "untouched");
    }

    #[test]
    fn a_crash_backs_off_then_starts_again() {
        let mut s = slot();
        s.started(Running::new(3));
        s.died();
        let at = Instant::now();
        s.back_off(at);
        assert_eq!((s.state(), s.retry_at), (Backoff, Some(at)));
        s.spawning();
        assert_eq!(s.retry_at, None);
        s.started(Running::new(4));
        assert_eq!(s.state(), Ready);
    }

    #[test]
    fn a_failed_spawn_backs_off_and_is_counted() {
        let mut s = slot();
        s.spawning();
        s.spawn_failed(record(), Instant::now());
        assert_eq!(s.state(), Backoff);
        assert_eq!(s.restarts.get(&Reason::SpawnFailed), Some(&1));
        s.spawn_failed(record(), Instant::now());
        assert_eq!(s.restarts.get(&Reason::SpawnFailed), Some(&2));
        assert!(s.last_exit().is_some());
    }

    #[test]
    fn retiring_stops_a_process_once_and_idles_an_empty_slot() {
        let mut busy = slot();
        busy.started(Running::new(5));
        let (pid, fd) = busy.retire("reload: backend changed");
        assert_eq!(pid, Some(5));
        assert!(
            fd.is_some() && busy.fd.is_none(),
            "the socket goes to the successor"
        );
        assert_eq!(busy.state(), Stopping);
        let mut stopping = slot();
        stopping.started(Running::new(6));
        stopping.stop(Reason::MaxRequests, "recycled".into());
        assert_eq!(stopping.retire("reload").0, None, "signalled already");
        let mut empty = slot();
        empty.spawn_failed(record(), Instant::now());
        assert_eq!(empty.retire("reload").0, None);
        assert_eq!(empty.state(), Idle);
    }
}
