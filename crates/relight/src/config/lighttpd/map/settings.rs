//! The keys that may differ per request, in the global scope or a conditional block: each
//! becomes the [`Settings`] field of the same meaning (document root, index files, access
//! rules, setenv, aliases, rewrites and redirects, mime types, body size, auth), and
//! `fastcgi.server` the backends that serve the block.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fastcgi::{Backends, map_extensions, map_fastcgi, map_gateway};
use super::{Ctx, enabled, err};
use crate::config::lighttpd::{Error, Value};
use crate::config::{
    At, ExpireRule, Expiry, Headers, Loc, Pattern, Protocol, RedirectRule, RewriteRule, Settings,
    Size,
};
use crate::http::encoding::Coding;

/// What a block's per-request keys give: its settings, and the backends (by name) that serve
/// it when it sets `fastcgi.server`.
pub(super) struct Mapped {
    pub settings: Settings,
    pub fastcgi: Option<Vec<At<String>>>,
    pub cgi: Option<Vec<At<String>>>,
    pub proxy: Option<Vec<At<String>>>,
}

/// Maps the per-request keys of `cx`'s block; `scoped` is false for the global scope.
pub(super) fn map_settings(
    cx: &mut Ctx<'_>,
    backends: &mut Backends,
    scoped: bool,
) -> Result<Mapped, Error> {
    let mut out = Settings::default();
    if let Some((root, pos)) = cx.string("server.document-root")? {
        let root = PathBuf::from(&root);
        // The global root is checked with the rest of the configuration (an error); a block's
        // may be missing, as lighttpd starts with it too.
        if scoped && !cx.seen(&root).is_dir() {
            cx.warn(
                pos,
                format!(
                    "server.document-root {}: not a directory (500 until it is)",
                    root.display()
                ),
            );
        }
        out.document_root = Some(At::new(root, Loc::Pos(pos.clone())));
    }
    for key in ["server.indexfiles", "index-file.names"] {
        if let Some((names, _)) = cx.strings(key)? {
            out.index_files = Some(names);
        }
    }
    dir_listing(cx, &mut out)?;
    if let Some((allow, _)) = cx.strings("url.access-allow")? {
        out.allow_suffixes = Some(allow);
    }
    if let Some((deny, _)) = cx.strings("url.access-deny")? {
        out.deny_suffixes = Some(deny);
    }
    setenv(cx, &mut out)?;
    expire(cx, &mut out)?;
    deflate(cx, &mut out)?;
    extforward(cx, &mut out)?;
    status_pages(cx, &mut out)?;
    vhosts(cx, &mut out)?;
    removed_modules(cx, &mut out)?;
    if let Some((pairs, pos)) = cx.string_pairs("alias.url", "\"/url/\" => \"/dir/\"")? {
        let aliases = out.aliases.get_or_insert_default();
        for (k, v) in pairs {
            if !cx.seen(Path::new(&v)).exists() {
                cx.warn(
                    pos,
                    format!("alias.url {k:?} => {v:?}: does not exist (404 until it does)"),
                );
            }
            aliases.insert(k, v.into());
        }
    }
    rewrites_and_redirects(cx, &mut out)?;
    if let Some((exts, _)) = cx.strings("static-file.exclude-extensions")? {
        out.static_exclude_extensions = Some(exts);
    }
    for (key, field) in [
        ("server.follow-symlink", &mut out.follow_symlinks),
        (
            "server.force-lowercase-filenames",
            &mut out.lowercase_filenames,
        ),
    ] {
        if let Some((v, pos)) = cx.get(key) {
            *field = Some(enabled(v).ok_or_else(|| {
                Error::new(
                    pos.clone(),
                    format!("{key} must be \"enable\" or \"disable\""),
                )
            })?);
        }
    }
    if let Some((v, pos)) = cx.get("server.range-requests") {
        out.range_requests = Some(enabled(v).ok_or_else(|| {
            Error::new(
                pos.clone(),
                "server.range-requests must be \"enable\" or \"disable\"",
            )
        })?);
    }
    if let Some((pairs, _)) = cx.string_pairs("mimetype.assign", "\"suffix\" => \"type\"")? {
        out.mime_types = Some(pairs.into_iter().collect());
    }
    if let Some((kb, _)) = cx.int("server.max-request-size")? {
        // lighttpd counts in KiB; 0 means no limit.
        out.max_request_body = Some(Size(if kb <= 0 { u64::MAX } else { kb as u64 * 1024 }));
    }
    if let Some((tag, _)) = cx.string("server.tag")? {
        out.server_tag = Some(tag);
    }
    if let Some((name, _)) = cx.string("server.name")? {
        out.server_name = Some(name);
    }
    if let Some((h, pos)) = cx.string("server.error-handler")? {
        // "" turns a global handler off in a block.
        if !h.is_empty() && !h.starts_with('/') {
            return Err(Error::new(
                pos.clone(),
                format!("server.error-handler {h:?}: expected a URL path starting with /"),
            ));
        }
        out.error_handler = Some(h);
    }
    if let Some((p, _)) = cx.string("server.errorfile-prefix")? {
        out.errorfile_prefix = Some(p);
    }
    if let Some((h, pos)) = cx.string("server.error-handler-404")? {
        if !h.is_empty() && !h.starts_with('/') {
            return Err(Error::new(
                pos.clone(),
                format!("server.error-handler-404 {h:?}: expected a URL path starting with /"),
            ));
        }
        out.error_handler_404 = Some(h);
    }
    super::server::note_keys(cx);
    if let Some((v, pos)) = cx.get("auth.require") {
        out.auth = Some(super::auth::map_auth(cx, v, pos)?);
    }
    for key in [
        "auth.backend",
        "auth.backend.htpasswd.userfile",
        "auth.backend.htdigest.userfile",
        "auth.backend.plain.userfile",
    ] {
        cx.used.push(key);
    }
    // fastcgi.server and scgi.server are settings of their own in lighttpd; here one list of
    // backends per scope: a block that sets one of them keeps the global backends of the other.
    let mut fastcgi: Option<Vec<At<String>>> = None;
    let fcgi = match cx.get("fastcgi.server") {
        Some((v, pos)) => Some((map_fastcgi(v, pos, cx, backends, scoped)?, pos)),
        None => None,
    };
    let protocol = match cx.string("scgi.protocol")? {
        None => Protocol::Scgi,
        Some((p, _)) if p == "scgi" => Protocol::Scgi,
        Some((p, _)) if p == "uwsgi" => Protocol::Uwsgi,
        Some((p, pos)) => {
            return Err(Error::new(
                pos.clone(),
                format!("scgi.protocol {p:?}: expected \"scgi\" or \"uwsgi\""),
            ));
        }
    };
    let scgi = match cx.get("scgi.server") {
        Some((v, pos)) => Some((
            map_gateway(v, pos, cx, backends, scoped, "scgi.server", protocol)?,
            pos,
        )),
        None => None,
    };
    if scoped && (fcgi.is_some() || scgi.is_some()) {
        let globals = |p: fn(Protocol) -> bool| -> Vec<String> {
            backends
                .list
                .iter()
                .filter(|b| b.global && p(b.protocol))
                .map(|b| b.name.value.clone())
                .collect()
        };
        let pos = fcgi.as_ref().or(scgi.as_ref()).map(|(_, p)| (*p).clone());
        let names = fcgi
            .map(|(n, _)| n)
            .unwrap_or_else(|| globals(|p| p == Protocol::Fastcgi))
            .into_iter()
            .chain(
                scgi.map(|(n, _)| n)
                    .unwrap_or_else(|| globals(|p| p != Protocol::Fastcgi)),
            );
        if let Some(pos) = pos {
            fastcgi = Some(names.map(|n| At::new(n, Loc::Pos(pos.clone()))).collect());
        }
    } else if let Some((names, pos)) = fcgi.into_iter().chain(scgi).reduce(|mut a, b| {
        a.0.extend(b.0);
        a
    }) {
        fastcgi = Some(
            names
                .into_iter()
                .map(|n| At::new(n, Loc::Pos(pos.clone())))
                .collect(),
        );
    }
    map_extensions(cx, backends)?;
    let cgi = super::cgi::map_cgi(cx, &mut backends.cgi, scoped)?;
    let proxy = super::proxy::map_proxy(cx, &mut backends.proxy, scoped)?;
    Ok(Mapped {
        settings: out,
        fastcgi,
        cgi,
        proxy,
    })
}

