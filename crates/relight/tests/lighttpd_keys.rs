//! docs/lighttpd-keys.md says what relight does with every lighttpd 1.4 key; this maps each
//! row's example and checks that relight does exactly that (mapped, noted, warned, refused),
//! and that the table covers every key lighttpd knows.

use std::path::Path;

use relight::config::lighttpd::{keys, map, parse_str};

/// (key, example lines, status) of each row of the table.
fn rows() -> Vec<(String, String, String)> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lighttpd-keys.md"),
    )
    .unwrap();
    doc.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            // Cells are split on " | " that is not escaped.
            let cells: Vec<String> = l
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().replace("\\|", "|"))
                .collect();
            assert!(cells.len() >= 3, "row {l}");
            let key = cells[0].trim_matches('`').to_string();
            let example = cells[1]
                .trim_matches('`')
                .split("`<br>`")
                .collect::<Vec<_>>()
                .join("\n");
            (key, example, cells[2].clone())
        })
        .collect()
}

/// What relight does with `key = example`: mapped, noted, warned or refused.
fn status_of(key: &str, example: &str) -> (String, String) {
    let mut text = String::new();
    if key != "server.document-root" {
        text.push_str("server.document-root = \"/tmp\"\n");
    }
    text.push_str(&format!("{key} = {example}\n"));
    let lc = parse_str(&text, "t.conf", Path::new("/")).unwrap_or_else(|e| panic!("{text}: {e}"));
    match map::to_config(&lc, Path::new("/t.conf")) {
        Err(e) => ("refused".into(), e.to_string()),
        Ok(m) => {
            if let Some(w) = m.warnings.iter().find(|w| w.contains(key)) {
                ("warned".into(), w.clone())
            } else if let Some(n) = m.notes.iter().find(|n| n.contains(key)) {
                ("noted".into(), n.clone())
            } else {
                assert!(m.warnings.is_empty(), "{text}: {:?}", m.warnings);
                ("mapped".into(), String::new())
            }
        }
    }
}

