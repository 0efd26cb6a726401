//! The grammar, evaluated while it is parsed, as lighttpd does: a variable on the right-hand side
//! is read when the statement is met, `include` and `include_shell` are expanded in place.
//!
//! Over 600 lines with its tests, on purpose: one recursive-descent parser whose methods share
//! the evaluation state, and the grammar's tests beside it.

use std::path::{Path, PathBuf};

use super::lexer::{Tok, lex};
use super::{Block, Condition, Error, LighttpdConfig, Pos, Value};

/// Includes may nest this deep (a loop of includes is an error, not a hang).
const MAX_INCLUDE_DEPTH: usize = 16;
/// Arrays and blocks may nest this deep (deeper input is an error, not a stack overflow).
const MAX_NESTING: usize = 64;

struct Eval {
    cfg: LighttpdConfig,
    /// Indices of the open scopes, innermost last.
    stack: Vec<usize>,
    base_dir: PathBuf,
    depth: usize,
    /// No include, no include_shell (for fuzzing: input must not run commands or read files).
    sandboxed: bool,
}

/// Reads and evaluates a lighttpd configuration file with everything it includes.
pub fn parse_file(path: &Path) -> Result<LighttpdConfig, Error> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(path, &e))?;
    let base_dir = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let mut ev = Eval {
        cfg: LighttpdConfig {
            blocks: vec![Block {
                pos: Some(Pos {
                    file: file.clone(),
                    line: 1,
                    column: 1,
                }),
                ..Block::default()
            }],
        },
        stack: vec![0],
        base_dir,
        depth: 0,
        sandboxed: false,
    };
    parse_text(&mut ev, &text, &file)?;
    Ok(ev.cfg)
}

/// Parses and evaluates configuration text; includes are relative to `base_dir`.
pub fn parse_str(text: &str, file: &str, base_dir: &Path) -> Result<LighttpdConfig, Error> {
    parse_with(text, file, base_dir, false)
}

/// Parses and evaluates untrusted text: `include` and `include_shell` are errors, so the
/// input can neither read files nor run commands. The fuzz target's entry point.
pub fn parse_sandboxed(text: &str) -> Result<LighttpdConfig, Error> {
    parse_with(text, "input", Path::new("/nonexistent"), true)
}

fn parse_with(
    text: &str,
    file: &str,
    base_dir: &Path,
    sandboxed: bool,
) -> Result<LighttpdConfig, Error> {
    let mut ev = Eval {
        cfg: LighttpdConfig {
            blocks: vec![Block::default()],
        },
        stack: vec![0],
        base_dir: base_dir.to_path_buf(),
        depth: 0,
        sandboxed,
    };
    parse_text(&mut ev, text, file)?;
    Ok(ev.cfg)
}

fn parse_text(ev: &mut Eval, text: &str, file: &str) -> Result<(), Error> {
    let toks = lex(text, file)?;
    let end = Pos {
        file: file.into(),
        line: text.lines().count().max(1),
        column: 1,
    };
    let mut p = P {
        toks,
        i: 0,
        end,
        nesting: 0,
    };
    p.statements(ev, false)
}

