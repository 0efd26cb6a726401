//! Test support shared by the workspace's integration tests: real processes only. Temporary
//! directories, free ports, child processes killed on drop, C libfcgi programs compiled on
//! demand, workspace binaries built on demand, curl and raw HTTP, and /proc inspection.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        // Unix socket paths are limited to 108 bytes: keep this short.
        let p = PathBuf::from(format!(
            "/tmp/rl-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, s: &str) -> PathBuf {
        self.0.join(s)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles the C program `src` against libfcgi into `out` (again only when the source is
/// newer) and returns `out`.
pub fn c_program(src: &Path, out: &Path) -> PathBuf {
    let fresh = |o: &Path| {
        let (Ok(a), Ok(b)) = (std::fs::metadata(o), std::fs::metadata(src)) else {
            return false;
        };
        a.modified().unwrap() >= b.modified().unwrap()
    };
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    if fresh(out) {
        return out.to_path_buf();
    }
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let st = Command::new("cc")
        .args(["-O2", "-Wall", "-Wno-main", "-o"])
        .arg(&tmp)
        .arg(src)
        .arg("-lfcgi")
        .status()
        .expect("cc runs (the test setup installs gcc and libfcgi-dev)");
    assert!(st.success(), "compiling {} failed", src.display());
    std::fs::rename(&tmp, out).unwrap();
    out.to_path_buf()
}

/// Builds cargo targets of this workspace (`args` as for `cargo build`) with the cargo running
/// the tests, once per argument list per test binary, and returns the target directory's
/// profile directory (`target/debug`).
pub fn cargo_build(cargo: &str, target_tmpdir: &str, args: &[&str]) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let key = args.join(" ");
    if !built.contains(&key) {
        let st = Command::new(cargo)
            .arg("build")
            .args(args)
            .status()
            .expect("cargo runs");
        assert!(st.success(), "cargo build {key} failed");
        built.push(key);
    }
    // CARGO_TARGET_TMPDIR is <target>/tmp; the debug profile is beside it.
    Path::new(target_tmpdir).with_file_name("debug")
}

/// A free TCP port on loopback, below the kernel's ephemeral range: a port the kernel hands
/// out for `bind(0)` is also what it picks for the local end of an outgoing connection, so a
/// test making many connections could take it before the server under test binds it (and a
/// connect to it could then even connect to itself). Ports are handed out in turn within the
/// process, from an offset by pid (test binaries run one after another).
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32768);
    let (first, span) = (10_000, low.saturating_sub(10_000).max(1000));
    let start = std::process::id() as usize * 7919;
    for _ in 0..span {
        let port = first + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    panic!("no free port in {first}..{}", first + span)
}

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (by number) with kill(1).
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status();
    }

    /// Waits up to `d` for the process to exit.
    pub fn wait_exit(&mut self, d: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    /// SIGTERM first, so servers stop what they spawned; SIGKILL if that takes over 3 s.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal("TERM");
            if self.wait_exit(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// Starts a FastCGI program the way web servers do: its listening socket (owned by the test)
/// on fd 0.
pub fn spawn_fcgi_unix(program: &Path, socket: &Path, args: &[&str]) -> Proc {
    let _ = std::fs::remove_file(socket);
    let l = UnixListener::bind(socket).unwrap();
    let fd: OwnedFd = l.into();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::from(fd))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proc { child }
}

/// Waits until something accepts on `addr`.
pub fn wait_listening(addr: &str, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        // A connection to itself (the kernel may pick the port as the local end) is no
        // listener.
        if TcpStream::connect(addr).is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listening on {addr} after {d:?}");
}

pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A response as curl saw it.
#[derive(Debug)]
pub struct CurlResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl CurlResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `NAME=value` lines of the echo peer, as a map.
    pub fn params(&self) -> std::collections::BTreeMap<String, String> {
        self.text()
            .lines()
            .filter_map(|l| {
                l.split_once('=')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect()
    }
}

/// Runs curl with `args` (a URL among them) and parses the response.
pub fn curl(args: &[&str]) -> CurlResponse {
    let dir = TempDir::new("curl");
    let head_file = dir.join("head");
    let out: Output = Command::new("curl")
        .args(["-s", "-S", "--max-time", "30", "-D"])
        .arg(&head_file)
        .args(args)
        .output()
        .expect("curl runs");
    let head = std::fs::read_to_string(&head_file).unwrap_or_default();
    // The last header block (after any 100 Continue).
    let last = head
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .last()
        .unwrap_or("")
        .to_string();
    let status = last
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    CurlResponse {
        status,
        head: last,
        body: out.stdout,
    }
}

/// Sends raw bytes and reads until the server closes or `d` passes.
pub fn raw(addr: &str, request: &[u8], d: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(d)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let end = Instant::now() + d;
    let mut buf = [0u8; 65536];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    out
}

/// A document root with a few files.
pub fn docroot() -> TempDir {
    let d = TempDir::new("www");
    std::fs::write(d.join("index.html"), "<h1>home</h1>\n").unwrap();
    std::fs::create_dir_all(d.join("dir")).unwrap();
    std::fs::write(d.join("dir/script.php"), "<?php\n").unwrap();
    std::fs::write(d.join("hello.txt"), "hello, world\n").unwrap();
    d
}

/// A live process seen in /proc: (pid, ppid, pgid, command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsEntry {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub cmd: String,
}

/// Process `pid` if it is live (not a zombie): its parent, group and command line.
pub fn process(pid: i32) -> Option<PsEntry> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    if f.first().is_some_and(|s| *s == "Z" || *s == "X") {
        return None;
    }
    Some(PsEntry {
        pid,
        ppid: f.get(1)?.parse().unwrap_or(0),
        pgid: f.get(2)?.parse().unwrap_or(0),
        cmd: cmdline(pid).unwrap_or_default(),
    })
}