/// mod_setenv: each key to its setting (set replaces, add appends; an empty set value
/// removes), the environment to the backends' parameters.
fn setenv(cx: &mut Ctx<'_>, out: &mut Settings) -> Result<(), Error> {
    let mut params: Option<BTreeMap<String, String>> = None;
    for (key, field) in [
        ("setenv.add-response-header", &mut out.response_headers),
        ("setenv.set-response-header", &mut out.set_response_headers),
        ("setenv.add-request-header", &mut out.add_request_headers),
        ("setenv.set-request-header", &mut out.request_headers),
    ] {
        let Some((pairs, pos)) = cx.string_pairs(key, "\"name\" => \"value\"")? else {
            continue;
        };
        let mut h = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                Error::new(pos.clone(), format!("{key}: invalid header name {k:?}"))
            })?;
            let value = http::HeaderValue::from_str(&v).map_err(|_| {
                Error::new(
                    pos.clone(),
                    format!("{key}: invalid header value for {k}: {v:?}"),
                )
            })?;
            h.push((name, value));
        }
        *field = Some(Headers(h));
    }
    for key in ["setenv.add-environment", "setenv.set-environment"] {
        if let Some((pairs, _)) = cx.string_pairs(key, "\"name\" => \"value\"")? {
            params.get_or_insert_default().extend(pairs);
        }
    }
    out.fastcgi_params = params;
    Ok(())
}

