//! Restart delays for a slot whose process keeps dying: none after a stable run, doubling from
//! `base` up to `cap` while each run is unstable, and back to none once one is stable. A run is
//! stable if it lasted `stable_after` or served a request: a process that served and was then
//! killed is not a crash loop. A slot never gives up.
//!
//! A pool that does not see its requests (`relight spawn`: the web server in front connects to
//! the socket itself) cannot tell a process that served from one that did not, so there a run
//! counts as stable once it lasted [`STABLE_UNSEEN`]: long past a program that exits at once
//! (a missing library, a bad configuration), short enough that a process killed while it
//! served is restarted at once.

use std::time::Duration;

/// The restart policy of one slot.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    stable_after: Duration,
    next: Duration,
}

impl Backoff {
    /// A policy: first delay `base`, doubling to `cap`; a run of `stable_after` resets it.
    pub fn new(base: Duration, cap: Duration, stable_after: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            stable_after,
            next: Duration::ZERO,
        }
    }

    /// The delay before restarting a process that ran for `uptime` and served `served`
    /// requests.
    pub fn on_exit(&mut self, uptime: Duration, served: u64) -> Duration {
        if uptime >= self.stable_after || served > 0 {
            self.next = Duration::ZERO;
            return Duration::ZERO;
        }
        let delay = if self.next.is_zero() {
            self.base
        } else {
            self.next
        };
        self.next = (delay * 2).min(self.cap);
        delay.min(self.cap)
    }
}

/// How long a run of a process whose requests relight does not see must last to count as
/// stable.
pub const STABLE_UNSEEN: Duration = Duration::from_millis(250);

impl Backoff {
    /// The policy of a pool whose requests relight does not see ([`STABLE_UNSEEN`]).
    pub fn requests_unseen() -> Backoff {
        Backoff {
            stable_after: STABLE_UNSEEN,
            ..Backoff::default()
        }
    }
}

impl Default for Backoff {
    /// 100 ms doubling to 30 s; a run of 10 s counts as stable.
    fn default() -> Backoff {
        Backoff::new(
            Duration::from_millis(100),
            Duration::from_secs(30),
            Duration::from_secs(10),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_requests_a_short_run_is_enough() {
        let ms = Duration::from_millis;
        let mut b = Backoff::requests_unseen();
        assert_eq!(b.on_exit(ms(5), 0), ms(100), "exited at once: a crash loop");
        assert_eq!(b.on_exit(ms(5), 0), ms(200));
        assert_eq!(
            b.on_exit(ms(500), 0),
            Duration::ZERO,
            "ran: killed, restart now"
        );
        assert_eq!(
            Backoff::default().on_exit(ms(500), 0),
            ms(100),
            "where requests are seen"
        );
    }

    #[test]
    fn doubles_to_the_cap_and_resets_after_a_stable_run() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1000), ms(5000));
        let early = ms(10);
        let delays: Vec<_> = (0..7).map(|_| b.on_exit(early, 0)).collect();
        assert_eq!(
            delays,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1000),
                ms(1000),
                ms(1000)
            ]
        );
        assert_eq!(
            b.on_exit(ms(6000), 0),
            Duration::ZERO,
            "stable: restart at once"
        );
        assert_eq!(
            b.on_exit(early, 0),
            ms(100),
            "the next crash loop starts over"
        );
        assert_eq!(b.on_exit(early, 0), ms(200));
        assert_eq!(
            b.on_exit(early, 3),
            Duration::ZERO,
            "it served: not a crash loop"
        );
        assert_eq!(b.on_exit(early, 0), ms(100));
    }
}
