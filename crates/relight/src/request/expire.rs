//! After the responder, how long clients may keep the response (lighttpd's mod_expire):
//! `Cache-Control: max-age=N` (to an HTTP/1.0 client, `Expires`), for a GET or HEAD answered
//! 200 or 206 that has no Cache-Control yet, from the first `expire` rule whose URL prefix
//! the path (after rewrites) has, else the first whose content type prefix the response's
//! has. A rule counted from the file's modification applies only to responses that say when
//! that was (Last-Modified), and never expires before now, as lighttpd.

use std::time::{Duration, SystemTime};

use http::{HeaderValue, Method, Response, StatusCode, Version, header};

use super::Req;
use crate::config::ExpireRule;
use crate::http::body::Body;
use crate::http::date;

/// Adds the expiry headers to `resp` when a rule covers it.
pub(crate) fn apply(resp: &mut Response<Body>, req: &Req) {
    let rules = &req.site.expire;
    if rules.is_empty()
        || !matches!(req.parts.method, Method::GET | Method::HEAD)
        || !matches!(resp.status(), StatusCode::OK | StatusCode::PARTIAL_CONTENT)
        || resp.headers().contains_key(header::CACHE_CONTROL)
    {
        return;
    }
    let Some(rule) = rule_for(
        rules,
        &req.target.path,
        resp.headers().get(header::CONTENT_TYPE),
    ) else {
        return;
    };
    let now = SystemTime::now();
    let base = if rule.expires.from_modification {
        let Some(m) = resp
            .headers()
            .get(header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(date::parse)
        else {
            return;
        };
        m
    } else {
        now
    };
    let at = expires_at(base, rule.expires.secs, now);
    let headers = resp.headers_mut();
    if req.parts.version <= Version::HTTP_10 {
        if let Ok(v) = HeaderValue::from_str(&date::format(at)) {
            headers.insert(header::EXPIRES, v);
        }
    } else {
        let secs = at.duration_since(now).map_or(0, |d| d.as_secs());
        if let Ok(v) = HeaderValue::from_str(&format!("max-age={secs}")) {
            headers.insert(header::CACHE_CONTROL, v);
        }
    }
}

/// `secs` after `base`, never before `now`; capped at a hundred years (that far out means
/// "never", and cannot overflow).
fn expires_at(base: SystemTime, secs: i64, now: SystemTime) -> SystemTime {
    const CAP: u64 = 100 * 365 * 86400;
    let d = Duration::from_secs(secs.unsigned_abs().min(CAP));
    let at = if secs >= 0 {
        base.checked_add(d)
    } else {
        base.checked_sub(d)
    };
    at.unwrap_or(base).max(now)
}

/// The first rule whose URL prefix `path` has, else the first whose content type prefix
/// the response's type has ("" matches every response, one without a type too).
fn rule_for<'a>(
    rules: &'a [ExpireRule],
    path: &str,
    content_type: Option<&HeaderValue>,
) -> Option<&'a ExpireRule> {
    rules
        .iter()
        .find(|r| r.url.as_deref().is_some_and(|u| path.starts_with(u)))
        .or_else(|| {
            let ty = content_type.map_or(&b""[..], HeaderValue::as_bytes);
            rules.iter().find(|r| {
                r.content_type.as_deref().is_some_and(|t| {
                    let t = t.strip_suffix('*').unwrap_or(t);
                    ty.starts_with(t.as_bytes())
                })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Expiry;

    fn expiry(s: &str) -> Expiry {
        Expiry::try_from(s.to_owned()).unwrap()
    }

    #[test]
    fn lighttpd_syntax() {
        assert_eq!(expiry("access plus 1 hours 30 minutes").secs, 5400);
        assert_eq!(
            expiry("now 1 week 1 day 1 hour 1 minute 1 second").secs,
            694861
        );
        assert_eq!(expiry("access plus 1 months").secs, 30 * 86400);
        assert_eq!(expiry("access plus 1 year").secs, 360 * 86400);
        assert!(expiry("modification plus 2 days").from_modification);
        for bad in [
            "",
            "accessed plus 1 days",
            "access plus 1",
            "access plus x days",
            "access plus 1 fortnights",
            "access  plus 1 days",
        ] {
            assert!(Expiry::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn huge_and_negative_times() {
        let now = SystemTime::now();
        let far = expiry("access plus 300000000000 years");
        assert!(expires_at(now, far.secs, now) > now + Duration::from_secs(99 * 365 * 86400));
        assert_eq!(expires_at(now, -5, now), now, "never before now");
    }

    #[test]
    fn url_rules_first_then_content_types_in_order() {
        let rule = |url: Option<&str>, ty: Option<&str>, s: i64| ExpireRule {
            url: url.map(str::to_owned),
            content_type: ty.map(str::to_owned),
            expires: Expiry {
                from_modification: false,
                secs: s,
            },
        };
        let rules = [
            rule(None, Some("image/*"), 1),
            rule(Some("/stat"), None, 2),
            rule(Some("/static/"), None, 3),
            rule(None, Some(""), 4),
        ];
        let png = HeaderValue::from_static("image/png");
        let secs =
            |p: &str, t: Option<&HeaderValue>| rule_for(&rules, p, t).map(|r| r.expires.secs);
        assert_eq!(secs("/static/a.png", Some(&png)), Some(2), "first URL rule");
        assert_eq!(secs("/img/a.png", Some(&png)), Some(1));
        assert_eq!(secs("/a.txt", None), Some(4), "\"\" matches no type too");
    }
}
