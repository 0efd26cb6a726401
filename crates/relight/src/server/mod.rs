//! The server's life: binds the listeners (or takes them from systemd, or from the relight it
//! replaces), gives up root, starts the supervisor, serves connections ([`accept`]) until a
//! signal says otherwise, reloads the configuration on SIGUSR1, reopens logs on SIGHUP, hands
//! over to a new binary on SIGUSR2 (`crate::process::upgrade`), and shuts down on SIGINT
//! (gracefully) or SIGTERM (at once). What a request gets is the `request` module's.

mod accept;
pub(crate) mod conn;
#[cfg(feature = "http2")]
mod cork;
#[cfg(any(feature = "tls", feature = "http2"))]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
mod framing;
mod http1;
mod memory;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::config::Config;
use crate::log::AccessLog;
use crate::process::pools::pool_config;
use crate::request::Handler;

pub use crate::process::activation::ActivationError;
pub use crate::process::pools::PoolError;
pub use crate::process::privileges::PrivilegeError;
pub use crate::request::scope::ScopeError;
use supervisor::Supervisor;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The document root could not be opened.
    #[error("document_root {path}: {source}")]
    DocumentRoot {
        /// The root.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The sockets systemd passed cannot be used.
    #[error("{0}")]
    Activation(#[from] ActivationError),
    /// What the relight this one replaces handed over cannot be used.
    #[error("{0}")]
    Upgrade(#[from] crate::process::upgrade::InheritError),
    /// The chroot or the user and group could not be taken on.
    #[error("dropping privileges: {0}")]
    Privileges(#[from] PrivilegeError),
    /// A spawned backend's processes cannot run as configured here.
    #[error("{0}")]
    Pool(#[from] PoolError),
    /// The settings cannot be made ready for requests.
    #[error("{0}")]
    Settings(#[from] ScopeError),
    /// The process manager could not start.
    #[error("{0}")]
    Supervisor(#[from] supervisor::StartError),
    /// The pid file could not be written.
    #[error("pid_file {path}: {source}")]
    PidFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A `[[tls]]` entry's certificate or key cannot be used.
    #[error("{0}")]
    Tls(crate::config::Error),
    /// The access log could not be opened.
    #[error("access_log {path}: {source}")]
    AccessLog {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// What every connection serves with: the configuration's request handler and the access log.
/// A reload (SIGUSR1) replaces it; requests in flight finish with the one they started with.
#[derive(Debug)]
pub(crate) struct State {
    handler: Handler,
    access_log: Option<Arc<AccessLog>>,
    /// The certificates of the HTTPS listeners.
    tls: crate::tls::Tls,
}

impl State {
    /// The state of a checked configuration, with the supervisor that runs its spawned
    /// backends (if any).
    fn new(
        config: Config,
        sup: Option<&Arc<Supervisor>>,
        access_log: Option<Arc<AccessLog>>,
        tls: crate::tls::Tls,
    ) -> Result<State, StartError> {
        let root = config.document_root().to_path_buf();
        if let Err(source) = root.canonicalize() {
            return Err(StartError::DocumentRoot { path: root, source });
        }
        let handler = Handler::new(config, sup)?;
        Ok(State {
            handler,
            access_log,
            tls,
        })
    }

    fn config(&self) -> &Config {
        self.handler.config()
    }
}

/// The state requests are served with; a reload (SIGUSR1) replaces it.
type Current = Arc<RwLock<Arc<State>>>;

fn current(c: &Current) -> Arc<State> {
    c.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The spawned backends' pools of a configuration.
fn pools_of(config: &Config) -> Result<Vec<supervisor::PoolConfig>, StartError> {
    let mut pools = Vec::new();
    for c in &config.fastcgi {
        if let Some(p) = pool_config(c, &config.config_dir)? {
            pools.push(p);
        }
    }
    Ok(pools)
}

/// The access log of `config`: the one `previous` has open if the path is the same (a reload
/// after privileges were dropped cannot open it again), else newly opened.
fn access_log_for(
    config: &Config,
    previous: Option<&State>,
) -> Result<Option<Arc<AccessLog>>, StartError> {
    let Some(path) = &config.server.access_log else {
        return Ok(None);
    };
    if let Some(prev) = previous
        && prev.config().server.access_log.as_ref() == Some(path)
        && let Some(log) = &prev.access_log
    {
        return Ok(Some(log.clone()));
    }
    AccessLog::open(path)
        .map(|l| Some(Arc::new(l)))
        .map_err(|source| StartError::AccessLog {
            path: path.clone(),
            source,
        })
}

/// Every address relight listens on: `server.listen`'s, then the HTTPS ones not among them.
fn listen_addrs(config: &Config, tls: &crate::tls::Tls) -> Vec<SocketAddr> {
    let mut addrs: Vec<SocketAddr> = config.server.listen.iter().map(|a| a.0).collect();
    let mut https: Vec<SocketAddr> = tls.addrs().copied().collect();
    https.sort();
    for a in https {
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    addrs
}

/// A running server's listeners, bound and ready.
pub struct Server {
    current: Current,
    listeners: Vec<TcpListener>,
    sup: Option<Arc<Supervisor>>,
    format: crate::config::load::Format,
    /// systemd's notification socket, when relight runs as a `Type=notify` service.
    notifier: Option<crate::process::notify::Notifier>,
    /// What replacing the binary (SIGUSR2) needs.
    upgrade: Upgrade,
}

/// A binary upgrade, both sides: what the old relight needs to start the new one, and what
/// the new one was handed.
#[derive(Debug)]
struct Upgrade {
    /// This binary's path and arguments, as started (the path is read before a package
    /// replaces the file).
    exe: io::Result<PathBuf>,
    /// Its arguments after argv[0], given again to the new binary.
    args: Vec<std::ffi::OsString>,
    /// Why this process cannot start a successor with what it needs (it gave up root).
    refused: Option<String>,
    /// The listening sockets (close-on-exec copies) handed to a successor.
    listeners: Vec<std::os::fd::OwnedFd>,
    /// What this process was handed, when it replaces another.
    inherited: Option<crate::process::upgrade::Inherited>,
}

/// How the serving loop ended.
enum Stop {
    /// SIGTERM.
    Now,
    /// SIGINT.
    Graceful,
    /// A new binary accepts (its pid): finish the requests in flight and leave.
    HandOver(i32),
}

/// The longest kill grace of the spawned backends: how long stopping them may take.
fn backends_kill_grace(config: &Config) -> Duration {
    config
        .fastcgi
        .iter()
        .map(|c| c.kill_grace.0)
        .max()
        .unwrap_or_default()
}

/// Writes this process's pid to `path`.
fn write_pid_file(path: &std::path::Path) -> Result<(), StartError> {
    std::fs::write(path, format!("{}\n", std::process::id())).map_err(|source| {
        StartError::PidFile {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// SIGTERM to a new relight this one started and gives up on.
fn stop_successor(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    );
}

/// What [`Server::start_upgrade`] waits for: the new relight's pid once it accepts, or why it
/// did not start.
type Successor = std::pin::Pin<Box<dyn std::future::Future<Output = Result<i32, String>> + Send>>;

impl Server {
    /// Binds every listen address (all or none); `format` is the configuration's language,
    /// for reloads.
    pub async fn bind(
        config: Config,
        format: crate::config::load::Format,
    ) -> Result<Server, StartError> {
        // Before any thread that spawns exists: no backend inherits relight's capabilities.
        crate::process::privileges::clear_ambient_capabilities();
        let mut listeners = Vec::new();
        // The certificates are read before privileges are dropped (a key is often root's only).
        let tls = crate::tls::Tls::load(&config).map_err(StartError::Tls)?;
        let wanted = listen_addrs(&config, &tls);
        // A new binary replacing a running relight takes its listening sockets first (those
        // this configuration no longer listens on are closed).
        let mut inherited = crate::process::upgrade::Inherited::from_env()?;
        if let Some(inh) = &mut inherited {
            for l in std::mem::take(&mut inh.listeners) {
                if !l.local_addr().is_ok_and(|a| wanted.contains(&a)) {
                    continue;
                }
                let l = TcpListener::from_std(l).map_err(|source| StartError::Bind {
                    addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                    source,
                })?;
                listeners.push(l);
            }
        }
        if config.server.socket_activation {
            for l in crate::process::activation::listeners_from_env()? {
                let l = TcpListener::from_std(l).map_err(|source| StartError::Bind {
                    addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                    source,
                })?;
                tracing::info!("socket activation: listening on {:?}", l.local_addr().ok());
                listeners.push(l);
            }
        }
        let inherited_addrs: Vec<SocketAddr> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        for addr in wanted {
            if inherited_addrs.contains(&addr) {
                continue;
            }
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { addr, source })?;
            listeners.push(l);
        }
        // Everything that needs root happens before the drop: listeners, logs, the pid file,
        // the service manager's socket.
        let notifier = crate::process::notify::Notifier::from_env();
        let access = access_log_for(&config, None)?;
        // (A new binary in an upgrade writes it once it accepts: until then the pid file names
        // the relight that serves.)
        if let Some(p) = &config.server.pid_file
            && inherited.is_none()
        {
            write_pid_file(p)?;
        }
        let root = nix::unistd::Uid::effective().is_root();
        let refused = (root
            && (config.server.chroot.is_some()
                || config.server.user.is_some()
                || config.server.group.is_some()))
        .then(|| {
            "relight gave up root after it started (server.user, server.group or chroot), and a \
             new binary started from here could not bind privileged ports, read root's keys or \
             start backends as other users; restart the service instead, or let the service \
             manager start relight as its user"
                .to_owned()
        });
        let upgrade_listeners = listeners
            .iter()
            .map(|l| {
                use std::os::fd::AsFd;
                l.as_fd().try_clone_to_owned()
            })
            .collect::<io::Result<Vec<_>>>()
            .map_err(|source| StartError::Bind {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                source,
            })?;
        match crate::process::privileges::confine(
            config.server.chroot_dir(),
            config.server.user.as_ref().map(|u| u.value.as_str()),
            config.server.group.as_ref().map(|g| g.value.as_str()),
        ) {
            Ok(Some(note)) => tracing::info!("{note}"),
            Ok(None) => {}
            Err(e) => return Err(e.into()),
        }
        let pools = pools_of(&config)?;
        // CGI scripts are the supervisor's too (its reaper), even with no pool to run.
        let sup = if pools.is_empty() && config.cgi.is_empty() {
            None
        } else {
            Some(Supervisor::start_after(
                pools,
                config.server.cgroups,
                inherited.as_ref().map(|i| i.from),
            )?)
        };
        // Backends already started do not outlive a start that fails.
        let kill_grace = backends_kill_grace(&config);
        let state = match State::new(config, sup.as_ref(), access, tls) {
            Ok(s) => s,
            Err(e) => {
                if let Some(sup) = &sup {
                    sup.shutdown(kill_grace).await;
                }
                return Err(e);
            }
        };
        Ok(Server {
            current: Arc::new(RwLock::new(Arc::new(state))),
            listeners,
            sup,
            format,
            notifier,
            upgrade: Upgrade {
                exe: std::env::current_exe(),
                args: std::env::args_os().skip(1).collect(),
                refused,
                listeners: upgrade_listeners,
                inherited,
            },
        })
    }

    /// SIGUSR2: starts the binary now at this one's path with the listening sockets, or says
    /// why not. Returns the new relight's pid and a future that ends when it accepts, or
    /// failed to start (or did not say it accepts within a minute: then it is stopped).
    fn start_upgrade(&self) -> Result<(i32, Successor), String> {
        if let Some(why) = &self.upgrade.refused {
            return Err(why.clone());
        }
        let state = current(&self.current);
        let pools = pools_of(state.config()).map_err(|e| e.to_string())?;
        if let Some(p) = pools
            .iter()
            .find(|p| matches!(p.addr, ::supervisor::BaseAddr::Tcp(_)))
        {
            return Err(format!(
                "backend \"{}\" is spawned on a TCP port, which the new binary cannot bind \
                 while this one's processes hold it; restart instead (a unix socket is handed \
                 over)",
                p.name
            ));
        }
        let exe = match &self.upgrade.exe {
            Ok(p) => p.clone(),
            Err(e) => return Err(format!("cannot tell this binary's path: {e}")),
        };
        use std::os::fd::AsFd;
        let fds: Vec<_> = self.upgrade.listeners.iter().map(|f| f.as_fd()).collect();
        let start = || {
            crate::process::upgrade::start_successor(&exe, &self.upgrade.args, &fds)
                .map(|s| (s.pid, s))
        };
        let (pid, successor, exit) = match &self.sup {
            Some(sup) => {
                let (pid, s, exit) = sup
                    .spawn_watched("the new relight", start)
                    .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
                (pid, s, Some(exit))
            }
            None => {
                let (pid, s) =
                    start().map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
                (pid, s, None)
            }
        };
        tracing::info!(
            "SIGUSR2: started {} (pid {pid}); serving until it accepts",
            exe.display()
        );
        const START_WITHIN: Duration = Duration::from_secs(60);
        Ok((
            pid,
            Box::pin(async move {
                match tokio::time::timeout(START_WITHIN, successor.ready()).await {
                    Ok(Ok(())) => Ok(pid),
                    Ok(Err(e)) => {
                        let how = crate::process::upgrade::exit_of(pid, exit).await;
                        Err(format!("the new relight (pid {pid}) {how}: {e}"))
                    }
                    Err(_) => {
                        stop_successor(pid);
                        Err(format!(
                            "the new relight (pid {pid}) did not say it accepts within {START_WITHIN:?}; stopped it (SIGTERM)"
                        ))
                    }
                }
            }),
        ))
    }

    /// The bound addresses (useful when a port was 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Re-reads the configuration (SIGUSR1): unchanged backends keep running, changed ones
    /// are replaced, new ones start, removed ones stop. The listening sockets are kept; a
    /// configuration that does not load leaves everything as it was.
    async fn reload(&mut self) {
        let old = current(&self.current);
        let path = old.config().config_path.clone();
        let config = match crate::config::load::load(&path, self.format) {
            Ok(l) => {
                for w in &l.warnings {
                    tracing::warn!("{w}");
                }
                l.config
            }
            Err(e) => {
                tracing::error!("SIGUSR1: not reloading, the configuration has an error: {e}");
                return;
            }
        };
        // New certificates for new connections; ones that cannot be used leave everything as it
        // was (the error names the file and why).
        let tls = match crate::tls::Tls::load(&config) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("SIGUSR1: not reloading, keeping the current certificates: {e}");
                return;
            }
        };
        // Which bound address speaks TLS is fixed at start: a listener must not turn from
        // HTTPS to plain HTTP (or back) under its clients.
        let https = |t: &crate::tls::Tls| {
            let mut a: Vec<SocketAddr> = t.addrs().copied().collect();
            a.sort();
            a
        };
        if https(&tls) != https(&old.tls) {
            tracing::error!(
                "SIGUSR1: not reloading: the HTTPS addresses ([[tls]] listen) changed; they take effect at the next start"
            );
            return;
        }
        if listen_addrs(&config, &tls) != listen_addrs(old.config(), &old.tls)
            || config.server.max_connections != old.config().server.max_connections
        {
            tracing::warn!(
                "SIGUSR1: the listen addresses (server.listen and [[tls]] listen) and server.max_connections take effect at the next start; keeping the current ones"
            );
        }
        let pools = match pools_of(&config) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("SIGUSR1: not reloading: {e}");
                return;
            }
        };
        match (&self.sup, pools.is_empty() && config.cgi.is_empty()) {
            (None, true) => {}
            (None, false) => match Supervisor::start(pools, config.server.cgroups) {
                Ok(s) => self.sup = Some(s),
                Err(e) => {
                    tracing::error!("SIGUSR1: not reloading: {e}");
                    return;
                }
            },
            (Some(sup), _) => match sup.reconcile(pools) {
                Ok(r) => tracing::info!(
                    "SIGUSR1: backends unchanged {:?}, replaced {:?}, added {:?}, removed {:?}",
                    r.unchanged,
                    r.changed,
                    r.added,
                    r.removed
                ),
                Err(e) => tracing::error!("SIGUSR1: {e}"),
            },
        }
        let access = match access_log_for(&config, Some(&old)) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("SIGUSR1: not reloading: {e}");
                return;
            }
        };
        match State::new(config, self.sup.as_ref(), access, tls) {
            Ok(state) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(state);
                tracing::info!("SIGUSR1: configuration reloaded from {}", path.display());
            }
            Err(e) => tracing::error!("SIGUSR1: not reloading: {e}"),
        }
    }

    /// Stops the backends at once (a start that fails after they were started).
    async fn stop_backends(&self) {
        if let Some(sup) = &self.sup {
            sup.shutdown(backends_kill_grace(current(&self.current).config()))
                .await;
        }
    }

    /// Tells systemd `msg`, when relight runs under it.
    fn notify(&self, msg: &str) {
        if let Some(n) = &self.notifier {
            n.send(msg);
        }
    }

    /// The one-line summary of the backends for systemd's STATUS=.
    fn status_line(&self) -> String {
        let pools = self.sup.as_ref().map(|s| s.status()).unwrap_or_default();
        crate::process::notify::status_line(&pools)
    }

    /// Serves until SIGINT (graceful: in-flight requests get `grace` to finish), SIGTERM, or a
    /// new binary started on SIGUSR2 accepts (then as SIGINT); SIGUSR1 reloads the
    /// configuration, SIGHUP reopens the log files.
    pub async fn run(mut self, grace: Duration) -> io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = (|| {
            io::Result::Ok((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
                signal(SignalKind::user_defined1())?,
                signal(SignalKind::hangup())?,
                signal(SignalKind::user_defined2())?,
            ))
        })();
        let (mut sigint, mut sigterm, mut sigusr1, mut sighup, mut sigusr2) = match signals {
            Ok(s) => s,
            Err(e) => {
                self.stop_backends().await;
                return Err(e);
            }
        };
        let mut successor: Option<(i32, Successor)> = None;
        let (stop_tx, stop_rx) = watch::channel(false);
        let start = current(&self.current);
        let max = start.config().server.max_connections;
        let limit = Arc::new(Semaphore::new(max));
        tokio::spawn(crate::files::cache::sweeper());
        memory::tune();
        let bursts = memory::Bursts::new(limit.clone(), max);
        tokio::spawn(bursts.clone().trim_after_bursts());
        // Replacing a relight: its backends' socket paths become this one's before the first
        // request (until now its requests reached its own processes).
        if let (Some(inh), Some(sup)) = (&self.upgrade.inherited, &self.sup) {
            let n = match sup.take_over_sockets() {
                Ok(n) => n,
                Err(e) => {
                    self.stop_backends().await;
                    return Err(io::Error::other(format!(
                        "taking over the backends' sockets: {e}"
                    )));
                }
            };
            tracing::info!(
                "upgrade: {n} backend socket(s) of pid {} now lead to this relight's processes",
                inh.from
            );
        }
        for l in std::mem::take(&mut self.listeners) {
            tokio::spawn(accept::accept_loop(
                l,
                self.current.clone(),
                limit.clone(),
                bursts.clone(),
                stop_rx.clone(),
            ));
        }
        for a in listen_addrs(start.config(), &start.tls) {
            let scheme = if start.tls.listener(&a).is_some() {
                "https"
            } else {
                "http"
            };
            tracing::info!(
                "relight {} listening on {scheme}://{a}",
                env!("CARGO_PKG_VERSION"),
            );
        }
        drop(start);
        match &mut self.upgrade.inherited {
            // The old relight tells systemd (MAINPID=) once it knows this one accepts.
            Some(inh) => {
                let from = inh.from;
                if let Some(p) = &current(&self.current).config().server.pid_file
                    && let Err(e) = write_pid_file(p)
                {
                    tracing::warn!("upgrade: {e}");
                }
                match inh.ready() {
                    Ok(()) => tracing::info!(
                        "upgrade: accepting; pid {from} stops accepting and finishes its requests"
                    ),
                    Err(e) => tracing::warn!(
                        "upgrade: cannot tell pid {from} that this relight accepts: {e}"
                    ),
                }
            }
            None => self.notify("READY=1"),
        }
        let mut watchdog = self
            .notifier
            .as_ref()
            .and_then(|n| n.watchdog_interval())
            .map(tokio::time::interval);
        // STATUS= follows the backends (every 5 s: a line for `systemctl status`, not a log).
        let mut status_tick = tokio::time::interval(Duration::from_secs(5));
        let mut last_status = String::new();
        let stop = loop {
            tokio::select! {
                _ = sigint.recv() => break Stop::Graceful,
                _ = sigterm.recv() => break Stop::Now,
                _ = sigusr2.recv() => {
                    if successor.is_some() {
                        tracing::warn!("SIGUSR2: a new binary is already starting");
                    } else {
                        match self.start_upgrade() {
                            Ok(s) => successor = Some(s),
                            Err(e) => tracing::error!("SIGUSR2: not replacing the binary: {e}"),
                        }
                    }
                }
                r = async { Some((&mut successor.as_mut()?.1).await) }, if successor.is_some() => {
                    successor = None;
                    match r {
                        Some(Ok(pid)) => break Stop::HandOver(pid),
                        Some(Err(e)) => tracing::error!(
                            "SIGUSR2: not replaced: {e}; this relight goes on serving"
                        ),
                        None => {}
                    }
                }
                _ = sigusr1.recv() => {
                    self.notify(&crate::process::notify::reloading());
                    self.reload().await;
                    self.notify("READY=1");
                    last_status.clear();
                }
                _ = async { watchdog.as_mut()?.tick().await; Some(()) },
                    if watchdog.is_some() => self.notify("WATCHDOG=1"),
                _ = status_tick.tick(), if self.notifier.is_some() => {
                    let line = self.status_line();
                    if line != last_status {
                        self.notify(&format!("STATUS={line}"));
                        last_status = line;
                    }
                }
                _ = sighup.recv() => {
                    crate::log::reopen_error_log();
                    if let Some(log) = &current(&self.current).access_log {
                        log.reopen();
                    }
                    tracing::info!("SIGHUP: log files reopened");
                }
            }
        };
        let _ = stop_tx.send(true);
        // Stopping while a new binary starts: it is stopped too (it would serve alone, with
        // socket paths this relight removes as it stops).
        if let Some((pid, _)) = successor.take() {
            tracing::info!("stopping the new relight (pid {pid}) that was starting");
            stop_successor(pid);
        }
        // The listening sockets are the successor's now, or nobody's.
        self.upgrade.listeners.clear();
        match stop {
            Stop::HandOver(pid) => {
                // systemd follows the new process (NotifyAccess=main accepts this from us).
                self.notify(&format!("MAINPID={pid}"));
                if let Some(sup) = &self.sup {
                    sup.hand_over();
                }
                tracing::info!(
                    "SIGUSR2: pid {pid} accepts; finishing in-flight requests (up to {grace:?}), then exiting"
                );
            }
            Stop::Graceful => tracing::info!(
                "SIGINT: graceful shutdown, waiting up to {grace:?} for in-flight requests"
            ),
            Stop::Now => tracing::info!("SIGTERM: shutting down now"),
        }
        if !matches!(stop, Stop::HandOver(_)) {
            self.notify("STOPPING=1\nSTATUS=stopping");
        }
        if !matches!(stop, Stop::Now) {
            let deadline = tokio::time::Instant::now() + grace;
            while limit.available_permits() < max && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let open = max - limit.available_permits();
            if open > 0 {
                tracing::warn!("shutdown: closing {open} connection(s) still open after {grace:?}");
            }
        }
        if let Some(sup) = &self.sup {
            let grace = backends_kill_grace(current(&self.current).config());
            let report = sup.shutdown(grace).await;
            tracing::info!(
                "shutdown: {} backend process(es) stopped, {} needed SIGKILL",
                report.stopped,
                report.killed.len()
            );
        }
        let state = current(&self.current);
        let s = &state.config().server;
        if let Some(p) = &s.pid_file {
            if s.chroot.is_some() {
                tracing::info!(
                    "pid_file {}: left in place (outside the chroot)",
                    p.display()
                );
            } else if std::fs::read_to_string(p)
                .is_ok_and(|t| t.trim() != std::process::id().to_string())
            {
                // A successor (an upgrade) wrote its own pid there.
            } else if let Err(e) = std::fs::remove_file(p) {
                tracing::warn!("pid_file {}: cannot remove it: {e}", p.display());
            }
        }
        Ok(())
    }
}
