//! Response compression (lighttpd's mod_deflate), in two places of the request's steps:
//! [`prepare`], before routing, picks the coding from the client's Accept-Encoding among the
//! settings' codings, and makes an If-None-Match for a compressed ETag ask for the file's
//! own, so the static files can answer 304; [`apply`], after the responder, compresses the
//! response when its status, type and size call for it: a small body at once (with its
//! Content-Length), a static file once into the cache directory (then sent from there with
//! sendfile), anything else as it is sent (chunked, bounded memory: one chunk and the
//! encoder's window).
//!
//! As lighttpd: HEAD, 1xx, 204, 205 and 304 responses and bodies that are already encoded
//! are sent as they are; the ETag gets `-<coding>` inside its quotes; `Vary: Accept-Encoding`
//! is added to what is compressed. Unlike lighttpd 1.4.69, a 206 is never compressed (a
//! compressed range is not the range asked for), `q=0` refuses a coding, and a setting that
//! names no codings offers all of them (1.4.69 then compresses nothing: a bug fixed after it).

use std::io::Write;
use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::Req;
use crate::config::CompressConfig;
use crate::http::body::Body;
use crate::http::encoding::{self, Coding, Encoder, Level};

/// Bodies this small are compressed at once, with a Content-Length.
const AT_ONCE: usize = 256 << 10;

/// Before routing: the coding the response may be compressed with, if any (kept in
/// `req.coding`); an If-None-Match naming compressed ETags of that coding is made to name the
/// files' own (`req.etag_unsuffixed` remembers it, for the 304's ETag).
pub(crate) fn prepare(req: &mut Req) {
    let Some(cfg) = req.site.compress.as_ref() else {
        return;
    };
    if req.parts.method == Method::HEAD || cfg.mime_types.is_empty() {
        return;
    }
    let Some(accept) = req
        .parts
        .headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let Some(coding) = encoding::choose(accept, &cfg.encodings) else {
        return;
    };
    req.coding = Some(coding);
    if let Some(inm) = req
        .parts
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        let suffix = format!("-{}\"", coding.name());
        if inm.contains(&suffix)
            && let Ok(v) = HeaderValue::from_str(&inm.replace(&suffix, "\""))
        {
            req.parts.headers.insert(header::IF_NONE_MATCH, v);
            req.etag_unsuffixed = true;
        }
    }
}

/// After the responder: `resp`, compressed if it should be.
pub(crate) async fn apply(mut resp: Response<Body>, req: &Req) -> Response<Body> {
    let (Some(coding), Some(cfg)) = (req.coding, req.site.compress.as_ref()) else {
        return resp;
    };
    let status = resp.status();
    if status == StatusCode::NOT_MODIFIED {
        if req.etag_unsuffixed {
            mark(resp.headers_mut(), coding);
        }
        return resp;
    }
    if status.as_u16() < 200
        || matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::RESET_CONTENT | StatusCode::PARTIAL_CONTENT
        )
        || resp.headers().contains_key(header::CONTENT_ENCODING)
        || resp.headers().contains_key(header::TRANSFER_ENCODING)
        || !type_matches(cfg, resp.headers().get(header::CONTENT_TYPE))
    {
        return resp;
    }
    let len = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = len
        && (len <= cfg.min_size || (cfg.max_size.0 > 0 && len > cfg.max_size.0))
    {
        return resp;
    }
    let level = Level(cfg.level);
    let body = std::mem::replace(resp.body_mut(), Body::Empty);
    let body = match body {
        Body::Full(Some(b)) if b.len() <= AT_ONCE => match encoding::compress(coding, level, &b) {
            Ok(out) => {
                resp.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
                Body::full(out)
            }
            Err(e) => {
                tracing::error!("compress {}: {e}; sent as it is", coding.name());
                *resp.body_mut() = Body::Full(Some(b));
                return resp;
            }
        },
        Body::File {
            file,
            at: 0,
            left,
            via: None,
        } if cfg.cache_dir.is_some() && status == StatusCode::OK && Some(left) == len => {
            let cached = match resp
                .headers()
                .get(header::ETAG)
                .and_then(|e| e.to_str().ok())
            {
                Some(etag) => {
                    let name = cache_name(
                        cfg.cache_dir.as_deref().unwrap_or(Path::new("/")),
                        &req.target.path,
                        etag,
                        coding,
                    );
                    let f = file.clone();
                    tokio::task::spawn_blocking(move || cached(&f, left, &name, coding, level))
                        .await
                        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
                }
                None => Err(std::io::Error::other("no ETag")),
            };
            match cached {
                Ok((cfile, clen)) => {
                    match crate::files::file_body_of(std::sync::Arc::new(cfile), 0, clen) {
                        Ok(b) => {
                            resp.headers_mut()
                                .insert(header::CONTENT_LENGTH, HeaderValue::from(clen));
                            b
                        }
                        Err(_) => {
                            *resp.body_mut() = Body::File {
                                file,
                                at: 0,
                                left,
                                via: None,
                            };
                            return resp;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(
                        "compress: cache {}: {e}; compressed as it is sent",
                        cfg.cache_dir.as_deref().unwrap_or(Path::new("")).display()
                    );
                    let body = Body::File {
                        file,
                        at: 0,
                        left,
                        via: None,
                    };
                    match Encoder::new(coding, level) {
                        Ok(e) => {
                            resp.headers_mut().remove(header::CONTENT_LENGTH);
                            Body::encoded(body, e)
                        }
                        Err(_) => {
                            *resp.body_mut() = body;
                            return resp;
                        }
                    }
                }
            }
        }
        other => match Encoder::new(coding, level) {
            Ok(e) => {
                resp.headers_mut().remove(header::CONTENT_LENGTH);
                Body::encoded(other, e)
            }
            Err(e) => {
                tracing::error!("compress {}: {e}; sent as it is", coding.name());
                *resp.body_mut() = other;
                return resp;
            }
        },
    };
    *resp.body_mut() = body;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.name()),
    );
    mark(h, coding);
    resp
}

