//! The status page (`/server-status`, JSON) and the metrics (`/metrics`, Prometheus text):
//! every backend, every slot, its process, state, requests, restarts by reason and last exit;
//! every CGI rule, its scripts running and how those that ran ended; every proxy rule, its
//! requests and upstream failures.
//! Served from loopback only unless the configuration says otherwise.

use std::fmt::Write;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderValue, Response, header};
use supervisor::{ExitRecord, PoolStatus, Reason, SlotState};

use crate::gateway::cgi::Cgi;
use crate::gateway::fastcgi::{Backend, Target};
use crate::gateway::proxy::Proxy;
use crate::http::body::Body;
use crate::http::date::format_rfc3339;
use crate::log::json::json_str;

fn json_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.push_str("null"),
    }
}

fn json_procs(out: &mut String, list: &[(i32, String)]) {
    out.push('[');
    for (i, (pid, cmd)) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"pid\":{pid},\"cmd\":");
        json_str(out, cmd);
        out.push('}');
    }
    out.push(']');
}

fn json_exit(out: &mut String, e: &ExitRecord) {
    let _ = write!(out, "{{\"pid\":{},\"reason\":", e.pid);
    json_str(out, e.reason.as_str());
    out.push_str(",\"detail\":");
    json_str(out, &e.detail);
    let _ = write!(
        out,
        ",\"uptime_secs\":{:.3},\"request\":",
        e.uptime.as_secs_f64()
    );
    json_opt_str(out, e.request.as_deref());
    out.push_str(",\"at\":");
    json_str(out, &format_rfc3339(e.at));
    out.push_str(",\"descendants_killed\":");
    json_procs(out, &e.killed);
    out.push_str(",\"descendants_left\":");
    json_procs(out, &e.left);
    out.push('}');
}

pub(super) fn pool_of<'a>(pools: &'a [PoolStatus], name: &str) -> Option<&'a PoolStatus> {
    pools.iter().find(|p| p.name == name)
}

/// The spawned backends' pools as the supervisor has them now.
pub(crate) fn pools(backends: &[Arc<Backend>]) -> Vec<PoolStatus> {
    backends
        .iter()
        .find_map(|b| match &b.target {
            Target::Spawned { sup, .. } => Some(sup.status()),
            Target::External(_) => None,
        })
        .unwrap_or_default()
}

/// The pools that cannot serve a request now, as "name (up/all processes up)": none of their
/// processes is running, and they are not simply waiting to start one on demand (every slot
/// idle, none backing off after a failure).
pub(crate) fn not_ready(pools: &[PoolStatus]) -> Vec<String> {
    use supervisor::SlotState;
    pools
        .iter()
        .filter_map(|p| {
            let up = p
                .slots
                .iter()
                .filter(|s| matches!(s.state, SlotState::Ready | SlotState::Busy))
                .count();
            let on_demand = p.slots.iter().all(|s| s.state == SlotState::Idle);
            (up == 0 && !on_demand)
                .then(|| format!("{} (0/{} processes up)", p.name, p.slots.len()))
        })
        .collect()
}

/// A CGI rule's counts: (name of the count, its value).
pub(super) fn cgi_counts(c: &Cgi) -> [(&'static str, u64); 5] {
    use std::sync::atomic::Ordering::Relaxed;
    let st = &c.stats;
    [
        ("started", st.started.load(Relaxed)),
        ("succeeded", st.succeeded.load(Relaxed)),
        ("failed", st.failed.load(Relaxed)),
        ("stopped", st.stopped.load(Relaxed)),
        ("refused", st.refused.load(Relaxed)),
    ]
}

/// A proxy rule's counts: (name of the count, its value).
pub(super) fn proxy_counts(p: &Proxy) -> [(&'static str, u64); 3] {
    use std::sync::atomic::Ordering::Relaxed;
    let st = &p.stats;
    [
        ("requests", st.requests.load(Relaxed)),
        ("upstream_errors", st.upstream_errors.load(Relaxed)),
        ("upgraded", st.upgraded.load(Relaxed)),
    ]
}

/// The status page as JSON.
pub(crate) fn json(
    backends: &[Arc<Backend>],
    cgi: &[Arc<Cgi>],
    proxy: &[Arc<Proxy>],
    started: SystemTime,
) -> Response<Body> {
    let pools = pools(backends);
    let mut out = String::with_capacity(1024);
    out.push_str("{\"server\":");
    json_str(&mut out, concat!("relight/", env!("CARGO_PKG_VERSION")));
    out.push_str(",\"started\":");
    json_str(&mut out, &format_rfc3339(started));
    out.push_str(",\"backends\":[");
    for (i, b) in backends.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_str(&mut out, &b.name);
        match (&b.target, pool_of(&pools, &b.name)) {
            (Target::External(addr), _) => {
                out.push_str(",\"kind\":\"external\",\"address\":");
                json_str(&mut out, &addr.to_string());
            }
            // An entry served by another backend's processes: their slots are listed there.
            (Target::Spawned { pool, .. }, _) if *pool != b.name => {
                out.push_str(",\"kind\":\"spawned\",\"pool\":");
                json_str(&mut out, pool);
            }
            (Target::Spawned { .. }, Some(pool)) => {
                out.push_str(",\"kind\":\"spawned\",\"slots\":[");
                for (j, s) in pool.slots.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{{\"slot\":{},\"address\":", s.index);
                    json_str(&mut out, &s.addr);
                    out.push_str(",\"state\":");
                    json_str(&mut out, s.state.as_str());
                    match s.pid {
                        Some(pid) => {
                            let _ = write!(out, ",\"pid\":{pid}");
                        }
                        None => out.push_str(",\"pid\":null"),
                    }
                    out.push_str(",\"started\":");
                    json_opt_str(&mut out, s.started_at.map(format_rfc3339).as_deref());
                    let _ = write!(out, ",\"requests\":{},\"in_flight\":", s.requests);
                    json_opt_str(&mut out, s.current.as_deref());
                    out.push_str(",\"restarts\":{");
                    for (k, (reason, n)) in s.restarts.iter().enumerate() {
                        if k > 0 {
                            out.push(',');
                        }
                        json_str(&mut out, reason.as_str());
                        let _ = write!(out, ":{n}");
                    }
                    out.push_str("},\"last_exit\":");
                    match &s.last_exit {
                        Some(e) => json_exit(&mut out, e),
                        None => out.push_str("null"),
                    }
                    out.push('}');
                }
                out.push(']');
            }
            (Target::Spawned { .. }, None) => out.push_str(",\"kind\":\"spawned\",\"slots\":[]"),
        }
        out.push('}');
    }
    out.push_str("],\"cgi\":[");
    for (i, c) in cgi.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_str(&mut out, &c.name);
        let _ = write!(
            out,
            ",\"running\":{},\"max_procs\":{}",
            c.running(),
            c.max_procs()
        );
        for (k, n) in cgi_counts(c) {
            let _ = write!(out, ",\"{k}\":{n}");
        }
        out.push('}');
    }
    out.push_str("],\"proxy\":[");
    for (i, p) in proxy.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_str(&mut out, &p.name);
        for (k, n) in proxy_counts(p) {
            let _ = write!(out, ",\"{k}\":{n}");
        }
        out.push('}');
    }
    out.push_str("]}\n");
    let mut resp = Response::new(Body::full(out));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

