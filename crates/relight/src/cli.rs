//! The command line (`relight -f FILE`, `relight spawn ...`): its definition alone, shared by
//! the binary and by `xtask`, which makes the man page and the shell completions from it.

use std::path::PathBuf;

use clap::Parser;

/// What each signal does, for `--help` and the man page.
const SIGNALS: &str = "Signals:
  SIGINT   stop accepting, let requests in flight finish (shutdown_grace), stop the backends
  SIGTERM  stop at once (the backends get their kill signal, then SIGKILL)
  SIGUSR1  read the configuration again (a file with an error changes nothing)
  SIGHUP   reopen the log files (logrotate)
  SIGUSR2  replace the binary in place: start the file now at this binary's path with the
           listening sockets; once it accepts, this process drains and exits";

/// A web server whose FastCGI backends always come back.
#[derive(Debug, Parser)]
#[command(
    name = "relight",
    version,
    disable_version_flag = true,
    args_conflicts_with_subcommands = true,
    after_long_help = SIGNALS
)]
pub struct Cli {
    /// What to run instead of the server (`spawn`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The configuration file.
    #[arg(
        short = 'f',
        long = "config",
        value_name = "FILE",
        required_unless_present = "features"
    )]
    pub config: Option<PathBuf>,
    /// Stay in the foreground (relight always does; accepted as lighttpd users type it).
    #[arg(short = 'D')]
    pub foreground: bool,
    /// Check the configuration and exit: 0 if it is valid, 1 with the error otherwise.
    /// Twice (-tt): also fail on lighttpd keys and modules relight does not implement.
    #[arg(short = 't', long = "test", action = clap::ArgAction::Count)]
    pub test: u8,
    /// Print the configuration as relight read it (lighttpd.conf: evaluated) and exit.
    #[arg(short = 'p')]
    pub print: bool,
    /// The configuration's language (default: by extension and content).
    #[arg(long, value_enum, default_value = "auto")]
    pub format: crate::config::load::Format,
    /// lighttpd's module directory: accepted and ignored (relight has no loadable modules).
    #[arg(short = 'm', value_name = "DIR")]
    pub module_dir: Option<PathBuf>,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    pub version: (),
    /// Print the version and the features built in, and exit.
    #[arg(short = 'V')]
    pub features: bool,
}

/// relight's subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run a FastCGI program's processes on a socket, supervised, without HTTP.
    Spawn(crate::process::spawn_cmd::SpawnArgs),
}
