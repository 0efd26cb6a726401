//! What a backend process's death means, apart from doing anything about it: the facts
//! ([`record`]: why, after how long, serving what, which descendants), what to do
//! ([`decide`]: restart now, after a backoff delay, or not; which descendants to signal), and
//! the one log line that says both ([`log_line`]). The reaper gathers the inputs and carries
//! out the decision (`Supervisor::on_exit`); everything here is pure, and tested without
//! spawning anything.

use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;

use crate::backoff::Backoff;
use crate::pool::{DescendantPolicy, ExitRecord, Reason, describe_status};
use crate::slot::Running;

/// A process (pid, command line).
pub(crate) type Proc = (i32, String);

/// What happens after a death.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restart {
    /// A new process starts in the slot at once.
    Now,
    /// The slot waits this long first (crash-loop backoff).
    After(Duration),
    /// The slot stays empty (relight is stopping, the pool was retired, or the process was
    /// stopped for being idle).
    Never,
    /// The process had been set aside: its slot has a new process already.
    Replaced,
}

/// What to do about one death.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// When the slot gets a process again.
    pub restart: Restart,
    /// Signal the dead process's group (its members are `ExitRecord::killed`).
    pub signal_group: bool,
}

/// The facts of `run`'s end in slot `slot` of `backend`: its wait `status`, the members of its
/// process group still alive and the descendants that left it, whether a connection was
/// waiting in the slot's socket; `contained` says whether the group is signalled.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    backend: &str,
    slot: usize,
    run: &Running,
    status: &WaitStatus,
    members: Vec<Proc>,
    escaped: Vec<Proc>,
    contained: bool,
    request_queued: bool,
) -> ExitRecord {
    let (status_reason, status_detail) = describe_status(status);
    let (reason, detail) = match &run.kill_reason {
        Some((r, d)) => (*r, format!("{d} ({status_detail})")),
        None => (status_reason, status_detail),
    };
    // The group outlives its leader while members live: the seed's `sh -c sleep`.
    let (killed, mut left) = if contained {
        (members, Vec::new())
    } else {
        (Vec::new(), members)
    };
    // Without a cgroup these cannot be told apart from another backend's: reported only.
    left.extend(escaped);
    ExitRecord {
        backend: backend.to_owned(),
        slot,
        pid: run.pid,
        reason,
        detail,
        uptime: run.started.elapsed(),
        request: run.current.clone(),
        killed,
        left,
        request_queued,
        at: SystemTime::now(),
    }
}

/// Whose death it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The slot's process; `stopping`: relight is shutting down or the pool was retired.
    Slot {
        /// No restart in any case.
        stopping: bool,
    },
    /// A process set aside for a successor (stuck in a request, killed): nothing to restart.
    SetAside,
}

/// What to do after a death for `reason` of a process that ran `uptime` and served `served`
/// requests, with `members` of its group still alive. Unplanned deaths of a slot's process
/// go through the slot's `backoff`.
pub(crate) fn decide(
    reason: Reason,
    ending: Ending,
    uptime: Duration,
    served: u64,
    policy: DescendantPolicy,
    members_alive: bool,
    backoff: &mut Backoff,
) -> Decision {
    let restart = if ending == Ending::SetAside {
        Restart::Replaced
    } else if ending == (Ending::Slot { stopping: true }) || reason == Reason::IdleTimeout {
        Restart::Never
    } else if reason.is_planned() || reason == Reason::RequestTimeout {
        Restart::Now
    } else {
        match backoff.on_exit(uptime, served) {
            d if d.is_zero() => Restart::Now,
            d => Restart::After(d),
        }
    };
    Decision {
        restart,
        signal_group: policy == DescendantPolicy::Kill && members_alive,
    }
}

