//! One FastCGI backend as the gateway sees it: where it listens, how to connect (with a
//! timeout), and the one idle connection that may be kept for the next request.
//!
//! An idle kept connection blocks a single-threaded libfcgi process in `read()`, so a
//! connection is kept only while no other request to the backend is in flight, and at most one
//! is kept: a request that connects while another holds the process would otherwise wait on a
//! socket that process never accepts.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use supervisor::Supervisor;

use crate::config::{BackendAddr, FastcgiConfig, MatchRule};
use crate::gateway::GatewayError;

/// A connection to a backend.
#[derive(Debug)]
pub(crate) enum BackendStream {
    /// Over a unix socket.
    Unix(UnixStream),
    /// Over TCP.
    Tcp(TcpStream),
}

impl BackendStream {
    /// Whether an idle connection is still open: no EOF, no error, no unexpected bytes.
    pub(crate) fn is_reusable(&self) -> bool {
        let mut probe = [0u8; 1];
        let r = match self {
            BackendStream::Unix(s) => s.try_read(&mut probe),
            BackendStream::Tcp(s) => s.try_read(&mut probe),
        };
        matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            BackendStream::Unix($s) => $e,
            BackendStream::Tcp($s) => $e,
        }
    };
}

impl AsyncRead for BackendStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for BackendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// A configured backend and its connection state.
#[derive(Debug)]
pub(crate) struct Backend {
    /// The name from the configuration, used in every log line about it.
    pub name: String,
    /// Its routing rules.
    pub matches: Vec<MatchRule>,
    /// Where requests go.
    pub target: Target,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Read timeout (between reads).
    pub read_timeout: Duration,
    /// Write timeout (per write).
    pub write_timeout: Duration,
    /// Whether to ask for and keep connections open.
    pub keep_alive: bool,
    /// lighttpd's check-local, resolved per rule kind when unset.
    pub check_local: Option<bool>,
    /// An authorizer, not a responder.
    pub authorizer: bool,
    /// X-Sendfile is honoured, under these directories (empty: anywhere).
    pub x_sendfile: Option<Vec<std::path::PathBuf>>,
    /// The backend's own document root (DOCUMENT_ROOT, SCRIPT_FILENAME).
    pub document_root: Option<std::path::PathBuf>,
    /// SCRIPT_FILENAME gets PATH_INFO appended.
    pub broken_script_filename: bool,
    /// A "/" match gives an empty SCRIPT_NAME and the whole path as PATH_INFO.
    pub fix_root_script_name: bool,
    /// Taken off the start of REQUEST_URI.
    pub strip_request_uri: Option<String>,
    /// What it speaks: FastCGI, SCGI or uwsgi.
    pub protocol: crate::config::Protocol,
    idle: Mutex<Option<BackendStream>>,
    in_flight: AtomicUsize,
}

/// Where a backend's requests go.
#[derive(Debug)]
pub(crate) enum Target {
    /// A backend that runs on its own, at this address.
    External(BackendAddr),
    /// A pool of processes relight spawns and supervises.
    Spawned {
        /// The supervisor owning the pool.
        sup: Arc<Supervisor>,
        /// The pool's name: the backend's own, or the one whose processes it shares.
        pool: String,

        /// Longest wait for a free process.
        queue_timeout: Duration,
        /// Longest a request may run before its process is killed, and whether that is the
        /// default.
        request_timeout: Option<(Duration, bool)>,
    },
}

/// Counts a request as in flight for as long as it lives.
#[derive(Debug)]
pub(crate) struct InFlight<'a>(&'a Backend);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Backend {
    /// A backend from its configuration; a spawned one needs the supervisor running its pool,
    /// and `owner` is the configuration of that pool (`c` itself, or the backend its `pool`
    /// names: the queue and request timeouts are the pool's).
    pub(crate) fn new(
        c: &FastcgiConfig,
        owner: &FastcgiConfig,
        sup: Option<&Arc<Supervisor>>,
    ) -> Backend {
        let name = c.name.value.clone();
        let target = match (&c.address, sup) {
            (Some(a), _) => Target::External(a.clone()),
            (None, Some(sup)) => Target::Spawned {
                sup: sup.clone(),
                pool: owner.name.value.clone(),
                queue_timeout: owner.queue_timeout.0,
                request_timeout: owner.request_timeout(),
            },
            (None, None) => unreachable!("a spawned backend is started before the server"),
        };
        // A spawned slot's connection is kept with its process (in the lease's slot), so the
        // next request to that process needs no connect and no accept.
        // SCGI and uwsgi have one request per connection.
        let keep_alive = c.keep_alive && c.protocol == crate::config::Protocol::Fastcgi;
        Backend {
            name,
            matches: c.matches.clone(),
            target,
            connect_timeout: c.connect_timeout.0,
            read_timeout: c.read_timeout.0,
            write_timeout: c.write_timeout.0,
            keep_alive,
            check_local: c.check_local,
            authorizer: c.role == crate::config::BackendRole::Authorizer,
            x_sendfile: c.x_sendfile.then(|| c.x_sendfile_docroot.clone()),
            document_root: c.document_root.clone(),
            broken_script_filename: c.broken_script_filename,
            fix_root_script_name: c.fix_root_script_name,
            strip_request_uri: c.strip_request_uri.clone(),
            protocol: c.protocol,
            idle: Mutex::new(None),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// How many requests are in flight to this backend.
    pub(crate) fn load(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Marks a request in flight until the guard drops.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    /// The kept connection if it is still usable, or a new one to `address`.
    pub(crate) async fn connect(
        &self,
        address: &BackendAddr,
    ) -> Result<BackendStream, GatewayError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(s) = idle
            && s.is_reusable()
        {
            return Ok(s);
        }
        self.connect_new(address).await
    }

    /// A new connection to `address`, within the connect timeout.
    pub(crate) async fn connect_new(
        &self,
        address: &BackendAddr,
    ) -> Result<BackendStream, GatewayError> {
        let connect = async {
            match address {
                BackendAddr::Unix(p) => UnixStream::connect(p).await.map(BackendStream::Unix),
                BackendAddr::Tcp(a) => {
                    let s = TcpStream::connect(a.as_str()).await?;
                    s.set_nodelay(true)?;
                    Ok(BackendStream::Tcp(s))
                }
            }
        };
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(GatewayError::Connect(e)),
            Err(_) => Err(GatewayError::ConnectTimeout(self.connect_timeout)),
        }
    }

    /// Returns a connection whose request ended cleanly; it is kept if no other request is in
    /// flight (the caller's own request still counts as one) and none is kept already.
    pub(crate) fn release(&self, s: BackendStream) {
        if !self.keep_alive || self.in_flight.load(Ordering::Acquire) > 1 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.is_none() {
            *idle = Some(s);
        }
    }
}
