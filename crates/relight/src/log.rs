//! The two logs: the error log (tracing events with timestamps, to a file or stderr) and the
//! access log (Combined Log Format). Nothing else writes log files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing_subscriber::fmt::MakeWriter;

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The error log file, reopenable (SIGHUP) under the same path.
struct ReopenableFile {
    path: std::path::PathBuf,
    file: std::sync::RwLock<File>,
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
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self.0.file.read().unwrap_or_else(|p| p.into_inner());
        (&*f).write(buf)
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

/// Sends the error log to `path` (appending), or to stderr when `None`. Call once.
pub fn init_error_log(path: Option<&Path>) -> io::Result<()> {
    let builder = tracing_subscriber::fmt()
        .with_max_level(level())
        .with_target(false);
    let result = match path {
        Some(p) => {
            let file = Arc::new(ReopenableFile {
                path: p.to_owned(),
                file: std::sync::RwLock::new(open_append(p)?),
            });
            let _ = ERROR_LOG.set(file.clone());
            builder
                .with_ansi(false)
                .with_writer(FileWriter(file))
                .try_init()
        }
        None => builder.with_ansi(false).with_writer(io::stderr).try_init(),
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

/// The access log file.
#[derive(Debug)]
pub struct AccessLog {
    path: std::path::PathBuf,
    file: Mutex<File>,
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
    /// Opens (creating, appending) the access log.
    pub fn open(path: &Path) -> io::Result<AccessLog> {
        Ok(AccessLog {
            path: path.to_owned(),
            file: Mutex::new(open_append(path)?),
        })
    }

    /// Reopens the file under its path (after log rotation).
    pub fn reopen(&self) {
        match open_append(&self.path) {
            Ok(f) => *self.file.lock().unwrap_or_else(|p| p.into_inner()) = f,
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
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(err) = f.write_all(line.as_bytes()) {
            tracing::error!("access log write failed: {err}");
        }
    }
}
