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
