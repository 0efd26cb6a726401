//! Maps an evaluated lighttpd configuration onto relight's own: each key relight implements
//! becomes the same setting; every other key, module and conditional block is reported by name
//! with where it was set (a warning, or an error under `-tt`). Nothing is dropped in silence.
//! One file per group of keys: [`server`] (global only), [`settings`] (per request, in any
//! block), [`fastcgi`], [`cgi`], [`proxy`], [`auth`], [`tls`] (`ssl.*`, in every block), and [`blocks`] for the
//! conditional blocks. The result is
//! checked as a TOML file is ([`crate::config::check`]).

mod auth;
mod blocks;
mod cgi;
mod fastcgi;
mod proxy;
mod server;
mod settings;
mod tls;

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Block, Error, LighttpdConfig, Pos, Value};
use crate::config::{Config, ServerConfig, Settings, Timeout, check};

/// A mapped configuration and what could not be mapped.
#[derive(Debug)]
pub struct Mapped {
    /// The configuration relight runs.
    pub config: Config,
    /// One line per key, module or block relight does not implement, with its position.
    pub warnings: Vec<String>,
    /// Keys accepted though relight has no use for them (said once, never an error).
    pub notes: Vec<String>,
}

/// Maps `lc` (read from `path`) onto relight's configuration, and checks it.
pub fn to_config(lc: &LighttpdConfig, path: &Path) -> Result<Mapped, Error> {
    let g = lc.global();
    let start = g.pos.clone().unwrap_or(Pos {
        file: path.display().to_string(),
        line: 1,
        column: 1,
    });
    let chroot = match g.get_with_pos("server.chroot") {
        None => None,
        Some((Value::Str(c), pos)) => Some(crate::config::At::new(
            PathBuf::from(c),
            crate::config::Loc::Pos(pos.clone()),
        )),
        Some((v, pos)) => {
            return err(
                pos,
                format!("server.chroot must be a string, not {}", v.kind()),
            );
        }
    };
    let mut cx = Ctx {
        g,
        global: g,
        chroot: chroot.as_ref().map(|c| c.value.clone()),
        used: vec!["server.chroot"],
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    let mut backends = fastcgi::Backends::default();
    let top = settings::map_settings(&mut cx, &mut backends, false)?;
    if top.settings.document_root.is_none() {
        return err(&start, "server.document-root is not set".into());
    }
    // The defaults of relight's own format, then what the lighttpd file says.
    let mut global = Settings::defaults();
    global.over(&top.settings);
    if let Some(on) = feature_flag(g, "auth.delay-invalid-creds") {
        global.auth_delay_invalid_creds = Some(on);
    }
    let mut server = ServerConfig::defaults();
    server.chroot = chroot;
    let ip = server::map_server(&mut cx, &mut server)?;
    // map_server's first listener is server.port's.
    let main = server.listen[0].0;
    let mut tls = tls::map_tls(lc, main, ip)?;
    cx.warnings.append(&mut tls.warnings);
    cx.notes.append(&mut tls.notes);
    cx.used.push("server.h2proto");
    for (key, _, pos) in &g.settings {
        // The ssl.* keys are tls::map_tls's, which said what it had to about each.
        if key.starts_with("var.")
            || key.starts_with("debug.")
            || key.starts_with("ssl.")
            || cx.used.contains(&key.as_str())
        {
            continue;
        }
        cx.warnings
            .push(format!("{pos}: {key}: {}", unsupported(key)));
    }
    let scopes = blocks::map_blocks(lc, &mut cx, &mut backends, &mut server, ip, &start)?;
    let config_dir = std::path::absolute(path.parent().unwrap_or(Path::new(".")))
        .unwrap_or_else(|_| PathBuf::from("."));
    let config = Config {
        server,
        settings: global,
        fastcgi: backends.list,
        cgi: backends.cgi,
        proxy: backends.proxy,
        scope: scopes,
        answer: Vec::new(),
        tls: tls.tls,
        config_dir,
        config_path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        toml_text: None,
    };
    // lighttpd's status page where relight's JSON one would be: relight's moves aside.
    let taken = std::iter::once(&config.settings)
        .chain(config.scope.iter().map(|s| &s.settings))
        .filter_map(|s| s.status_pages.as_ref())
        .flat_map(|p| [&p.status, &p.statistics, &p.config])
        .any(|u| u.as_deref() == Some(config.server.status_path.as_str()));
    let mut config = config;
    if taken {
        cx.notes.push(format!(
            "status.status-url {:?}: lighttpd's status page is served there; relight's JSON status moves to \"/relight-status\"",
            config.server.status_path
        ));
        config.server.status_path = "/relight-status".into();
    }
    check::check(&config)?;
    Ok(Mapped {
        config,
        warnings: cx.warnings,
        notes: cx.notes,
    })
}

/// `"k" => "v"` string pairs, in order.
type Pairs = Vec<(String, String)>;

pub(super) struct Ctx<'a> {
    /// The block being mapped.
    pub g: &'a Block,
    /// The global scope, where a block's unset keys come from (auth.backend...).
    global: &'a Block,
    /// server.chroot: paths are checked inside it.
    chroot: Option<PathBuf>,
    /// The keys read so far: the others are reported.
    pub used: Vec<&'static str>,
    /// What relight does not implement, one line each with its position.
    pub warnings: Vec<String>,
    /// Keys accepted with nothing to do.
    pub notes: Vec<String>,
}