/// The command line of `pid`, its arguments joined by spaces.
pub fn cmdline(pid: i32) -> Option<String> {
    std::fs::read(format!("/proc/{pid}/cmdline")).ok().map(|b| {
        String::from_utf8_lossy(&b)
            .replace('\0', " ")
            .trim()
            .to_string()
    })
}

/// Every live (non-zombie) process whose command line contains `needle`.
pub fn ps(needle: &str) -> Vec<PsEntry> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter_map(process)
        .filter(|p| p.cmd.contains(needle))
        .collect()
}

/// Stops process `pid`, which need not be a child of the caller (one a child started):
/// SIGTERM, then SIGKILL if it still runs after 5 s.
pub fn stop_pid(pid: i32) {
    let kill = |sig: &str| {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status();
    };
    kill("TERM");
    let end = Instant::now() + Duration::from_secs(5);
    while process(pid).is_some() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    if process(pid).is_some() {
        kill("KILL");
    }
}

/// Polls `f` every 10 ms until it returns `Some`, or panics after `d` with `what`.
pub fn wait_for<T>(d: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + d;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {d:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// CPU time (user + system) a process used, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Starts curl in the background (for requests that block).
pub fn curl_bg(args: &[&str]) -> std::process::Child {
    Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Starts nginx in the foreground on 127.0.0.1:`port`, passing every request to FastCGI at
/// `fastcgi_pass` ("unix:/path" or "host:port") with Debian's fastcgi_params; its files go in
/// `dir`. Waits until it listens.
pub fn start_nginx(dir: &Path, port: u16, fastcgi_pass: &str) -> Proc {
    let conf = format!(
        "user root;\nerror_log {d}/nginx-error.log;\npid {d}/nginx.pid;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/cb;\n  fastcgi_temp_path {d}/ft;\n  proxy_temp_path {d}/pt;\n  uwsgi_temp_path {d}/ut;\n  scgi_temp_path {d}/st;\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      include /etc/nginx/fastcgi_params;\n      fastcgi_pass {fastcgi_pass};\n    }}\n  }}\n}}\n",
        d = dir.display(),
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let p = Proc {
        child: Command::new("nginx")
            .args(["-g", "daemon off;", "-c"])
            .arg(dir.join("nginx.conf"))
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed by the test setup"),
    };
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(10));
    p
}

/// Starts lighttpd 1.4 in the foreground with `config`, which listens on 127.0.0.1:`port`, and
/// waits until it listens.
pub fn start_lighttpd(config: &Path, port: u16) -> Proc {
    use std::os::unix::process::CommandExt;
    let p = Proc {
        child: Command::new("lighttpd")
            .args(["-D", "-f"])
            .arg(config)
            .stdout(Stdio::null())
            // With server.max-worker, lighttpd stops its workers with kill(0, SIGTERM): its own
            // process group, or it takes the test runner with it.
            .process_group(0)
            .spawn()
            .expect("lighttpd is installed by the test setup"),
    };
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(10));
    p
}
