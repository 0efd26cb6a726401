//! The two logs: the error log (tracing events with timestamps, to a file, stderr or syslog;
//! under systemd's journal without timestamps of its own) and the access log (Combined Log
//! Format, to a file or syslog: [`syslog`]). Nothing else writes log files. Failures that come in runs
//! (a full disk, no descriptors left) are logged once per run ([`Outage`]); a full disk under
//! the error log itself is said once on stderr, and the count of lines lost is the first line
//! the log gets back.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

pub(crate) mod json;
pub mod syslog;

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Something that fails in runs (writes to a full disk, accepts without descriptors):
/// one line when a run starts, one when it has worked for [`Outage::CALM`] since the last
/// failure (with the count in between), none for each failure. Failures and successes often
/// alternate in a run (a descriptor or a few blocks freed, taken again), hence the calm.
#[derive(Debug)]
pub(crate) struct Outage {
    what: String,
    failing: AtomicBool,
    run: Mutex<Option<Run>>,
}

#[derive(Debug)]
struct Run {
    since: Instant,
    count: u64,
    last: Instant,
}

impl Outage {
    /// How long it must work after the last failure to be said to work again.
    pub(crate) const CALM: Duration = Duration::from_secs(1);

    /// An outage record for `what` ("accept on 127.0.0.1:80", "the access log"...).
    pub(crate) fn new(what: impl Into<String>) -> Outage {
        Outage {
            what: what.into(),
            failing: AtomicBool::new(false),
            run: Mutex::new(None),
        }
    }

    /// It failed with `e`; `meanwhile` says what happens during the run ("answering 503").
    /// Logged when it starts a run.
    pub(crate) fn failed(&self, e: &dyn std::fmt::Display, meanwhile: &str) {
        let now = Instant::now();
        let mut run = self.run.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *run {
            Some(r) => {
                r.count += 1;
                r.last = now;
            }
            None => {
                tracing::error!(
                    "{} failed: {e}; {meanwhile} (logged again when it works)",
                    self.what
                );
                *run = Some(Run {
                    since: now,
                    count: 1,
                    last: now,
                });
                self.failing.store(true, Ordering::Release);
            }
        }
    }

    /// It worked: ends a run whose last failure is [`Outage::CALM`] old, with a line. One
    /// atomic load when there is no run.
    pub(crate) fn worked(&self) {
        if !self.failing.load(Ordering::Acquire) {
            return;
        }
        let mut run = self.run.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = &*run
            && r.last.elapsed() >= Self::CALM
        {
            tracing::info!(
                "{} works again, after {} failure(s) over {:?}",
                self.what,
                r.count,
                r.last - r.since
            );
            *run = None;
            self.failing.store(false, Ordering::Release);
        }
    }
}

/// The error log file, reopenable (SIGHUP) under the same path.
struct ReopenableFile {
    path: std::path::PathBuf,
    file: std::sync::RwLock<File>,
    /// Lines that could not be written since the last that could, and why the first failed.
    lost: Mutex<Option<(u64, SystemTime, io::Error)>>,
}

impl ReopenableFile {
    fn reopen(&self) {
        match open_append(&self.path) {
            Ok(f) => *self.file.write().unwrap_or_else(|p| p.into_inner()) = f,
            Err(e) => tracing::error!("cannot reopen {}: {e}", self.path.display()),
        }
    }
}

static ERROR_LOG: std::sync::OnceLock<Arc<ReopenableFile>> = std::sync::OnceLock::new();

/// Reopens the error log file (after log rotation); nothing to do when logging to stderr.
pub fn reopen_error_log() {
    if let Some(f) = ERROR_LOG.get() {
        f.reopen();
    }
}

#[derive(Clone)]
struct FileWriter(Arc<ReopenableFile>);