pub(super) fn err<T>(pos: &Pos, message: String) -> Result<T, Error> {
    Err(Error::new(pos.clone(), message))
}

impl<'a> Ctx<'a> {
    /// The context of the conditional block `b` (the global scope stays this one's).
    pub(super) fn block(&self, b: &'a Block) -> Ctx<'a> {
        Ctx {
            g: b,
            global: self.global,
            chroot: self.chroot.clone(),
            used: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(super) fn get(&mut self, key: &'static str) -> Option<(&'a Value, &'a Pos)> {
        self.used.push(key);
        self.g.get_with_pos(key)
    }

    /// `key` of this block, else of the global scope.
    pub(super) fn inherited(&mut self, key: &'static str) -> Option<(&'a Value, &'a Pos)> {
        self.used.push(key);
        self.g
            .get_with_pos(key)
            .or_else(|| self.global.get_with_pos(key))
    }

    /// `key` of this block, else of the global scope, as a switch ("enable" / "disable");
    /// anything else is an error at its position.
    pub(super) fn inherited_flag(&mut self, key: &'static str) -> Result<Option<bool>, Error> {
        match self.inherited(key) {
            None => Ok(None),
            Some((v, p)) => enabled(v).map(Some).ok_or_else(|| {
                Error::new(
                    p.clone(),
                    format!("{key} must be \"enable\" or \"disable\""),
                )
            }),
        }
    }

    /// As [`Ctx::string`], from this block or else the global scope, without the position.
    pub(super) fn inherited_string(&mut self, key: &'static str) -> Result<Option<String>, Error> {
        match self.inherited(key) {
            None => Ok(None),
            Some((Value::Str(s), _)) => Ok(Some(s.clone())),
            Some((v, p)) => err(p, format!("{key} must be a string, not {}", v.kind())),
        }
    }

    pub(super) fn string(&mut self, key: &'static str) -> Result<Option<(String, &'a Pos)>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some((Value::Str(s), p)) => Ok(Some((s.clone(), p))),
            Some((v, p)) => err(p, format!("{key} must be a string, not {}", v.kind())),
        }
    }

    pub(super) fn int(&mut self, key: &'static str) -> Result<Option<(i64, &'a Pos)>, Error> {
        let found = self.get(key);
        int_of(key, found)
    }

    /// As [`Ctx::int`], from this block or else the global scope.
    pub(super) fn inherited_int(
        &mut self,
        key: &'static str,
    ) -> Result<Option<(i64, &'a Pos)>, Error> {
        let found = self.inherited(key);
        int_of(key, found)
    }

    pub(super) fn strings(
        &mut self,
        key: &'static str,
    ) -> Result<Option<(Vec<String>, &'a Pos)>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some((v, p)) => Ok(Some((string_list(v, key, p)?, p))),
        }
    }

