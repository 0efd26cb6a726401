//! Step 3d, requests in progress per client address (lighttpd's mod_evasive, until 1.4.67):
//! a client with `max_conns_per_ip` requests in progress gets 403 (or a 302 to the settings'
//! location) for the next one. A request counts from when its settings are known to when its
//! response starts (its body's sending is not counted: a slow download does not lock its
//! client out).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};

use std::ops::ControlFlow;

use http::{HeaderValue, StatusCode, header};

use crate::config::EvasiveConfig;
use crate::http::pages::status_page;

fn counts() -> &'static Mutex<HashMap<IpAddr, usize>> {
    static C: OnceLock<Mutex<HashMap<IpAddr, usize>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A request in progress from one address; counted until dropped.
#[derive(Debug)]
pub(crate) struct InProgress(IpAddr);

impl Drop for InProgress {
    fn drop(&mut self) {
        let mut c = counts().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = c.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                c.remove(&self.0);
            }
        }
    }
}

/// Counts a request from `ip`; `Break` with the answer when it is one too many.
pub(crate) fn enter(ip: IpAddr, cfg: &EvasiveConfig) -> super::Step<InProgress> {
    let mut c = counts().lock().unwrap_or_else(|p| p.into_inner());
    let n = c.entry(ip).or_insert(0);
    if *n >= cfg.max_conns_per_ip {
        drop(c);
        if !cfg.silent {
            tracing::warn!(
                "{ip}: turned away: too many requests in progress (evasive, max {})",
                cfg.max_conns_per_ip
            );
        }
        return ControlFlow::Break(match &cfg.location {
            Some(loc) => {
                let mut r = status_page(StatusCode::FOUND);
                if let Ok(v) = HeaderValue::from_str(loc) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            None => status_page(StatusCode::FORBIDDEN),
        });
    }
    *n += 1;
    ControlFlow::Continue(InProgress(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(s: crate::request::Step<InProgress>) -> http::Response<crate::http::body::Body> {
        match s {
            ControlFlow::Break(r) => r,
            ControlFlow::Continue(_) => panic!("let in"),
        }
    }

    #[test]
    fn the_limit_counts_requests_in_progress_per_address() {
        let cfg = EvasiveConfig {
            max_conns_per_ip: 2,
            location: None,
            silent: true,
        };
        let a: IpAddr = "192.0.2.77".parse().unwrap();
        let b: IpAddr = "192.0.2.78".parse().unwrap();
        let one = enter(a, &cfg).continue_value().unwrap();
        let two = enter(a, &cfg).continue_value().unwrap();
        assert_eq!(answer(enter(a, &cfg)).status(), StatusCode::FORBIDDEN);
        let other = enter(b, &cfg).continue_value().unwrap();
        drop(one);
        let three = enter(a, &cfg).continue_value().unwrap();
        let redirect = EvasiveConfig {
            location: Some("/busy.html".into()),
            ..cfg
        };
        let r = answer(enter(a, &redirect));
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()[header::LOCATION], "/busy.html");
        drop((two, three, other));
        assert!(!counts().lock().unwrap().contains_key(&a));
    }
}
