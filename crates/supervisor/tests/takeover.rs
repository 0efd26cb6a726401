//! A binary upgrade, the supervisor's part: the new supervisor binds the paths its predecessor
//! holds beside them, and they become its own only at `take_over_sockets`. Stopped before
//! that, it removes its own sockets and leaves the predecessor's paths; after it, the paths are
//! its own.

use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::one_process_pool;
use supervisor::Supervisor;

#[tokio::test(flavor = "current_thread")]
async fn a_supervisor_stopped_before_taking_over_leaves_the_predecessors_paths() {
    let dir = std::env::temp_dir().join(format!("supervisor-takeover-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The predecessor's socket at slot 0's path (this process plays the predecessor).
    let path = dir.join("b.sock-0");
    let old = UnixListener::bind(&path).unwrap();
    let me = std::process::id() as i32;

    let sup: Arc<Supervisor> =
        Supervisor::start_after(vec![one_process_pool(&dir)], false, Some(me)).unwrap();
    let beside = dir.join("b.sock-0.upgrade");
    assert!(beside.exists(), "bound beside the predecessor's path");
    // The path still leads to the predecessor.
    let _c = UnixStream::connect(&path).unwrap();
    old.set_nonblocking(true).unwrap();
    assert!(
        old.accept().is_ok(),
        "the connection reached the predecessor"
    );
    sup.shutdown(Duration::from_secs(2)).await;
    assert!(path.exists(), "the predecessor's path was removed");
    assert!(!beside.exists(), "its own socket was left");
    let _c = UnixStream::connect(&path).unwrap();
    assert!(
        old.accept().is_ok(),
        "the path no longer leads to the predecessor"
    );

    // A second one takes over: the path is its own, and it removes it when it stops.
    let sup: Arc<Supervisor> =
        Supervisor::start_after(vec![one_process_pool(&dir)], false, Some(me)).unwrap();
    assert_eq!(sup.take_over_sockets().unwrap(), 1);
    assert!(!beside.exists(), "renamed over the path");
    let _c = UnixStream::connect(&path).unwrap();
    assert!(
        old.accept().is_err(),
        "after the take-over the path is not the predecessor's"
    );
    sup.shutdown(Duration::from_secs(2)).await;
    assert!(!path.exists(), "its own path is removed when it stops");
    let _ = std::fs::remove_dir_all(&dir);
}
