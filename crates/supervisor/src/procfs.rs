//! What /proc says about processes: command lines, process groups, parents, and which process
//! holds a socket. Read-only; used to explain (never to decide) what happened.

use std::fs;

/// One process seen in /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Its pid.
    pub pid: i32,
    /// Its parent.
    pub ppid: i32,
    /// Its process group.
    pub pgid: i32,
    /// Its command line, arguments joined by spaces (`[comm]` when it has none).
    pub cmdline: String,
}

/// The pids of this process's children (what /proc/self/task/*/children lists), or `None`
/// where the kernel does not list them.
pub fn own_children() -> Option<Vec<i32>> {
    let mut out = Vec::new();
    for task in fs::read_dir("/proc/self/task").ok()?.flatten() {
        let text = fs::read_to_string(task.path().join("children")).ok()?;
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    Some(out)
}

/// Whether process group `pgid` has a member left (signal 0: nothing is sent).
pub fn group_alive(pgid: i32) -> bool {
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_ok()
}

/// The command line of `pid`, or `None` if it is gone.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        return Some(format!("[{}]", comm.trim_end()));
    }
    Some(args.join(" "))
}

/// The resident memory of `pid` in bytes (`/proc/PID/statm`), `None` if it is gone.
pub fn rss(pid: i32) -> Option<u64> {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let page = *PAGE.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .map_or(4096, |p| p as u64)
    });
    let statm = fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page)
}

/// Reads one process, `None` if it is gone or is a zombie.
pub fn process(pid: i32) -> Option<ProcInfo> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let ppid = f.next()?.parse().ok()?;
    let pgid = f.next()?.parse().ok()?;
    Some(ProcInfo {
        pid,
        ppid,
        pgid,
        cmdline: cmdline(pid).unwrap_or_default(),
    })
}

/// Every live process.
pub fn all() -> Vec<ProcInfo> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(process)
        .collect()
}

/// Live processes in process group `pgid`.
pub fn group_members(pgid: i32) -> Vec<ProcInfo> {
    all().into_iter().filter(|p| p.pgid == pgid).collect()
}

/// The processes (pid, command line) that hold socket inode `inode` open.
fn holders_of_inode(inode: u64) -> Vec<(i32, String)> {
    let needle = format!("socket:[{inode}]");
    let mut out = Vec::new();
    for p in all() {
        let Ok(fds) = fs::read_dir(format!("/proc/{}/fd", p.pid)) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l.to_str() == Some(&needle)))
        {
            out.push((p.pid, p.cmdline));
        }
    }
    out
}

/// Who listens on TCP `port` (any address), as "pid N (cmdline)" strings.
pub fn tcp_listeners(port: u16) -> Vec<(i32, String)> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is "HEXIP:HEXPORT"; state 0A is LISTEN; inode is field 9.
            let Some(local) = f.get(1) else { continue };
            let Some(p) = local.rsplit(':').next() else {
                continue;
            };
            if u16::from_str_radix(p, 16).ok() == Some(port) && f.get(3) == Some(&"0A") {
                if let Some(inode) = f.get(9).and_then(|i| i.parse().ok()) {
                    inodes.push(inode);
                }
            }
        }
    }
    inodes.into_iter().flat_map(holders_of_inode).collect()
}

/// Who holds a unix socket bound to `path`.
pub fn unix_holders(path: &std::path::Path) -> Vec<(i32, String)> {
    let Ok(text) = fs::read_to_string("/proc/net/unix") else {
        return Vec::new();
    };
    let path = path.to_string_lossy();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.get(7) == Some(&path.as_ref())).then(|| f.get(6)?.parse::<u64>().ok())?
        })
        .flat_map(holders_of_inode)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_itself() {
        let me = std::process::id() as i32;
        let p = process(me).expect("this process");
        assert_eq!(p.pid, me);
        assert!(!p.cmdline.is_empty());
        assert!(group_members(p.pgid).iter().any(|q| q.pid == me));
    }

    #[test]
    fn finds_the_holder_of_a_tcp_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let holders = tcp_listeners(port);
        assert!(
            holders
                .iter()
                .any(|(pid, _)| *pid == std::process::id() as i32),
            "{holders:?}"
        );
    }
}
