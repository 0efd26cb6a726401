//! Reading lighttpd's configuration language: the whole grammar (assignments `=`, `+=`, `:=`,
//! strings, integers, arrays and `=>` arrays, `+` concatenation, variables, `env.*`,
//! `var.PID`/`var.CWD`, conditionals with `else`/`else if`, `global { }`, `include` with globs,
//! `include_shell`), evaluated as lighttpd evaluates it into one global scope and a list of
//! conditional blocks. Mapping the result onto relight's own configuration is not done here.

pub mod keys;
mod lexer;
pub mod map;
mod parser;
pub mod print;

use std::fmt;
use std::path::Path;

pub use parser::{parse_file, parse_sandboxed, parse_str};

pub use super::Error;
pub use super::values::Pos;

/// A value of the language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// An array; each element may have a key (`"k" => v`).
    Array(Vec<(Option<String>, Value)>),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[(Option<String>, Value)]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The value under `key`, if this is an array with such a keyed element.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_array()?
            .iter()
            .find(|(k, _)| k.as_deref() == Some(key))
            .map(|(_, v)| v)
    }

    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Array(_) => "an array",
        }
    }
}

/// One condition of a conditional block: `$HTTP["url"] =~ "^/app"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `HTTP["url"]`, `SERVER["socket"]`, `REQUEST_HEADER["X-Foo"]`, ...
    pub field: String,
    /// `==`, `!=`, `=~`, `!~`, `=^`, `=$`.
    pub op: &'static str,
    /// The right-hand side.
    pub pattern: String,
    /// True for the conditions of earlier branches that an `else` negates.
    pub negated: bool,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = format!("${} {} {:?}", self.field, self.op, self.pattern);
        if self.negated {
            write!(f, "not ({c})")
        } else {
            f.write_str(&c)
        }
    }
}

/// A scope: the global one, or a conditional block with the conditions that lead to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Block {
    /// All conditions that must hold (outer first); empty for the global scope.
    pub conditions: Vec<Condition>,
    /// Keys set in this scope, in order, with where.
    pub settings: Vec<(String, Value, Pos)>,
    /// Where the block starts (for the global scope, the main file's start).
    pub pos: Option<Pos>,
}

impl Block {
    /// The value of `key` in this scope.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.settings
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v)
    }

    /// The value of `key` and where it was set.
    pub fn get_with_pos(&self, key: &str) -> Option<(&Value, &Pos)> {
        self.settings
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, p)| (v, p))
    }
}

/// A whole evaluated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LighttpdConfig {
    /// `blocks[0]` is the global scope; the others are conditional blocks in file order.
    pub blocks: Vec<Block>,
}

impl LighttpdConfig {
    /// The global scope.
    pub fn global(&self) -> &Block {
        &self.blocks[0]
    }
}

/// Whether `text` looks like lighttpd's language rather than TOML: a TOML file has `[section]`
/// headers and no lighttpd-only syntax (`server.x =`, `$HTTP[`, `+=`, `=>`, `include`).
pub fn looks_like_lighttpd(path: &Path, text: &str) -> bool {
    if path.extension().is_some_and(|e| e == "toml") {
        return false;
    }
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        if l.starts_with('[') {
            return false;
        }
        if l.starts_with('$')
            || l.starts_with("include")
            || l.starts_with("server.")
            || l.starts_with("var.")
            || l.contains("+=")
            || l.contains("=>")
        {
            return true;
        }
    }
    false
}