/// mod_deflate (and mod_compress's old names): `[server.compress]`. A block that sets one of
/// the keys takes the others from the global scope, as lighttpd merges them key by key.
fn deflate(cx: &mut Ctx<'_>, out: &mut Settings) -> Result<(), Error> {
    const KEYS: &[&str] = &[
        "deflate.mimetypes",
        "compress.filetype",
        "deflate.allowed-encodings",
        "compress.allowed-encodings",
        "deflate.min-compress-size",
        "deflate.max-compress-size",
        "compress.max-filesize",
        "deflate.compression-level",
        "deflate.cache-dir",
        "compress.cache-dir",
        "deflate.max-loadavg",
        "compress.max-loadavg",
        "deflate.params",
    ];
    if !KEYS.iter().any(|k| cx.g.get_with_pos(k).is_some()) {
        return Ok(());
    }
    let list = |cx: &mut Ctx<'_>, keys: [&'static str; 2]| -> Result<Option<Vec<String>>, Error> {
        for key in keys {
            if let Some((v, pos)) = cx.inherited(key) {
                return Ok(Some(super::string_list(v, key, pos)?));
            }
        }
        Ok(None)
    };
    let mime_types = list(cx, ["deflate.mimetypes", "compress.filetype"])?.unwrap_or_default();
    let mut cfg = crate::config::CompressConfig::new(mime_types);
    if let Some(names) = list(
        cx,
        ["deflate.allowed-encodings", "compress.allowed-encodings"],
    )? {
        // As lighttpd: "gzip" in a name means gzip (and x-gzip), "br" brotli.
        let mut codings = Vec::new();
        for n in &names {
            let c = if n.contains("gzip") {
                Some(Coding::Gzip)
            } else if n.contains("br") {
                Some(Coding::Brotli)
            } else {
                Coding::from_name(n)
            };
            match c {
                Some(c) if c.built() => {
                    if !codings.contains(&c) {
                        codings.push(c);
                    }
                }
                _ => {
                    if let Some((_, pos)) = cx.inherited("deflate.allowed-encodings") {
                        cx.warn(
                            pos,
                            format!("deflate.allowed-encodings {n:?}: relight compresses with zstd, br, gzip and deflate only; {n:?} ignored"),
                        );
                    }
                }
            }
        }
        if !codings.is_empty() {
            cfg.encodings = codings;
        }
    }
    if let Some((n, _)) = cx.inherited_int("deflate.min-compress-size")? {
        cfg.min_size = n.max(0) as u64;
    }
    for key in ["deflate.max-compress-size", "compress.max-filesize"] {
        if let Some((kb, _)) = cx.inherited_int(key)? {
            cfg.max_size = Size((kb.max(0) as u64) * 1024);
        }
    }
    if let Some((n, pos)) = cx.inherited_int("deflate.compression-level")? {
        if n != -1 && !(1..=9).contains(&n) {
            return Err(Error::new(
                pos.clone(),
                format!("deflate.compression-level must be between 1 and 9, not {n}"),
            ));
        }
        cfg.level = (n > 0).then_some(n as u32);
    }
    for key in ["deflate.cache-dir", "compress.cache-dir"] {
        if let Some((Value::Str(d), _)) = cx.inherited(key) {
            cfg.cache_dir = Some(PathBuf::from(d.trim_end_matches('/')));
        }
    }
    for key in ["deflate.max-loadavg", "compress.max-loadavg"] {
        if let Some((_, pos)) = cx.get(key) {
            cx.warn(
                pos,
                format!("{key}: relight does not look at the load average; compression stays on"),
            );
        }
    }
    if let Some((_, pos)) = cx.get("deflate.params") {
        cx.warn(
            pos,
            "deflate.params: relight keeps its own encoder settings (brotli quality 5, zstd level 3, or deflate.compression-level); ignored".into(),
        );
    }
    out.compress = Some(cfg);
    Ok(())
}

