//! A freed process goes to the request that has waited longest, never to one that arrives
//! after it: the waiters of a busy pool are served in order (a request that overtook them made
//! the slowest of them wait again, from the back).

use std::sync::Arc;
use std::time::Duration;

mod common;

use common::one_process_pool;
use supervisor::Supervisor;

#[tokio::test(flavor = "current_thread")]
async fn a_freed_process_goes_to_the_longest_waiter() {
    let dir = std::env::temp_dir().join(format!("supervisor-fair-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sup: Arc<Supervisor> = Supervisor::start(vec![one_process_pool(&dir)], false).unwrap();
    let wait = Duration::from_secs(5);
    let first = sup.acquire("b", wait, "first").await.unwrap();

    let s = sup.clone();
    // The waiter keeps what it gets until the end of the test.
    let waiter = tokio::spawn(async move { s.acquire("b", wait, "waiter").await });
    // Let the waiter find the pool busy and start waiting.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    drop(first);
    // A request arriving now, before the waiter has run again, must not take the process.
    let newcomer = sup.acquire("b", Duration::ZERO, "newcomer").await;
    assert!(
        newcomer.is_err(),
        "a request that just arrived took the process the waiter was woken for"
    );
    let lease = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter is served")
        .unwrap()
        .expect("the waiter got the process");
    drop(lease);
    // Nobody waits now: a new request takes the free process at once.
    assert!(sup.acquire("b", Duration::ZERO, "later").await.is_ok());
    sup.shutdown(Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(&dir);
}
