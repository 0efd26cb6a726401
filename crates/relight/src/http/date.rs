//! HTTP dates (RFC 9110 IMF-fixdate) and the access log's Common Log Format time, without a
//! calendar library: the civil-from-days algorithm and its inverse.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    weekday: usize,
}

fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        min: (rem / 60 % 60) as u32,
        sec: (rem % 60) as u32,
        weekday: days.rem_euclid(7) as usize,
    }
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Whole seconds since the Unix epoch, now (0 before it).
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn format(t: SystemTime) -> String {
    let c = civil(unix_secs(t));
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday],
        c.day,
        MONTHS[c.month as usize - 1],
        c.year,
        c.hour,
        c.min,
        c.sec
    )
}

/// `1994-Nov-06 08:49:37` (UTC), the time of a directory listing's rows (lighttpd's layout).
pub(crate) fn format_listing(t: SystemTime) -> String {
    let c = civil(unix_secs(t));
    format!(
        "{}-{}-{:02} {:02}:{:02}:{:02}",
        c.year,
        MONTHS[c.month as usize - 1],
        c.day,
        c.hour,
        c.min,
        c.sec
    )
}

/// `06/Nov/1994:08:49:37 +0000`, the time of the Common Log Format.
pub(crate) fn format_clf(t: SystemTime) -> String {
    let c = civil(unix_secs(t));
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        c.day,
        MONTHS[c.month as usize - 1],
        c.year,
        c.hour,
        c.min,
        c.sec
    )
}

/// `1994-11-06T08:49:37Z`, for JSON.
pub(crate) fn format_rfc3339(t: SystemTime) -> String {
    let c = civil(unix_secs(t));
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

/// RFC 3339 in UTC with microseconds: "2026-12-03T12:00:00.123456Z" (JSON log lines).
pub(crate) fn format_rfc3339_micros(t: SystemTime) -> String {
    let micros = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_micros())
        .unwrap_or(0);
    let c = civil(unix_secs(t));
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

/// Parses an IMF-fixdate (the only form servers must generate; the obsolete forms are not
/// accepted, so a condition on them is simply not applied).
pub(crate) fn parse(s: &str) -> Option<SystemTime> {
    let b = s.trim().as_bytes();
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        std::str::from_utf8(&b[r]).ok()?.parse().ok()
    };
    let day = num(5..7)?;
    let month = MONTHS.iter().position(|m| m.as_bytes() == &b[8..11])? as u32 + 1;
    let year = num(12..16)? as i64;
    let (hour, min, sec) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    if !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(min) * 60
        + i64::from(sec);
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example_round_trips() {
        let t = parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(unix_secs(t), 784_111_777);
        assert_eq!(format(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(format_clf(t), "06/Nov/1994:08:49:37 +0000");
        assert_eq!(format_rfc3339(t), "1994-11-06T08:49:37Z");
    }

    #[test]
    fn leap_days_and_epoch() {
        assert_eq!(format(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = parse("Thu, 29 Feb 2024 23:59:59 GMT").unwrap();
        assert_eq!(format(t), "Thu, 29 Feb 2024 23:59:59 GMT");
        for secs in (0..4_000_000_000i64).step_by(86_399 * 37) {
            let t = UNIX_EPOCH + Duration::from_secs(secs as u64);
            assert_eq!(parse(&format(t)), Some(t));
        }
    }

    #[test]
    fn rejects_other_forms() {
        assert_eq!(parse("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse("Sun Nov  6 08:49:37 1994"), None);
        assert_eq!(parse("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(parse(""), None);
    }
}