    /// `key`'s `"k" => "v"` string pairs in order, and where it was set; `shape` names them in
    /// the error ("\"name\" => \"value\"").
    pub(super) fn string_pairs(
        &mut self,
        key: &'static str,
        shape: &str,
    ) -> Result<Option<(Pairs, &'a Pos)>, Error> {
        let Some((v, pos)) = self.get(key) else {
            return Ok(None);
        };
        let bad = || err(pos, format!("{key} must be an array of {shape}"));
        let Some(items) = v.as_array() else {
            return bad();
        };
        let mut out = Vec::with_capacity(items.len());
        for (k, v) in items {
            let (Some(k), Some(v)) = (k, v.as_str()) else {
                return bad();
            };
            out.push((k.clone(), v.to_string()));
        }
        Ok(Some((out, pos)))
    }

    /// Where `p` is seen from here, before the chroot.
    pub(super) fn seen(&self, p: &Path) -> PathBuf {
        match &self.chroot {
            Some(c) => c.join(p.strip_prefix("/").unwrap_or(p)),
            None => p.to_path_buf(),
        }
    }

    pub(super) fn warn(&mut self, pos: &Pos, msg: String) {
        self.warnings.push(format!("{pos}: {msg}"));
    }
}

/// A number (or a string of one) set for `key`.
fn int_of<'a>(
    key: &str,
    found: Option<(&'a Value, &'a Pos)>,
) -> Result<Option<(i64, &'a Pos)>, Error> {
    match found {
        None => Ok(None),
        Some((Value::Int(n), p)) => Ok(Some((*n, p))),
        Some((Value::Str(s), p)) => match s.parse() {
            Ok(n) => Ok(Some((n, p))),
            Err(_) => err(p, format!("{key} must be a number, not {s:?}")),
        },
        Some((v, p)) => err(p, format!("{key} must be a number, not {}", v.kind())),
    }
}

pub(super) fn string_list(v: &Value, key: &str, p: &Pos) -> Result<Vec<String>, Error> {
    match v {
        Value::Str(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|(_, v)| match v {
                Value::Str(s) => Ok(s.clone()),
                other => err(
                    p,
                    format!("{key} must list strings, found {}", other.kind()),
                ),
            })
            .collect(),
        Value::Int(_) => err(p, format!("{key} must be a list of strings")),
    }
}

/// A switch of `server.feature-flags` (`( "name" => "enable" )`), when set.
pub(super) fn feature_flag(g: &Block, name: &str) -> Option<bool> {
    g.get("server.feature-flags").and_then(|v| {
        v.as_array()?
            .iter()
            .find(|(k, _)| k.as_deref() == Some(name))
            .and_then(|(_, v)| enabled(v))
    })
}

pub(super) fn enabled(v: &Value) -> Option<bool> {
    match v {
        Value::Str(s) => match s.as_str() {
            "enable" | "true" | "1" | "on" => Some(true),
            "disable" | "false" | "0" | "off" => Some(false),
            _ => None,
        },
        Value::Int(n) => Some(*n != 0),
        Value::Array(_) => None,
    }
}

pub(super) fn secs(n: i64) -> Timeout {
    Timeout(Duration::from_secs(n.max(1) as u64))
}

