//! Step 9b, lighttpd's status pages (mod_status), where a configuration asks for them
//! (status.status-url, status.statistics-url, status.config-url, per scope too, so the access
//! rules and authentication of their scope apply): the status as HTML, as `?auto` text in
//! lighttpd's fields (Total Accesses, Total kBytes, Uptime, BusyServers, IdleServers,
//! Scoreboard) or `?json` in lighttpd's JSON; the statistics as `key: value` lines (the spawned
//! backends' counts); the configuration's summary. The counters are relight's own
//! ([`crate::log::traffic`]): bytes are body bytes, and the scoreboard knows two states, a
//! request in progress (`h`) and a connection waiting for its next one (`k`).
//! relight's JSON status and /metrics are served as they are, by the admin step.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::time::SystemTime;

use http::{HeaderValue, Response, StatusCode, header};

use super::{Handler, Req, Step};
use crate::http::body::Body;
use crate::http::date;

/// Answers a request for one of the status pages its settings name.
pub(crate) fn step(h: &Handler, req: &Req) -> Step<()> {
    let Some(pages) = &req.site.status_pages else {
        return ControlFlow::Continue(());
    };
    let path = req.target.path.as_str();
    let query = req.target.query.as_deref().unwrap_or("");
    let max = h.config().server.max_connections;
    if pages.status.as_deref() == Some(path) {
        return ControlFlow::Break(if query == "auto" {
            text("text/plain", auto(max))
        } else if query.starts_with("json") {
            let mut j = json(max);
            if let Some(cb) = query.strip_prefix("jsonp=").filter(|c| {
                !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }) {
                j = format!("{cb}({j});");
            }
            text("application/javascript", j)
        } else {
            let refresh = query
                .strip_prefix("refresh=")
                .and_then(|n| n.parse::<u32>().ok());
            let host = req
                .parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            text("text/html", html(max, host, &req.site.server_tag, refresh))
        });
    }
    if pages.statistics.as_deref() == Some(path) {
        let lines = statistics(h);
        if lines.is_empty() {
            let mut r = Response::new(Body::Empty);
            *r.status_mut() = StatusCode::NO_CONTENT;
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            return ControlFlow::Break(r);
        }
        return ControlFlow::Break(text("text/plain", lines));
    }
    if pages.config.as_deref() == Some(path) {
        return ControlFlow::Break(text("text/html", config_page(h, &req.site.server_tag)));
    }
    ControlFlow::Continue(())
}

fn text(ty: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
    r
}

/// (busy, idle) as lighttpd counts them: connections open, and the rest of max_connections.
fn servers(max: usize) -> (usize, usize) {
    let (_, _, open, _) = crate::log::traffic().counts();
    (open, max.saturating_sub(open))
}

fn uptime() -> u64 {
    SystemTime::now()
        .duration_since(crate::log::traffic().started())
        .map_or(0, |d| d.as_secs())
}

/// `?auto`: lighttpd's fields, a line each.
fn auto(max: usize) -> String {
    let (requests, bytes, open, in_flight) = crate::log::traffic().counts();
    let (busy, idle) = servers(max);
    let waiting = open.saturating_sub(in_flight);
    format!(
        "Total Accesses: {requests}\nTotal kBytes: {}\nUptime: {}\nBusyServers: {busy}\nIdleServers: {idle}\nScoreboard: {}{}{}\n",
        bytes / 1024,
        uptime(),
        "h".repeat(in_flight.min(open)),
        "k".repeat(waiting),
        "_".repeat(idle)
    )
}

/// `?json`: lighttpd's object.
fn json(max: usize) -> String {
    let (requests, bytes, _, _) = crate::log::traffic().counts();
    let (busy, idle) = servers(max);
    let (r5, b5) = crate::log::traffic().average_5s();
    format!(
        "{{\n\t\"RequestsTotal\": {requests},\n\t\"TrafficTotal\": {},\n\t\"Uptime\": {},\n\t\"BusyServers\": {busy},\n\t\"IdleServers\": {idle},\n\t\"RequestAverage5s\":{r5},\n\t\"TrafficAverage5s\":{}\n}}",
        bytes / 1024,
        uptime(),
        b5 / 1024
    )
}

