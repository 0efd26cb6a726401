//! The open-file cache of the static handler: a regular file served once stays open, with its
//! metadata and the response headers made from them, for up to [`TTL`]. What it saw is
//! trusted for that long, as lighttpd's stat cache trusts what it stat()ed for the current
//! second: a hit costs no system call (before, each hit made an fstat; lighttpd makes none).
//!
//! So a file changed, replaced or deleted is seen at most a TTL later (a file rewritten in
//! place to a shorter length within that second is cut off as any file that shrinks while it
//! is sent). `file_cache = false` sees the disk on every request. At most [`CAPACITY`] files
//! are held open; entries older than the TTL are closed by [`sweeper`] even when no request
//! comes.
//!
//! An entry also holds what every response of its file says: the headers, made once, and
//! for a file small enough to go out with its head in one write, its bytes (read when it was
//! opened: a hit makes no read, and a file rewritten in place within the TTL is seen as it
//! was, as its length and ETag are). At most [`CAPACITY`] × 4 KiB of file bytes, given back
//! with the entries.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use tokio::sync::Notify;

/// How long an entry is trusted.
pub(crate) const TTL: Duration = Duration::from_secs(1);

/// The most files held open at once.
pub(crate) const CAPACITY: usize = 128;

/// A regular file, open, and what its responses say about it.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The open file (read with positioned reads, so requests can share it).
    pub file: Arc<File>,
    /// Its length when it was opened.
    pub len: u64,
    /// Its modification time.
    pub mtime: SystemTime,
    /// The ETag header.
    pub etag: HeaderValue,
    /// The Last-Modified header.
    pub last_modified: HeaderValue,
    /// The headers of a response with the whole file (Content-Type, Accept-Ranges, ETag,
    /// Last-Modified, Content-Length), cloned for each: no hashing per request.
    pub headers: HeaderMap,
    /// The file's bytes, for a small file (see the module's comment).
    pub content: Option<Bytes>,
    opened: Instant,
}

impl Entry {
    /// An entry for `file`, opened now; `content_type` is `None` for a type that makes no
    /// valid header, `accept_ranges` the Accept-Ranges header's value.
    pub(crate) fn new(
        file: File,
        len: u64,
        mtime: SystemTime,
        etag: HeaderValue,
        last_modified: HeaderValue,
        content_type: Option<HeaderValue>,
        accept_ranges: &'static str,
    ) -> Entry {
        let mut headers = HeaderMap::with_capacity(6);
        if let Some(v) = &content_type {
            headers.insert(http::header::CONTENT_TYPE, v.clone());
        }
        headers.insert(
            http::header::ACCEPT_RANGES,
            HeaderValue::from_static(accept_ranges),
        );
        headers.insert(http::header::ETAG, etag.clone());
        headers.insert(http::header::LAST_MODIFIED, last_modified.clone());
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        Entry {
            file: Arc::new(file),
            len,
            mtime,
            etag,
            last_modified,
            headers,
            content: None,
            opened: Instant::now(),
        }
    }

    /// The entry holding `content`, the whole file's bytes.
    pub(crate) fn holding(mut self, content: Bytes) -> Entry {
        self.content = Some(content);
        self
    }

    fn fresh(&self, now: Instant) -> bool {
        now.duration_since(self.opened) < TTL
    }
}

/// The entries, by file handler and URL path.
struct Cache {
    by_handler: HashMap<u64, HashMap<Box<str>, Arc<Entry>>>,
    len: usize,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
static FILLED: Notify = Notify::const_new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A new handler identity: each static file handler (a document root with its aliases and
/// types) keys its entries with its own.
pub(crate) fn handler_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

fn lock() -> std::sync::MutexGuard<'static, Option<Cache>> {
    CACHE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fresh entry for `path` of handler `id`, if any.
pub(crate) fn get(id: u64, path: &str) -> Option<Arc<Entry>> {
    let now = Instant::now();
    let guard = lock();
    let e = guard.as_ref()?.by_handler.get(&id)?.get(path)?;
    e.fresh(now).then(|| e.clone())
}

/// Keeps `entry` for `path` of handler `id` (unless the cache is full of fresh entries).
pub(crate) fn put(id: u64, path: &str, entry: Arc<Entry>) {
    let mut guard = lock();
    let cache = guard.get_or_insert_with(|| Cache {
        by_handler: HashMap::new(),
        len: 0,
    });
    if cache.len >= CAPACITY {
        sweep_locked(cache, Instant::now());
        if cache.len >= CAPACITY {
            return;
        }
    }
    let was_empty = cache.len == 0;
    let old = cache
        .by_handler
        .entry(id)
        .or_default()
        .insert(path.into(), entry);
    if old.is_none() {
        cache.len += 1;
    }
    drop(guard);
    if was_empty {
        FILLED.notify_one();
    }
}

/// Closes the entries older than the TTL; returns how many are left.
pub(crate) fn sweep() -> usize {
    let mut guard = lock();
    match guard.as_mut() {
        Some(cache) => {
            sweep_locked(cache, Instant::now());
            cache.len
        }
        None => 0,
    }
}

fn sweep_locked(cache: &mut Cache, now: Instant) {
    let mut len = 0;
    cache.by_handler.retain(|_, files| {
        files.retain(|_, e| e.fresh(now));
        len += files.len();
        !files.is_empty()
    });
    cache.len = len;
}

/// Closes stale entries a TTL after they were made; sleeps while the cache is empty.
pub(crate) async fn sweeper() {
    loop {
        FILLED.notified().await;
        loop {
            tokio::time::sleep(TTL).await;
            if sweep() == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Arc<Entry> {
        let file = File::open("/dev/null").expect("/dev/null");
        let mtime = file.metadata().unwrap().modified().unwrap();
        let v = HeaderValue::from_static("x");
        Arc::new(Entry::new(file, 0, mtime, v.clone(), v, None, "bytes"))
    }

    /// One test: the cache is the process's, a second test would fill it under the first.
    #[test]
    fn entries_expire_per_handler_and_are_bounded() {
        let (a, b) = (handler_id(), handler_id());
        put(a, "/x", entry());
        assert!(get(a, "/x").is_some());
        assert!(get(b, "/x").is_none(), "another handler's entry");
        assert!(get(a, "/y").is_none());
        std::thread::sleep(TTL + Duration::from_millis(50));
        assert!(get(a, "/x").is_none(), "older than the TTL");
        sweep();
        let guard = lock();
        assert!(
            !guard
                .as_ref()
                .is_some_and(|c| c.by_handler.contains_key(&a)),
            "swept"
        );
        drop(guard);

        let id = handler_id();
        for i in 0..CAPACITY + 10 {
            put(id, &format!("/{i}"), entry());
        }
        let n = lock()
            .as_ref()
            .and_then(|c| c.by_handler.get(&id).map(HashMap::len))
            .unwrap_or(0);
        assert!(n <= CAPACITY, "{n} entries");
        assert!(n > 0);
    }
}
