//! Processes started for one request (CGI scripts): spawned under the reaper's lock like a
//! slot's process, with pipes for stdin and stdout, in a process group of their own, their
//! stderr forwarded to the error log. Their exit comes from the one reaper, never from a
//! `waitpid` of their own; when one exits, its process group (what it left running) is
//! contained by the descendant policy, and the request learns why it ended ([`OnceExit`]).
//! A [`OnceProcess`] dropped before its process exited kills the group (signal, grace,
//! SIGKILL): a request that ends, times out or loses its client leaves nothing running.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::oneshot;

use crate::pool::{DescendantPolicy, Reason};
use crate::spawn::SpawnSpec;
use crate::supervisor::Supervisor;

/// How to run a process for one request.
#[derive(Debug, Clone)]
pub struct OnceSpec {
    /// What the process is, in log lines (e.g. `CGI "/srv/cgi-bin/a.cgi"`).
    pub tag: String,
    /// The program, its arguments, environment, directory and user.
    pub spawn: SpawnSpec,
    /// What happens to what it leaves running in its process group when it exits.
    pub descendants: DescendantPolicy,
    /// The signal that stops it (and its group).
    pub kill_signal: Signal,
    /// How long after the signal SIGKILL follows.
    pub kill_grace: Duration,
}

/// How a process run for one request ended.
#[derive(Debug, Clone)]
pub struct OnceExit {
    /// Its pid.
    pub pid: i32,
    /// Why it ended: it exited, a signal, or relight stopped it (request_timeout, shutdown,
    /// or its request ended first).
    pub reason: Reason,
    /// The detail: "exit code 1", "signal SIGSEGV (core dumped)", why it was stopped.
    pub detail: String,
    /// Whether it exited with code 0 by itself.
    pub success: bool,
    /// How long it ran.
    pub runtime: Duration,
    /// What it left running in its group, signalled by the descendant policy.
    pub killed: Vec<(i32, String)>,
    /// What it left running and was not signalled: outside its group (a double fork), or kept
    /// by the policy.
    pub left: Vec<(i32, String)>,
}

/// The reaper's record of a running one-request process.
#[derive(Debug)]
pub(crate) struct OnceEntry {
    pub(crate) tag: String,
    pub(crate) started: Instant,
    pub(crate) descendants: DescendantPolicy,
    pub(crate) kill_signal: Signal,
    pub(crate) kill_grace: Duration,
    /// Why relight stopped it, when it did.
    pub(crate) stopped: Option<(Reason, String)>,
    pub(crate) done: Option<oneshot::Sender<Arc<OnceExit>>>,
}

/// A process run for one request, as the request holds it.
#[derive(Debug)]
pub struct OnceProcess {
    /// Its pid (also its process group's id).
    pub pid: i32,
    /// The write end of its stdin (taken by whoever sends the request body).
    pub stdin: Option<OwnedFd>,
    /// The read end of its stdout (taken by whoever reads the response).
    pub stdout: Option<OwnedFd>,
    exit: Option<oneshot::Receiver<Arc<OnceExit>>>,
    ended: Option<Arc<OnceExit>>,
    sup: Weak<Supervisor>,
}

impl Supervisor {
    /// Starts `spec` for one request. Fails if the program cannot be started (missing, not
    /// executable, the user cannot be taken) or relight is stopping.
    pub fn run_once(self: &Arc<Self>, spec: &OnceSpec) -> std::io::Result<OnceProcess> {
        let mut inner = self.lock();
        if inner.stopping {
            return Err(std::io::Error::other("relight is stopping"));
        }
        let (started, stdin, stdout) = crate::spawn::spawn_piped(&spec.spawn)?;
        let (tx, rx) = oneshot::channel();
        inner.add_once(
            started.pid,
            OnceEntry {
                tag: spec.tag.clone(),
                started: Instant::now(),
                descendants: spec.descendants,
                kill_signal: spec.kill_signal,
                kill_grace: spec.kill_grace,
                stopped: None,
                done: Some(tx),
            },
        );
        drop(inner);
        if let Some(fd) = started.stderr {
            crate::stderr::forward(fd, format!("{} pid {}", spec.tag, started.pid));
        }
        Ok(OnceProcess {
            pid: started.pid,
            stdin: Some(stdin),
            stdout: Some(stdout),
            exit: Some(rx),
            ended: None,
            sup: Arc::downgrade(self),
        })
    }

    /// Stops one-request process `pid` (its group) for `reason`: its kill signal, then
    /// SIGKILL after its grace; its exit will say `detail`. Nothing if it has exited.
    pub(crate) fn stop_once(self: &Arc<Self>, pid: i32, reason: Reason, detail: String) {
        let mut inner = self.lock();
        let Some(entry) = inner.once_mut(pid) else {
            return;
        };
        if entry.stopped.is_some() {
            return;
        }
        entry.stopped = Some((reason, detail));
        let (sig, grace) = (entry.kill_signal, entry.kill_grace);
        drop(inner);
        crate::supervisor::contain(self, pid, None, sig, grace);
    }
}

impl OnceProcess {
    /// Waits for the process to exit and says how (cancel safe: call it again).
    pub async fn exited(&mut self) -> Arc<OnceExit> {
        if let Some(e) = &self.ended {
            return e.clone();
        }
        let exit = match self.exit.as_mut() {
            Some(rx) => rx.await.ok(),
            None => None,
        };
        self.exit = None;
        // The supervisor went away (relight is ending): reported as a shutdown.
        let e = exit.unwrap_or_else(|| {
            Arc::new(OnceExit {
                pid: self.pid,
                reason: Reason::Shutdown,
                detail: "relight is stopping".to_owned(),
                success: false,
                runtime: Duration::ZERO,
                killed: Vec::new(),
                left: Vec::new(),
            })
        });
        self.ended = Some(e.clone());
        e
    }

    /// How the process ended, if it has.
    pub fn try_exit(&mut self) -> Option<Arc<OnceExit>> {
        if self.ended.is_none()
            && let Some(rx) = self.exit.as_mut()
            && let Ok(e) = rx.try_recv()
        {
            self.exit = None;
            self.ended = Some(e);
        }
        self.ended.clone()
    }

    /// Stops the process and its group for `reason` (`detail` is what its exit will say):
    /// the kill signal, then SIGKILL after the grace. Nothing if it has exited.
    pub fn stop(&mut self, reason: Reason, detail: String) {
        if self.try_exit().is_some() {
            return;
        }
        match self.sup.upgrade() {
            Some(sup) => sup.stop_once(self.pid, reason, detail),
            // No reaper left (relight is ending): at least the signal.
            None => {
                let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
            }
        }
    }
}

impl Drop for OnceProcess {
    fn drop(&mut self) {
        self.stop(
            Reason::Abandoned,
            "its request ended before it exited".to_owned(),
        );
    }
}
