//! What a pool is (its configuration and its slots, [`crate::slot`]), why a process ends
//! ([`Reason`]) and the facts kept about each end ([`ExitRecord`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;

use crate::slot::Slot;
use crate::socket::BaseAddr;
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
    /// Recycle a process whose resident memory (bytes) is over this: after its request, or at
    /// once when it is idle.
    pub max_rss: Option<u64>,
    /// Check idle processes with FCGI_GET_VALUES (per-slot sockets only).
    pub health_check: Option<crate::health::HealthCheck>,
    /// memory.max and pids.max of the pool's cgroup (when relight has cgroups).
    pub limits: crate::cgroup::Limits,
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
    /// Its resident memory went over max_rss.
    MaxRss,
    /// It did not answer the health check while idle.
    HealthCheck,
    /// It sat idle above min_procs.
    IdleTimeout,
    /// relight is shutting down, or the backend was removed or changed.
    Shutdown,
    /// It could not be started at all.
    SpawnFailed,
    /// A process run for one request (CGI) whose request ended first (its client left, or
    /// the response was complete while it still ran).
    Abandoned,
}

impl Reason {
    /// The name used in logs, status and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Exited => "exit",
            Reason::Signaled => "signal",
            Reason::RequestTimeout => "request_timeout",
            Reason::MaxRequests => "max_requests",
            Reason::MaxRss => "max_rss",
            Reason::HealthCheck => "health_check",
            Reason::IdleTimeout => "idle_timeout",
            Reason::Shutdown => "shutdown",
            Reason::SpawnFailed => "spawn_failed",
            Reason::Abandoned => "abandoned",
        }
    }

    /// Whether relight ended the process on purpose (no backoff follows).
    pub fn is_planned(self) -> bool {
        matches!(
            self,
            Reason::MaxRequests | Reason::MaxRss | Reason::IdleTimeout | Reason::Shutdown
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

/// A pool: its configuration and its slots (created up to max_procs as needed).
#[derive(Debug)]
pub(crate) struct Pool {
    pub config: PoolConfig,
    pub slots: Vec<Slot>,
    /// Removed or replaced by a reload: its processes are stopping and are not restarted.
    pub retired: bool,
    /// Requests waiting for a free process, and the notification that wakes the one that has
    /// waited longest when one is freed.
    pub waiting: Arc<std::sync::atomic::AtomicUsize>,
    /// See `waiting`.
    pub freed: Arc<tokio::sync::Notify>,
    /// While every slot of a `relight spawn` pool backs off: what answers 503 on its socket.
    pub stand_in: Option<crate::stand_in::StandIn>,
    /// The pool's cgroup, when relight has cgroups: each process gets one below it.
    pub cgroup: Option<std::path::PathBuf>,
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
