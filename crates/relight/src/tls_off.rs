//! HTTPS in a build without the `tls` feature: no listener speaks it (a configuration with
//! `[[tls]]` is refused by the configuration's checks). The same names as `tls.rs`, empty.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Config, Error};

/// No HTTPS address.
#[derive(Debug, Default)]
pub(crate) struct Tls;

/// An HTTPS address: there are none.
#[derive(Debug)]
pub(crate) enum Listener {}

impl Tls {
    /// Nothing to load.
    pub(crate) fn load(_: &Config) -> Result<Tls, Error> {
        Ok(Tls)
    }

    /// No listener speaks HTTPS.
    pub(crate) fn listener(&self, _: &SocketAddr) -> Option<&Arc<Listener>> {
        None
    }

    /// No HTTPS addresses.
    pub(crate) fn addrs(&self) -> impl Iterator<Item = &SocketAddr> {
        std::iter::empty()
    }
}

/// Nothing to check.
pub fn check(_: &Config) -> Result<(), Error> {
    Ok(())
}
