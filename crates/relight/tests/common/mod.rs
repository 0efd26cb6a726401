//! Test harness: real processes only. The generic helpers are in the `testkit` crate; this
//! adds the C libfcgi peers of these tests and relight itself (the real binary) with a
//! generated config.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub use testkit::*;

/// Compiles `tests/peers/<name>.c` against libfcgi (once per test binary run) and returns the
/// executable.
pub fn c_peer(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/peers/{name}.c"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("peer-{name}"));
    c_program(&src, &out)
}

/// A running relight.
pub struct Relight {
    pub proc: Proc,
    pub port: u16,
    pub dir: TempDir,
    /// The configuration's `[server]` part, kept by [`Relight::rewrite`].
    pub server_part: String,
}

impl Relight {
    /// Starts relight with `[server]` on a free port, the given document root and extra
    /// server keys, plus `rest` (e.g. `[[fastcgi]]` tables).
    pub fn start(docroot: &Path, server_extra: &str, rest: &str) -> Relight {
        let dir = TempDir::new("relight");
        let port = free_port();
        let server_part = format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\ndocument_root = \"{}\"\nerror_log = \"{}\"\naccess_log = \"{}\"\n{server_extra}\n",
            docroot.display(),
            dir.join("error.log").display(),
            dir.join("access.log").display(),
        );
        let cfg = dir.join("relight.toml");
        std::fs::write(&cfg, format!("{server_part}{rest}\n")).unwrap();
        Relight::run(&cfg, port, dir, server_part)
    }

    /// Runs relight on `config` and waits until it listens on `port`; its stderr goes to
    /// `dir/stderr.log`.
    fn run(config: &Path, port: u16, dir: TempDir, server_part: String) -> Relight {
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_relight"))
            .arg("-D")
            .arg("-f")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap();
        let mut proc = Proc { child };
        wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(10));
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!(
                "relight exited ({status}) instead of listening on {port}: {}",
                std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
            );
        }
        Relight {
            proc,
            port,
            dir,
            server_part,
        }
    }

    /// Replaces everything after `[server]` in the configuration file (for a reload).
    pub fn rewrite(&self, rest: &str) {
        std::fs::write(
            self.dir.join("relight.toml"),
            format!("{}{rest}\n", self.server_part),
        )
        .unwrap();
    }

    /// Starts relight on an existing configuration file (any format) that listens on `port`.
    pub fn start_file(config: &Path, port: u16) -> Relight {
        Relight::run(config, port, TempDir::new("relight"), String::new())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// Resident memory (VmRSS) in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.proc.pid(), "VmRSS:")
    }
}