/// Whether the settings' types cover a response of `content_type`: a prefix of the whole
/// value (a trailing `*` ignored); no type is covered only when "" comes first, as lighttpd.
fn type_matches(cfg: &CompressConfig, content_type: Option<&HeaderValue>) -> bool {
    let Some(ct) = content_type else {
        return cfg.mime_types.first().is_some_and(String::is_empty);
    };
    let ct = ct.as_bytes();
    cfg.mime_types.iter().any(|t| {
        let t = if t.len() > 2 {
            t.strip_suffix('*').unwrap_or(t)
        } else {
            t
        };
        ct.starts_with(t.as_bytes())
    })
}

/// The ETag of the compressed response (`"x"` → `"x-gzip"`), and `Vary: Accept-Encoding`
/// (appended to a Vary already there).
fn mark(h: &mut HeaderMap, coding: Coding) {
    if let Some(etag) = h.get(header::ETAG).and_then(|e| e.to_str().ok())
        && let Some(open) = etag.strip_suffix('"')
        && let Ok(v) = HeaderValue::from_str(&format!("{open}-{}\"", coding.name()))
    {
        h.insert(header::ETAG, v);
    }
    let vary = match h.get(header::VARY).and_then(|v| v.to_str().ok()) {
        Some(v) if v.to_ascii_lowercase().contains("accept-encoding") => return,
        Some(v) => HeaderValue::from_str(&format!("{v},Accept-Encoding")).ok(),
        None => Some(HeaderValue::from_static("Accept-Encoding")),
    };
    if let Some(v) = vary {
        h.insert(header::VARY, v);
    }
}

/// Where the compressed copy of the file at `url_path` with `etag` is kept:
/// `<dir><url_path>-<etag>-<coding>` (the ETag without quotes, `/` as `~`).
fn cache_name(dir: &Path, url_path: &str, etag: &str, coding: Coding) -> PathBuf {
    let tag = etag
        .trim_start_matches("W/")
        .trim_matches('"')
        .replace('/', "~");
    let mut p = dir.join(url_path.trim_start_matches('/')).into_os_string();
    p.push(format!("-{tag}-{}", coding.name()));
    PathBuf::from(p)
}

/// The compressed copy of `file` (`len` bytes) at `name`, made now (written beside it, then
/// renamed into place) unless it is there already; open, with its length.
fn cached(
    file: &std::fs::File,
    len: u64,
    name: &Path,
    coding: Coding,
    level: Level,
) -> std::io::Result<(std::fs::File, u64)> {
    if let Ok(f) = std::fs::File::open(name) {
        let n = f.metadata()?.len();
        return Ok((f, n));
    }
    if let Some(dir) = name.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A name of its own for each fill: two first requests for one file may fill at once.
    static FILLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut tmp = name.as_os_str().to_owned();
    tmp.push(format!(
        ".{}.{}",
        std::process::id(),
        FILLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let tmp = PathBuf::from(tmp);
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        let mut enc = Encoder::new(coding, level)?;
        let mut buf = vec![0u8; 64 << 10];
        let mut at = 0u64;
        loop {
            let n = std::os::unix::fs::FileExt::read_at(file, &mut buf, at)?;
            if n == 0 {
                break;
            }
            let n = n.min((len - at) as usize);
            at += n as u64;
            out.write_all(&enc.write(&buf[..n])?)?;
            if at >= len {
                break;
            }
        }
        out.write_all(&enc.finish()?)?;
        out.sync_data()?;
        std::fs::rename(&tmp, name)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let f = std::fs::File::open(name)?;
    let n = f.metadata()?.len();
    Ok((f, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_and_vary() {
        let mut h = HeaderMap::new();
        h.insert(header::ETAG, HeaderValue::from_static("\"691405062\""));
        h.insert(header::VARY, HeaderValue::from_static("Cookie"));
        mark(&mut h, Coding::Gzip);
        assert_eq!(h[header::ETAG], "\"691405062-gzip\"");
        assert_eq!(h[header::VARY], "Cookie,Accept-Encoding");
        let mut h = HeaderMap::new();
        h.insert(header::ETAG, HeaderValue::from_static("W/\"abc\""));
        mark(&mut h, Coding::Brotli);
        assert_eq!(h[header::ETAG], "W/\"abc-br\"");
        assert_eq!(h[header::VARY], "Accept-Encoding");
    }

    #[test]
    fn types_as_lighttpd_matches_them() {
        let cfg = |types: &[&str]| CompressConfig {
            mime_types: types.iter().map(|t| t.to_string()).collect(),
            encodings: Coding::ALL.to_vec(),
            min_size: 256,
            max_size: crate::config::Size(0),
            level: None,
            cache_dir: None,
        };
        let html = HeaderValue::from_static("text/html; charset=utf-8");
        assert!(type_matches(&cfg(&["text/"]), Some(&html)));
        assert!(type_matches(&cfg(&["text/*"]), Some(&html)));
        assert!(type_matches(&cfg(&["text/htm*"]), Some(&html)));
        assert!(!type_matches(&cfg(&["Text/html"]), Some(&html)));
        assert!(!type_matches(&cfg(&["text/"]), None));
        assert!(type_matches(&cfg(&["", "text/"]), None));
        assert_eq!(
            cache_name(Path::new("/c"), "/a/b.css", "\"12-34\"", Coding::Zstd),
            Path::new("/c/a/b.css-12-34-zstd")
        );
    }
}
