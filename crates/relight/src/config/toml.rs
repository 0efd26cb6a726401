//! relight's own format: a strict TOML file read into the model. Every error names the file,
//! line and column: values check themselves while they are read ([`super::values`]), a key no
//! struct knows is refused where it is written, and the checks that need the whole file run
//! after ([`super::check`], shared with the lighttpd reader; then the few that are this
//! format's own).
//!
//! `[server]` holds the server's own keys ([`ServerConfig`]) and the global per-request
//! [`Settings`] side by side, and a `[[scope]]` its conditions, its backends and its
//! [`Settings`]: each table is read once for each struct (serde cannot flatten a struct and keep
//! positions), and its keys are checked against the keys both structs know.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Visitor};
use toml::de::{DeTable, DeValue};

use super::{
    AnswerConfig, At, CgiConfig, ConditionConfig, Config, Error, FastcgiConfig, Pos, ProxyConfig,
    ScopeConfig, ServerConfig, Settings, TlsConfig, check,
};

/// The file as the first reading sees it: every table but the settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    server: ServerConfig,
    #[serde(default)]
    fastcgi: Vec<FastcgiConfig>,
    #[serde(default)]
    scgi: Vec<FastcgiConfig>,
    #[serde(default)]
    cgi: Vec<CgiConfig>,
    #[serde(default)]
    proxy: Vec<ProxyConfig>,
    #[serde(default)]
    scope: Vec<Scope>,
    #[serde(default)]
    answer: Vec<AnswerConfig>,
    #[serde(default)]
    tls: Vec<TlsConfig>,
}

/// A `[[scope]]`'s own keys (its settings are read by the second reading).
#[derive(Deserialize)]
struct Scope {
    when: Vec<ConditionConfig>,
    fastcgi: Option<Vec<At<String>>>,
    cgi: Option<Vec<At<String>>>,
    proxy: Option<Vec<At<String>>>,
}

/// The file as the second reading sees it: the settings of `[server]` and of each `[[scope]]`.
#[derive(Deserialize)]
struct SettingsOf {
    server: Settings,
    #[serde(default)]
    scope: Vec<Settings>,
}

/// Reads, parses and checks a configuration file.
pub fn load(path: &Path) -> Result<Config, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(path, &e))?;
    parse(&text, path)
}

/// Parses and checks configuration text; `path` is used in errors and to resolve relative
/// paths.
pub fn parse(text: &str, path: &Path) -> Result<Config, Error> {
    let at = |offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        Error::new(
            Pos {
                file: path.display().to_string(),
                line,
                column,
            },
            message,
        )
    };
    let serde_error =
        |e: toml::de::Error| at(e.span().map_or(0, |s| s.start), e.message().to_owned());
    let doc = DeTable::parse(text).map_err(serde_error)?;
    if let Some((offset, message)) = unknown_key(doc.get_ref()) {
        return Err(at(offset, message));
    }
    let file: File = toml::from_str(text).map_err(serde_error)?;
    let settings: SettingsOf = toml::from_str(text).map_err(serde_error)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut global = Settings::defaults();
    global.over(&settings.server);
    let Some(root) = &mut global.document_root else {
        let server_at = doc
            .get_ref()
            .get_key_value("server")
            .map_or(0, |(k, _)| k.span().start);
        return Err(at(server_at, "missing field `document_root`".into()));
    };
    let dir = base.join(&root.value);
    root.value = if dir.ends_with(".") {
        dir.parent().map_or(dir.clone(), Path::to_path_buf)
    } else {
        dir
    };
    let mut fastcgi = file.fastcgi;
    // A [[fastcgi]] table speaks FastCGI; the other protocols are [[scgi]]'s.
    let misplaced = fastcgi
        .iter()
        .find(|b| b.protocol != crate::config::Protocol::Fastcgi)
        .map(|b| (b.name.clone(), b.protocol));
    fastcgi.extend(file.scgi.into_iter().map(|mut b| {
        if b.protocol == crate::config::Protocol::Fastcgi {
            b.protocol = crate::config::Protocol::Scgi;
        }
        b
    }));
    let mut config = Config {
        server: file.server,
        settings: global,
        fastcgi,
        cgi: file.cgi,
        proxy: file.proxy,
        scope: file
            .scope
            .into_iter()
            .zip(settings.scope)
            .map(|(s, settings)| ScopeConfig {
                when: s.when,
                fastcgi: s.fastcgi,
                cgi: s.cgi,
                proxy: s.proxy,
                settings,
            })
            .collect(),
        answer: file.answer,
        tls: file.tls,
        config_dir: std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf()),
        config_path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        toml_text: Some(Arc::from(text)),
    };
    if let Some((name, protocol)) = misplaced {
        return Err(config.error(
            &name.loc,
            format!(
                "[[fastcgi]] {:?}: protocol = {:?} belongs in a [[scgi]] table",
                name.value,
                protocol.as_str()
            ),
        ));
    }
    resolve_paths(&mut config, base);
    scope_roots(&config)?;
    check::check(&config)?;
    Ok(config)
}