/// Why `key` is ignored: relight does not implement it, or lighttpd does not know it either.
pub(super) fn unsupported(key: &str) -> &'static str {
    if super::keys::is_known(key) {
        "not supported by relight; ignored"
    } else {
        "unknown config-key (lighttpd 1.4 does not know it either); ignored"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Result<Mapped, Error> {
        let lc = super::super::parse_str(text, "t.conf", Path::new("/")).unwrap();
        to_config(&lc, Path::new("/t.conf"))
    }

    #[test]
    fn a_host_certificate_takes_its_sockets_cipher_list_and_client_verification() {
        let m = map(
            "server.document-root = \"/tmp\"\n\
             $SERVER[\"socket\"] == \":8443\" {\n  ssl.engine = \"enable\"\n  ssl.pemfile = \"/a.pem\"\n\
               ssl.cipher-list = \"ECDHE-ECDSA-CHACHA20-POLY1305\"\n\
               ssl.verifyclient.activate = \"enable\"\n  ssl.verifyclient.ca-file = \"/ca.pem\"\n\
               $HTTP[\"host\"] == \"b.example\" {\n    ssl.pemfile = \"/b.pem\"\n  }\n}\n",
        )
        .unwrap();
        let host = m
            .config
            .tls
            .iter()
            .find(|t| t.hosts.iter().any(|h| h.value == "b.example"))
            .expect("the host's entry");
        assert_eq!(
            host.tls12_ciphers.as_ref().map(|c| c.value.clone()),
            Some(vec!["ECDHE-ECDSA-CHACHA20-POLY1305".to_owned()])
        );
        assert_eq!(
            host.client_ca.as_ref().map(|c| c.value.clone()),
            Some(PathBuf::from("/ca.pem"))
        );
    }

    #[test]
    fn workers_and_stat_cache() {
        let base = "server.document-root = \"/tmp\"\n";
        let m = map(base).unwrap();
        assert_eq!(m.config.server.threads, None);
        assert!(m.config.server.file_cache);
        let m = map(&format!(
            "{base}server.max-worker = 4\nserver.stat-cache-engine = \"disable\"\n"
        ))
        .unwrap();
        assert_eq!(m.config.server.threads, Some(4));
        assert!(!m.config.server.file_cache);
        let m = map(&format!("{base}server.stat-cache-engine = \"inotify\"\n")).unwrap();
        assert!(m.config.server.file_cache);
        assert!(
            m.notes.iter().any(|n| n.contains("as \"simple\"")),
            "{:?}",
            m.notes
        );
        for bad in [
            "server.max-worker = 0",
            "server.stat-cache-engine = \"fast\"",
        ] {
            let e = map(&format!("{base}{bad}\n")).unwrap_err();
            assert!(
                e.message.contains(bad.split(' ').next().unwrap()),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn string_pair_keys_map_and_refuse_other_shapes() {
        let base = "server.document-root = \"/tmp\"\n";
        let m = map(&format!(
            "{base}mimetype.assign = ( \".x\" => \"text/x\" )\nsetenv.add-environment = ( \"A\" => \"1\" )\n\
             url.rewrite-once = ( \"^/a$\" => \"/b\" )\nalias.url = ( \"/d/\" => \"/tmp/\" )\n"
        ))
        .unwrap();
        let s = &m.config.settings;
        assert_eq!(
            s.mime_types.as_ref().unwrap().get(".x").map(String::as_str),
            Some("text/x")
        );
        assert_eq!(
            s.fastcgi_params
                .as_ref()
                .unwrap()
                .get("A")
                .map(String::as_str),
            Some("1")
        );
        assert_eq!(s.rewrite.as_ref().unwrap().len(), 1);
        assert_eq!(
            s.aliases.as_ref().unwrap().get("/d/"),
            Some(&PathBuf::from("/tmp/"))
        );
        // url.redirect-code as a number or a string of one, set globally for a block's rules.
        let m = map(&format!(
            "{base}url.redirect-code = \"302\"\n$HTTP[\"url\"] =^ \"/o\" {{ url.redirect = ( \"^/o(.*)\" => \"/n$1\" ) }}\n"
        ))
        .unwrap();
        assert_eq!(
            m.config.scope[0].settings.redirect.as_ref().unwrap()[0].code,
            302
        );
        for (bad, msg) in [
            (
                "mimetype.assign = \"x\"",
                "mimetype.assign must be an array of \"suffix\" => \"type\"",
            ),
            (
                "setenv.add-environment = ( \"A\" )",
                "setenv.add-environment must be an array of \"name\" => \"value\"",
            ),
            (
                "url.redirect = ( \"^/a\" => 1 )",
                "url.redirect must be an array of \"regex\" => \"replacement\"",
            ),
            (
                "alias.url = ( 1 )",
                "alias.url must be an array of \"/url/\" => \"/dir/\"",
            ),
            (
                "url.rewrite-once = ( \"(\" => \"/b\" )",
                "url.rewrite-once: invalid regular expression",
            ),
        ] {
            let e = map(&format!("{base}{bad}\n")).unwrap_err();
            assert!(e.message.starts_with(msg), "{bad}: {e}");
            assert_eq!(e.pos.line, 2, "{bad}: {e}");
        }
    }
}