struct P {
    toks: Vec<(Tok, Pos)>,
    i: usize,
    end: Pos,
    nesting: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(t, _)| t)
    }

    fn pos(&self) -> Pos {
        self.toks
            .get(self.i)
            .map_or_else(|| self.end.clone(), |(_, p)| p.clone())
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, Error> {
        Err(Error {
            pos: self.pos(),
            message: msg.into(),
        })
    }

    fn next(&mut self) -> Option<(Tok, Pos)> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn expect(&mut self, want: &Tok, what: &str) -> Result<Pos, Error> {
        match self.toks.get(self.i) {
            Some((t, p)) if t == want => {
                let p = p.clone();
                self.i += 1;
                Ok(p)
            }
            Some((t, _)) => self.err(format!("expected {what}, found {}", describe(t))),
            None => self.err(format!("expected {what}, found the end of the file")),
        }
    }

    fn statements(&mut self, ev: &mut Eval, in_block: bool) -> Result<(), Error> {
        loop {
            match self.peek() {
                None if in_block => return self.err("missing '}' at the end of a block"),
                None => return Ok(()),
                Some(Tok::RBrace) if in_block => {
                    self.i += 1;
                    return Ok(());
                }
                Some(Tok::Semicolon) => self.i += 1,
                Some(Tok::Ident(k)) if k == "include" || k == "include_shell" => {
                    let shell = k == "include_shell";
                    let pos = self.pos();
                    self.i += 1;
                    let v = self.expr(ev)?;
                    let Value::Str(arg) = v else {
                        return Err(Error {
                            pos,
                            message: format!("include needs a string, got {}", v.kind()),
                        });
                    };
                    if ev.sandboxed {
                        return Err(Error {
                            pos,
                            message: "include is not allowed here".into(),
                        });
                    }
                    if shell {
                        include_shell(ev, &arg, &pos)?;
                    } else {
                        include(ev, &arg, &pos)?;
                    }
                }
                Some(Tok::Ident(k)) if k == "global" => {
                    self.i += 1;
                    if ev.stack.len() > 1 {
                        return self.err("global { } is only allowed at the top level");
                    }
                    self.expect(&Tok::LBrace, "'{' after global")?;
                    self.statements(ev, true)?;
                }
                Some(Tok::Dollar(_)) => self.conditional(ev)?,
                Some(Tok::Ident(_)) => self.assignment(ev)?,
                Some(t) => {
                    let d = describe(t);
                    return self.err(format!("expected a key, a condition or include, found {d}"));
                }
            }
        }
    }

    fn assignment(&mut self, ev: &mut Eval) -> Result<(), Error> {
        let (Some((Tok::Ident(key), pos)), op) = (self.next(), self.peek().cloned()) else {
            unreachable!("called on an identifier")
        };
        if !matches!(op, Some(Tok::Assign | Tok::Append | Tok::Force)) {
            return self.err(format!("expected '=', '+=' or ':=' after {key}"));
        }
        self.i += 1;
        if key.starts_with("env.") {
            return Err(Error {
                pos,
                message: format!("{key}: env.* variables are read-only"),
            });
        }
        let value = self.expr(ev)?;
        let scope = *ev.stack.last().expect("global scope");
        let block = &mut ev.cfg.blocks[scope];
        let existing = block.settings.iter().position(|(k, _, _)| *k == key);
        match (op, existing) {
            (Some(Tok::Assign), Some(i)) if !key.starts_with("var.") => {
                let first = block.settings[i].2.clone();
                return Err(Error {
                    pos,
                    message: format!(
                        "{key} is already set (at {first}); use += to append or := to replace"
                    ),
                });
            }
            (Some(Tok::Append), Some(i)) => {
                let old = block.settings[i].1.clone();
                block.settings[i].1 = concat(old, value).map_err(|m| Error {
                    pos: pos.clone(),
                    message: format!("{key} += : {m}"),
                })?;
            }
            (Some(Tok::Append), None) => {
                // Appending in a block to a value set outside it extends a copy of that value.
                let outer = ev.stack[..ev.stack.len() - 1]
                    .iter()
                    .rev()
                    .find_map(|&b| ev.cfg.blocks[b].get(&key).cloned());
                let v = match outer {
                    Some(old) => concat(old, value).map_err(|m| Error {
                        pos: pos.clone(),
                        message: format!("{key} += : {m}"),
                    })?,
                    None => value,
                };
                ev.cfg.blocks[scope].settings.push((key, v, pos));
            }
            (_, Some(i)) => block.settings[i] = (key, value, pos),
            (_, None) => block.settings.push((key, value, pos)),
        }
        Ok(())
    }

    fn expr(&mut self, ev: &mut Eval) -> Result<Value, Error> {
        let mut v = self.term(ev)?;
        while self.peek() == Some(&Tok::Plus) {
            let pos = self.pos();
            self.i += 1;
            let rhs = self.term(ev)?;
            v = concat(v, rhs).map_err(|message| Error { pos, message })?;
        }
        Ok(v)
    }

    fn term(&mut self, ev: &mut Eval) -> Result<Value, Error> {
        let pos = self.pos();
        match self.next() {
            Some((Tok::Str(s), _)) => Ok(Value::Str(s)),
            Some((Tok::Int(n), _)) => Ok(Value::Int(n)),
            Some((Tok::LParen, _)) => self.array(ev),
            Some((Tok::Ident(name), _)) => lookup(ev, &name).ok_or(Error {
                pos,
                message: format!("{name} is not defined"),
            }),
            Some((t, _)) => {
                self.i -= 1;
                self.err(format!("expected a value, found {}", describe(&t)))
            }
            None => self.err("expected a value, found the end of the file"),
        }
    }

    fn array(&mut self, ev: &mut Eval) -> Result<Value, Error> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return self.err(format!("arrays nest deeper than {MAX_NESTING}"));
        }
        let r = self.array_items(ev);
        self.nesting -= 1;
        r
    }

    fn array_items(&mut self, ev: &mut Eval) -> Result<Value, Error> {
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(&Tok::RParen) {
                self.i += 1;
                return Ok(Value::Array(items));
            }
            let pos = self.pos();
            let v = self.expr(ev)?;
            if self.peek() == Some(&Tok::Arrow) {
                self.i += 1;
                let Value::Str(k) = v else {
                    return Err(Error {
                        pos,
                        message: format!("an array key must be a string, got {}", v.kind()),
                    });
                };
                let value = self.expr(ev)?;
                items.push((Some(k), value));
            } else {
                items.push((None, v));
            }
            match self.peek() {
                Some(Tok::Comma) => self.i += 1,
                Some(Tok::RParen) => {}
                Some(t) => {
                    let d = describe(t);
                    return self.err(format!("expected ',' or ')' in an array, found {d}"));
                }
                None => return self.err("unterminated array: missing ')'"),
            }
        }
    }

    fn condition(&mut self, ev: &mut Eval) -> Result<Condition, Error> {
        let Some((Tok::Dollar(name), _)) = self.next() else {
            return self.err("expected a condition such as $HTTP[\"url\"]");
        };
        let mut field = name;
        if self.peek() == Some(&Tok::LBracket) {
            self.i += 1;
            let Some((Tok::Str(key), _)) = self.next() else {
                return self.err("expected a string inside [ ]");
            };
            self.expect(&Tok::RBracket, "']'")?;
            field = format!("{field}[\"{key}\"]");
        }
        let op = match self.next() {
            Some((Tok::Op(op), _)) => op,
            Some((Tok::Assign, _)) => return self.err("a condition compares with ==, not ="),
            _ => {
                self.i -= 1;
                return self.err("expected ==, !=, =~, !~, =^ or =$ in a condition");
            }
        };
        let pos = self.pos();
        let Value::Str(pattern) = self.expr(ev)? else {
            return Err(Error {
                pos,
                message: "a condition compares with a string".into(),
            });
        };
        Ok(Condition {
            field,
            op,
            pattern,
            negated: false,
        })
    }

    fn conditional(&mut self, ev: &mut Eval) -> Result<(), Error> {
        let outer: Vec<Condition> = ev.cfg.blocks[*ev.stack.last().expect("scope")]
            .conditions
            .clone();
        let mut earlier: Vec<Condition> = Vec::new();
        let negated = |earlier: &[Condition]| -> Vec<Condition> {
            earlier
                .iter()
                .map(|c| Condition {
                    negated: true,
                    ..c.clone()
                })
                .collect()
        };
        loop {
            let cond = self.condition(ev)?;
            let mut conds = outer.clone();
            conds.extend(negated(&earlier));
            conds.push(cond.clone());
            self.block(ev, conds)?;
            earlier.push(cond);
            match self.peek() {
                Some(Tok::Ident(k)) if k == "elseif" || k == "elsif" => {
                    self.i += 1;
                }
                Some(Tok::Ident(k)) if k == "else" => {
                    self.i += 1;
                    match self.peek() {
                        Some(Tok::Ident(k)) if k == "if" => self.i += 1,
                        Some(Tok::Dollar(_)) => {}
                        _ => {
                            let mut conds = outer.clone();
                            conds.extend(negated(&earlier));
                            return self.block(ev, conds);
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn block(&mut self, ev: &mut Eval, conditions: Vec<Condition>) -> Result<(), Error> {
        if conditions.len() > MAX_NESTING {
            return self.err(format!("conditions nest deeper than {MAX_NESTING}"));
        }
        let pos = self.expect(&Tok::LBrace, "'{'")?;
        ev.cfg.blocks.push(Block {
            conditions,
            settings: Vec::new(),
            pos: Some(pos),
        });
        ev.stack.push(ev.cfg.blocks.len() - 1);
        let r = self.statements(ev, true);
        ev.stack.pop();
        r
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Str(s) => format!("the string {s:?}"),
        Tok::Int(n) => format!("the number {n}"),
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Dollar(s) => format!("'${s}'"),
        Tok::Op(o) => format!("'{o}'"),
        other => format!("{other:?}"),
    }
}

/// `a + b` and `a += b`: strings join (a number joins as its digits), numbers add, arrays append.
fn concat(a: Value, b: Value) -> Result<Value, String> {
    Ok(match (a, b) {
        (Value::Str(a), Value::Str(b)) => Value::Str(a + &b),
        (Value::Str(a), Value::Int(b)) => Value::Str(format!("{a}{b}")),
        (Value::Int(a), Value::Str(b)) => Value::Str(format!("{a}{b}")),
        (Value::Int(a), Value::Int(b)) => Value::Int(a.checked_add(b).ok_or("integer overflow")?),
        (Value::Array(mut a), Value::Array(b)) => {
            for (k, v) in b {
                // A key given again replaces the earlier element, as in lighttpd.
                if let Some(k) = &k
                    && let Some(slot) = a.iter_mut().find(|(ak, _)| ak.as_ref() == Some(k))
                {
                    slot.1 = v;
                    continue;
                }
                a.push((k, v));
            }
            Value::Array(a)
        }
        (a, b) => return Err(format!("cannot combine {} with {}", a.kind(), b.kind())),
    })
}

fn lookup(ev: &Eval, name: &str) -> Option<Value> {
    if let Some(var) = name.strip_prefix("env.") {
        return std::env::var(var).ok().map(Value::Str);
    }
    for &b in ev.stack.iter().rev() {
        if let Some(v) = ev.cfg.blocks[b].get(name) {
            return Some(v.clone());
        }
    }
    match name {
        "var.PID" => Some(Value::Int(i64::from(std::process::id()))),
        "var.CWD" => std::env::current_dir()
            .ok()
            .map(|d| Value::Str(d.to_string_lossy().into_owned())),
        _ => None,
    }
}

/// `*` and `?` in one path component.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn include(ev: &mut Eval, arg: &str, pos: &Pos) -> Result<(), Error> {
    let path = ev.base_dir.join(arg);
    let err = |m: String| Error {
        pos: pos.clone(),
        message: m,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let files = if name.contains(['*', '?']) {
        let dir = path.parent().unwrap_or(Path::new("/"));
        if dir.to_string_lossy().contains(['*', '?']) {
            return Err(err(format!(
                "include {arg:?}: wildcards are supported in the file name only"
            )));
        }
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(d) => d
                .flatten()
                .filter(|e| wildcard(&name, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect(),
            // A glob that matches nothing is fine, even in a missing directory.
            Err(_) => Vec::new(),
        };
        files.sort();
        files
    } else {
        vec![path]
    };
    for f in files {
        let text = std::fs::read_to_string(&f)
            .map_err(|e| err(format!("include {}: {e}", f.display())))?;
        nested(ev, &text, &f.display().to_string(), pos)?;
    }
    Ok(())
}

fn include_shell(ev: &mut Eval, cmd: &str, pos: &Pos) -> Result<(), Error> {
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(&ev.base_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error {
            pos: pos.clone(),
            message: format!("include_shell {cmd:?}: {e}"),
        })?;
    if !out.status.success() {
        return Err(Error {
            pos: pos.clone(),
            message: format!(
                "include_shell {cmd:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    nested(ev, &text, &format!("include_shell {cmd:?}"), pos)
}

fn nested(ev: &mut Eval, text: &str, file: &str, pos: &Pos) -> Result<(), Error> {
    if ev.depth >= MAX_INCLUDE_DEPTH {
        return Err(Error {
            pos: pos.clone(),
            message: format!("includes nest deeper than {MAX_INCLUDE_DEPTH} (a loop?)"),
        });
    }
    ev.depth += 1;
    let r = parse_text(ev, text, file);
    ev.depth -= 1;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LighttpdConfig, Error> {
        parse_str(text, "t.conf", Path::new("/tmp"))
    }

    #[test]
    fn values_variables_and_operators() {
        let c = parse(
            "var.base = \"/srv\"\nserver.document-root = var.base + \"/www\"\nserver.port = 80\n\
             server.modules = (\"mod_a\",)\nserver.modules += (\"mod_b\")\nx.y = server.port + 1\n\
             s = \"a\" + 8080\nq = \"say \\\"hi\\\" \\\\n\"\nnested = ( \"k\" => ( \"a\" => 1, ), \"j\" => \"v\" )\n\
             server.tag := \"t2\"\nserver.tag := \"t3\"\n",
        )
        .unwrap();
        let g = c.global();
        assert_eq!(
            g.get("server.document-root"),
            Some(&Value::Str("/srv/www".into()))
        );
        assert_eq!(g.get("x.y"), Some(&Value::Int(81)));
        assert_eq!(g.get("s"), Some(&Value::Str("a8080".into())));
        assert_eq!(g.get("q"), Some(&Value::Str("say \"hi\" \\\\n".into())));
        assert_eq!(
            g.get("server.modules"),
            Some(&Value::Array(vec![
                (None, Value::Str("mod_a".into())),
                (None, Value::Str("mod_b".into()))
            ]))
        );
        assert_eq!(
            g.get("nested").unwrap().get("k").unwrap().get("a"),
            Some(&Value::Int(1))
        );
        assert_eq!(g.get("server.tag"), Some(&Value::Str("t3".into())));
    }

    #[test]
    fn conditionals_with_else_and_nesting() {
        let c = parse(
            "$HTTP[\"host\"] == \"a\" {\n  $HTTP[\"url\"] =~ \"^/x\" { k = 1 }\n} else $HTTP[\"host\"] =^ \"b\" {\n k = 2\n} elsif $SERVER[\"socket\"] != \":81\" { k = 3 } else if $HTTP[\"url\"] =$ \".php\" { k = 4 } else { k = 5 }\n\
             global { g = 1 }\n$REQUEST_HEADER[\"X-A\"] !~ \"b\" { k = 6 }\n",
        )
        .unwrap();
        assert_eq!(c.blocks.len(), 8);
        assert_eq!(c.blocks[2].conditions.len(), 2, "nested: both conditions");
        assert_eq!(c.blocks[2].conditions[1].pattern, "^/x");
        let last_else = &c.blocks[6];
        assert_eq!(last_else.conditions.len(), 4);
        assert!(last_else.conditions.iter().all(|c| c.negated));
        assert_eq!(last_else.get("k"), Some(&Value::Int(5)));
        assert_eq!(c.global().get("g"), Some(&Value::Int(1)));
        assert_eq!(c.blocks[7].conditions[0].field, "REQUEST_HEADER[\"X-A\"]");
        assert_eq!(c.blocks[7].conditions[0].op, "!~");
    }

    #[test]
    fn env_pid_cwd() {
        let c = parse("a = env.PATH\nb = var.PID\nc = var.CWD\n").unwrap();
        assert!(c.global().get("a").unwrap().as_str().unwrap().contains('/'));
        assert_eq!(
            c.global().get("b"),
            Some(&Value::Int(i64::from(std::process::id())))
        );
        assert!(
            parse("env.X = 1")
                .unwrap_err()
                .message
                .contains("read-only")
        );
    }

    #[test]
    fn errors_name_the_position() {
        let e = parse("server.port = 80\nserver.port = 81\n").unwrap_err();
        assert_eq!((e.pos.line, e.pos.column), (2, 1));
        assert!(e.message.contains("already set (at t.conf:1:1)"), "{e}");
        let e = parse("a = (1, 2\n").unwrap_err();
        assert!(e.message.contains("missing ')'"), "{e}");
        let e = parse("a = undefined.thing\n").unwrap_err();
        assert_eq!(e.to_string(), "t.conf:1:5: undefined.thing is not defined");
        let e = parse("$HTTP[\"url\"] = \"x\" { }").unwrap_err();
        assert!(e.message.contains("compares with =="), "{e}");
        let e = parse("$HTTP[\"url\"] == \"x\" {\n a = 1\n").unwrap_err();
        assert!(e.message.contains("missing '}'"), "{e}");
        let e = parse("a = \"unterminated\n").unwrap_err();
        assert!(e.message.contains("unterminated string"), "{e}");
        let e = parse("a = (1) + \"x\"").unwrap_err();
        assert!(
            e.message.contains("cannot combine an array with a string"),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("a = {}{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(parse(&deep).unwrap_err().message.contains("nest deeper"));
        let blocks = "$HTTP[\"url\"] == \"x\" {".repeat(10_000);
        assert!(parse(&blocks).unwrap_err().message.contains("nest deeper"));
    }

    #[test]
    fn sandboxed_input_runs_nothing() {
        let e = parse_sandboxed("include_shell \"touch /tmp/x\"").unwrap_err();
        assert!(e.message.contains("not allowed"), "{e}");
        assert!(parse_sandboxed("include \"/etc/passwd\"").is_err());
        assert!(parse_sandboxed("a = 1").is_ok());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*.conf", "10-fastcgi.conf"));
        assert!(!wildcard("*.conf", "10-fastcgi.conf.bak"));
        assert!(wildcard("1?-*.conf", "10-a.conf"));
        assert!(wildcard("*", ""));
    }

    #[test]
    fn includes_globs_and_shell() {
        let dir = std::env::temp_dir().join(format!("lt-inc-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(
            dir.join("conf.d/10-a.conf"),
            "server.modules += (\"mod_a\")\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("conf.d/20-b.conf"),
            "server.modules += (\"mod_b\")\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("main.conf"),
            "server.modules = ()\ninclude \"conf.d/*.conf\"\ninclude \"none/*.conf\"\n\
             include_shell \"echo 'x.shell = 42'\"\n",
        )
        .unwrap();
        let c = parse_file(&dir.join("main.conf")).unwrap();
        assert_eq!(
            c.global()
                .get("server.modules")
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(c.global().get("x.shell"), Some(&Value::Int(42)));
        std::fs::write(dir.join("loop.conf"), "include \"loop.conf\"\n").unwrap();
        let e = parse_file(&dir.join("loop.conf")).unwrap_err();
        assert!(e.message.contains("nest deeper"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