impl Write for &FileWriter {
    /// Writes one event's line (tracing formats it whole); a line that cannot be written is
    /// counted, said once per run on stderr, and the count is written before the next line
    /// that can be.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let log = &self.0;
        let f = log.file.read().unwrap_or_else(|p| p.into_inner());
        let mut lost = log.lost.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((n, since, e)) = &*lost {
            let note = format!(
                "relight: {n} line(s) of this log were lost, from {}: {e}\n",
                crate::http::date::format_clf(*since),
            );
            if (&*f).write_all(note.as_bytes()).is_ok() {
                *lost = None;
            }
        }
        let written = if lost.is_none() {
            (&*f).write_all(buf)
        } else {
            Err(io::Error::other("earlier lines are not written yet"))
        };
        if let Err(e) = written {
            match &mut *lost {
                Some((n, _, _)) => *n += 1,
                None => {
                    eprintln!(
                        "relight: cannot write the error log {}: {e}; its lines are lost and counted until it can",
                        log.path.display()
                    );
                    *lost = Some((1, SystemTime::now(), e));
                }
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for FileWriter {
    type Writer = &'a FileWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// The log level from `RELIGHT_LOG` (error, warn, info, debug, trace); info by default.
fn level() -> tracing::level_filters::LevelFilter {
    std::env::var("RELIGHT_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(tracing::level_filters::LevelFilter::INFO)
}

/// The error log's line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Text: a timestamp (unless the journal or syslog stamps lines), the level, the message.
    #[default]
    Text,
    /// One JSON object per line (time, level, message and the event's fields).
    Json,
}

/// Sends the error log to `path` (appending), to syslog when it is `"syslog"` (or
/// `"syslog:/socket"`), or to stderr when `None` (the journal's format when stderr is the
/// journal), in `format`. Call once.
pub fn init_error_log(path: Option<&Path>, format: LogFormat) -> io::Result<()> {
    // Where the lines go, and whether that place stamps them itself.
    let (writer, stamped): (BoxMakeWriter, bool) = match path {
        Some(p) if let Some(sock) = syslog::socket_of(p) => {
            let sink = syslog::Sink::Syslog(Arc::new(syslog::Syslog::connect(&sock)?));
            (BoxMakeWriter::new(syslog::MakeLine(sink)), true)
        }
        Some(p) => {
            let file = Arc::new(ReopenableFile {
                path: p.to_owned(),
                file: std::sync::RwLock::new(open_append(p)?),
                lost: Mutex::new(None),
            });
            let _ = ERROR_LOG.set(file.clone());
            (BoxMakeWriter::new(FileWriter(file)), false)
        }
        // The journal stamps each line itself, and reads its priority from a `<N>` prefix.
        None if syslog::stderr_is_journal() => (
            BoxMakeWriter::new(syslog::MakeLine(syslog::Sink::Journal)),
            true,
        ),
        None => (BoxMakeWriter::new(io::stderr), false),
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level())
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer)
        // A line that cannot be written is the writer's to count, not a line on stderr per
        // event.
        .log_internal_errors(false);
    let result = match (format, stamped) {
        (LogFormat::Json, _) => builder
            .event_format(json::JsonLines { time: !stamped })
            .try_init(),
        (LogFormat::Text, true) => builder.without_time().try_init(),
        (LogFormat::Text, false) => builder.try_init(),
    };
    // A second init (tests running several servers in one process) keeps the first logger.
    let _ = result;
    Ok(())
}

/// One access log line's worth of facts.
#[derive(Debug)]
pub struct AccessEntry {
    /// The client.
    pub remote: SocketAddr,
    /// When the request arrived.
    pub time: SystemTime,
    /// The request line, as `METHOD target VERSION`.
    pub request_line: String,
    /// The status sent.
    pub status: u16,
    /// The Referer header.
    pub referer: Option<String>,
    /// The User-Agent header.
    pub user_agent: Option<String>,
}

/// The access log: a file, or syslog (`access_log = "syslog"`).
#[derive(Debug)]
pub struct AccessLog {
    path: std::path::PathBuf,
    to: AccessTo,
    failing: Outage,
}

/// Where access lines go.
#[derive(Debug)]
enum AccessTo {
    File(Mutex<File>),
    Syslog(syslog::Syslog),
}

fn quoted(s: Option<&str>) -> String {
    match s {
        None => "-".into(),
        Some(s) => s
            .chars()
            .flat_map(|c| match c {
                '"' => vec!['\\', '"'],
                '\\' => vec!['\\', '\\'],
                c if c.is_control() => format!("\\x{:02x}", c as u32).chars().collect(),
                c => vec![c],
            })
            .collect(),
    }
}

impl AccessLog {
    /// Opens (creating, appending) the access log, or connects to syslog for `"syslog"`.
    pub fn open(path: &Path) -> io::Result<AccessLog> {
        let (to, failing) = match syslog::socket_of(path) {
            Some(sock) => (
                AccessTo::Syslog(syslog::Syslog::connect(&sock)?),
                Outage::new("sending the access log to syslog"),
            ),
            None => (
                AccessTo::File(Mutex::new(open_append(path)?)),
                Outage::new(format!("writing the access log {}", path.display())),
            ),
        };
        Ok(AccessLog {
            path: path.to_owned(),
            to,
            failing,
        })
    }

    /// Reopens the file under its path (after log rotation); nothing for syslog.
    pub fn reopen(&self) {
        let AccessTo::File(file) = &self.to else {
            return;
        };
        match open_append(&self.path) {
            Ok(f) => *file.lock().unwrap_or_else(|p| p.into_inner()) = f,
            Err(e) => tracing::error!("cannot reopen {}: {e}", self.path.display()),
        }
    }

    /// Writes one line in Combined Log Format; `bytes` is the body size sent.
    pub fn write(&self, e: &AccessEntry, bytes: u64) {
        let line = format!(
            "{} - - [{}] \"{}\" {} {} \"{}\" \"{}\"\n",
            e.remote.ip(),
            crate::http::date::format_clf(e.time),
            quoted(Some(&e.request_line)),
            e.status,
            if bytes == 0 {
                "-".to_string()
            } else {
                bytes.to_string()
            },
            quoted(e.referer.as_deref()),
            quoted(e.user_agent.as_deref()),
        );
        let written = match &self.to {
            AccessTo::Syslog(s) => s.send(6, line.as_bytes()),
            AccessTo::File(f) => f
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_all(line.as_bytes()),
        };
        match written {
            Ok(()) => self.failing.worked(),
            Err(err) => self.failing.failed(&err, "its lines are lost"),
        }
    }
}

/// What the server has done since it started, for lighttpd's status page (mod_status): the
/// requests finished and the body bytes they sent, the connections open and the requests in
/// flight, and the last seconds' counts (for its 5-second averages). One per process: it
/// lives across reloads.
#[derive(Debug)]
pub struct Traffic {
    requests: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
    open: std::sync::atomic::AtomicUsize,
    in_flight: std::sync::atomic::AtomicUsize,
    started: SystemTime,
    /// (second, requests, bytes) of the last seconds, by second modulo the length.
    recent: Mutex<[(u64, u64, u64); 8]>,
}

/// The process's [`Traffic`].
pub fn traffic() -> &'static Traffic {
    static T: std::sync::OnceLock<Traffic> = std::sync::OnceLock::new();
    T.get_or_init(|| Traffic {
        requests: Default::default(),
        bytes: Default::default(),
        open: Default::default(),
        in_flight: Default::default(),
        started: SystemTime::now(),
        recent: Mutex::new([(0, 0, 0); 8]),
    })
}

impl Traffic {
    /// A connection was accepted.
    pub fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection ended.
    pub fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A request started.
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was given up before its response began (its client left).
    pub fn request_abandoned(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// A request ended, its body having sent `bytes`.
    pub fn request_done(&self, bytes: u64) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let now = crate::http::date::now_secs();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut recent[(now % 8) as usize];
        if slot.0 != now {
            *slot = (now, 0, 0);
        }
        slot.1 += 1;
        slot.2 += bytes;
    }

    /// (requests finished, body bytes sent, connections open, requests in flight).
    pub fn counts(&self) -> (u64, u64, usize, usize) {
        (
            self.requests.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.open.load(Ordering::Relaxed),
            self.in_flight.load(Ordering::Relaxed),
        )
    }

    /// When the process started counting.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// Requests and bytes per second over the last five whole seconds.
    pub fn average_5s(&self) -> (u64, u64) {
        let now = crate::http::date::now_secs();
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let (r, b) = recent
            .iter()
            .filter(|(s, _, _)| *s < now && now - *s <= 5)
            .fold((0, 0), |(r, b), (_, sr, sb)| (r + sr, b + sb));
        (r / 5, b / 5)
    }
}
