//! Maps a spawned `[[fastcgi]]` backend (one with `command`) onto the supervisor's pool
//! configuration: argv, environment as lighttpd builds it, working directory, user and group,
//! socket addresses, process counts and stop policy.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use supervisor::{BaseAddr, DescendantPolicy, PoolConfig, SpawnSpec};

use crate::config::{Descendants, FastcgiConfig};

/// The environment of a spawned process, built as lighttpd does: relight's whole environment,
/// or only the `copy` variables when that list is not empty; then `set` on top; then
/// PHP_FCGI_CHILDREN=1 unless set (one process per slot: relight is the process manager).
pub(crate) fn backend_env(
    copy: &[String],
    set: &std::collections::BTreeMap<String, String>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = if copy.is_empty() {
        std::env::vars_os().collect()
    } else {
        copy.iter()
            .filter_map(|k| std::env::var_os(k).map(|v| (OsString::from(k), v)))
            .collect()
    };
    for (k, v) in set {
        env.retain(|(ek, _)| ek != k.as_str());
        env.push((k.into(), v.into()));
    }
    if !env.iter().any(|(k, _)| k == "PHP_FCGI_CHILDREN") {
        env.push(("PHP_FCGI_CHILDREN".into(), "1".into()));
    }
    env
}

/// Why a spawned process cannot run as the user or group it names.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Only root can start a process as another user.
    #[error("user or group is set but relight is not running as root")]
    NotRoot,
    /// No such user.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// No such group.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
}

/// Why a spawned backend's pool cannot be made.
#[derive(Debug, thiserror::Error)]
#[error("fastcgi {backend:?}: {source}")]
pub struct PoolError {
    /// The backend.
    pub backend: String,
    /// Why.
    pub source: IdError,
}

/// The uid and gid of `user` and `group` for spawned processes; setting either needs root.
pub(crate) fn user_group_ids(
    user: Option<&str>,
    group: Option<&str>,
) -> Result<(Option<u32>, Option<u32>), IdError> {
    if (user.is_some() || group.is_some()) && !nix::unistd::geteuid().is_root() {
        return Err(IdError::NotRoot);
    }
    let uid = match user {
        None => None,
        Some(u) => Some(
            nix::unistd::User::from_name(u)
                .ok()
                .flatten()
                .ok_or_else(|| IdError::UnknownUser(u.to_owned()))?
                .uid
                .as_raw(),
        ),
    };
    let gid = match group {
        None => None,
        Some(g) => Some(
            nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| IdError::UnknownGroup(g.to_owned()))?
                .gid
                .as_raw(),
        ),
    };
    Ok((uid, gid))
}

/// The pool for a spawned backend; `None` for an external one. `config_dir` resolves a
/// relative program path.
pub(crate) fn pool_config(
    c: &FastcgiConfig,
    config_dir: &Path,
) -> Result<Option<PoolConfig>, PoolError> {
    let Some(cmd) = &c.command else {
        return Ok(None);
    };
    let name = &c.name.value;
    let mut program = PathBuf::from(&cmd[0]);
    if program.is_relative() && cmd[0].contains('/') {
        program = config_dir.join(program);
    }
    // lighttpd passes its whole environment unless bin-copy-environment lists what to copy.
    let env = backend_env(&c.copy_env, &c.env);
    let cwd = match &c.cwd {
        Some(d) => d.clone(),
        None => program
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| config_dir.to_path_buf(), Path::to_path_buf),
    };
    let (uid, gid) =
        user_group_ids(c.user.as_deref(), c.group.as_deref()).map_err(|source| PoolError {
            backend: name.clone(),
            source,
        })?;
    // The check makes a spawned backend set one of socket or port.
    let addr = match &c.socket {
        Some(p) => BaseAddr::Unix(p.clone()),
        None => BaseAddr::Tcp(SocketAddr::new(
            c.host.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            c.port.unwrap_or_default(),
        )),
    };
    let (min_procs, max_procs) = c.proc_range();
    Ok(Some(PoolConfig {
        name: name.clone(),
        spec: SpawnSpec {
            program,
            args: cmd[1..].iter().map(OsString::from).collect(),
            env,
            cwd,
            uid,
            gid,
        },
        addr,
        shared_socket: false,
        min_procs,
        max_procs,
        backlog: c.backlog,
        socket_mode: c.socket_mode.map(|m| m.0),
        kill_signal: c.kill_signal.0,
        kill_grace: c.kill_grace.0,
        max_requests: c.max_requests,
        max_rss: c.max_rss.map(|s| s.0),
        limits: supervisor::CgroupLimits {
            memory_max: c.memory_max.map(|s| s.0),
            pids_max: c.pids_max,
        },
        health_check: c.health_check.map(|every| supervisor::HealthCheck {
            every: every.0,
            timeout: c.health_check_timeout.0,
        }),
        idle_timeout: c.idle_timeout.0,
        descendants: match c.descendants {
            Descendants::Kill => DescendantPolicy::Kill,
            Descendants::Keep => DescendantPolicy::Keep,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_as_lighttpd_builds_it() {
        let get = |env: &[(OsString, OsString)], k: &str| {
            env.iter()
                .find(|(ek, _)| ek == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        // Everything, PHP_FCGI_CHILDREN=1 added.
        let all = backend_env(&[], &Default::default());
        assert!(get(&all, "PATH").is_some());
        assert_eq!(get(&all, "PHP_FCGI_CHILDREN").as_deref(), Some("1"));
        // Only the copied ones, then the set ones win.
        let mut set = std::collections::BTreeMap::new();
        set.insert("PATH".to_string(), "/x".to_string());
        set.insert("PHP_FCGI_CHILDREN".to_string(), "4".to_string());
        let some = backend_env(&["PATH".into(), "NOT_SET_ANYWHERE_42".into()], &set);
        assert_eq!(some.len(), 2, "{some:?}");
        assert_eq!(get(&some, "PATH").as_deref(), Some("/x"));
        assert_eq!(get(&some, "PHP_FCGI_CHILDREN").as_deref(), Some("4"));
    }
}