#[test]
fn every_row_says_what_relight_does() {
    let rows = rows();
    assert!(rows.len() > 250, "the table is there ({} rows)", rows.len());
    let mut wrong = Vec::new();
    for (key, example, want) in &rows {
        let (got, why) = status_of(key, example);
        if &got != want {
            wrong.push(format!(
                "{key} = {example}: the table says {want}, relight {got}: {why}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_table_covers_every_lighttpd_key_and_no_other() {
    let rows = rows();
    let in_table: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let known: std::collections::BTreeSet<&str> = keys::KNOWN.iter().copied().collect();
    let missing: Vec<_> = known.difference(&in_table).collect();
    let unknown: Vec<_> = in_table.difference(&known).collect();
    assert!(
        missing.is_empty(),
        "not in docs/lighttpd-keys.md: {missing:?}"
    );
    assert!(unknown.is_empty(), "not lighttpd keys: {unknown:?}");
}

#[test]
fn a_key_lighttpd_does_not_know_is_called_a_typo() {
    let (status, why) = status_of("server.documentroot", "\"/tmp\"");
    assert_eq!(status, "warned");
    assert!(why.contains("unknown config-key"), "{why}");
    let (_, why) = status_of("ssl.stapling-file", "\"x\"");
    assert!(why.contains("not supported by relight"), "{why}");
}

/// The shapes a per-condition key is tried in: a host block, the `else` branch of one, a url
/// block nested in a host block, and a `else` chain's middle branch.
const SHAPES: &[(&str, &str)] = &[
    ("$HTTP[\"host\"] == \"a.example\" {\n", "}\n"),
    (
        "$HTTP[\"host\"] == \"a.example\" {\n  url.access-deny = ( \"~\" )\n} else {\n",
        "}\n",
    ),
    (
        "$HTTP[\"host\"] =~ \"^b\\.\" {\n  $HTTP[\"url\"] =^ \"/x/\" {\n",
        "  }\n}\n",
    ),
    (
        "$HTTP[\"url\"] =^ \"/a/\" {\n  url.access-deny = ( \"~\" )\n} else $HTTP[\"url\"] =^ \"/b/\" {\n",
        "} else {\n  url.access-deny = ( \".x\" )\n}\n",
    ),
];

/// Keys that only change how another key of the same block is read (they set nothing alone).
const MODIFIERS: &[&str] = &[
    "auth.backend",
    "auth.backend.htpasswd.userfile",
    "auth.backend.htdigest.userfile",
    "auth.backend.plain.userfile",
    "auth.backend.plain.groupfile",
    "url.redirect-code",
    // mod_userdir does nothing without userdir.path, in lighttpd too.
    "userdir.active",
    "userdir.basepath",
    "userdir.exclude-user",
    "userdir.include-user",
    "userdir.letterhomes",
];

#[test]
fn every_key_lighttpd_allows_in_a_conditional_works_in_one() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lighttpd-keys.md"),
    )
    .unwrap();
    let mut wrong = Vec::new();
    let mut tried = 0;
    let mut server_wide = std::collections::BTreeSet::new();
    for (key, example, status) in rows() {
        // ssl.* keys are read per listener and per SNI name (tests/tls.rs); a global-only key
        // is lighttpd's error in a block too; a warned key is not implemented anywhere.
        if key.starts_with("ssl.") || keys::is_global_only(&key) || status == "warned" {
            continue;
        }
        for (open, close) in SHAPES {
            let inner: String = example
                .lines()
                .enumerate()
                .map(|(i, l)| {
                    if i == 0 {
                        format!("  {key} = {l}\n")
                    } else {
                        format!("  {l}\n")
                    }
                })
                .collect();
            let text = format!("server.document-root = \"/tmp\"\n{open}{inner}{close}");
            let lc = parse_str(&text, "t.conf", Path::new("/")).unwrap();
            tried += 1;
            match map::to_config(&lc, Path::new("/t.conf")) {
                Err(e) if status == "refused" => {
                    let _ = e;
                }
                Err(e) => wrong.push(format!("{text}: refused: {e}")),
                Ok(m) => {
                    // A warning that the key is ignored (one about its value, a document
                    // root that is not there yet, is what the global scope says too).
                    if let Some(w) = m
                        .warnings
                        .iter()
                        .find(|w| w.contains(&key) && w.contains("ignored"))
                    {
                        // Documented: relight applies it to the whole server only.
                        let row = format!("| `{key}` |");
                        let documented = doc.lines().any(|l| {
                            l.starts_with(&row) && l.contains("in a conditional block: warned")
                        });
                        if w.contains("applies it to the whole server only") && documented {
                            server_wide.insert(key.clone());
                        } else {
                            wrong.push(format!("{text}: {w}"));
                        }
                    } else if status == "mapped"
                        && !MODIFIERS.contains(&key.as_str())
                        && !m.config.scope.iter().any(sets_something)
                    {
                        wrong.push(format!("{text}: no scope sets anything"));
                    }
                }
            }
        }
    }
    assert!(tried > 300, "{tried} shapes tried");
    eprintln!(
        "{tried} key/shape pairs tried; applied to the whole server only (documented): {server_wide:?}"
    );
    assert!(
        wrong.is_empty(),
        "{} of {tried}:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Whether a scope (besides the url.access-deny the shapes themselves set) changes anything.
fn sets_something(sc: &relight::config::ScopeConfig) -> bool {
    let mut s = sc.settings.clone();
    if matches!(s.deny_suffixes.as_deref(), Some([one]) if one == "~" || one == ".x") {
        s.deny_suffixes = None;
    }
    format!("{s:?}") != format!("{:?}", relight::config::Settings::default())
        || sc.fastcgi.is_some()
        || sc.cgi.is_some()
        || sc.proxy.is_some()
}