/// Relative paths in the file start at its directory.
fn resolve_paths(config: &mut Config, base: &Path) {
    for b in &mut config.fastcgi {
        for p in [&mut b.socket, &mut b.cwd].into_iter().flatten() {
            *p = base.join(&*p);
        }
    }
    for c in &mut config.cgi {
        if let Some(i) = &mut c.interpreter {
            *i = base.join(&*i);
        }
    }
    for a in config.settings.auth.iter_mut().flatten() {
        a.user_file = base.join(&a.user_file);
    }
    for sc in &mut config.scope {
        let s = &mut sc.settings;
        if let Some(root) = &mut s.document_root {
            root.value = base.join(&root.value);
        }
        for a in s.auth.iter_mut().flatten() {
            a.user_file = base.join(&a.user_file);
        }
        for dir in s.aliases.iter_mut().flat_map(|a| a.values_mut()) {
            *dir = base.join(&*dir);
        }
    }
    for t in &mut config.tls {
        for p in [t.certificate.as_mut(), t.key.as_mut(), t.client_ca.as_mut()]
            .into_iter()
            .flatten()
        {
            p.value = base.join(&p.value);
        }
    }
    let s = &mut config.server;
    for p in [&mut s.error_log, &mut s.access_log, &mut s.pid_file]
        .into_iter()
        .flatten()
    {
        // "syslog" and "syslog:/socket" are not files (the logs' values; a pid file is one).
        let syslog = p
            .to_str()
            .is_some_and(|v| v == "syslog" || v.starts_with("syslog:"));
        if !syslog {
            *p = base.join(&*p);
        }
    }
}

