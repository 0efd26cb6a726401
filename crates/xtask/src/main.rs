//! `cargo run -p xtask -- docs DIR`: what the Debian package ships besides the binary, made from
//! the sources so that it cannot drift from them: `relight(8)` from the command line's clap
//! definition ([`relight::cli::Cli`]), `relight.toml(5)` from the README's configuration
//! reference ("Using it"), and the bash, zsh and fish completions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, dir] if cmd == "docs" => match docs(Path::new(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask docs: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!(
                "usage: xtask docs DIR   (man pages in DIR/man, completions in DIR/completions)"
            );
            ExitCode::from(2)
        }
    }
}

/// Writes the man pages and the completions under `dir`.
fn docs(dir: &Path) -> Result<(), String> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let cmd = relight::cli::Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Administration")
        .render(&mut page)
        .map_err(|e| e.to_string())?;
    write(&man.join("relight.8"), &page)?;
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text =
        std::fs::read_to_string(&readme).map_err(|e| format!("{}: {e}", readme.display()))?;
    write(&man.join("relight.toml.5"), config_page(&text)?.as_bytes())?;
    use clap_complete::Shell;
    for (shell, name) in [
        (Shell::Bash, "relight"),
        (Shell::Zsh, "_relight"),
        (Shell::Fish, "relight.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "relight", &mut out);
        write(&completions.join(name), &out)?;
    }
    Ok(())
}

fn write(path: &PathBuf, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// `relight.toml(5)`: the README's "Using it" section (the commented reference configuration
/// and the paragraphs after it) as roff.
fn config_page(readme: &str) -> Result<String, String> {
    let start = readme
        .find("\n## Using it\n")
        .ok_or("README.md has no \"## Using it\" section")?;
    let body = &readme[start + "\n## Using it\n".len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    let version = env!("CARGO_PKG_VERSION");
    let mut out = format!(
        ".TH RELIGHT.TOML 5 \"\" \"relight {version}\" \"File Formats\"\n\
         .SH NAME\nrelight.toml \\- relight's configuration file\n\
         .SH SYNOPSIS\n/etc/relight/relight.toml\n\
         .SH DESCRIPTION\n\
         relight reads its configuration from the file given with \\fB\\-f\\fR: this format \
         (TOML), or an unchanged lighttpd.conf. \\fBrelight \\-t \\-f FILE\\fR checks one.\n"
    );
    let mut in_code = false;
    for line in body.lines() {
        if line.starts_with("```") {
            out.push_str(if in_code {
                ".fi\n.RE\n"
            } else {
                ".PP\n.RS 2\n.nf\n"
            });
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push_str(&roff_line(line));
            out.push('\n');
        } else if line.trim().is_empty() {
            out.push_str(".PP\n");
        } else if let Some(h) = line.strip_prefix("### ") {
            out.push_str(&format!(".SS {}\n", roff_text(h)));
        } else if let Some(item) = line.strip_prefix("- ") {
            out.push_str(&format!(".IP \\(bu 2\n{}\n", roff_text(item)));
        } else {
            out.push_str(&roff_text(line));
            out.push('\n');
        }
    }
    if in_code {
        return Err("README.md: a code block in \"Using it\" is not closed".into());
    }
    out.push_str(".SH SEE ALSO\n\\fBrelight\\fR(8), \\fBlighttpd\\fR(8)\n");
    Ok(out)
}

/// A line of text with roff's escape character escaped and a leading control character
/// neutralized.
fn roff_line(line: &str) -> String {
    let escaped = line.replace('\\', "\\e");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Markdown's inline marks as roff's: `code` in bold, `**` dropped, links as their text.
fn roff_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut code = false;
    for c in text.replace("**", "").chars() {
        if c == '`' {
            out.push_str(if code { "\u{1}R" } else { "\u{1}B" });
            code = !code;
        } else {
            out.push(c);
        }
    }
    // The font changes are put in after escaping (their backslash must stay one).
    roff_line(&out).replace('\u{1}', "\\f")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_page_is_the_readme_section_in_roff() {
        let readme = "# x\n\n## Using it\n\nRun `relight`.\n\n```toml\n.dot = \"a\\\\b\"\n```\n\n- one\n\n## Next\nnot this\n";
        let page = config_page(readme).unwrap();
        assert!(page.contains("Run \\fBrelight\\fR."), "{page}");
        assert!(page.contains(".nf\n\\&.dot = \"a\\e\\eb\"\n.fi"), "{page}");
        assert!(page.contains(".IP \\(bu 2\none\n"), "{page}");
        assert!(!page.contains("not this"), "{page}");
        assert!(config_page("# no section\n").is_err());
    }
}
