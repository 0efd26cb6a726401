//! `relight -t` rejects what start-up would reject, with the file, line and column of the value
//! that is wrong, in both languages: one case per class of check. Each bad file is also given
//! to a real start (`-D`), which must refuse it with the same line.

mod common;

use std::path::Path;
use std::process::Command;

use common::TempDir;

/// Runs relight with `args` and `cfg` (under `timeout` when `args` starts with its seconds);
/// returns (exit code, stdout, stderr).
fn relight(args: &[&str], cfg: &Path) -> (Option<i32>, String, String) {
    let program = if args[0].parse::<u32>().is_ok() {
        "timeout"
    } else {
        env!("CARGO_BIN_EXE_relight")
    };
    let out = Command::new(program).args(args).arg(cfg).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `text` as `name` in `dir`, and checks that `-t` and a start both refuse it with
/// `file:{at}: {message}`.
fn refused(dir: &TempDir, name: &str, text: &str, at: &str, message: &str) {
    let cfg = dir.join(name);
    std::fs::write(&cfg, text).unwrap();
    let want = format!("{}:{at}: {message}", cfg.display());
    let (code, out, err) = relight(&["-t", "-f"], &cfg);
    assert_eq!(code, Some(1), "-t accepted {name}: {out}{err}");
    assert!(
        err.contains(&want),
        "-t on {name}: want {want:?}, got {err}"
    );
    // A start that accepted the file would serve: `timeout` ends it (exit 124).
    let (code, _, err) = relight(&["20", env!("CARGO_BIN_EXE_relight"), "-D", "-f"], &cfg);
    assert_eq!(code, Some(1), "a start accepted {name}: {err}");
    assert!(
        err.contains(&want),
        "start on {name}: want {want:?}, got {err}"
    );
}

fn toml_base(dir: &TempDir) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"{}\"\n",
        dir.path().display()
    )
}

#[test]
fn header_names_and_values_are_checked_where_they_are_written() {
    let dir = TempDir::new("check-headers");
    let base = toml_base(&dir);
    refused(
        &dir,
        "bad-name.toml",
        &format!("{base}response_headers = {{ \"Bad Name\" = \"x\" }}\n"),
        "4:20",
        "invalid header name \"Bad Name\"",
    );
    refused(
        &dir,
        "bad-value.toml",
        &format!("{base}[[scope]]\nwhen = []\nrequest_headers = {{ \"X-A\" = \"a\\u0001b\" }}\n"),
        "6:19",
        "invalid header value for X-A",
    );
    let root = dir.path().display();
    refused(
        &dir,
        "bad-name.conf",
        &format!(
            "server.document-root = \"{root}\"\nserver.port = 1\nsetenv.add-response-header = ( \"Bad Name\" => \"x\" )\n"
        ),
        "3:1",
        "setenv.add-response-header: invalid header name \"Bad Name\"",
    );
}

#[test]
fn users_and_groups_must_exist() {
    let dir = TempDir::new("check-users");
    let base = toml_base(&dir);
    refused(
        &dir,
        "backend-user.toml",
        &format!(
            "{base}[[fastcgi]]\nname = \"app\"\nmatch = [\"/app\"]\ncommand = [\"/bin/true\"]\nsocket = \"app.sock\"\nuser = \"no-such-user-relight\"\n"
        ),
        "5:8",
        "fastcgi \"app\": unknown user \"no-such-user-relight\"",
    );
    if !nix::unistd::geteuid().is_root() {
        // Not root, relight keeps its own user and only says so: nothing to refuse.
        return;
    }
    refused(
        &dir,
        "server-user.toml",
        &format!("{base}user = \"no-such-user-relight\"\n"),
        "4:8",
        "unknown user \"no-such-user-relight\"",
    );
    refused(
        &dir,
        "server-group.conf",
        &format!(
            "server.document-root = \"{}\"\nserver.port = 1\nserver.groupname = \"no-such-group-relight\"\n",
            dir.path().display()
        ),
        "3:1",
        "unknown group \"no-such-group-relight\"",
    );
}

