//! Chaos: clients hammer a spawned backend while its processes are SIGKILLed at random. Also
//! measures the time from a process's death to the next good response.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// One HTTP/1.0 GET; the status, or an error if nothing (or no status line) came back within
/// `timeout`.
fn get(addr: &str, path: &str, timeout: Duration) -> Result<u16, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .map_err(|e| format!("{e} after {} bytes", out.len()))?;
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {:?}", &text[..text.len().min(100)]))
}

fn backend_pids(program: &str) -> Vec<i32> {
    ps(program)
        .into_iter()
        .filter(|e| e.cmd.starts_with(program))
        .map(|e| e.pid)
        .collect()
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn zombies_of(pid: u32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .collect();
        if f[0] == "Z" && f[1] == pid.to_string() {
            out.push(p);
        }
    }
    out
}

fn setup(tag: &str, procs: usize) -> (TempDir, TempDir, String, Relight) {
    let www = docroot();
    let dir = TempDir::new(tag);
    let echo = dir.join("echo");
    std::fs::copy(c_peer("fcgi_echo"), &echo).unwrap();
    let r = Relight::start(
        www.path(),
        "",
        &format!(
            "[[fastcgi]]\nname = \"app\"\nmatch = [\"/app\"]\ncommand = [\"{}\"]\nsocket = \"{}\"\nprocs = {procs}\nqueue_timeout = \"3s\"\nrequest_timeout = \"3s\"\n",
            echo.display(),
            dir.join("app.sock").display()
        ),
    );
    (www, dir, echo.to_string_lossy().into_owned(), r)
}

#[test]
fn random_kills_under_load() {
    let (_www, _dir, echo, r) = setup("chaos", 4);
    let addr = r.addr();
    // Warm up, then take the baseline of relight's descriptors.
    for _ in 0..20 {
        let first = get(&addr, "/app?mode=pid", Duration::from_secs(5));
        assert_eq!(first, Ok(200), "error log:\n{}", r.error_log());
    }
    let fds_before = fd_count(r.proc.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let (addr, stop, ok, failures, slowest) = (
                addr.clone(),
                stop.clone(),
                ok.clone(),
                failures.clone(),
                slowest.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let r = get(&addr, "/app?mode=pid", Duration::from_secs(10));
                    let took = t.elapsed();
                    let mut s = slowest.lock().unwrap();
                    *s = (*s).max(took);
                    drop(s);
                    match r {
                        Ok(200) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => failures.lock().unwrap().push(other),
                    }
                }
            })
        })
        .collect();
    let mut kills = 0u64;
    let start = Instant::now();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    while start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
        let pids = backend_pids(&echo);
        if pids.is_empty() {
            continue;
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let victim = pids[(rng % pids.len() as u64) as usize];
        if std::process::Command::new("kill")
            .args(["-KILL", &victim.to_string()])
            .status()
            .unwrap()
            .success()
        {
            kills += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    let ok = ok.load(Ordering::Relaxed);
    let slowest = *slowest.lock().unwrap();
    eprintln!(
        "chaos: {kills} kills in 20 s, {ok} good responses, {} failed ({:?}), slowest {slowest:?}",
        failures.len(),
        failures
            .iter()
            .fold(std::collections::BTreeMap::new(), |mut m, f| {
                *m.entry(format!("{f:?}")).or_insert(0) += 1;
                m
            })
    );
    assert!(ok > 1000, "only {ok} good responses");
    assert!(
        slowest < Duration::from_secs(10),
        "a request hung for {slowest:?}"
    );
    // A request fails only with a 502 (its process died before the response began) or a
    // cut-off connection (it died mid-response: a truncated response must not look complete).
    assert!(
        failures
            .iter()
            .all(|f| *f == Ok(502) || f.as_ref().is_err_and(|e| e.starts_with("no status line"))),
        "failures other than 502 or a cut-off response: {failures:?}"
    );
    assert!(
        failures.len() as u64 <= kills,
        "{} failures for {kills} kills",
        failures.len()
    );
    // Settled: every slot back, nothing leaked.
    wait_for(Duration::from_secs(5), "4 processes", || {
        (backend_pids(&echo).len() == 4).then_some(())
    });
    for _ in 0..20 {
        let first = get(&addr, "/app?mode=pid", Duration::from_secs(5));
        assert_eq!(first, Ok(200), "error log:\n{}", r.error_log());
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        zombies_of(r.proc.pid()).is_empty(),
        "zombies: {:?}",
        zombies_of(r.proc.pid())
    );
    let fds_after = fd_count(r.proc.pid());
    // At most one kept connection per slot (4) more than before the load.
    assert!(
        fds_after <= fds_before + 2 + 4,
        "fds {fds_before} -> {fds_after}"
    );
    let children: Vec<i32> = ps("")
        .into_iter()
        .filter(|e| e.ppid == r.proc.pid() as i32)
        .map(|e| e.pid)
        .collect();
    let backends = backend_pids(&echo);
    assert!(
        children.iter().all(|c| backends.contains(c)),
        "orphans: {children:?} vs {backends:?}"
    );
}

#[test]
fn time_from_death_to_next_good_response() {
    let (_www, _dir, echo, r) = setup("respawn", 1);
    let addr = r.addr();
    let mut times = Vec::new();
    for _ in 0..20 {
        let first = get(&addr, "/app?mode=pid", Duration::from_secs(5));
        assert_eq!(first, Ok(200), "error log:\n{}", r.error_log());
        let pid = backend_pids(&echo)[0];
        let t = Instant::now();
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        loop {
            if get(&addr, "/app?mode=pid", Duration::from_secs(5)) == Ok(200) {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "no good response within 1 s of a death"
            );
        }
        times.push(t.elapsed());
    }
    times.sort();
    eprintln!(
        "respawn: median {:?}, min {:?}, max {:?} from SIGKILL to the next good response (20 deaths)",
        times[10], times[0], times[19]
    );
}
