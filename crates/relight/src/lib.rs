//! relight: a web server whose FastCGI backends always come back.
//!
//! The binary (`main.rs`) is a thin edge over this library: [`config`] reads the configuration,
//! [`server`] runs the HTTP front end, which hands each request to [`gateway`] (FastCGI) or
//! [`static_files`].

pub mod activation;
pub mod auth;
pub mod body;
pub mod config;
pub mod conn;
pub mod file_cache;
pub mod gateway;
pub mod httpdate;
pub mod lighttpd;
pub mod load;
pub mod log;
pub mod mime;
pub mod privileges;
pub mod respond;
pub mod rewrite;
pub mod route;
pub mod scope;
pub mod server;
pub mod spawn_cmd;
pub mod spawned;
pub mod static_files;
pub mod status;
pub mod urlpath;
