//! Spawning, reaping and supervising the processes relight starts: the one reaper
//! ([`supervisor`]), process slots with their own sockets and their state machine (`slot`), what
//! a death means (`exit`), the requests' leases (`lease`), crash-loop backoff ([`backoff`]),
//! descendant containment, kills on request timeouts, recycling (max_requests, max_rss) and the
//! opt-in health check of idle processes (`health`), containment by cgroup v2 where relight
//! may write one (`cgroup`). No HTTP in here.
//!
//! The invariants (docs/ARCHITECTURE.md, "The process manager's rules"): liveness is owned,
//! never probed; relight owns each slot's listening socket and gives a dup to each process as
//! fd 0; one reaper; descendants are contained by process group; a slot never gives up.

pub mod backoff;
mod cgroup;
mod exit;
pub mod health;
mod lease;
mod once;
pub mod pool;
pub mod procfs;
mod shutdown;
mod slot;
pub mod socket;
pub mod spawn;
mod stand_in;
mod status;
mod stderr;
pub mod supervisor;

pub use cgroup::Limits as CgroupLimits;
pub use health::HealthCheck;
pub use lease::{AcquireError, Lease};
pub use once::{OnceExit, OnceProcess, OnceSpec};
pub use pool::{DescendantPolicy, ExitRecord, PoolConfig, Reason};
pub use shutdown::ShutdownReport;
pub use slot::{RECENT_EXITS, SlotState};
pub use socket::{BaseAddr, SlotAddr};
pub use spawn::SpawnSpec;
pub use status::{PoolStatus, SlotStatus};
pub use supervisor::{ReloadReport, StartError, Supervisor};
