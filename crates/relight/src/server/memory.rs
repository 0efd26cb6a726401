//! Giving memory back after a burst. glibc's malloc keeps what the connections of a burst
//! freed (their buffers are spread over the heap, so the heap's top cannot shrink): measured,
//! 900 keep-alive connections opened and closed left relight at 18.8 MiB, then 23.5 MiB after
//! a second burst, against 4.4 MiB at rest; malloc_trim(0) took it back to 4.7 MiB. Nothing
//! leaked. So when the number of open connections has fallen by [`DROP`] since the last trim,
//! the freed pages go back to the system (malloc_trim(0): free pages anywhere in the heap are
//! released with madvise). Elsewhere than glibc (musl's allocator returns memory itself)
//! there is nothing to do.
//!
//! The same holds while the connections of a burst stay open but idle: what their requests
//! allocated and freed keeps the pages the connections' own small allocations sit between.
//! So once the requests stop (none finished in the last look, none in flight) with many
//! connections open, the heap is trimmed once too: measured, 1000 idle keep-alive
//! connections then cost about what their state is (see bench/RESULTS.md).
//!
//! The other way round, glibc gives back too eagerly on its own: the top of the heap is
//! returned as soon as more than 128 KiB of it is free, so a response that takes a few 64 KiB
//! buffers for a moment (a 64 KiB FastCGI answer) grew and shrank the heap at each request,
//! and each request faulted its pages in again (measured: 16 page faults per request, 65 µs of
//! system time per request against lighttpd's 34). [`tune`] lets [`TOP_KEPT`] stay free at the
//! top; the trims above still give everything back after a burst.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

/// How often the number of connections is looked at while a burst may be going.
const EVERY: Duration = Duration::from_secs(2);
/// A fall in open connections since the last trim that makes it worth trimming; also the
/// number of connections under which nothing is watched (an idle server never wakes up for
/// this).
const DROP: usize = 64;

/// The open connections (each holds one of `max` permits of `limit`) and their high-water
/// mark since the last trim.
#[derive(Debug)]
pub(super) struct Bursts {
    limit: Arc<Semaphore>,
    max: usize,
    peak: AtomicUsize,
    big: Notify,
}

impl Bursts {
    /// Watches the connections holding `limit`'s `max` permits.
    pub(super) fn new(limit: Arc<Semaphore>, max: usize) -> Arc<Bursts> {
        Arc::new(Bursts {
            limit,
            max,
            peak: AtomicUsize::new(0),
            big: Notify::new(),
        })
    }

    fn open(&self) -> usize {
        self.max.saturating_sub(self.limit.available_permits())
    }

    /// A connection was accepted.
    pub(super) fn opened(&self) {
        let open = self.open();
        let before = self.peak.fetch_max(open, Ordering::Relaxed);
        if before < DROP && open >= DROP {
            self.big.notify_one();
        }
    }

    /// Trims the heap once a burst of connections has gone, or has gone quiet.
    pub(super) async fn trim_after_bursts(self: Arc<Self>) {
        // Requests finished at the last look, and at the last trim.
        let (mut seen, mut trimmed_at) = (0u64, 0u64);
        loop {
            if self.peak.load(Ordering::Relaxed) < DROP {
                self.big.notified().await;
            }
            tokio::time::sleep(EVERY).await;
            let open = self.open();
            let (requests, _, _, in_flight) = crate::log::traffic().counts();
            if self.peak.load(Ordering::Relaxed).saturating_sub(open) >= DROP {
                give_back();
                self.peak.store(open, Ordering::Relaxed);
                trimmed_at = requests;
            } else if open >= DROP && in_flight == 0 && requests == seen && requests != trimmed_at {
                give_back();
                trimmed_at = requests;
            }
            seen = requests;
        }
    }
}

/// Free memory at the heap's top that glibc keeps for the next requests instead of returning
/// it at once (its default: 128 KiB, which a 64 KiB response crosses).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_KEPT: i32 = 1 << 20;

/// Sets how much free memory the allocator keeps at the heap's top ([`TOP_KEPT`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn tune() {
    // SAFETY: mallopt has no preconditions; it takes the allocator's own lock, and an
    // unknown parameter or value is refused with a return of 0, which changes nothing.
    #[allow(unsafe_code)]
    unsafe {
        nix::libc::mallopt(nix::libc::M_TRIM_THRESHOLD, TOP_KEPT);
    }
}

/// Sets how the allocator gives memory back: nothing to set beside glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn tune() {}

/// Returns the heap's free pages to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn give_back() {
    // SAFETY: malloc_trim has no preconditions; it takes the allocator's own locks, so it is
    // safe to call from any thread at any time.
    #[allow(unsafe_code)]
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// Returns the heap's free pages to the system: nothing to do beside this allocator.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn give_back() {}
