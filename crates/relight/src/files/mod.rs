//! Static files under the document root: GET and HEAD, conditional requests (ETag,
//! Last-Modified), one byte range, and never anything outside the root (symlinks that leave it
//! are refused). Directory listings are never made. Files served stay open for a second
//! ([`cache`], lighttpd's stat cache); their types come from [`mime`].

pub(crate) mod cache;
pub(crate) mod listing;
pub(crate) mod mime;

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use crate::http::body::Body;
use crate::http::pages::{moved_permanently, status_page};
use cache::Entry;

/// Files up to this size are read in one piece and go out with their head in one write; larger
/// ones are sent as they go out (sendfile(2) on a plain connection: no copy through relight,
/// as lighttpd sends them). Measured (wrk -c32, system time per request, relight / lighttpd):
/// read whole, 64 KiB files took 12.1 / 7.3 µs, 16 KiB 6.6 / 4.6 and 8 KiB 5.4 / 4.7; sent,
/// 6.9 / 7.4, 5.3 / 4.4 and 5.1 / 5.1.
const READ_WHOLE: u64 = 4 << 10;

/// The document root and how to serve it.
#[derive(Debug)]
pub(crate) struct StaticFiles {
    root: PathBuf,
    canonical_root: PathBuf,
    index_files: Vec<String>,
    mime_types: std::collections::BTreeMap<String, String>,
    static_exclude_extensions: Vec<String>,
    /// URL prefix → (directory, its canonical form), longest prefix first.
    aliases: Vec<(String, PathBuf, PathBuf)>,
    /// Range requests get 206 (else the whole file, 200).
    range_requests: bool,
    /// The root's and the aliases' directories, open (O_PATH), in `aliases`' order then the
    /// root: files are opened beneath them with openat2(RESOLVE_BENEATH), one system call that
    /// also refuses whatever leaves the directory. `None` where a directory could not be
    /// opened, or the kernel has no openat2 (before Linux 5.6): then paths are resolved with
    /// realpath.
    dirs: Vec<Option<std::os::fd::OwnedFd>>,
    /// Files served stay open for a second ([`file_cache`]) under this identity, when on.
    cache: Option<u64>,
    /// Symlinks are followed (inside the root); `false`: a path with a symlink anywhere,
    /// the root's own path included, is refused (lighttpd's server.follow-symlink).
    follow_symlinks: bool,
    /// URL paths are looked up in lower case (lighttpd's server.force-lowercase-filenames).
    lowercase: bool,
}

/// What a URL path names.
enum Found {
    /// A regular file inside the root.
    File(Arc<Entry>),
    /// A directory.
    Dir,
    /// A symlink that leads out of the root.
    Outside,
    /// Something else (a FIFO, a device).
    Other,
}

/// Opens `dir` to resolve paths beneath it.
fn open_dir(dir: &Path) -> Option<std::os::fd::OwnedFd> {
    use nix::fcntl::OFlag;
    nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()
}

/// What opening a file beneath a directory gave.
enum Opened {
    /// The file (or directory), and its metadata.
    File(std::fs::File, std::fs::Metadata),
    /// No openat2 here (or the directory was not open), or a symlink on the way: resolve with
    /// realpath.
    Unsupported,
}

impl StaticFiles {
    /// Serves `root`, trying `index_files` for directories, typing files by `mime_types` (then
    /// the built-in table) and refusing names that end with one of `static_exclude_extensions`.
    pub(crate) fn new(
        root: &Path,
        index_files: Vec<String>,
        mime_types: std::collections::BTreeMap<String, String>,
        static_exclude_extensions: Vec<String>,
    ) -> io::Result<StaticFiles> {
        Ok(StaticFiles {
            root: root.to_owned(),
            canonical_root: root.canonicalize()?,
            index_files,
            mime_types,
            static_exclude_extensions,
            aliases: Vec::new(),
            range_requests: true,
            dirs: vec![open_dir(root)],
            cache: None,
            follow_symlinks: true,
            lowercase: false,
        })
    }

