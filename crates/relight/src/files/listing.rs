//! Directory listings (lighttpd's mod_dirlisting): the page for a directory under a root,
//! with lighttpd's rows (so scripts that read them keep working): directories first, then
//! files, each sorted by bytes; the size as lighttpd abbreviates it; the modification time
//! (UTC); the type from the content types; every name escaped for HTML and for its link.
//! Options: dot files hidden (default), names excluded by regex, a charset, external CSS and
//! script, a footer, a README and HEADER shown (escaped, or as they are) and hidden from the
//! list, and the bare table without the page around it.

use std::fmt::Write as _;
use std::path::Path;

use crate::config::DirListingConfig;
use crate::http::{date, urlpath};

/// One name in a directory.
struct Item {
    name: String,
    dir: bool,
    len: u64,
    mtime: std::time::SystemTime,
}

/// The listing of the directory at `dir`, whose URL path is `url_path` (decoded, ending with
/// `/`); `types` gives a file's Content-Type; `footer` is the server's tag unless the options
/// set one.
pub(crate) fn page(
    dir: &Path,
    url_path: &str,
    cfg: &DirListingConfig,
    types: impl Fn(&str) -> String,
    footer: &str,
) -> std::io::Result<String> {
    let readme = file_option(cfg.show_readme.as_deref(), "README.txt");
    let header = file_option(cfg.show_header.as_deref(), "HEADER.txt");
    let mut items = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if (cfg.hide_dotfiles && name.starts_with('.'))
            || cfg.exclude.iter().any(|p| p.0.is_match(&name))
            || (cfg.hide_readme_file && readme.as_deref() == Some(name.as_str()))
            || (cfg.hide_header_file && header.as_deref() == Some(name.as_str()))
        {
            continue;
        }
        // Follows symlinks, as lighttpd's stat(); a dangling one is left out.
        let Ok(meta) = std::fs::metadata(e.path()) else {
            continue;
        };
        items.push(Item {
            name,
            dir: meta.is_dir(),
            len: meta.len(),
            mtime: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
        });
    }
    items.sort_by(|a, b| {
        b.dir
            .cmp(&a.dir)
            .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
    });

    let mut out = String::with_capacity(2048 + items.len() * 200);
    let title = html(url_path);
    if cfg.auto_layout {
        out.push_str("<!DOCTYPE html>\n<html>\n<head>\n");
        if let Some(enc) = &cfg.encoding {
            let _ = writeln!(out, "<meta charset=\"{}\">", html(enc));
        }
        let _ = writeln!(out, "<title>Index of {title}</title>");
        match &cfg.external_css {
            Some(css) => {
                let _ = writeln!(
                    out,
                    "<meta name=\"viewport\" content=\"initial-scale=1\"><link rel=\"stylesheet\" type=\"text/css\" href=\"{}\">",
                    html(css)
                );
            }
            None => out.push_str(STYLE),
        }
        out.push_str("</head>\n<body>\n");
    }
    if let Some(h) = &header {
        out.push_str(&shown(&dir.join(h), "header", cfg.encode_header));
    }
    let _ = write!(
        out,
        "<h2>Index of {title}</h2>\n<div class=\"list\">\n<table summary=\"Directory Listing\" cellpadding=\"0\" cellspacing=\"0\">\n\
         <thead><tr><th class=\"n\">Name</th><th class=\"m\">Last Modified</th><th class=\"s\">Size</th><th class=\"t\">Type</th></tr></thead>\n<tbody>\n"
    );
    if url_path != "/" {
        out.push_str("<tr class=\"d\"><td class=\"n\"><a href=\"../\">..</a>/</td><td class=\"m\">&nbsp;</td><td class=\"s\">- &nbsp;</td><td class=\"t\">Directory</td></tr>\n");
    }
    for i in &items {
        let when = date::format_listing(i.mtime);
        if i.dir {
            let _ = writeln!(
                out,
                "<tr class=\"d\"><td class=\"n\"><a href=\"{}/\">{}</a>/</td><td class=\"m\">{when}</td><td class=\"s\">- &nbsp;</td><td class=\"t\">Directory</td></tr>",
                href(&i.name),
                html(&i.name)
            );
        } else {
            let _ = writeln!(
                out,
                "<tr><td class=\"n\"><a href=\"{}\">{}</a></td><td class=\"m\">{when}</td><td class=\"s\">{}</td><td class=\"t\">{}</td></tr>",
                href(&i.name),
                html(&i.name),
                size(i.len),
                html(&types(&i.name))
            );
        }
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
    if !cfg.auto_layout {
        return Ok(out);
    }
    if let Some(r) = &readme {
        out.push_str(&shown(&dir.join(r), "readme", cfg.encode_readme));
    }
    let _ = writeln!(
        out,
        "<div class=\"foot\">{}</div>\n",
        cfg.footer.as_deref().unwrap_or(&html(footer))
    );
    if let Some(js) = &cfg.external_js {
        let _ = writeln!(
            out,
            "<script type=\"text/javascript\" src=\"{}\"></script>",
            html(js)
        );
    }
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

/// relight's own style for the listing (the class names are lighttpd's).
const STYLE: &str = "<style type=\"text/css\">\n\
body {background-color: #f5f5f5; font-family: sans-serif;}\n\
a {text-decoration: none; color: #1a0dab;}\n\
a:hover, a:focus {text-decoration: underline;}\n\
div.list {background-color: #fff; border-top: 1px solid #666; border-bottom: 1px solid #666; padding: 10px 0 14px;}\n\
table {margin-left: 12px;}\n\
th, td {font: 90% monospace; text-align: left; padding-right: 14px;}\n\
td.s, th.s {text-align: right;}\n\
div.foot {font: 90% monospace; color: #787878; padding-top: 4px;}\n\
</style>\n";

/// The file a show-readme / show-header option names: "enable" means `default`.
fn file_option(v: Option<&str>, default: &str) -> Option<String> {
    match v {
        None | Some("disable") => None,
        Some("enable") => Some(default.to_owned()),
        Some(name) => Some(name.to_owned()),
    }
}

/// The contents of a README or HEADER file: in `<pre class="CLASS">`, escaped, or as it is.
fn shown(path: &Path, class: &str, encode: bool) -> String {
    match std::fs::read(path) {
        Ok(b) if !b.is_empty() => {
            let text = String::from_utf8_lossy(&b);
            if encode {
                format!("<pre class=\"{class}\">{}</pre>", html(&text))
            } else {
                text.into_owned()
            }
        }
        _ => String::new(),
    }
}

/// `s` for HTML text and attributes: `< > & " ' \`` and control characters as
/// character references (lighttpd's choice: `&#x3C;` ...), the rest as it is.
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' | '>' | '&' | '"' | '\'' | '`' => {
                let _ = write!(out, "&#x{:02X};", c as u32);
            }
            c if c.is_ascii_control() => {
                let _ = write!(out, "&#x{:02X};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A name as a relative link: letters, digits and `-_.~!*()` as they are, every other byte
/// percent-encoded.
fn href(name: &str) -> String {
    const KEEP: [bool; 256] = urlpath::alnum_and(b"-_.~!*()");
    let mut out = String::with_capacity(name.len());
    urlpath::push_percent_encoded(&mut out, name, &KEEP);
    out
}

/// A size as lighttpd abbreviates it: tenths of the largest unit under 1000 (K at least),
/// "0.1K" for anything from 1 to 100 bytes.
fn size(n: u64) -> String {
    const UNITS: &[u8] = b"KMGTPE";
    let mut n = if n < 100 { n + 99 } else { n };
    if n < 100 {
        n = 0;
    }
    let mut unit = 0;
    let mut remain;
    loop {
        remain = n & 1023;
        n >>= 10;
        if n < 1024 {
            break;
        }
        unit += 1;
    }
    let mut tenth = (remain / 100).min(9);
    if n > 999 {
        n = 0;
        tenth = 9;
        unit += 1;
    }
    format!("{n}.{tenth}{}", UNITS[unit.min(UNITS.len() - 1)] as char)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_lighttpd() {
        for (n, s) in [
            (0, "0.0K"),
            (1, "0.1K"),
            (100, "0.1K"),
            (1023, "0.9K"),
            (1024, "1.0K"),
            (1124, "1.1K"),
            (2000, "1.9K"),
            (1_022_976, "999.0K"),
            (1_024_000, "0.9M"),
            (1_048_575, "0.9M"),
            (3 << 20, "3.0M"),
            (1 << 30, "1.0G"),
            (5_000_000_000_000, "4.5T"),
        ] {
            assert_eq!(size(n), s, "{n}");
        }
    }

    #[test]
    fn names_escaped_for_html_and_links() {
        assert_eq!(
            html("we<ird>&\"name'.txt"),
            "we&#x3C;ird&#x3E;&#x26;&#x22;name&#x27;.txt"
        );
        assert_eq!(html("tab\tx"), "tab&#x09;x");
        assert_eq!(html("ümlaut"), "ümlaut");
        assert_eq!(href("we<ird>&\"name'.txt"), "we%3Cird%3E%26%22name%27.txt");
        assert_eq!(href("ümlaut.txt"), "%C3%BCmlaut.txt");
        assert_eq!(href("a b%25.txt"), "a%20b%2525.txt");
        assert_eq!(href("ok-_.~!*().txt"), "ok-_.~!*().txt");
    }
}
