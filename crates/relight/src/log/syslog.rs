//! Where devices look for logs: syslog (`error_log = "syslog"`, `access_log = "syslog"`,
//! lighttpd's `server.errorlog-use-syslog` and `accesslog.use-syslog`), one datagram per line on
//! `/dev/log` as glibc's syslog(3) sends them, and the journal's stderr (under systemd, with no
//! error log file: lines without relight's own timestamp, the journal adds one, each with its
//! priority as a `<N>` prefix).
//!
//! The `/dev/log` socket is connected at start, before relight gives up root and the file
//! system (chroot): a connected socket keeps working after both.

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;

use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;

/// The value of `error_log` / `access_log` that means syslog (on `/dev/log`) rather than a
/// file; `"syslog:/path"` names another socket (a container's, a chroot's).
pub const SYSLOG: &str = "syslog";

/// The logger's socket when `dest` (an `error_log` / `access_log` value) means syslog.
pub(crate) fn socket_of(dest: &std::path::Path) -> Option<std::path::PathBuf> {
    let s = dest.to_str()?;
    if s == SYSLOG {
        return Some("/dev/log".into());
    }
    s.strip_prefix("syslog:").map(Into::into)
}

/// The daemon facility (syslog(3)'s LOG_DAEMON), lighttpd's default `server.syslog-facility`.
const LOG_DAEMON: u8 = 3;

/// A line's severity (syslog(3)'s LOG_ERR .. LOG_DEBUG).
pub(crate) fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// The connection to the system logger.
#[derive(Debug)]
pub(crate) struct Syslog {
    sock: UnixDatagram,
    /// "relight[pid]: ", syslog's tag.
    tag: String,
}

impl Syslog {
    /// Connects to the system logger's socket (`/dev/log`, or `path`).
    pub(crate) fn connect(path: &std::path::Path) -> io::Result<Syslog> {
        let sock = UnixDatagram::unbound()?;
        sock.connect(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "syslog: cannot connect to {} (no system logger running?): {e}",
                    path.display()
                ),
            )
        })?;
        Ok(Syslog {
            sock,
            tag: format!("relight[{}]: ", std::process::id()),
        })
    }

    /// Sends one line (its trailing newline dropped) at `severity`.
    pub(crate) fn send(&self, severity: u8, line: &[u8]) -> io::Result<()> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut msg = Vec::with_capacity(line.len() + self.tag.len() + 6);
        let _ = write!(msg, "<{}>{}", LOG_DAEMON * 8 + severity, self.tag);
        msg.extend_from_slice(line);
        self.sock.send(&msg).map(|_| ())
    }
}

/// Where an event's line goes once formatted whole.
#[derive(Clone)]
pub(crate) enum Sink {
    /// The system logger.
    Syslog(Arc<Syslog>),
    /// stderr read by the journal: `<N>` then the line.
    Journal,
}

/// tracing's writer for [`Sink`]: an event's line is gathered, then sent as one message with
/// the event's priority.
pub(crate) struct LineWriter {
    sink: Sink,
    severity: u8,
    buf: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        match &self.sink {
            // A logger that is gone or full loses the line; there is nowhere else to say it
            // but stderr.
            Sink::Syslog(s) => {
                if let Err(e) = s.send(self.severity, &self.buf) {
                    let _ = io::stderr().write_all(
                        format!(
                            "relight: syslog: {e}: {}",
                            String::from_utf8_lossy(&self.buf)
                        )
                        .as_bytes(),
                    );
                }
            }
            Sink::Journal => {
                let mut line = format!("<{}>", self.severity).into_bytes();
                line.extend_from_slice(&self.buf);
                let _ = io::stderr().write_all(&line);
            }
        }
    }
}

/// Makes a [`LineWriter`] per event.
#[derive(Clone)]
pub(crate) struct MakeLine(pub(crate) Sink);

impl<'a> MakeWriter<'a> for MakeLine {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            sink: self.0.clone(),
            severity: 6,
            buf: Vec::new(),
        }
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LineWriter {
        LineWriter {
            sink: self.0.clone(),
            severity: severity(meta.level()),
            buf: Vec::new(),
        }
    }
}

/// Whether stderr is the journal's stream (systemd sets `JOURNAL_STREAM=dev:inode` for a
/// service whose stderr goes to the journal; a redirection after that changes the inode).
pub(crate) fn stderr_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(st) = nix::sys::stat::fstat(std::io::stderr()) else {
        return false;
    };
    dev.parse::<u64>().ok() == Some(st.st_dev) && ino.parse::<u64>().ok() == Some(st.st_ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_goes_as_one_datagram_with_its_priority_and_tag() {
        let (a, b) = UnixDatagram::pair().unwrap();
        let s = Syslog {
            sock: a,
            tag: "relight[7]: ".into(),
        };
        s.send(severity(&Level::ERROR), b"backend \"app\" died\n")
            .unwrap();
        let mut buf = [0u8; 256];
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<27>relight[7]: backend \"app\" died");
        s.send(severity(&Level::INFO), b"x").unwrap();
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<30>relight[7]: x");
    }
}
