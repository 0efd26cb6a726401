//! The folders of `crates/relight/src` import one way (docs/ARCHITECTURE.md): each top-level
//! module may name only the modules listed for it here, so no import cycle can form between
//! them. This reads the sources: every `crate::NAME` in a module's files must name itself or a
//! module below it. A new folder must be given its place here.

use std::collections::BTreeSet;
use std::path::Path;

/// Each top-level module, and the modules it may use (`crate::...`).
const LAYERS: &[(&str, &[&str])] = &[
    ("http", &[]),
    ("config", &["http"]),
    ("log", &["http"]),
    ("files", &["http", "config"]),
    ("gateway", &["http", "config", "log"]),
    ("process", &["http", "config"]),
    // The command line's definition (its option types live in config and process).
    ("cli", &["config", "process"]),
    // HTTPS's certificates and handshake; `tls_off.rs` is the same module without the feature.
    ("tls", &["http", "config"]),
    ("tls_off", &["http", "config"]),
    (
        "request",
        &["http", "config", "files", "gateway", "process", "log"],
    ),
    (
        "server",
        &[
            "http", "config", "files", "gateway", "process", "request", "log", "tls",
        ],
    ),
];

fn rust_files(p: &Path, out: &mut Vec<std::path::PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            rust_files(&e.unwrap().path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

/// The `crate::NAME`s in `text`.
fn uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        // `crate::` inside a longer word (`my_crate::`) is not ours.
        if text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let rest = &text[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

#[test]
fn modules_import_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let Some((_, allowed)) = LAYERS.iter().find(|(m, _)| *m == name) else {
            panic!("src/{name}: a module without a place in LAYERS (tests/layers.rs)");
        };
        seen.insert(name.clone());
        let mut files = Vec::new();
        rust_files(&path, &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for used in uses(&text) {
                if used != name && !allowed.contains(&used.as_str()) {
                    wrong.push(format!(
                        "{} uses crate::{used}",
                        f.strip_prefix(&src).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
    assert_eq!(seen.len(), LAYERS.len(), "every layer exists: {seen:?}");
}

#[test]
fn the_check_finds_what_it_looks_for() {
    let found = uses("use crate::http::body::Body;\nlet x = crate::config::load(p); my_crate::no;");
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["config", "http"],
        "and not my_crate"
    );
}
