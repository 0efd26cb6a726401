//! The `relight` command: the edge where configuration and start-up errors become one clear
//! message and an exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use relight::config::Config;
use relight::server::Server;

/// A web server whose FastCGI backends always come back.
#[derive(Debug, Parser)]
#[command(
    name = "relight",
    version,
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The configuration file.
    #[arg(short = 'f', long = "config", value_name = "FILE", required = true)]
    config: Option<PathBuf>,
    /// Stay in the foreground (relight always does; accepted as lighttpd users type it).
    #[arg(short = 'D')]
    foreground: bool,
    /// Check the configuration and exit: 0 if it is valid, 1 with the error otherwise.
    #[arg(short = 't', long = "test")]
    test: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: (),
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run a FastCGI program's processes on a socket, supervised, without HTTP.
    Spawn(relight::spawn_cmd::SpawnArgs),
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("relight: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
}

fn spawn_main(args: relight::spawn_cmd::SpawnArgs) -> ExitCode {
    let pool = match relight::spawn_cmd::pool_config(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("relight spawn: {e}");
            return ExitCode::from(2);
        }
    };
    let _ = relight::log::init_error_log(None);
    let rt = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match rt.block_on(relight::spawn_cmd::run(pool)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relight spawn: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Spawn(args)) = cli.command {
        return spawn_main(args);
    }
    let Some(config_path) = cli.config else {
        eprintln!("relight: -f FILE is required");
        return ExitCode::from(2);
    };
    let config = match Config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("relight: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.test {
        println!("Syntax OK");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = relight::log::init_error_log(config.server.error_log.as_deref()) {
        eprintln!(
            "relight: error_log {}: {e}",
            config
                .server
                .error_log
                .as_deref()
                .unwrap_or(std::path::Path::new("-"))
                .display()
        );
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("relight: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("relight: {e}");
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        match server.run(Duration::from_secs(10)).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("relight: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