/// mod_dirlisting: `[server.dir_listing]`. A block that sets one of the keys takes the others
/// from the global scope, as lighttpd merges them key by key.
fn dir_listing(cx: &mut Ctx<'_>, out: &mut Settings) -> Result<(), Error> {
    const KEYS: &[&str] = &[
        "server.dir-listing",
        "dir-listing.activate",
        "dir-listing.hide-dotfiles",
        "dir-listing.exclude",
        "dir-listing.encoding",
        "dir-listing.external-css",
        "dir-listing.external-js",
        "dir-listing.set-footer",
        "dir-listing.show-readme",
        "dir-listing.show-header",
        "dir-listing.hide-readme-file",
        "dir-listing.hide-header-file",
        "dir-listing.encode-readme",
        "dir-listing.encode-header",
        "dir-listing.auto-layout",
        "dir-listing.cache",
    ];
    if !KEYS.iter().any(|k| cx.g.get_with_pos(k).is_some()) {
        return Ok(());
    }
    let mut cfg = crate::config::DirListingConfig::enabled();
    cfg.enabled = cx
        .inherited_flag("dir-listing.activate")?
        .or(cx.inherited_flag("server.dir-listing")?)
        .unwrap_or(false);
    if let Some(b) = cx.inherited_flag("dir-listing.hide-dotfiles")? {
        cfg.hide_dotfiles = b;
    }
    if let Some((v, pos)) = cx.inherited("dir-listing.exclude") {
        for re in super::string_list(v, "dir-listing.exclude", pos)? {
            cfg.exclude.push(
                Pattern::try_from(re)
                    .map_err(|e| Error::new(pos.clone(), format!("dir-listing.exclude: {e}")))?,
            );
        }
    }
    cfg.encoding = cx.inherited_string("dir-listing.encoding")?;
    cfg.external_css = cx
        .inherited_string("dir-listing.external-css")?
        .filter(|s| !s.is_empty());
    cfg.external_js = cx
        .inherited_string("dir-listing.external-js")?
        .filter(|s| !s.is_empty());
    cfg.footer = cx.inherited_string("dir-listing.set-footer")?;
    cfg.show_readme = cx.inherited_string("dir-listing.show-readme")?;
    cfg.show_header = cx.inherited_string("dir-listing.show-header")?;
    for (key, field) in [
        ("dir-listing.hide-readme-file", &mut cfg.hide_readme_file),
        ("dir-listing.hide-header-file", &mut cfg.hide_header_file),
        ("dir-listing.encode-readme", &mut cfg.encode_readme),
        ("dir-listing.encode-header", &mut cfg.encode_header),
        ("dir-listing.auto-layout", &mut cfg.auto_layout),
    ] {
        if let Some(b) = cx.inherited_flag(key)? {
            *field = b;
        }
    }
    if let Some((_, pos)) = cx.get("dir-listing.cache") {
        cx.notes.push(format!(
            "{pos}: dir-listing.cache: accepted; relight reads the directory for each listing"
        ));
    }
    out.dir_listing = Some(cfg);
    Ok(())
}

