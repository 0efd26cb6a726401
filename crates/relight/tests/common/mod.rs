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
        let (cfg, port, dir, server_part) = Relight::configure(docroot, server_extra, rest);
        Relight::run(&cfg, port, dir, server_part)
    }

    /// As [`Relight::start`], with `env` added to relight's environment.
    pub fn start_env(
        docroot: &Path,
        server_extra: &str,
        rest: &str,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Relight {
        let (cfg, port, dir, server_part) = Relight::configure(docroot, server_extra, rest);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_relight"));
        cmd.arg("-D").arg("-f").arg(&cfg);
        cmd.envs(env.iter().copied());
        Relight::run_command(cmd, port, dir, server_part)
    }

    /// As [`Relight::start`], with relight inheriting a descriptor that is not close-on-exec
    /// (fd 7, open on /etc/hostname), as a careless parent process leaves it one.
    pub fn start_inheriting_fd7(docroot: &Path, server_extra: &str, rest: &str) -> Relight {
        let (cfg, port, dir, server_part) = Relight::configure(docroot, server_extra, rest);
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("exec 7</etc/hostname && exec \"$0\" -D -f \"$1\"")
            .arg(env!("CARGO_BIN_EXE_relight"))
            .arg(&cfg);
        Relight::run_command(cmd, port, dir, server_part)
    }

    /// Writes the configuration of [`Relight::start`] in a new directory: its path, the port
    /// it listens on, the directory, and its `[server]` part.
    fn configure(
        docroot: &Path,
        server_extra: &str,
        rest: &str,
    ) -> (std::path::PathBuf, u16, TempDir, String) {
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
        (cfg, port, dir, server_part)
    }

    /// Runs relight on `config` and waits until it listens on `port`; its stderr goes to
    /// `dir/stderr.log`.
    fn run(config: &Path, port: u16, dir: TempDir, server_part: String) -> Relight {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_relight"));
        cmd.arg("-D").arg("-f").arg(config);
        Relight::run_command(cmd, port, dir, server_part)
    }

    /// Runs `cmd` (relight, or what becomes it) and waits until it listens on `port`.
    fn run_command(mut cmd: Command, port: u16, dir: TempDir, server_part: String) -> Relight {
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let child = cmd
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

impl Drop for Relight {
    /// A failing test shows what relight said: whether it is still running, its stderr and
    /// its error log (the directory holding them goes with it).
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let status = match self.proc.child.try_wait() {
            Ok(Some(s)) => format!("exited: {s}"),
            Ok(None) => "still running".to_string(),
            Err(e) => format!("unknown: {e}"),
        };
        let tail = |name: &str| {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        eprintln!(
            "relight on port {} ({status})\n--- stderr.log (last 40 lines)\n{}\n--- error.log (last 40 lines)\n{}",
            self.port,
            tail("stderr.log"),
            tail("error.log")
        );
    }
}

/// The WebSocket handshake a test client sends for `path` (RFC 6455's sample key).
pub const WS_HANDSHAKE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Opens a WebSocket to `path` at `addr`: the handshake sent, the 101 read and checked
/// (Sec-WebSocket-Accept of the sample key); the stream, ready for frames.
pub fn ws_open(addr: &str, path: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {WS_HANDSHAKE_KEY}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    s
}

/// Sends `msg` as a masked text frame on `s` and reads the frame echoed (as long as `msg`);
/// checks its payload and returns it whole (header bytes first).
pub fn ws_echo(s: &mut std::net::TcpStream, mask: [u8; 4], msg: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut frame = vec![0x81, 0x80 | msg.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(msg.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).unwrap();
    let mut reply = vec![0u8; 2 + msg.len()];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply[2..], msg);
    reply
}
