//! What a pool and its slots are, and the facts kept about each exit. The transitions live in
//! [`crate::supervisor`]; this module holds the data and the small pure decisions.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::socket::{BaseAddr, SlotAddr};
use crate::spawn::SpawnSpec;

/// What to do with a dead backend's descendants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescendantPolicy {
    /// Signal its process group (kill signal, then SIGKILL after the grace period).
    Kill,
    /// Leave them running, and report them.
    Keep,
}

/// The configuration of one pool of processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// The backend's name, in every log line.
    pub name: String,
    /// How to start a process.
    pub spec: SpawnSpec,
    /// Where slot N listens.
    pub addr: BaseAddr,
    /// All slots share one socket at exactly `addr` (spawn-fcgi + multiwatch style, for a web
    /// server that knows one address) instead of one socket per slot.
    pub shared_socket: bool,
    /// Processes started at once and kept.
    pub min_procs: usize,
    /// The most processes (slots).
    pub max_procs: usize,
    /// The listen backlog of each slot's socket.
    pub backlog: i32,
    /// Mode of unix socket files.
    pub socket_mode: Option<u32>,
    /// The signal that asks a process to stop.
    pub kill_signal: Signal,
    /// Time between the kill signal and SIGKILL.
    pub kill_grace: Duration,
    /// Recycle a process after this many requests.
    pub max_requests: Option<u64>,
    /// Stop processes above `min_procs` idle this long.
    pub idle_timeout: Duration,
    /// What to do with descendants.
    pub descendants: DescendantPolicy,
}

/// Why a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// It exited by itself.
    Exited,
    /// A signal relight did not send killed it.
    Signaled,
    /// A request ran longer than the request timeout.
    RequestTimeout,
    /// It served its max_requests.
    MaxRequests,
    /// It sat idle above min_procs.
    IdleTimeout,
    /// relight is shutting down, or the backend was removed or changed.
    Shutdown,
    /// It could not be started at all.
    SpawnFailed,
}

impl Reason {
    /// The name used in logs, status and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Exited => "exit",
            Reason::Signaled => "signal",
            Reason::RequestTimeout => "request_timeout",
            Reason::MaxRequests => "max_requests",
            Reason::IdleTimeout => "idle_timeout",
            Reason::Shutdown => "shutdown",
            Reason::SpawnFailed => "spawn_failed",
        }
    }

    /// Whether relight ended the process on purpose (no backoff follows).
    pub fn is_planned(self) -> bool {
        matches!(
            self,
            Reason::MaxRequests | Reason::IdleTimeout | Reason::Shutdown
        )
    }
}

/// Everything known about one process's end.
#[derive(Debug, Clone)]
pub struct ExitRecord {
    /// The backend.
    pub backend: String,
    /// The slot.
    pub slot: usize,
    /// The process.
    pub pid: i32,
    /// Why it ended.
    pub reason: Reason,
    /// "exit code 1", "signal SIGSEGV (core dumped)", ...
    pub detail: String,
    /// How long it ran.
    pub uptime: Duration,
    /// The request it was serving (method and URI), if any.
    pub request: Option<String>,
    /// Descendants signalled (pid, command line).
    pub killed: Vec<(i32, String)>,
    /// Descendants left running (pid, command line).
    pub left: Vec<(i32, String)>,
    /// A connection was waiting in the slot's socket, never accepted: the request leased to
    /// this process had not reached it, and the restarted process will serve it.
    pub request_queued: bool,
    /// When.
    pub at: SystemTime,
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
    /// Set when relight decided to end it, so the exit is explained by that, not the signal.
    pub kill_reason: Option<(Reason, String)>,
    /// Fires with the exit record when the reaper reports the death.
    pub death: watch::Sender<Option<Arc<ExitRecord>>>,
}

/// Something a lease leaves with a slot's process for the next lease of that slot (the
/// gateway's open connection to it); dropped when that process ends.
pub(crate) struct Kept(pub Box<dyn std::any::Any + Send>);

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kept(..)")
    }
}

/// One process slot: a socket that lives as long as the slot, and at most one process.
#[derive(Debug)]
pub(crate) struct Slot {
    pub index: usize,
    pub addr: SlotAddr,
    /// The listening socket; `None` once the pool is retired and the socket handed on or closed.
    pub fd: Option<OwnedFd>,
    pub state: SlotState,
    pub proc: Option<Running>,
    pub backoff: Backoff,
    pub retry_at: Option<Instant>,
    /// Bumped at every spawn and death, so a stale timer cannot act on a newer process.
    pub generation: u64,
    pub restarts: BTreeMap<Reason, u64>,
    pub last_exit: Option<Arc<ExitRecord>>,
    pub requests: u64,
    /// What the last lease left for the next one, with the pid of the process it belongs to.
    pub kept: Option<(i32, Kept)>,
    /// Freed while requests were waiting: only a waiting request may take it (unless none is
    /// left), so a request that just arrived cannot overtake them.
    pub reserved: bool,
}

impl Slot {
    /// Marks the slot's process as stopping for `reason` and closes what a lease kept with it
    /// (a kept connection holds a libfcgi process in read(), where a caught SIGTERM only sets a
    /// flag: closed first, the process goes back to accept and can stop). Returns its pid; the
    /// caller sends the signal.
    pub fn stop(&mut self, reason: Reason, detail: String) -> Option<i32> {
        let run = self.proc.as_mut()?;
        run.kill_reason = Some((reason, detail));
        self.state = SlotState::Stopping;
        self.kept = None;
        Some(run.pid)
    }
}

/// A pool: its configuration and its slots (created up to max_procs as needed).
#[derive(Debug)]
pub(crate) struct Pool {
    pub config: PoolConfig,
    pub slots: Vec<Slot>,
    /// Removed or replaced by a reload: its processes are stopping and are not restarted.
    pub retired: bool,
    /// Requests waiting for a free process, and the notification that wakes the one that has
    /// waited longest when one is freed.
    pub waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// See `waiting`.
    pub freed: std::sync::Arc<tokio::sync::Notify>,
}

/// How a process's wait status reads in a log line.
pub fn describe_status(status: &nix::sys::wait::WaitStatus) -> (Reason, String) {
    use nix::sys::wait::WaitStatus;
    match *status {
        WaitStatus::Exited(_, code) => (Reason::Exited, format!("exit code {code}")),
        WaitStatus::Signaled(_, sig, core) => (
            Reason::Signaled,
            format!(
                "signal {}{}",
                sig.as_str(),
                if core { " (core dumped)" } else { "" }
            ),
        ),
        other => (Reason::Exited, format!("{other:?}")),
    }
}