const STATES: [SlotState; 5] = [
    SlotState::Idle,
    SlotState::Ready,
    SlotState::Busy,
    SlotState::Backoff,
    SlotState::Stopping,
];
const REASONS: [Reason; 10] = [
    Reason::Exited,
    Reason::Signaled,
    Reason::RequestTimeout,
    Reason::MaxRequests,
    Reason::MaxRss,
    Reason::HealthCheck,
    Reason::IdleTimeout,
    Reason::Shutdown,
    Reason::SpawnFailed,
    Reason::Abandoned,
];

/// The same facts in Prometheus' text format.
pub(crate) fn metrics(
    backends: &[Arc<Backend>],
    cgi: &[Arc<Cgi>],
    proxy: &[Arc<Proxy>],
) -> Response<Body> {
    let pools = pools(backends);
    let mut out = String::with_capacity(2048);
    out.push_str("# HELP relight_backend_slots Process slots of spawned backends, by state.\n# TYPE relight_backend_slots gauge\n");
    for p in &pools {
        for st in STATES {
            let n = p.slots.iter().filter(|s| s.state == st).count();
            let _ = writeln!(
                out,
                "relight_backend_slots{{backend=\"{}\",state=\"{}\"}} {n}",
                p.name,
                st.as_str()
            );
        }
    }
    out.push_str("# HELP relight_backend_restarts_total Backend process ends, by reason.\n# TYPE relight_backend_restarts_total counter\n");
    for p in &pools {
        for r in REASONS {
            let n: u64 = p
                .slots
                .iter()
                .map(|s| s.restarts.get(&r).copied().unwrap_or(0))
                .sum();
            let _ = writeln!(
                out,
                "relight_backend_restarts_total{{backend=\"{}\",reason=\"{}\"}} {n}",
                p.name,
                r.as_str()
            );
        }
    }
    out.push_str("# HELP relight_backend_requests_total Requests served by spawned backends.\n# TYPE relight_backend_requests_total counter\n");
    for p in &pools {
        let n: u64 = p.slots.iter().map(|s| s.requests).sum();
        let _ = writeln!(
            out,
            "relight_backend_requests_total{{backend=\"{}\"}} {n}",
            p.name
        );
    }
    if !cgi.is_empty() {
        out.push_str("# HELP relight_cgi_running CGI scripts running, by rule.\n# TYPE relight_cgi_running gauge\n");
        for c in cgi {
            let _ = writeln!(
                out,
                "relight_cgi_running{{cgi=\"{}\"}} {}",
                c.name,
                c.running()
            );
        }
        out.push_str("# HELP relight_cgi_runs_total CGI scripts, by how they ended (started: all; refused: 503 at max_procs).\n# TYPE relight_cgi_runs_total counter\n");
        for c in cgi {
            for (k, n) in cgi_counts(c) {
                let _ = writeln!(
                    out,
                    "relight_cgi_runs_total{{cgi=\"{}\",outcome=\"{k}\"}} {n}",
                    c.name
                );
            }
        }
    }
    for (metric, help, k) in [
        (
            "relight_proxy_requests_total",
            "Requests sent upstream, by proxy rule.",
            0,
        ),
        (
            "relight_proxy_upstream_errors_total",
            "Requests an upstream failed (refused, reset, malformed, too slow), by proxy rule.",
            1,
        ),
        (
            "relight_proxy_upgraded_total",
            "Connections upgraded (WebSocket), by proxy rule.",
            2,
        ),
    ] {
        if proxy.is_empty() {
            break;
        }
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for p in proxy {
            let _ = writeln!(
                out,
                "{metric}{{proxy=\"{}\"}} {}",
                p.name,
                proxy_counts(p)[k].1
            );
        }
    }
    let mut resp = Response::new(Body::full(out));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
