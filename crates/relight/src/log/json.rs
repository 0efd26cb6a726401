//! The error log as JSON lines (`error_log_format = "json"`), for log shippers: one object per
//! event, `{"time":"2026-12-03T12:00:00.123456Z","level":"WARN","message":"..."}` and the
//! event's other fields by name. Written here rather than with a JSON crate: the events have a
//! message and a few plain fields, and this is all it takes.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats each event as one JSON object on one line.
pub(crate) struct JsonLines {
    /// Whether to write `time` (not under syslog or the journal, which stamp lines).
    pub(crate) time: bool,
}

/// Appends `s` as a JSON string.
pub(crate) fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The event's fields as `,"name":value` pairs (the message first, as "message").
struct Fields(String);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(',');
        json_str(&mut self.0, field.name());
        self.0.push(':');
        json_str(&mut self.0, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        let _ = write!(self.0, ",\"{}\":{value}", field.name());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        let _ = write!(self.0, ",\"{}\":{value}", field.name());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        let _ = write!(self.0, ",\"{}\":{value}", field.name());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut out = String::with_capacity(160);
        out.push('{');
        if self.time {
            out.push_str("\"time\":");
            json_str(
                &mut out,
                &crate::http::date::format_rfc3339_micros(std::time::SystemTime::now()),
            );
            out.push(',');
        }
        let _ = write!(out, "\"level\":\"{}\"", event.metadata().level());
        let mut fields = Fields(out);
        event.record(&mut fields);
        let mut out = fields.0;
        out.push_str("}\n");
        writer.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_for_json() {
        let mut s = String::new();
        json_str(&mut s, "a \"b\"\\\n\u{1}");
        assert_eq!(s, r#""a \"b\"\\\n\u0001""#);
    }
}