/// "pid 12 (sleep 100), pid 13 (...)".
pub(crate) fn fmt_procs(list: &[Proc]) -> String {
    list.iter()
        .map(|(pid, cmd)| format!("pid {pid} ({cmd})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The log line of a death, and whether it is a warning (an unplanned end) or news.
pub(crate) fn log_line(
    record: &ExitRecord,
    restart: Restart,
    kill_signal: Signal,
) -> (bool, String) {
    let mut line = format!(
        "backend \"{}\" slot {} pid {} ended: {}, after {:.3}s",
        record.backend,
        record.slot,
        record.pid,
        record.detail,
        record.uptime.as_secs_f64()
    );
    if let Some(r) = &record.request {
        line.push_str(&format!(", while serving \"{r}\""));
    }
    if !record.killed.is_empty() {
        line.push_str(&format!(
            "; its process group got {}: {}",
            kill_signal.as_str(),
            fmt_procs(&record.killed)
        ));
    }
    if !record.left.is_empty() {
        line.push_str(&format!("; left running: {}", fmt_procs(&record.left)));
    }
    match restart {
        Restart::Never => line.push_str("; not restarting"),
        Restart::Replaced => line.push_str("; its slot has a new process already"),
        Restart::Now => line.push_str("; restarting now"),
        Restart::After(d) => line.push_str(&format!("; restarting in {d:?} (crash loop backoff)")),
    }
    let news =
        record.reason.is_planned() || record.reason == Reason::Exited && restart == Restart::Never;
    (!news, line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::Pid;

    fn backoff() -> Backoff {
        Backoff::new(
            Duration::from_millis(100),
            Duration::from_secs(10),
            Duration::from_secs(5),
        )
    }

    fn decide_for(reason: Reason, stopping: bool, uptime: Duration, served: u64) -> Restart {
        decide(
            reason,
            Ending::Slot { stopping },
            uptime,
            served,
            DescendantPolicy::Kill,
            false,
            &mut backoff(),
        )
        .restart
    }

    #[test]
    fn crashes_back_off_planned_ends_restart_at_once() {
        let quick = Duration::from_millis(10);
        assert_eq!(
            decide_for(Reason::Signaled, false, quick, 0),
            Restart::After(Duration::from_millis(100)),
            "died at once, served nothing: a crash loop"
        );
        assert_eq!(
            decide_for(Reason::Exited, false, quick, 3),
            Restart::Now,
            "it served: not a crash loop"
        );
        assert_eq!(
            decide_for(Reason::Exited, false, Duration::from_secs(60), 0),
            Restart::Now,
            "a stable run"
        );
        for planned in [
            Reason::MaxRequests,
            Reason::Shutdown,
            Reason::RequestTimeout,
        ] {
            assert_eq!(
                decide_for(planned, false, quick, 0),
                Restart::Now,
                "{planned:?}"
            );
        }
        assert_eq!(
            decide_for(Reason::IdleTimeout, false, quick, 0),
            Restart::Never
        );
        assert_eq!(decide_for(Reason::Signaled, true, quick, 0), Restart::Never);
        let mut b = backoff();
        let aside = decide(
            Reason::RequestTimeout,
            Ending::SetAside,
            quick,
            0,
            DescendantPolicy::Kill,
            true,
            &mut b,
        );
        assert_eq!(aside.restart, Restart::Replaced, "its slot has a successor");
        assert!(
            aside.signal_group,
            "its descendants are contained all the same"
        );
    }

    #[test]
    fn backoff_doubles_across_deaths_of_one_slot() {
        let mut b = backoff();
        let quick = Duration::from_millis(1);
        let mut next = || {
            decide(
                Reason::Exited,
                Ending::Slot { stopping: false },
                quick,
                0,
                DescendantPolicy::Kill,
                false,
                &mut b,
            )
            .restart
        };
        assert_eq!(next(), Restart::After(Duration::from_millis(100)));
        assert_eq!(next(), Restart::After(Duration::from_millis(200)));
        assert_eq!(next(), Restart::After(Duration::from_millis(400)));
    }

    #[test]
    fn the_group_is_signalled_only_when_it_has_members_and_the_policy_is_kill() {
        let d = |policy, alive| {
            decide(
                Reason::Signaled,
                Ending::Slot { stopping: false },
                Duration::from_secs(60),
                1,
                policy,
                alive,
                &mut backoff(),
            )
            .signal_group
        };
        assert!(d(DescendantPolicy::Kill, true));
        assert!(!d(DescendantPolicy::Kill, false));
        assert!(!d(DescendantPolicy::Keep, true));
    }

    #[test]
    fn the_record_and_the_line_explain_the_death() {
        let mut run = Running::new(4242);
        run.current = Some("GET /seed".into());
        let status = WaitStatus::Signaled(Pid::from_raw(4242), Signal::SIGSEGV, true);
        let members = vec![(4243, "sh -c sleep 100".to_string())];
        let escaped = vec![(4300, "daemon, outside its process group".to_string())];
        let rec = record(
            "app",
            1,
            &run,
            &status,
            members.clone(),
            escaped.clone(),
            true,
            false,
        );
        assert_eq!(rec.reason, Reason::Signaled);
        assert_eq!(rec.detail, "signal SIGSEGV (core dumped)");
        assert_eq!(rec.request.as_deref(), Some("GET /seed"));
        assert_eq!(rec.killed, members);
        assert_eq!(rec.left, escaped);
        // The line's uptime is the record's: fixed here, as a loaded machine can take a
        // millisecond between the process's start and its record.
        let mut rec = rec;
        rec.uptime = std::time::Duration::ZERO;
        let (warn, line) = log_line(&rec, Restart::Now, Signal::SIGTERM);
        assert!(warn);
        assert_eq!(
            line,
            "backend \"app\" slot 1 pid 4242 ended: signal SIGSEGV (core dumped), after 0.000s, \
             while serving \"GET /seed\"; its process group got SIGTERM: pid 4243 (sh -c sleep \
             100); left running: pid 4300 (daemon, outside its process group); restarting now"
        );
        // Kept descendants are reported as left, not killed.
        let kept = record(
            "app",
            1,
            &run,
            &status,
            members.clone(),
            Vec::new(),
            false,
            false,
        );
        assert!(kept.killed.is_empty());
        assert_eq!(kept.left, members);
    }

    #[test]
    fn a_stop_relight_asked_for_is_explained_by_its_reason() {
        let mut run = Running::new(7);
        run.kill_reason = Some((Reason::MaxRequests, "recycled after 100 requests".into()));
        let status = WaitStatus::Exited(Pid::from_raw(7), 0);
        let rec = record(
            "app",
            0,
            &run,
            &status,
            Vec::new(),
            Vec::new(),
            false,
            false,
        );
        assert_eq!(rec.reason, Reason::MaxRequests);
        assert_eq!(rec.detail, "recycled after 100 requests (exit code 0)");
        let (warn, line) = log_line(&rec, Restart::Now, Signal::SIGTERM);
        assert!(!warn, "planned: news, not a warning");
        assert!(line.ends_with("; restarting now"), "{line}");
        let exited = record(
            "app",
            0,
            &Running::new(8),
            &WaitStatus::Exited(Pid::from_raw(8), 0),
            Vec::new(),
            Vec::new(),
            false,
            false,
        );
        assert!(
            !log_line(&exited, Restart::Never, Signal::SIGTERM).0,
            "a clean exit at shutdown"
        );
        assert!(
            log_line(&exited, Restart::Now, Signal::SIGTERM).0,
            "exited by itself"
        );
    }
}
