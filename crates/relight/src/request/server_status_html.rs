//! The status page as HTML, for people (a browser asks for `text/html`; JSON stays for
//! `Accept: application/json`, `?json` and clients that ask for nothing in particular): every
//! backend and slot with its state, process, uptime, requests, the request in flight, the last
//! exit (why, and the descendants killed), and per backend a timeline of its last exits as
//! inline SVG. One self-contained page: no script, no external asset; it reloads itself every
//! 5 s.

use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Response, header};
use supervisor::{ExitRecord, PoolStatus, Reason, SlotState, SlotStatus};

use super::server_status::{pool_of, pools};
use crate::gateway::cgi::Cgi;
use crate::gateway::fastcgi::{Backend, Target};
use crate::gateway::proxy::Proxy;
use crate::http::body::Body;
use crate::http::date::format_rfc3339;

/// How far back the timeline reaches.
const TIMELINE: Duration = Duration::from_secs(3600);

/// Escapes text for HTML (element content and quoted attributes).
fn esc(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// "3d 4h", "2h 5m", "4m 10s", "12s".
fn ago(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

fn since(t: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(t).unwrap_or_default()
}

/// The colour of a state or a reason: green serving, amber waiting, red failing.
fn state_class(s: SlotState) -> &'static str {
    match s {
        SlotState::Ready | SlotState::Busy => "ok",
        SlotState::Idle | SlotState::Stopping => "idle",
        SlotState::Backoff => "bad",
    }
}

fn reason_colour(r: Reason) -> &'static str {
    match r {
        Reason::MaxRequests | Reason::IdleTimeout | Reason::Shutdown => "#6a8caf",
        Reason::RequestTimeout | Reason::MaxRss | Reason::HealthCheck => "#d08a00",
        _ => "#c62828",
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.6em 0 .4em}\
.meta{color:#666}table{border-collapse:collapse;background:#fff;min-width:60%}\
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.state{font-weight:600;padding:0 .4em;border-radius:3px}.ok{background:#d7f0d7;color:#1b5e20}\
.idle{background:#eee;color:#555}.bad{background:#fbd5d5;color:#b71c1c}\
.exit{color:#444;font-size:.92em}.killed{color:#b71c1c}code{font-size:.95em}\
svg{background:#fff;border:1px solid #ddd;margin:.4em 0}";

/// The page.
pub(crate) fn html(
    backends: &[Arc<Backend>],
    cgi: &[Arc<Cgi>],
    proxy: &[Arc<Proxy>],
    started: SystemTime,
) -> Response<Body> {
    let now = SystemTime::now();
    let pools = pools(backends);
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"5\"><title>relight status</title>\
         <style>{STYLE}</style></head><body><h1>relight/{}</h1>\
         <p class=\"meta\">started {} (up {}); this page reloads every 5 s \
         (<a href=\"?json\">JSON</a>)</p>",
        env!("CARGO_PKG_VERSION"),
        format_rfc3339(started),
        ago(since(started, now)),
    );
    if backends.is_empty() {
        out.push_str("<p>No FastCGI backends.</p>");
    }
    for b in backends {
        out.push_str("<h2>");
        esc(&mut out, &b.name);
        out.push_str("</h2>");
        match (&b.target, pool_of(&pools, &b.name)) {
            (Target::External(addr), _) => {
                out.push_str("<p>External backend at <code>");
                esc(&mut out, &addr.to_string());
                out.push_str("</code> (not spawned by relight).</p>");
            }
            (Target::Spawned { pool, .. }, _) if *pool != b.name => {
                out.push_str("<p>Served by the processes of <b>");
                esc(&mut out, pool);
                out.push_str("</b>.</p>");
            }
            (Target::Spawned { .. }, Some(pool)) => slots(&mut out, pool, now),
            (Target::Spawned { .. }, None) => out.push_str("<p>No processes.</p>"),
        }
    }
    if !cgi.is_empty() {
        out.push_str(
            "<h2>CGI</h2><table><tr><th>rule</th><th>running</th><th>max</th>\
             <th>started</th><th>succeeded</th><th>failed</th><th>stopped</th><th>refused</th></tr>",
        );
        for c in cgi {
            out.push_str("<tr><td>");
            esc(&mut out, &c.name);
            let _ = write!(
                out,
                "</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
                c.running(),
                c.max_procs()
            );
            for (_, n) in super::server_status::cgi_counts(c) {
                let _ = write!(out, "<td class=\"n\">{n}</td>");
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
    }
    if !proxy.is_empty() {
        out.push_str("<h2>Proxies</h2><table><tr><th>rule</th>");
        for (k, _) in super::server_status::proxy_counts(&proxy[0]) {
            let _ = write!(out, "<th>{}</th>", k.replace('_', " "));
        }
        out.push_str("</tr>");
        for p in proxy {
            out.push_str("<tr><td>");
            esc(&mut out, &p.name);
            out.push_str("</td>");
            for (_, n) in super::server_status::proxy_counts(p) {
                let _ = write!(out, "<td class=\"n\">{n}</td>");
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    let mut resp = Response::new(Body::full(out));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A pool's table, then its timeline.
fn slots(out: &mut String, pool: &PoolStatus, now: SystemTime) {
    let up = pool
        .slots
        .iter()
        .filter(|s| matches!(s.state, SlotState::Ready | SlotState::Busy))
        .count();
    let _ = write!(
        out,
        "<p class=\"meta\">{up}/{} processes up</p><table><tr><th>slot</th><th>state</th>\
         <th>pid</th><th>uptime</th><th>requests</th><th>in flight</th><th>restarts</th>\
         <th>last exit</th></tr>",
        pool.slots.len()
    );
    for s in &pool.slots {
        slot_row(out, s, now);
    }
    out.push_str("</table>");
    timeline(out, pool, now);
}

fn slot_row(out: &mut String, s: &SlotStatus, now: SystemTime) {
    let _ = write!(
        out,
        "<tr><td class=\"n\">{}</td><td><span class=\"state {}\">{}</span></td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td>",
        s.index,
        state_class(s.state),
        s.state.as_str(),
        s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
        s.started_at
            .map(|t| ago(since(t, now)))
            .unwrap_or_else(|| "-".into()),
        s.requests,
    );
    match &s.current {
        Some(r) => {
            out.push_str("<code>");
            esc(out, r);
            out.push_str("</code>");
        }
        None => out.push('-'),
    }
    out.push_str("</td><td>");
    // "3 signal, 1 max_requests": how many ended, by reason.
    if s.restarts.is_empty() {
        out.push('0');
    }
    for (i, (r, n)) in s.restarts.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{n} {}", r.as_str());
    }
    out.push_str("</td><td class=\"exit\">");
    match &s.last_exit {
        Some(e) => exit_cell(out, e, now),
        None => out.push('-'),
    }
    out.push_str("</td></tr>");
}

fn exit_cell(out: &mut String, e: &ExitRecord, now: SystemTime) {
    let _ = write!(out, "{} ago: pid {} ", ago(since(e.at, now)), e.pid);
    esc(out, e.reason.as_str());
    out.push_str(" (");
    esc(out, &e.detail);
    let _ = write!(out, ") after {}", ago(e.uptime));
    if let Some(r) = &e.request {
        out.push_str(", serving <code>");
        esc(out, r);
        out.push_str("</code>");
    }
    if !e.killed.is_empty() {
        out.push_str("<br><span class=\"killed\">descendants killed:");
        for (pid, cmd) in &e.killed {
            let _ = write!(out, " {pid} <code>");
            esc(out, cmd);
            out.push_str("</code>");
        }
        out.push_str("</span>");
    }
    if !e.left.is_empty() {
        out.push_str("<br>descendants left running:");
        for (pid, cmd) in &e.left {
            let _ = write!(out, " {pid} <code>");
            esc(out, cmd);
            out.push_str("</code>");
        }
    }
}

/// The pool's recent exits over the last hour, a row per slot, a mark per exit (its colour
/// says why; hovering shows the details).
fn timeline(out: &mut String, pool: &PoolStatus, now: SystemTime) {
    let (w, left, row) = (720.0_f64, 56.0_f64, 22.0_f64);
    let h = row * pool.slots.len() as f64 + 22.0;
    let span = TIMELINE.as_secs_f64();
    let _ = write!(
        out,
        "<svg role=\"img\" aria-label=\"restarts of the last hour\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\" \
         font-family=\"sans-serif\"><title>Restarts of the last hour</title>"
    );
    let x_of = |t: SystemTime| {
        let back = since(t, now).as_secs_f64().min(span);
        left + (w - left - 8.0) * (1.0 - back / span)
    };
    for (i, s) in pool.slots.iter().enumerate() {
        let y = row * i as f64 + row / 2.0 + 2.0;
        let _ = write!(
            out,
            "<text x=\"4\" y=\"{:.1}\">slot {}</text><line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>",
            y + 4.0,
            s.index,
            w - 8.0
        );
        for e in &s.recent_exits {
            if since(e.at, now) > TIMELINE {
                continue;
            }
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{}\"><title>",
                x_of(e.at),
                reason_colour(e.reason)
            );
            let _ = write!(out, "{} ago: pid {} ", ago(since(e.at, now)), e.pid);
            esc(out, e.reason.as_str());
            out.push_str(" (");
            esc(out, &e.detail);
            out.push_str(")</title></circle>");
        }
    }
    let base = h - 6.0;
    let _ = write!(
        out,
        "<text x=\"{left}\" y=\"{base}\" fill=\"#666\">1 hour ago</text>\
         <text x=\"{:.1}\" y=\"{base}\" fill=\"#666\" text-anchor=\"end\">now</text></svg>",
        w - 8.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_durations_read_as_people_say_them() {
        let mut s = String::new();
        esc(&mut s, "<a href=\"x\">&'</a>");
        assert_eq!(s, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
        assert_eq!(ago(Duration::from_secs(12)), "12s");
        assert_eq!(ago(Duration::from_secs(250)), "4m 10s");
        assert_eq!(ago(Duration::from_secs(7500)), "2h 5m");
        assert_eq!(ago(Duration::from_secs(3 * 86400 + 4 * 3600)), "3d 4h");
    }
}