    /// Opens `url_path` beneath the directory it is served from, without following anything
    /// out of it.
    fn open_beneath(&self, url_path: &str) -> io::Result<Opened> {
        use nix::errno::Errno;
        use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
        use std::sync::atomic::{AtomicBool, Ordering};
        static NO_OPENAT2: AtomicBool = AtomicBool::new(false);
        if NO_OPENAT2.load(Ordering::Relaxed) {
            return Ok(Opened::Unsupported);
        }
        let (i, rest) = self.alias_of(url_path);
        let Some(Some(dir)) = self.dirs.get(i) else {
            return Ok(Opened::Unsupported);
        };
        let rest = rest.trim_start_matches('/');
        let rest = if rest.is_empty() { "." } else { rest };
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below anyway).
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        match nix::fcntl::openat2(dir, rest, how) {
            Ok(fd) => {
                let file = std::fs::File::from(fd);
                let meta = file.metadata()?;
                Ok(Opened::File(file, meta))
            }
            // A symlink that leaves, or an absolute one (which may still point inside): the
            // slow check decides.
            Err(Errno::EXDEV | Errno::ELOOP) => Ok(Opened::Unsupported),
            Err(Errno::ENOSYS | Errno::EPERM) => {
                // No openat2 (or a seccomp filter forbids it): realpath from now on.
                NO_OPENAT2.store(true, Ordering::Relaxed);
                Ok(Opened::Unsupported)
            }
            Err(e) => Err(io::Error::from(e)),
        }
    }

    /// Refuses (403) any path with a symlink in it when `follow` is false.
    pub(crate) fn with_symlinks(mut self, follow: bool) -> StaticFiles {
        self.follow_symlinks = follow;
        self
    }

    /// Looks URL paths up in lower case when `on`.
    pub(crate) fn with_lowercase(mut self, on: bool) -> StaticFiles {
        self.lowercase = on;
        self
    }

    /// `url_path` as files are looked up.
    fn case<'a>(&self, url_path: &'a str) -> std::borrow::Cow<'a, str> {
        if self.lowercase && url_path.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(url_path.to_lowercase())
        } else {
            std::borrow::Cow::Borrowed(url_path)
        }
    }

    /// Whether a symlink is on the way from `/` to `p` (`p` itself included).
    fn has_symlink(p: &Path) -> bool {
        let mut at = PathBuf::new();
        for c in p.components() {
            at.push(c);
            if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return true;
            }
        }
        false
    }

    /// Keeps files served open for a second when `on` ([`file_cache`]).
    pub(crate) fn with_cache(mut self, on: bool) -> StaticFiles {
        self.cache = on.then(cache::handler_id);
        self
    }

    /// Finds what `url_path` names; a regular file is opened (or found in the cache).
    fn find(&self, url_path: &str) -> io::Result<Found> {
        let url_path = &*self.case(url_path);
        if let Some(id) = self.cache
            && let Some(e) = cache::get(id, url_path)
        {
            return Ok(Found::File(e));
        }
        if !self.follow_symlinks {
            let path = self.fs_path(url_path);
            let meta = std::fs::metadata(&path)?;
            if Self::has_symlink(&path) {
                tracing::info!(
                    "{}: a symlink on the way (server.follow-symlink off): 403",
                    path.display()
                );
                return Ok(Found::Outside);
            }
            if meta.is_dir() {
                return Ok(Found::Dir);
            }
        }
        let (file, meta) = match self.open_beneath(url_path)? {
            Opened::File(f, m) => (f, m),
            Opened::Unsupported => {
                let path = self.fs_path(url_path);
                let m = std::fs::metadata(&path)?;
                if m.is_file() && !self.inside_root(url_path, &path) {
                    return Ok(Found::Outside);
                }
                if !m.is_file() {
                    return Ok(if m.is_dir() { Found::Dir } else { Found::Other });
                }
                let f = open_nonblocking(&path)?;
                let m = f.metadata()?;
                (f, m)
            }
        };
        if meta.is_dir() {
            return Ok(Found::Dir);
        }
        if !meta.is_file() {
            return Ok(Found::Other);
        }
        let len = meta.len();
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let etag = format!("\"{:x}-{:x}-{:x}\"", meta.ino(), len, meta.mtime());
        let mut entry = Entry::new(
            file,
            len,
            mtime,
            HeaderValue::from_str(&etag).expect("hex etag"),
            HeaderValue::from_str(&crate::http::date::format(mtime)).expect("http date"),
            HeaderValue::from_str(mime::for_path_with(url_path, &self.mime_types)).ok(),
            if self.range_requests { "bytes" } else { "none" },
        );
        let Some(id) = self.cache else {
            return Ok(Found::File(Arc::new(entry)));
        };
        // A small file kept is kept with its bytes (read at once, as each request would).
        if len <= READ_WHOLE {
            let mut buf = BytesMut::zeroed(len as usize);
            if std::os::unix::fs::FileExt::read_exact_at(&*entry.file, &mut buf, 0).is_ok() {
                entry = entry.holding(buf.freeze());
            }
        }
        let entry = Arc::new(entry);
        cache::put(id, url_path, entry.clone());
        Ok(Found::File(entry))
    }

    /// Answers Range requests with the whole file (lighttpd's server.range-requests =
    /// "disable") when `on` is false.
    pub(crate) fn with_range_requests(mut self, on: bool) -> StaticFiles {
        self.range_requests = on;
        self
    }

    /// Serves URL paths under each prefix from its directory instead of the document root
    /// (lighttpd's alias.url); the longest matching prefix wins. Never outside that directory.
    pub(crate) fn with_aliases(
        mut self,
        aliases: &std::collections::BTreeMap<String, PathBuf>,
    ) -> StaticFiles {
        for (prefix, dir) in aliases {
            // A target that does not exist (yet) serves 404s until it does.
            let canonical = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            self.aliases.push((prefix.clone(), dir.clone(), canonical));
        }
        self.aliases
            .sort_by_key(|(p, _, _)| std::cmp::Reverse(p.len()));
        let root = self.dirs.pop().flatten();
        self.dirs = self
            .aliases
            .iter()
            .map(|(_, dir, _)| if dir.is_dir() { open_dir(dir) } else { None })
            .collect();
        self.dirs.push(root);
        self
    }

    /// Which alias serves `url_path` (its index in `aliases`; `aliases.len()` for the root),
    /// and the rest of the path.
    fn alias_of<'a>(&self, url_path: &'a str) -> (usize, &'a str) {
        self.aliases
            .iter()
            .enumerate()
            .find_map(|(i, (prefix, _, _))| url_path.strip_prefix(prefix.as_str()).map(|r| (i, r)))
            .unwrap_or((self.aliases.len(), url_path))
    }

    /// The directory a URL path is served from, its canonical form, and the rest of the path.
    fn base_for<'a>(&'a self, url_path: &'a str) -> (&'a Path, &'a Path, &'a str) {
        match self.alias_of(url_path) {
            (i, rest) if i < self.aliases.len() => {
                let (_, dir, canonical) = &self.aliases[i];
                (dir, canonical, rest)
            }
            (_, rest) => (&self.root, &self.canonical_root, rest),
        }
    }

    /// The content types configured by suffix (before the built-in table).
    pub(crate) fn mime_types(&self) -> &std::collections::BTreeMap<String, String> {
        &self.mime_types
    }

    /// The directory a URL path ending with `/` names, when it is one inside the root (or
    /// its alias): what a listing may show.
    pub(crate) fn listable_dir(&self, url_path: &str) -> Option<PathBuf> {
        let p = self.fs_path(url_path);
        (p.is_dir()
            && self.inside_root(url_path, &p)
            && (self.follow_symlinks || !Self::has_symlink(&p)))
        .then_some(p)
    }

    /// The Content-Type of a file named `name`.
    pub(crate) fn type_of(&self, name: &str) -> String {
        mime::for_path_with(name, &self.mime_types).to_owned()
    }

    /// The document root as configured.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The file system path of a normalized URL path.
    pub(crate) fn fs_path(&self, url_path: &str) -> PathBuf {
        let url_path = &*self.case(url_path);
        let (dir, _, rest) = self.base_for(url_path);
        let rest = rest.trim_start_matches('/');
        if rest.is_empty() {
            return dir.to_path_buf(); // an alias of one file
        }
        dir.join(rest)
    }

    /// If `url_path` names a directory (ends with `/`) holding one of the index files, the URL
    /// path of that file (lighttpd's mod_indexfile, which runs before routing).
    pub(crate) fn index_for(&self, url_path: &str) -> Option<String> {
        if !url_path.ends_with('/') {
            return None;
        }
        let dir = self.fs_path(url_path);
        self.index_files
            .iter()
            .find(|name| dir.join(name).is_file())
            .map(|name| format!("{url_path}{name}"))
    }

    /// Whether `url_path` is a regular file inside the root (lighttpd's check-local).
    pub(crate) fn is_local_file(&self, url_path: &str) -> bool {
        matches!(self.find(url_path), Ok(Found::File(_)))
    }

    /// Whether `p` (the file of `url_path`) resolves inside the directory `url_path` is served
    /// from: a symlink that leaves it is refused.
    fn inside_root(&self, url_path: &str, p: &Path) -> bool {
        let (_, canonical, _) = self.base_for(url_path);
        p.canonicalize().is_ok_and(|c| c.starts_with(canonical))
    }

    /// Answers a request for `url_path` (normalized) with the file it names.
    pub(crate) async fn serve(
        &self,
        method: &Method,
        url_path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Response<Body> {
        if method != Method::GET && method != Method::HEAD {
            let mut r = status_page(StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        if self
            .static_exclude_extensions
            .iter()
            .any(|e| url_path.ends_with(e.as_str()))
        {
            return status_page(StatusCode::FORBIDDEN);
        }
        let entry = match self.find(url_path) {
            Ok(Found::File(e)) => e,
            Ok(Found::Dir) if !url_path.ends_with('/') => {
                let mut loc = format!("{url_path}/");
                if let Some(q) = query {
                    loc.push('?');
                    loc.push_str(q);
                }
                return moved_permanently(&loc);
            }
            Ok(Found::Dir | Found::Outside | Found::Other) => {
                return status_page(StatusCode::FORBIDDEN);
            }
            Err(e) => return io_error_page(&e),
        };
        let len = entry.len;
        let etag = entry.etag.to_str().unwrap_or_default();

        let mut resp = Response::new(Body::Empty);
        *resp.headers_mut() = entry.headers.clone();

        if not_modified(headers, etag, entry.mtime) {
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            resp.headers_mut().remove(header::CONTENT_TYPE);
            resp.headers_mut().remove(header::CONTENT_LENGTH);
            return resp;
        }

        let range = match headers.get(header::RANGE) {
            Some(r)
                if self.range_requests
                    && if_range_holds(
                        headers,
                        etag,
                        entry.last_modified.to_str().unwrap_or_default(),
                    ) =>
            {
                parse_range(r.to_str().unwrap_or(""), len)
            }
            _ => RangeSpec::Full,
        };
        let (start, count) = match range {
            RangeSpec::Full => (0, len),
            RangeSpec::Unsatisfiable => {
                let mut r = status_page(StatusCode::RANGE_NOT_SATISFIABLE);
                r.headers_mut().insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{len}")).expect("digits"),
                );
                return r;
            }
            RangeSpec::Part(s, e) => {
                *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
                resp.headers_mut().insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes {s}-{e}/{len}")).expect("digits"),
                );
                (s, e - s + 1)
            }
        };
        if count != len {
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(count));
        }
        if method == Method::HEAD || count == 0 {
            return resp;
        }
        if let Some(bytes) = &entry.content {
            // `start + count <= len`, the length of `bytes`.
            *resp.body_mut() = Body::full(bytes.slice(start as usize..(start + count) as usize));
            return resp;
        }
        match file_body_of(entry.file.clone(), start, count) {
            Ok(body) => *resp.body_mut() = body,
            Err(e) => return io_error_page(&e),
        }
        resp
    }
}

