//! relight: a web server whose FastCGI backends always come back.
//!
//! The folders follow the flow of a request, and imports point one way (docs/ARCHITECTURE.md):
//!
//! - [`config`]: the model both configuration formats read into, and every check `relight -t`
//!   runs; knows nothing of requests.
//! - [`http`]: the vocabulary every layer answers with (bodies, error pages, dates, URL paths,
//!   content codings);
//!   no I/O of its own.
//! - `files`, `gateway`, [`process`]: static files; the exchanges with backends; the processes
//!   relight spawns (pools, `relight spawn`, privileges, socket activation).
//! - `request`: one request, as an ordered list of named steps, from its target to its answer.
//! - [`server`]: the server's life: listeners, connections, reload, shutdown; [`tls`]: HTTPS's
//!   certificates and handshake (`tls_off.rs` in a build without the `tls` feature).
//! - `main.rs`: the command line, where errors become one message and an exit code.

pub mod cli;
pub mod config;
pub(crate) mod files;
pub(crate) mod gateway;
pub mod http;
pub mod log;
pub mod process;
pub(crate) mod request;
pub mod server;
#[cfg_attr(not(feature = "tls"), path = "tls_off.rs")]
pub mod tls;
