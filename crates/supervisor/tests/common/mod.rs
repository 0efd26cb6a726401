//! What the supervisor's integration tests share.

use std::time::Duration;

use supervisor::{BaseAddr, DescendantPolicy, PoolConfig, SpawnSpec};

/// A pool "b" of one process on `dir/b.sock`: any long-lived program (the pool owns its
/// liveness; nothing talks to it in these tests).
pub fn one_process_pool(dir: &std::path::Path) -> PoolConfig {
    PoolConfig {
        name: "b".into(),
        spec: SpawnSpec {
            program: "/bin/sleep".into(),
            args: vec!["1000".into()],
            env: Vec::new(),
            cwd: "/".into(),
            uid: None,
            gid: None,
        },
        addr: BaseAddr::Unix(dir.join("b.sock")),
        shared_socket: false,
        min_procs: 1,
        max_procs: 1,
        backlog: 16,
        socket_mode: None,
        kill_signal: nix::sys::signal::Signal::SIGTERM,
        kill_grace: Duration::from_secs(1),
        max_requests: None,
        max_rss: None,
        health_check: None,
        limits: Default::default(),
        idle_timeout: Duration::from_secs(60),
        descendants: DescendantPolicy::Kill,
    }
}