/// The regular file at `path`, open, and its metadata; `None` when something else is there.
/// Checked on the open descriptor, so nothing swapped in after a check by path is served.
pub(crate) fn open_regular(
    path: &Path,
) -> io::Result<Option<(Arc<std::fs::File>, std::fs::Metadata)>> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    Ok(meta.is_file().then(|| (Arc::new(file), meta)))
}

/// Opens `path` for reading without waiting: something swapped in for a checked regular file
/// (a FIFO with no writer) must not block the thread that serves every connection.
fn open_nonblocking(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
}

/// `count` bytes of `file` from `start`: read at once when small, else read (or sent) as they
/// go out (bounded memory).
pub(crate) fn file_body_of(file: Arc<std::fs::File>, start: u64, count: u64) -> io::Result<Body> {
    if count <= READ_WHOLE {
        let mut buf = BytesMut::zeroed(count as usize);
        std::os::unix::fs::FileExt::read_exact_at(&*file, &mut buf, start)?;
        return Ok(Body::full(buf.freeze()));
    }
    Ok(Body::File {
        file,
        at: start,
        left: count,
        via: None,
    })
}

/// The answer to a file that cannot be opened. What the request asked for (a file that is not
/// there, not readable, a socket or a device, a name too long for the file system) is the
/// client's business, answered as lighttpd answers it; only what is left is the server's (500,
/// logged as an error).
fn io_error_page(e: &io::Error) -> Response<Body> {
    use nix::errno::Errno;
    let errno = e.raw_os_error().map(Errno::from_raw);
    status_page(match (e.kind(), errno) {
        (io::ErrorKind::NotFound | io::ErrorKind::NotADirectory, _) => StatusCode::NOT_FOUND,
        (io::ErrorKind::PermissionDenied, _) => StatusCode::FORBIDDEN,
        // A unix socket or a device without a driver: no file to send.
        (_, Some(Errno::ENXIO | Errno::ENODEV)) => StatusCode::FORBIDDEN,
        (_, Some(Errno::ENAMETOOLONG)) => StatusCode::URI_TOO_LONG,
        _ => {
            tracing::error!("static file: {e}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    })
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// RFC 9110 13.2.2: If-None-Match wins over If-Modified-Since.
fn not_modified(h: &HeaderMap, etag: &str, mtime: SystemTime) -> bool {
    if let Some(inm) = h.get(header::IF_NONE_MATCH) {
        return etag_matches(inm.to_str().unwrap_or(""), etag);
    }
    if let Some(ims) = h
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::http::date::parse)
    {
        // Compare at the one-second resolution of HTTP dates.
        let secs = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        return secs(mtime) <= secs(ims);
    }
    false
}

fn if_range_holds(h: &HeaderMap, etag: &str, last_modified: &str) -> bool {
    match h.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(v) => v == etag || v == last_modified,
    }
}

/// What a Range header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    /// Send it all (no range, several ranges, or a header we do not understand).
    Full,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

fn parse_range(v: &str, len: u64) -> RangeSpec {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full; // several ranges: the whole file is a valid answer
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match parse(b) {
            Some(0) => RangeSpec::Unsatisfiable,
            Some(n) if len > 0 => RangeSpec::Part(len.saturating_sub(n), len - 1),
            Some(_) => RangeSpec::Unsatisfiable,
            None => RangeSpec::Full,
        },
        (false, _) => {
            let Some(start) = parse(a) else {
                return RangeSpec::Full;
            };
            let end = if b.is_empty() {
                Some(u64::MAX)
            } else {
                parse(b)
            };
            match end {
                None => RangeSpec::Full,
                Some(end) if end < start => RangeSpec::Full,
                Some(_) if start >= len => RangeSpec::Unsatisfiable,
                Some(end) => RangeSpec::Part(start, end.min(len - 1)),
            }
        }
        (true, true) => RangeSpec::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeSpec::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeSpec::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeSpec::Part(90, 99));
        assert_eq!(parse_range("bytes=-200", 100), RangeSpec::Part(0, 99));
        assert_eq!(parse_range("bytes=50-500", 100), RangeSpec::Part(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=9-3", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=-1", 0), RangeSpec::Unsatisfiable);
    }

    #[test]
    fn etag_lists() {
        assert!(etag_matches("\"a\", \"b\"", "\"b\""));
        assert!(etag_matches("W/\"b\"", "\"b\""));
        assert!(etag_matches("*", "\"b\""));
        assert!(!etag_matches("\"c\"", "\"b\""));
    }
}
