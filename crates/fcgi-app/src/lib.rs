//! FastCGI applications in Rust that can never leak their listening socket.
//!
//! # Why this crate exists
//!
//! A web server that spawns a FastCGI program (lighttpd's `bin-path`, relight, `spawn-fcgi`)
//! hands it the listening socket as fd 0. With libfcgi, every child the program starts —
//! `system("...")`, `popen`, a `fork`+`exec` — inherits fd 0 and every accepted connection. When
//! the program dies while such a child lives, the child still holds the socket: the kernel keeps
//! queueing connections on it, lighttpd's `connect()` to the socket succeeds, lighttpd decides the
//! backend is alive and never restarts it, and the web UI is dead until someone reboots the box.
//!
//! This crate makes that impossible. At start-up it moves the listening socket off fd 0 to a
//! new close-on-exec descriptor and puts `/dev/null` on fd 0; every connection it accepts is
//! close-on-exec too. So no child process started in any way that executes a program
//! (`std::process::Command`, `libc::system`, `popen`) ever holds a FastCGI socket, and a web
//! server that restarts dead backends finds this one dead when it is.
//!
//! # Quick start
//!
//! ```no_run
//! use std::io::Write;
//!
//! fn main() -> Result<(), fcgi_app::Error> {
//!     fcgi_app::run(|req: &mut fcgi_app::Request, resp: &mut fcgi_app::Response| {
//!         resp.set_header("Content-Type", "text/plain");
//!         writeln!(resp, "Hello from fcgi-app, you asked for {}", req.request_uri())
//!     })
//! }
//! ```
//!
//! Build it and let the web server start it (lighttpd: `"bin-path" => "/path/to/app"`; relight:
//! `command = ["/path/to/app"]`), or run it on its own on an address — `app --bind
//! 127.0.0.1:9000`, `FCGI_APP_BIND=unix:/run/app.sock app`, or [`Builder::bind`] — and point
//! nginx's `fastcgi_pass` at it.
//!
//! # What it speaks
//!
//! The Responder and Authorizer roles (an authorizer answers 200 to let a request go on, with
//! `Variable-NAME` headers that become parameters of the responder). The Filter role, which no
//! mainstream web server uses, is answered with `FCGI_UNKNOWN_ROLE`. `FCGI_GET_VALUES` is
//! answered (`FCGI_MAX_CONNS` and `FCGI_MAX_REQS` are the number of worker threads,
//! `FCGI_MPXS_CONNS` is 0), `FCGI_KEEP_CONN` is honoured, `FCGI_ABORT_REQUEST` ends the request
//! (the body reader and the response writer then fail with `ConnectionAborted`), and a second
//! request on a connection while one is in progress gets `FCGI_CANT_MPX_CONN`. A handler that
//! panics or fails before it has sent its response answers 500; the process keeps serving.
//!
//! The core is blocking and needs no async runtime; the `tower` feature adds [`tower`], which
//! serves any `tower::Service<http::Request<_>>` (an axum `Router`, say).

mod conn;
mod listener;
mod request;
#[cfg(feature = "tower")]
pub mod tower;

use std::io;
use std::sync::Arc;

pub use fcgi_proto::{Limits, Role};
pub use listener::{Address, Listener, Stream};
pub use request::{Request, Response, Stderr};

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not started by a web server (fd 0 is not a listening socket) and no address to bind.
    #[error(
        "not started by a web server (fd 0 is not a listening socket) and no address given: \
         pass --bind ADDRESS or set FCGI_APP_BIND (\"unix:/path\" or \"host:port\")"
    )]
    NoListener,
    /// An address that is neither `unix:/path` nor `host:port`.
    #[error("invalid address {0:?}: expected \"unix:/path\" or \"host:port\"")]
    BadAddress(String),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        source: io::Error,
    },
    /// fd 0 is a listening socket of a family this crate does not serve.
    #[error("fd 0 is a listening socket of an unsupported family ({0})")]
    UnsupportedSocket(String),
    /// Another I/O error at start-up.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What answers requests: a function or closure `Fn(&mut Request, &mut Response) ->
