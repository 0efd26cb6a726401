//! Content types by file extension: the common web types, as Debian's /etc/mime.types (and so
//! lighttpd's default `mimetype.assign`) maps them. Unknown extensions are
//! `application/octet-stream`, as lighttpd answers.

/// The content type for a file name: the longest suffix of it in `custom`, else the built-in
/// table by extension.
pub(crate) fn for_path_with<'a>(
    path: &str,
    custom: &'a std::collections::BTreeMap<String, String>,
) -> &'a str
where
    'static: 'a,
{
    let name = path.rsplit('/').next().unwrap_or(path);
    custom
        .iter()
        .filter(|(suffix, _)| name.ends_with(suffix.as_str()))
        .max_by_key(|(suffix, _)| suffix.len())
        .map_or_else(|| for_path(path), |(_, t)| t.as_str())
}

/// The content type for a file name.
pub(crate) fn for_path(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some((_, ext)) = name.rsplit_once('.') else {
        return DEFAULT;
    };
    let ext = ext.to_ascii_lowercase();
    TYPES
        .iter()
        .find(|(e, _)| *e == ext)
        .map_or(DEFAULT, |(_, t)| t)
}

/// The type of anything not in the table.
pub(crate) const DEFAULT: &str = "application/octet-stream";

const TYPES: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("txt", "text/plain; charset=utf-8"),
    ("xml", "application/xml"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("ico", "image/vnd.microsoft.icon"),
    ("avif", "image/avif"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    ("pdf", "application/pdf"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("wasm", "application/wasm"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("wav", "audio/x-wav"),
    ("csv", "text/csv; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("bin", "application/octet-stream"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_extension_case_insensitive() {
        assert_eq!(for_path("/a/b/index.HTML"), "text/html; charset=utf-8");
        assert_eq!(for_path("/x.png"), "image/png");
        assert_eq!(for_path("/x.unknownext"), DEFAULT);
        assert_eq!(for_path("/dir.d/README"), DEFAULT);
    }

    #[test]
    fn custom_types_longest_suffix_first() {
        let mut m = std::collections::BTreeMap::new();
        m.insert(".gz".to_string(), "application/gzip".to_string());
        m.insert(".tar.gz".to_string(), "application/x-tgz".to_string());
        m.insert("README".to_string(), "text/plain".to_string());
        assert_eq!(for_path_with("/a.tar.gz", &m), "application/x-tgz");
        assert_eq!(for_path_with("/a.gz", &m), "application/gzip");
        assert_eq!(for_path_with("/x/README", &m), "text/plain");
        assert_eq!(for_path_with("/x.png", &m), "image/png");
    }
}