/// mod_simple_vhost and mod_evhost (`[server.vhost]`), mod_userdir (`[server.userdir]`); a
/// block that sets one of a module's keys takes the others from the global scope.
fn vhosts(cx: &mut Ctx<'_>, out: &mut Settings) -> Result<(), Error> {
    if let Some((_, pos)) = cx.get("simple-vhost.debug") {
        cx.notes.push(format!(
            "{pos}: simple-vhost.debug: accepted; relight logs a host's missing directory at debug level (RELIGHT_LOG=debug)"
        ));
    }
    let simple = [
        "simple-vhost.server-root",
        "simple-vhost.default-host",
        "simple-vhost.document-root",
    ];
    if simple.iter().any(|k| cx.g.get_with_pos(k).is_some()) {
        let server_root = cx
            .inherited_string("simple-vhost.server-root")?
            .filter(|s| !s.is_empty());
        out.vhost = Some(crate::config::VhostConfig {
            server_root: server_root.map(PathBuf::from),
            default_host: cx
                .inherited_string("simple-vhost.default-host")?
                .filter(|s| !s.is_empty()),
            document_root: cx
                .inherited_string("simple-vhost.document-root")?
                .unwrap_or_default(),
            pattern: None,
        });
    }
    if let Some((p, pos)) = cx.string("evhost.path-pattern")? {
        let mut chars = p.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                continue;
            }
            let ok = match chars.next() {
                Some('%' | '_' | '0'..='9') => true,
                Some('{') => {
                    let spec: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let mut parts = spec.split('.');
                    let good = |s: Option<&str>| {
                        s.is_some_and(|s| s.len() == 1 && s.as_bytes()[0].is_ascii_digit())
                    };
                    good(parts.next())
                        && parts.clone().count() <= 1
                        && parts.next().is_none_or(|m| good(Some(m)))
                }
                _ => false,
            };
            if !ok {
                return err(pos, format!("invalid evhost.path-pattern: {p}"));
            }
        }
        out.vhost = Some(crate::config::VhostConfig {
            server_root: None,
            default_host: None,
            document_root: String::new(),
            pattern: Some(p),
        });
    }
    let userdir = [
        "userdir.path",
        "userdir.basepath",
        "userdir.exclude-user",
        "userdir.include-user",
        "userdir.letterhomes",
        "userdir.active",
    ];
    if userdir.iter().any(|k| cx.g.get_with_pos(k).is_some()) {
        let active = cx.inherited_flag("userdir.active")?.unwrap_or(true);
        let path = cx.inherited_string("userdir.path")?;
        let list = |cx: &mut Ctx<'_>, key: &'static str| -> Result<Vec<String>, Error> {
            match cx.inherited(key) {
                None => Ok(Vec::new()),
                Some((v, pos)) => super::string_list(v, key, pos),
            }
        };
        let exclude = list(cx, "userdir.exclude-user")?;
        let include = list(cx, "userdir.include-user")?;
        let letterhomes = match cx.inherited("userdir.letterhomes") {
            None => false,
            Some((v, _)) => enabled(v) == Some(true),
        };
        let basepath = cx
            .inherited_string("userdir.basepath")?
            .filter(|s| !s.is_empty());
        // lighttpd: no userdir.path, no module.
        out.userdir = match (active, path) {
            (true, Some(path)) => Some(crate::config::UserdirConfig {
                path,
                basepath: basepath.map(PathBuf::from),
                letterhomes,
                exclude,
                include,
            }),
            _ => None,
        };
    }
    Ok(())
}

