//! Reloads that replace a backend do not accumulate: a retired pool is forgotten once its
//! last process is reaped, and a lease that outlives its pool ends quietly.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::one_process_pool;
use supervisor::{PoolConfig, Supervisor};

/// The shared one-process pool, with `max_requests` (what changes from one reload to the
/// next).
fn pool(dir: &std::path::Path, max_requests: u64) -> PoolConfig {
    PoolConfig {
        max_requests: Some(max_requests),
        ..one_process_pool(dir)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn replaced_pools_are_forgotten_once_their_processes_are_gone() {
    let dir = std::env::temp_dir().join(format!("supervisor-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sup: Arc<Supervisor> = Supervisor::start(vec![pool(&dir, 1000)], false).unwrap();
    // A request holds the first process across the reloads.
    let held = sup
        .acquire("b", Duration::from_secs(5), "held")
        .await
        .expect("the first process");
    for n in 0..20 {
        let report = sup.reconcile(vec![pool(&dir, 2000 + n)]).unwrap();
        assert_eq!(report.changed, vec!["b".to_string()]);
        // Each new process is started before the next reload.
        let lease = sup.acquire("b", Duration::from_secs(5), "between").await;
        drop(lease.expect("the new pool serves"));
    }
    assert!(sup.retired_pools() > 0, "the replaced pools are stopping");
    let end = Instant::now() + Duration::from_secs(10);
    while sup.retired_pools() > 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sup.retired_pools(),
        0,
        "every replaced pool's process was reaped, and the pools forgotten"
    );
    // The lease of the first pool's process, which is gone with its pool, ends quietly.
    drop(held);
    assert!(
        sup.acquire("b", Duration::from_secs(5), "after")
            .await
            .is_ok()
    );
    sup.shutdown(Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(&dir);
}