/// io::Result<()>`, or a type implementing this trait. It is shared by the worker threads.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, req: &mut Request<'_>, resp: &mut Response<'_>) -> io::Result<()>;
}

impl<F> Handler for F
where
    F: Fn(&mut Request<'_>, &mut Response<'_>) -> io::Result<()> + Send + Sync + 'static,
{
    fn handle(&self, req: &mut Request<'_>, resp: &mut Response<'_>) -> io::Result<()> {
        self(req, resp)
    }
}

/// Serves `handler` with the default options (see [`Builder`]); returns only if it cannot
/// start.
pub fn run(handler: impl Handler) -> Result<(), Error> {
    Builder::new().run(handler)
}

/// Options: where to listen when not started by a web server, how many worker threads, and
/// the limits on what a web server may make the application allocate.
#[derive(Debug, Clone)]
pub struct Builder {
    bind: Option<String>,
    workers: usize,
    limits: Limits,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: one worker thread per CPU, [`Limits::default`], and the address from the
    /// command line (`--bind ADDRESS`) or `FCGI_APP_BIND` when not started by a web server.
    pub fn new() -> Builder {
        Builder {
            bind: None,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            limits: Limits::default(),
        }
    }

    /// The address to listen on when not started by a web server ("unix:/path" or
    /// "host:port"); before the command line and the environment.
    pub fn bind(mut self, address: impl Into<String>) -> Builder {
        self.bind = Some(address.into());
        self
    }

    /// How many requests are served at once (each by its own thread); at least 1.
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = n.max(1);
        self
    }

    /// Limits on the params a web server may send.
    pub fn limits(mut self, limits: Limits) -> Builder {
        self.limits = limits;
        self
    }

    /// The listening socket: fd 0 if a web server started the application (moved off fd 0,
    /// `/dev/null` put there), else the configured address bound.
    pub fn listener(&self) -> Result<Listener, Error> {
        if let Some(l) = Listener::from_stdin()? {
            return Ok(l);
        }
        let address = self
            .bind
            .clone()
            .or_else(bind_flag)
            .or_else(|| std::env::var("FCGI_APP_BIND").ok())
            .ok_or(Error::NoListener)?;
        Listener::bind(&address.parse()?)
    }

    /// Serves `handler` on [`Builder::listener`] with the worker threads; returns only if it
    /// cannot start.
    pub fn run(self, handler: impl Handler) -> Result<(), Error> {
        let listener = self.listener()?;
        self.serve(listener, handler);
        Ok(())
    }

    /// Serves `handler` on `listener` for ever.
    pub fn serve(&self, listener: Listener, handler: impl Handler) {
        let listener = Arc::new(listener);
        let handler: Arc<dyn Handler> = Arc::new(handler);
        let capacity = conn::Capacity {
            workers: self.workers,
        };
        let worker = {
            let limits = self.limits;
            move |listener: Arc<Listener>, handler: Arc<dyn Handler>| loop {
                match listener.accept() {
                    Ok(stream) => conn::serve(stream, &*handler, limits, capacity),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                    Err(e) => {
                        // EMFILE and the like: wait instead of spinning.
                        eprintln!("fcgi-app: accept on {}: {e}", listener.describe());
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
            }
        };
        for _ in 1..self.workers {
            let (l, h) = (listener.clone(), handler.clone());
            let w = worker;
            std::thread::spawn(move || w(l, h));
        }
        worker(listener, handler)
    }
}

impl Builder {
    /// Serves the requests of one connection a web server opened (until it closes it, or asks
    /// to with a request without FCGI_KEEP_CONN), on this thread. Malformed input ends the
    /// connection; it never panics.
    pub fn serve_connection(&self, stream: Stream, handler: &dyn Handler) {
        conn::serve(
            stream,
            handler,
            self.limits,
            conn::Capacity {
                workers: self.workers,
            },
        );
    }
}

/// `--bind ADDRESS` or `--bind=ADDRESS` from the command line.
fn bind_flag() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--bind" {
            return args.next();
        }
        if let Some(v) = a.strip_prefix("--bind=") {
            return Some(v.to_string());
        }
    }
    None
}