/// The status as a page.
fn html(max: usize, host: &str, tag: &str, refresh: Option<u32>) -> String {
    let t = crate::log::traffic();
    let (requests, bytes, open, in_flight) = t.counts();
    let (r5, b5) = t.average_5s();
    let up = uptime().max(1);
    let esc = crate::files::listing::html;
    let mut out = String::with_capacity(2048);
    out.push_str("<!DOCTYPE html>\n<html>\n<head>\n<title>Status</title>\n");
    if let Some(n) = refresh {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{n}\">");
    }
    out.push_str("<style type=\"text/css\">\ntable {border: 1px solid #555; border-collapse: collapse;}\ntd, th {padding: 2px 8px; font-family: monospace;}\nth {text-align: left; background: #ddd;}\n</style>\n</head>\n<body>\n");
    let _ = writeln!(out, "<h1>Server-Status ({})</h1>", esc(tag));
    let _ = write!(
        out,
        "<table summary=\"status\">\n\
         <tr><td>Hostname</td><td>{}</td></tr>\n\
         <tr><td>Uptime</td><td>{}</td></tr>\n\
         <tr><td>Started at</td><td>{}</td></tr>\n\
         <tr><th colspan=\"2\">absolute (since start)</th></tr>\n\
         <tr><td>Requests</td><td>{requests} req</td></tr>\n\
         <tr><td>Traffic</td><td>{:.2} kbyte</td></tr>\n\
         <tr><th colspan=\"2\">average (since start)</th></tr>\n\
         <tr><td>Requests</td><td>{} req/s</td></tr>\n\
         <tr><td>Traffic</td><td>{:.2} kbyte/s</td></tr>\n\
         <tr><th colspan=\"2\">average (5s sliding average)</th></tr>\n\
         <tr><td>Requests</td><td>{r5} req/s</td></tr>\n\
         <tr><td>Traffic</td><td>{:.2} kbyte/s</td></tr>\n\
         </table>\n",
        esc(host),
        uptime_text(uptime()),
        date::format(t.started()),
        bytes as f64 / 1024.0,
        requests / up,
        bytes as f64 / 1024.0 / up as f64,
        b5 as f64 / 1024.0,
    );
    let _ = write!(
        out,
        "<hr />\n<pre><b>{open} connections</b>\n{}{}</pre>\n\
         <table summary=\"legend\">\n<tr><td style=\"text-align:right\">{}</td><td>h = handling a request</td></tr>\n\
         <tr><td style=\"text-align:right\">{}</td><td>k = keep-alive</td></tr>\n\
         <tr><td style=\"text-align:right\">{}</td><td>_ = free (of {max})</td></tr>\n</table>\n\
         </body>\n</html>\n",
        "h".repeat(in_flight.min(open)),
        "k".repeat(open.saturating_sub(in_flight)),
        in_flight.min(open),
        open.saturating_sub(in_flight),
        max.saturating_sub(open),
    );
    out
}

/// `D days H hours M min S s`, the zero parts but seconds left out.
fn uptime_text(s: u64) -> String {
    let (d, h, m, s) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    if d > 0 {
        let _ = write!(out, "{d} days ");
    }
    if h > 0 {
        let _ = write!(out, "{h} hours ");
    }
    if m > 0 {
        let _ = write!(out, "{m} min ");
    }
    let _ = write!(out, "{s} s");
    out
}

/// The statistics: each spawned backend's processes, requests served and restarts, as
/// `key: value` lines in key order.
fn statistics(h: &Handler) -> String {
    let mut lines = std::collections::BTreeMap::new();
    for p in h.pools() {
        let up = p.slots.iter().filter(|s| s.pid.is_some()).count();
        let requests: u64 = p.slots.iter().map(|s| s.requests).sum();
        let restarts: u64 = p.slots.iter().flat_map(|s| s.restarts.values()).sum();
        lines.insert(format!("relight.backend.{}.processes", p.name), up as u64);
        lines.insert(format!("relight.backend.{}.requests", p.name), requests);
        lines.insert(format!("relight.backend.{}.restarts", p.name), restarts);
    }
    lines.iter().fold(String::new(), |mut out, (k, v)| {
        let _ = writeln!(out, "{k}: {v}");
        out
    })
}

/// What the configuration runs with.
fn config_page(h: &Handler, tag: &str) -> String {
    let esc = crate::files::listing::html;
    let c = h.config();
    let mut out = format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<title>Status</title>\n</head>\n<body>\n<h1>{}</h1>\n<table summary=\"status\" border=\"1\">\n",
        esc(tag)
    );
    let row = |out: &mut String, k: &str, v: &str| {
        let _ = writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", esc(k), v);
    };
    row(&mut out, "RegEx Conditionals", "enabled");
    row(&mut out, "fd-Event-Handler", "epoll (tokio)");
    row(
        &mut out,
        "Configuration",
        &esc(&c.config_path.display().to_string()),
    );
    let backends: Vec<String> = c
        .fastcgi
        .iter()
        .map(|b| {
            format!(
                "{} {} ({})",
                b.protocol.as_str(),
                esc(&b.name.value),
                b.matches
                    .iter()
                    .map(|m| esc(match m {
                        crate::config::MatchRule::Prefix(s)
                        | crate::config::MatchRule::Extension(s) => s,
                    }))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .chain(
            c.cgi
                .iter()
                .enumerate()
                .map(|(i, g)| format!("cgi {}", esc(&g.name_or(i)))),
        )
        .chain(
            c.proxy
                .iter()
                .map(|p| format!("proxy {}", esc(&p.name.value))),
        )
        .collect();
    row(&mut out, "Backends", &backends.join("<br />"));
    out.push_str("</table>\n</body>\n</html>\n");
    out
}
