//! Spawning, reaping and supervising the processes relight starts: the one reaper, process
//! slots with their own sockets, crash-loop backoff, descendant containment, and kills on
//! request timeouts. No HTTP in here.
//!
//! The invariants (see DESIGN.md): liveness is owned, never probed; relight owns each slot's
//! listening socket and gives a dup to each process as fd 0; one reaper; descendants are
//! contained by process group; a slot never gives up.

pub mod backoff;
pub mod pool;
pub mod procfs;
pub mod socket;
pub mod spawn;
mod stderr;
pub mod supervisor;

pub use pool::{DescendantPolicy, ExitRecord, PoolConfig, Reason, SlotState};
pub use socket::{BaseAddr, SlotAddr};
pub use spawn::SpawnSpec;
pub use supervisor::{
    AcquireError, Lease, PoolStatus, ShutdownReport, SlotStatus, StartError, Supervisor,
};
