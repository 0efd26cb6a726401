//! The `relight` command: the edge where configuration and start-up errors become one clear
//! message and an exit code.

use std::process::ExitCode;

use clap::Parser;
use relight::cli::{Cli, Command};
use relight::server::Server;

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("relight: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
}

fn spawn_main(args: relight::process::spawn_cmd::SpawnArgs) -> ExitCode {
    let pool = match relight::process::spawn_cmd::pool_config(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("relight spawn: {e}");
            return ExitCode::from(2);
        }
    };
    let _ = relight::log::init_error_log(None, relight::log::LogFormat::Text);
    let rt = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match rt.block_on(relight::process::spawn_cmd::run(pool)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relight spawn: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `-V`: the version and what is built in, in the layout of `lighttpd -V` (scripts read its
/// "+"/"-" lines), each line true of this binary: what relight does not have is "-", what it
/// has in place of a lighttpd library says so on a line of its own.
fn print_features() {
    let on = |b: bool| if b { '+' } else { '-' };
    let tls = cfg!(feature = "tls");
    let mut out = format!(
        "relight/{}{} - a web server whose FastCGI backends always come back\n\n",
        env!("CARGO_PKG_VERSION"),
        if tls { " (ssl)" } else { "" }
    );
    let section = |out: &mut String, title: &str, lines: &[(bool, &str)]| {
        out.push_str(title);
        out.push_str(":\n\n");
        for (b, what) in lines {
            out.push_str(&format!("\t{} {what}\n", on(*b)));
        }
        out.push('\n');
    };
    section(
        &mut out,
        "Event Handlers",
        &[
            (false, "select (generic)"),
            (false, "poll (Unix)"),
            (true, "epoll (Linux)"),
            (false, "/dev/poll (Solaris)"),
            (false, "eventports (Solaris)"),
            (false, "kqueue (FreeBSD)"),
        ],
    );
    section(
        &mut out,
        "Network handler",
        &[
            (true, "linux-sendfile"),
            (false, "freebsd-sendfile"),
            (false, "darwin-sendfile"),
            (false, "solaris-sendfilev"),
            (true, "writev"),
            (true, "write"),
            (false, "mmap support"),
        ],
    );
    section(
        &mut out,
        "Features",
        &[
            (true, "IPv6 support"),
            (
                cfg!(feature = "gzip"),
                "zlib support (gzip, deflate: miniz_oxide)",
            ),
            (cfg!(feature = "zstd"), "zstd support"),
            (false, "bzip2 support"),
            (cfg!(feature = "brotli"), "brotli support"),
            (true, "crypt support"),
            (false, "OpenSSL support"),
            (tls, "rustls support (TLS 1.2 and 1.3, ring)"),
            (false, "mbedTLS support"),
            (false, "NSS crypto support"),
            (false, "GnuTLS support"),
            (false, "WolfSSL support"),
            (false, "Nettle support"),
            (false, "PCRE support"),
            (
                true,
                "regex support (regex-lite: PCRE's syntax but look-around and back-references)",
            ),
            (cfg!(feature = "http2"), "HTTP/2 support"),
            (false, "MySQL support"),
            (false, "PgSQL support"),
            (false, "DBI support"),
            (false, "Kerberos support"),
            (false, "LDAP support"),
            (false, "PAM support"),
            (false, "FAM support"),
            (false, "LUA support"),
            (false, "xml support"),
            (false, "SQLite support"),
            (true, "Y2038 support"),
        ],
    );
    print!("{}", out.trim_end_matches('\n'));
    println!();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.features {
        print_features();
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = &cli.module_dir {
        eprintln!(
            "relight: -m {}: ignored (relight has no loadable modules)",
            dir.display()
        );
    }
    if let Some(Command::Spawn(args)) = cli.command {
        return spawn_main(args);
    }
    let Some(config_path) = cli.config else {
        eprintln!("relight: -f FILE is required");
        return ExitCode::from(2);
    };
    let loaded = match relight::config::load::load(&config_path, cli.format) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("relight: {e}");
            return ExitCode::FAILURE;
        }
    };
    for n in &loaded.notes {
        eprintln!("relight: note: {n}");
    }
    // The certificates, so that `-t` finds what the start would refuse.
    if let Err(e) = relight::tls::check(&loaded.config) {
        eprintln!("relight: {e}");
        return ExitCode::FAILURE;
    }
    for w in &loaded.warnings {
        eprintln!("relight: warning: {w}");
    }
    if cli.print {
        match &loaded.lighttpd {
            Some(lc) => print!("{}", relight::config::lighttpd::print::print(lc)),
            None => match std::fs::read_to_string(&config_path) {
                Ok(t) => print!("{t}"),
                Err(e) => {
                    eprintln!("relight: {}: {e}", config_path.display());
                    return ExitCode::FAILURE;
                }
            },
        }
        return ExitCode::SUCCESS;
    }
    if cli.test >= 2 && !loaded.warnings.is_empty() {
        eprintln!(
            "relight: {} setting(s) relight does not implement (-tt makes them errors)",
            loaded.warnings.len()
        );
        return ExitCode::FAILURE;
    }
    if cli.test > 0 {
        println!("Syntax OK");
        return ExitCode::SUCCESS;
    }
    let config = loaded.config;
    let grace = config.server.shutdown_grace.0;
    let warnings = loaded.warnings;
    let format = cli.format;
    let log_format = match config.server.error_log_format {
        relight::config::ErrorLogFormat::Text => relight::log::LogFormat::Text,
        relight::config::ErrorLogFormat::Json => relight::log::LogFormat::Json,
    };
    if let Err(e) = relight::log::init_error_log(config.server.error_log.as_deref(), log_format) {
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
    let threads = config.server.threads.unwrap_or(1);
    let built = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match built {
        Ok(r) => r,
        Err(e) => {
            eprintln!("relight: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        for w in &warnings {
            tracing::warn!("{w}");
        }
        let server = match Server::bind(config, format).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("relight: {e}");
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        match server.run(grace).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("relight: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
