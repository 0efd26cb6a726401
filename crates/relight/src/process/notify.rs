//! systemd's service notifications (sd_notify(3)), spoken natively: `READY=1` once every
//! listener is open, `RELOADING=1` then `READY=1` around a reload (SIGUSR1, `systemctl
//! reload`), `STOPPING=1` at shutdown, `STATUS=` a one-line summary of the backends, and
//! `WATCHDOG=1` at half the unit's `WatchdogSec` while the server's runtime turns. Without
//! `NOTIFY_SOCKET` in the environment (not started by systemd as `Type=notify`) nothing is
//! sent and nothing changes.
//!
//! The socket is connected when relight starts, before it gives up root and the file system
//! (chroot): a connected datagram socket keeps working after both. Backends never see
//! `NOTIFY_SOCKET` (their environment is built, not inherited).

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use supervisor::PoolStatus;

/// The connection to the service manager's notification socket.
#[derive(Debug)]
pub(crate) struct Notifier {
    sock: UnixDatagram,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` names (a path, or `@name` in the abstract namespace);
    /// `None` when it is unset. A socket that cannot be reached is logged and left out: the
    /// server runs as it would without systemd (which then reports the start as failed).
    pub(crate) fn from_env() -> Option<Notifier> {
        let name = std::env::var_os("NOTIFY_SOCKET")?;
        match Notifier::connect(&name) {
            Ok(sock) => Some(Notifier {
                sock,
                watchdog: watchdog_from_env(),
            }),
            Err(e) => {
                tracing::warn!("NOTIFY_SOCKET={name:?}: {e}; not notifying the service manager");
                None
            }
        }
    }

    fn connect(name: &std::ffi::OsStr) -> std::io::Result<UnixDatagram> {
        use std::os::unix::ffi::OsStrExt;
        let sock = UnixDatagram::unbound()?;
        match name.as_bytes() {
            [b'@', abstract_name @ ..] => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)?;
                sock.connect_addr(&addr)?;
            }
            [b'/', ..] => sock.connect(name)?,
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a path or an abstract socket name (@...)",
                ));
            }
        }
        // A full queue must never stall the server: a message that does not fit is dropped.
        sock.set_nonblocking(true)?;
        Ok(sock)
    }

    /// Sends `msg` (newline-separated `KEY=value` assignments); a failure is logged, once per
    /// message.
    pub(crate) fn send(&self, msg: &str) {
        if let Err(e) = self.sock.send(msg.as_bytes()) {
            tracing::warn!("NOTIFY_SOCKET: cannot send {msg:?}: {e}");
        }
    }

    /// How often to send `WATCHDOG=1` (half of `WATCHDOG_USEC`), when the unit asks for it.
    pub(crate) fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }
}

/// `WATCHDOG_USEC`, when it is meant for this process (`WATCHDOG_PID` unset or ours).
fn watchdog_from_env() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID")
        && pid.to_str().and_then(|p| p.parse::<u32>().ok()) != Some(std::process::id())
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// `RELOADING=1` with the monotonic time systemd wants beside it (`Type=notify-reload`).
pub(crate) fn reloading() -> String {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000)
        .unwrap_or_default();
    format!("RELOADING=1\nMONOTONIC_USEC={now}")
}

/// The one-line status `systemctl status` shows: "3 backends, 8/8 processes up, 2 restarts"
/// ("no backends" when relight spawns none).
pub(crate) fn status_line(pools: &[PoolStatus]) -> String {
    use supervisor::SlotState;
    if pools.is_empty() {
        return "serving, no backends".to_owned();
    }
    let slots = pools.iter().flat_map(|p| &p.slots);
    let (mut up, mut all, mut restarts) = (0, 0, 0u64);
    for s in slots {
        all += 1;
        if matches!(s.state, SlotState::Ready | SlotState::Busy) {
            up += 1;
        }
        restarts += s.restarts.values().sum::<u64>();
    }
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{}, {up}/{all} processes up, {}",
        plural(pools.len() as u64, "backend", "backends"),
        plural(restarts, "restart", "restarts")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use supervisor::SlotStatus;

    fn slot(state: supervisor::SlotState, restarts: u64) -> SlotStatus {
        let mut r = BTreeMap::new();
        if restarts > 0 {
            r.insert(supervisor::Reason::Signaled, restarts);
        }
        SlotStatus {
            index: 0,
            addr: String::new(),
            state,
            pid: None,
            started_at: None,
            requests: 0,
            current: None,
            restarts: r,
            last_exit: None,
            recent_exits: Vec::new(),
        }
    }

    #[test]
    fn the_status_line_counts_processes_up_and_restarts() {
        use supervisor::SlotState::*;
        let pools = vec![
            PoolStatus {
                name: "a".into(),
                slots: vec![slot(Ready, 2), slot(Busy, 0), slot(Backoff, 1)],
            },
            PoolStatus {
                name: "b".into(),
                slots: vec![slot(Idle, 0)],
            },
        ];
        assert_eq!(
            status_line(&pools),
            "2 backends, 2/4 processes up, 3 restarts"
        );
        assert_eq!(
            status_line(&pools[1..]),
            "1 backend, 0/1 processes up, 0 restarts"
        );
        assert_eq!(status_line(&[]), "serving, no backends");
    }
}