/// mod_evasive and mod_secdownload, which lighttpd 1.4.68 removed (1.4.69 calls their keys
/// unknown): relight does what 1.4.67 did with them, and says so.
fn removed_modules(cx: &mut Ctx<'_>, out: &mut Settings) -> Result<(), Error> {
    let evasive = [
        "evasive.max-conns-per-ip",
        "evasive.location",
        "evasive.silent",
    ];
    if let Some(pos) = evasive
        .iter()
        .find_map(|k| cx.g.get_with_pos(k).map(|(_, p)| p))
    {
        cx.notes.push(format!(
            "{pos}: evasive.*: lighttpd 1.4.68 removed mod_evasive (1.4.69 ignores these keys); relight limits requests per client address as 1.4.67 did"
        ));
        let max = cx
            .inherited_int("evasive.max-conns-per-ip")?
            .map_or(0, |(n, _)| n.max(0) as usize);
        let silent = cx
            .inherited("evasive.silent")
            .is_some_and(|(v, _)| enabled(v) == Some(true));
        out.evasive = Some(crate::config::EvasiveConfig {
            max_conns_per_ip: max,
            location: cx
                .inherited_string("evasive.location")?
                .filter(|s| !s.is_empty()),
            silent,
        });
    }
    let secdl = [
        "secdownload.secret",
        "secdownload.document-root",
        "secdownload.uri-prefix",
        "secdownload.timeout",
        "secdownload.algorithm",
        "secdownload.path-segments",
        "secdownload.hash-querystr",
    ];
    if let Some(pos) = secdl
        .iter()
        .find_map(|k| cx.g.get_with_pos(k).map(|(_, p)| p))
    {
        let pos = pos.clone();
        cx.notes.push(format!(
            "{pos}: secdownload.*: lighttpd 1.4.68 removed mod_secdownload (1.4.69 ignores these keys); relight checks signed links as 1.4.67 did"
        ));
        let (Some(secret), Some(root)) = (
            cx.inherited_string("secdownload.secret")?,
            cx.inherited_string("secdownload.document-root")?,
        ) else {
            return err(
                &pos,
                "secdownload needs secdownload.secret and secdownload.document-root".into(),
            );
        };
        if secret.is_empty() {
            return err(
                &pos,
                "secdownload.secret is empty: anyone could sign links".into(),
            );
        }
        let algorithm = cx
            .inherited_string("secdownload.algorithm")?
            .unwrap_or_else(|| "md5".into());
        if !crate::config::SecdownloadConfig::ALGORITHMS.contains(&algorithm.as_str()) {
            return err(
                &pos,
                format!(
                    "secdownload.algorithm {algorithm:?}: expected \"md5\", \"hmac-sha1\" or \"hmac-sha256\""
                ),
            );
        }
        out.secdownload = Some(crate::config::SecdownloadConfig {
            secret,
            document_root: PathBuf::from(root),
            uri_prefix: cx
                .inherited_string("secdownload.uri-prefix")?
                .unwrap_or_else(|| "/".into()),
            timeout: cx
                .inherited_int("secdownload.timeout")?
                .map_or(60, |(n, _)| n.max(0) as u64),
            algorithm,
            path_segments: cx
                .inherited_int("secdownload.path-segments")?
                .map_or(0, |(n, _)| n.max(0) as usize),
            hash_querystr: cx
                .inherited("secdownload.hash-querystr")
                .is_some_and(|(v, _)| enabled(v) == Some(true)),
        });
    }
    Ok(())
}

/// mod_status: `[server.status_pages]` (a block that sets one URL keeps the global others).
fn status_pages(cx: &mut Ctx<'_>, out: &mut Settings) -> Result<(), Error> {
    const KEYS: [&str; 3] = [
        "status.status-url",
        "status.statistics-url",
        "status.config-url",
    ];
    if let Some((_, pos)) = cx.get("status.enable-sort") {
        cx.notes.push(format!(
            "{pos}: status.enable-sort: accepted; relight's status page has no sorting script"
        ));
    }
    if !KEYS.iter().any(|k| cx.g.get_with_pos(k).is_some()) {
        return Ok(());
    }
    let mut pages = crate::config::StatusPages::default();
    for (key, field) in [
        ("status.status-url", &mut pages.status),
        ("status.statistics-url", &mut pages.statistics),
        ("status.config-url", &mut pages.config),
    ] {
        match cx.inherited(key) {
            None => {}
            Some((Value::Str(u), _)) if u.is_empty() => {}
            Some((Value::Str(u), _)) if u.starts_with('/') => *field = Some(u.clone()),
            Some((v, pos)) => {
                return err(
                    pos,
                    format!("{key} must be a URL path starting with /, not {v:?}"),
                );
            }
        }
    }
    out.status_pages = Some(pages);
    Ok(())
}

