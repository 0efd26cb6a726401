//! `relight spawn`: the process manager without HTTP, for nginx and Caddy users — what
//! spawn-fcgi and multiwatch do together, with relight's supervision: the processes share one
//! socket (the address the web server is told), crash loops back off, descendants are
//! contained, and every death is explained on stderr.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use supervisor::{BaseAddr, DescendantPolicy, PoolConfig, SpawnSpec, Supervisor};

use crate::config::{KillSignal, Timeout};

/// Arguments of `relight spawn`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Run a FastCGI program's processes on a socket, supervised, without HTTP (replaces spawn-fcgi + multiwatch)"
)]
pub struct SpawnArgs {
    /// Listen on this unix socket path (shared by all processes).
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "port",
        required_unless_present = "port"
    )]
    pub socket: Option<PathBuf>,
    /// Listen on this TCP port (shared by all processes).
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// The address for --port.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// How many processes.
    #[arg(long, default_value_t = 1)]
    pub procs: usize,
    /// Run the processes as this user (when started as root).
    #[arg(long)]
    pub user: Option<String>,
    /// Run the processes as this group (when started as root).
    #[arg(long)]
    pub group: Option<String>,
    /// The listen backlog.
    #[arg(long, default_value_t = 1024)]
    pub backlog: i32,
    /// Mode of the unix socket file, octal.
    #[arg(long, value_name = "MODE")]
    pub socket_mode: Option<String>,
    /// The signal that asks a process to stop.
    #[arg(long, value_name = "SIGNAL", default_value = "SIGTERM")]
    pub kill_signal: String,
    /// Time from the kill signal to SIGKILL ("2s").
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub kill_grace: String,
    /// What happens to a dead process's descendants: kill or keep.
    #[arg(long, default_value = "kill")]
    pub descendants: String,
    /// Working directory of the processes (default: the current directory).
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "PROGRAM ARGS")]
    pub program: Vec<OsString>,
}

/// Why `relight spawn` cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// `--procs 0`.
    #[error("--procs must be at least 1")]
    Procs,
    /// `--user` or `--group` cannot be used.
    #[error("{0}")]
    Ids(#[from] super::pools::IdError),
    /// An option's value is not valid (the message names the value).
    #[error("{0}")]
    Invalid(String),
    /// `--descendants` is neither kill nor keep.
    #[error("--descendants {0:?}: expected kill or keep")]
    Descendants(String),
    /// Neither `--socket` nor `--port`.
    #[error("--socket or --port is required")]
    NoAddress,
    /// A path, the current directory or a signal handler could not be had.
    #[error("{what}: {source}")]
    Io {
        /// What was needed.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The supervisor could not start.
    #[error("{0}")]
    Start(#[from] supervisor::StartError),
}

/// The pool `relight spawn` runs.
pub fn pool_config(args: &SpawnArgs) -> Result<PoolConfig, SpawnError> {
    if args.procs == 0 {
        return Err(SpawnError::Procs);
    }
    let (uid, gid) = super::pools::user_group_ids(args.user.as_deref(), args.group.as_deref())?;
    let kill_signal = KillSignal::try_from(toml::Value::String(args.kill_signal.clone()))
        .map_err(SpawnError::Invalid)?;
    let kill_grace = Timeout::try_from(toml::Value::String(args.kill_grace.clone()))
        .map_err(SpawnError::Invalid)?;
    let descendants = match args.descendants.as_str() {
        "kill" => DescendantPolicy::Kill,
        "keep" => DescendantPolicy::Keep,
        other => return Err(SpawnError::Descendants(other.to_owned())),
    };
    let socket_mode = match &args.socket_mode {
        None => None,
        Some(m) => Some(
            crate::config::SocketMode::try_from(m.clone())
                .map_err(SpawnError::Invalid)?
                .0,
        ),
    };
    let io = |what| move |source| SpawnError::Io { what, source };
    let addr = match (&args.socket, args.port) {
        (Some(p), _) => BaseAddr::Unix(std::path::absolute(p).map_err(io("--socket"))?),
        (None, Some(port)) => BaseAddr::Tcp(SocketAddr::new(args.host, port)),
        (None, None) => return Err(SpawnError::NoAddress),
    };
    let env = super::pools::backend_env(&[], &Default::default());
    let cwd = match &args.cwd {
        Some(d) => d.clone(),
        None => std::env::current_dir().map_err(io("current directory"))?,
    };
    Ok(PoolConfig {
        name: PathBuf::from(&args.program[0])
            .file_name()
            .map_or_else(|| "app".into(), |n| n.to_string_lossy().into_owned()),
        spec: SpawnSpec {
            program: PathBuf::from(&args.program[0]),
            args: args.program[1..].to_vec(),
            env,
            cwd,
            uid,
            gid,
        },
        addr,
        shared_socket: true,
        min_procs: args.procs,
        max_procs: args.procs,
        backlog: args.backlog,
        socket_mode,
        kill_signal: kill_signal.0,
        kill_grace: kill_grace.0,
        max_requests: None,
        max_rss: None,
        // One socket for every process: a check cannot choose the process it asks.
        health_check: None,
        limits: supervisor::CgroupLimits::default(),
        idle_timeout: Duration::from_secs(3600),
        descendants,
    })
}

/// Runs the pool until SIGINT or SIGTERM, then stops every process and its group.
pub async fn run(pool: PoolConfig) -> Result<(), SpawnError> {
    use tokio::signal::unix::{SignalKind, signal};
    let grace = pool.kill_grace;
    let io = |source| SpawnError::Io {
        what: "signals",
        source,
    };
    let mut sigint = signal(SignalKind::interrupt()).map_err(io)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(io)?;
    let sup = Supervisor::start(vec![pool], true)?;
    tokio::select! {
        _ = sigint.recv() => tracing::info!("SIGINT: stopping"),
        _ = sigterm.recv() => tracing::info!("SIGTERM: stopping"),
    }
    let report = sup.shutdown(grace).await;
    tracing::info!(
        "stopped: {} process(es) ended on the kill signal, {} needed SIGKILL",
        report.stopped,
        report.killed.len()
    );
    Ok(())
}