/// A scope's document root must be a directory when the file is read (a lighttpd.conf only
/// gets a warning: lighttpd starts with it).
fn scope_roots(config: &Config) -> Result<(), Error> {
    for (i, sc) in config.scope.iter().enumerate() {
        if let Some(root) = &sc.settings.document_root
            && !root.value.is_dir()
        {
            return Err(config.error(
                &root.loc,
                format!(
                    "scope {}: document_root {}: not a directory",
                    i + 1,
                    root.value.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The first key of `[server]` or a `[[scope]]` that none of the structs reading the table
/// knows: its offset and the error.
fn unknown_key(doc: &DeTable<'_>) -> Option<(usize, String)> {
    let server = [keys_of::<ServerConfig>(), keys_of::<Settings>()];
    let scope = [keys_of::<Scope>(), keys_of::<Settings>()];
    let tables = doc
        .get("server")
        .map(|t| (t.get_ref(), &server))
        .into_iter()
        .chain(
            doc.get("scope")
                .and_then(|s| s.get_ref().as_array())
                .into_iter()
                .flatten()
                .map(|t| (t.get_ref(), &scope)),
        );
    for (table, known) in tables {
        let DeValue::Table(table) = table else {
            continue;
        };
        for key in table.keys() {
            let k: &str = key.get_ref();
            if !known.iter().any(|keys| keys.contains(&k)) {
                let expected: Vec<String> = known
                    .iter()
                    .flat_map(|keys| keys.iter())
                    .map(|k| format!("`{k}`"))
                    .collect();
                return Some((
                    key.span().start,
                    format!(
                        "unknown field `{k}`, expected one of {}",
                        expected.join(", ")
                    ),
                ));
            }
        }
    }
    None
}

/// The keys serde's derive reads for the struct `T`, as it announces them to the deserializer:
/// so the keys a table may hold cannot drift from the structs that read it.
fn keys_of<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(serde::de::Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// Line and column (1-based) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn parse(text: &str) -> Result<Config, Error> {
        super::parse(text, Path::new("/tmp/test.toml"))
    }

    #[test]
    fn minimal_and_defaults() {
        let c = parse(
            "[server]\nlisten = [\"127.0.0.1:8080\", \"[::1]:8081\"]\ndocument_root = \"/tmp\"\n",
        )
        .unwrap();
        assert_eq!(c.server.listen.len(), 2);
        assert_eq!(c.settings.index_files, Some(vec!["index.html".to_string()]));
        assert_eq!(c.server.keep_alive_timeout.0, Duration::from_secs(5));
        assert!(c.fastcgi.is_empty());
    }

    #[test]
    fn unknown_key_is_an_error_at_its_line() {
        let err =
            parse("[server]\nlisten = [\"127.0.0.1:8080\"]\ndocument_root = \"/tmp\"\nlisen = 1\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:4:1: unknown field `lisen`"),
            "{err}"
        );
    }

    #[test]
    fn answers_are_checked_where_they_are() {
        let base = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n";
        let c = parse(&format!(
            "{base}[[answer]]\npath = \"/healthz\"\nbody = \"ok\"\n"
        ))
        .unwrap();
        assert_eq!(c.answer[0].status(), 200);
        assert_eq!(c.answer[0].content_type, "text/plain; charset=utf-8");
        let err = parse(&format!("{base}[[answer]]\npath = \"/a/../b\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:5:8: answer path \"/a/../b\": must be a normalized"),
            "{err}"
        );
        let err = parse(&format!("{base}[[answer]]\npath = \"/x\"\nstatus = 99\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:6:10: answer \"/x\": status must be 200 to 599"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_position() {
        let err = parse("[server]\nlisten = [\"127.0.0.1\"]\ndocument_root = \"/tmp\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:2:10: invalid listen address"),
            "{err}"
        );
        let base = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n";
        let err = parse(&format!(
            "{base}[[fastcgi]]\nname = \"a\"\nmatch = [\"php\"]\naddress = \"unix:/x\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("/tmp/test.toml:6:9: invalid match \"php\""),
            "{err}"
        );
        let err = parse(&format!(
            "{base}[[fastcgi]]\nname = \"a\"\nmatch = [\".php\"]\naddress = \"nowhere\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains(":7:11: invalid backend address"), "{err}");
        let err = parse(&format!("{base}[[fastcgi]]\nname = \"a\"\nmatch = [\"/a\"]\naddress = \"unix:/x\"\nread_timeout = \"10 parsecs\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(":8:16: invalid duration"), "{err}");
        let err = parse(
            "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/nonexistent-relight\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "/tmp/test.toml:3:17: document_root /nonexistent-relight: No such file"
            ),
            "{err}"
        );
    }

    #[test]
    fn rewrite_rules_and_bad_regexes() {
        let base = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n";
        let c = parse(&format!("{base}[[server.rewrite]]\npattern = \"^/a/(.*)$\"\nto = \"/b/$1\"\n[[server.redirect]]\npattern = \"^/old\"\nto = \"/new\"\ncode = 302\n")).unwrap();
        assert_eq!(c.settings.rewrite.as_ref().unwrap().len(), 1);
        assert!(!c.settings.rewrite.as_ref().unwrap()[0].repeat);
        assert_eq!(c.settings.redirect.as_ref().unwrap()[0].code, 302);
        let err = parse(&format!(
            "{base}[[server.rewrite]]\npattern = \"^/a/(\"\nto = \"/b\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains(":5:11: invalid regular expression"), "{err}");
    }

    #[test]
    fn scopes_are_checked_where_they_are_written() {
        let base = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n\
            [[fastcgi]]\nname = \"a\"\nmatch = [\"/a\"]\naddress = \"127.0.0.1:9000\"\nglobal = false\n";
        let ok = format!(
            "{base}[[scope]]\nwhen = [{{ field = \"url\", op = \"=^\", value = \"/x\" }}]\nfastcgi = [\"a\"]\n\
             [[scope.auth]]\nprefix = \"/\"\nrealm = \"r\"\nuser_file = \"users\"\n"
        );
        let c = parse(&ok).unwrap();
        assert_eq!(c.scope.len(), 1);
        assert_eq!(
            c.scope[0].settings.auth.as_ref().unwrap()[0].user_file,
            PathBuf::from("/tmp/users")
        );
        for (bad, msg) in [
            (
                "[[scope]]\nwhen = [{ field = \"url\", op = \"=~\", value = \"(\" }]\nfastcgi = [\"a\"]\n",
                ":10:45: scope 1: invalid regular expression",
            ),
            (
                "[[scope]]\nwhen = [{ field = \"uri\", op = \"==\", value = \"/\" }]\nfastcgi = [\"a\"]\n",
                ":10:45: scope 1: unknown condition field \"uri\"",
            ),
            (
                "[[scope]]\nwhen = []\nfastcgi = [\"b\"]\n",
                ":11:12: scope 1: no [[fastcgi]] named \"b\"",
            ),
            (
                "[[scope]]\nwhen = []\ndocument_root = \"/nonexistent-relight\"\n",
                ":11:17: scope 1: document_root /nonexistent-relight: not a directory",
            ),
            (
                "[[scope]]\nwhen = []\n",
                ":5:8: fastcgi \"a\": global = false, but no [[scope]] names it",
            ),
        ] {
            let err = parse(&format!("{base}{bad}")).unwrap_err().to_string();
            assert!(err.contains(msg), "{bad}: {err}");
        }
    }

    #[test]
    fn the_readme_example_parses() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
                .unwrap();
        let start = readme.find("```toml\n[server]").expect("the example") + 8;
        let end = start + readme[start..].find("```").unwrap();
        let example = readme[start..end].replace("\"/srv/www\"", "\"/tmp\"");
        let c = parse(&example).unwrap_or_else(|e| panic!("{e}"));
        // Two [[fastcgi]], then the [[scgi]] one.
        assert_eq!(c.fastcgi.len(), 3);
        assert_eq!(c.fastcgi[2].protocol, crate::config::Protocol::Scgi);
        assert_eq!(c.cgi.len(), 1);
        assert_eq!(c.scope.len(), 1);
        assert_eq!(c.scope[0].when.len(), 2);
    }

    #[test]
    fn duplicate_backend_names() {
        let text = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n\
            [[fastcgi]]\nname = \"a\"\nmatch = [\"/a\"]\naddress = \"127.0.0.1:9000\"\n\
            [[fastcgi]]\nname = \"a\"\nmatch = [\"/b\"]\naddress = \"127.0.0.1:9001\"\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains(":9:8: duplicate fastcgi name \"a\" (first defined on line 5)"),
            "{err}"
        );
    }

    #[test]
    fn spawned_backends_have_a_request_timeout_unless_turned_off() {
        let base = "[server]\nlisten = [\"127.0.0.1:1\"]\ndocument_root = \"/tmp\"\n\
            [[fastcgi]]\nname = \"a\"\nmatch = [\"/a\"]\ncommand = [\"/bin/true\"]\nsocket = \"a.sock\"\n";
        let timeout =
            |extra: &str| parse(&format!("{base}{extra}")).unwrap().fastcgi[0].request_timeout();
        assert_eq!(
            timeout(""),
            Some((crate::config::DEFAULT_REQUEST_TIMEOUT, true))
        );
        assert_eq!(timeout("request_timeout = 0\n"), None);
        assert_eq!(timeout("request_timeout = \"0s\"\n"), None);
        assert_eq!(
            timeout("request_timeout = \"2s\"\n"),
            Some((Duration::from_secs(2), false))
        );
        assert!(
            crate::config::DEFAULT_REQUEST_TIMEOUT >= Duration::from_secs(60),
            "long enough for real work"
        );
    }
}