/// mod_extforward: `[server.extforward]` from extforward.forwarder (`"addr" => "trust"`; an
/// "untrusted" entry is simply not trusted) and extforward.headers (this block's or the
/// global ones).
fn extforward(cx: &mut Ctx<'_>, out: &mut Settings) -> Result<(), Error> {
    if cx.g.get_with_pos("extforward.forwarder").is_none()
        && cx.g.get_with_pos("extforward.headers").is_none()
    {
        if let Some((_, pos)) = cx.get("extforward.params") {
            cx.notes.push(format!(
                "{pos}: extforward.params: accepted; lighttpd 1.4.69 ignores it (a bug fixed later), and so does relight: Forwarded's host= and remote_user= are not used"
            ));
        }
        return Ok(());
    }
    let mut trusted = Vec::new();
    if let Some((v, pos)) = cx.inherited("extforward.forwarder") {
        let Some(items) = v.as_array() else {
            return err(
                pos,
                "extforward.forwarder must be an array of \"address\" => \"trust\"".into(),
            );
        };
        for (k, v) in items {
            let (Some(k), Some(v)) = (k, v.as_str()) else {
                return err(
                    pos,
                    "extforward.forwarder must be an array of \"address\" => \"trust\"".into(),
                );
            };
            if v != "trust" {
                if v != "untrusted" {
                    cx.warn(
                        pos,
                        format!("extforward.forwarder {k:?} => {v:?}: expected \"trust\"; treated as untrusted, as lighttpd"),
                    );
                }
                continue;
            }
            trusted.push(
                crate::config::Trusted::try_from(k.clone())
                    .map_err(|e| Error::new(pos.clone(), format!("extforward.forwarder: {e}")))?,
            );
        }
    }
    let mut cfg = crate::config::ExtforwardConfig {
        trusted,
        headers: vec!["X-Forwarded-For".into(), "Forwarded-For".into()],
    };
    if let Some((v, pos)) = cx.inherited("extforward.headers") {
        cfg.headers = super::string_list(v, "extforward.headers", pos)?;
    }
    if let Some((_, pos)) = cx.get("extforward.params") {
        cx.notes.push(format!(
            "{pos}: extforward.params: accepted; lighttpd 1.4.69 ignores it (a bug fixed later), and so does relight: Forwarded's host= and remote_user= are not used"
        ));
    }
    out.extforward = Some(cfg);
    Ok(())
}

/// mod_expire: `expire.url` rules, then `expire.mimetypes` ones, in the file's order.
fn expire(cx: &mut Ctx<'_>, out: &mut Settings) -> Result<(), Error> {
    let mut rules = None;
    for (key, by_url) in [("expire.url", true), ("expire.mimetypes", false)] {
        let Some((pairs, pos)) = cx.string_pairs(key, "\"prefix\" => \"access plus 1 days\"")?
        else {
            continue;
        };
        let list: &mut Vec<ExpireRule> = rules.get_or_insert_default();
        for (k, v) in pairs {
            let expires = Expiry::try_from(v)
                .map_err(|e| Error::new(pos.clone(), format!("{key} {k:?}: {e}")))?;
            list.push(ExpireRule {
                url: by_url.then(|| k.clone()),
                content_type: (!by_url).then_some(k),
                expires,
            });
        }
    }
    if rules.is_some() {
        out.expire = rules;
    }
    Ok(())
}

/// url.rewrite* (in lighttpd's order of keys) and url.redirect with url.redirect-code.
fn rewrites_and_redirects(cx: &mut Ctx<'_>, out: &mut Settings) -> Result<(), Error> {
    for (key, repeat, if_not_file) in [
        ("url.rewrite-once", false, false),
        ("url.rewrite-final", false, false),
        ("url.rewrite", true, false),
        ("url.rewrite-repeat", true, false),
        ("url.rewrite-if-not-file", false, true),
        ("url.rewrite-repeat-if-not-file", true, true),
    ] {
        for (pattern, to) in regex_rules(cx, key)? {
            out.rewrite.get_or_insert_default().push(RewriteRule {
                pattern,
                to,
                repeat,
                if_not_file,
            });
        }
    }
    let code = match cx.inherited_int("url.redirect-code")? {
        None => 301,
        Some((c, _)) if [301, 302, 303, 307, 308].contains(&c) => c as u16,
        Some((c, pos)) => {
            return err(
                pos,
                format!("url.redirect-code {c}: expected 301, 302, 303, 307 or 308"),
            );
        }
    };
    if cx.g.get("url.redirect").is_some() {
        out.redirect = Some(Vec::new());
    }
    for (pattern, to) in regex_rules(cx, "url.redirect")? {
        out.redirect
            .get_or_insert_default()
            .push(RedirectRule { pattern, to, code });
    }
    Ok(())
}

/// `"regex" => "replacement"` rules of `key`, compiled, in order.
fn regex_rules(cx: &mut Ctx<'_>, key: &'static str) -> Result<Vec<(Pattern, String)>, Error> {
    let Some((pairs, pos)) = cx.string_pairs(key, "\"regex\" => \"replacement\"")? else {
        return Ok(Vec::new());
    };
    pairs
        .into_iter()
        .map(|(k, to)| {
            let pattern =
                Pattern::try_from(k).map_err(|m| Error::new(pos.clone(), format!("{key}: {m}")))?;
            Ok((pattern, to))
        })
        .collect()
}