#[test]
fn the_document_root_must_be_a_directory() {
    let dir = TempDir::new("check-root");
    refused(
        &dir,
        "missing.toml",
        "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/nonexistent-relight\"\n",
        "3:17",
        "document_root /nonexistent-relight: No such file or directory",
    );
    refused(
        &dir,
        "missing.conf",
        "server.port = 1\nserver.document-root = \"/nonexistent-relight\"\n",
        "2:1",
        "document_root /nonexistent-relight: No such file or directory",
    );
    let file = dir.join("file");
    std::fs::write(&file, "").unwrap();
    refused(
        &dir,
        "file.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"{}\"\n",
            file.display()
        ),
        "3:17",
        &format!("document_root {}: not a directory", file.display()),
    );
}

#[test]
fn backends_must_make_sense() {
    let dir = TempDir::new("check-backends");
    let base = toml_base(&dir);
    refused(
        &dir,
        "both.toml",
        &format!(
            "{base}[[fastcgi]]\nname = \"app\"\nmatch = [\"/app\"]\naddress = \"unix:/x\"\ncommand = [\"/bin/true\"]\n"
        ),
        "5:8",
        "fastcgi \"app\": set either address (an external backend) or command (a spawned one), not both",
    );
    refused(
        &dir,
        "health.toml",
        &format!(
            "{base}[[fastcgi]]\nname = \"app\"\nmatch = [\"/app\"]\ncommand = [\"/bin/true\"]\nsocket = \"/tmp/x.sock\"\nhealth_check = \"10s\"\nhealth_check_timeout = \"0s\"\n"
        ),
        "10:24",
        "invalid duration \"0s\": must be more than zero",
    );
    refused(
        &dir,
        "memory.toml",
        &format!(
            "{base}[[fastcgi]]\nname = \"app\"\nmatch = [\"/app\"]\naddress = \"unix:/x\"\nmemory_max = \"1G\"\n"
        ),
        "5:8",
        "fastcgi \"app\": memory_max applies to spawned backends (command), not to an external address",
    );
    // An entry on another backend's processes names a spawned one and sets no process keys.
    let owner = "[[fastcgi]]\nname = \"ext\"\nmatch = [\"/e\"]\naddress = \"unix:/x\"\n";
    refused(
        &dir,
        "pool-external.toml",
        &format!("{base}{owner}[[fastcgi]]\nname = \"auth\"\nmatch = [\"/a\"]\npool = \"ext\"\n"),
        "9:8",
        "fastcgi \"auth\": pool \"ext\": not a spawned backend with its own command",
    );
    refused(
        &dir,
        "pool-procs.toml",
        &format!(
            "{base}[[fastcgi]]\nname = \"app\"\nmatch = [\"/a\"]\ncommand = [\"/bin/true\"]\nsocket = \"/tmp/x.sock\"\n[[fastcgi]]\nname = \"auth\"\nmatch = [\"/b\"]\npool = \"app\"\nprocs = 2\n"
        ),
        "10:8",
        "fastcgi \"auth\": procs belongs to the backend whose processes pool \"app\" names, not to this entry",
    );
    refused(
        &dir,
        "digest-htpasswd.toml",
        &format!(
            "{base}[[server.auth]]\nprefix = \"/\"\nrealm = \"r\"\nuser_file = \"/etc/passwd\"\nmethod = \"digest\"\n"
        ),
        "1:1",
        "auth \"/\": method = \"digest\" needs format = \"htdigest\" or \"plain\"",
    );
    refused(
        &dir,
        "scope-names.toml",
        &format!("{base}[[scope]]\nwhen = []\nfastcgi = [\"nope\"]\n"),
        "6:12",
        "scope 1: no [[fastcgi]] named \"nope\"",
    );
    refused(
        &dir,
        "no-socket.conf",
        &format!(
            "server.document-root = \"{}\"\nserver.port = 1\nfastcgi.server = ( \".php\" => (( \"bin-path\" => \"/bin/true\" )) )\n",
            dir.path().display()
        ),
        "3:1",
        "fastcgi.server \".php\": bin-path needs socket or port",
    );
}

#[test]
fn a_good_file_is_syntax_ok() {
    let dir = TempDir::new("check-ok");
    let cfg = dir.join("ok.toml");
    std::fs::write(
        &cfg,
        format!(
            "{}response_headers = {{ \"X-Frame-Options\" = \"DENY\" }}\n",
            toml_base(&dir)
        ),
    )
    .unwrap();
    let (code, out, err) = relight(&["-t", "-f"], &cfg);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "Syntax OK\n");
}
