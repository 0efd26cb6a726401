//! Tokens of lighttpd's configuration language, each with its line and column.

use super::{Error, Pos};

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// `"text"` (only `\"` is an escape; other backslashes stay as they are).
    Str(String),
    /// A decimal integer.
    Int(i64),
    /// A name: `server.port`, `var.x`, `env.HOME`, `else`, `include`, ...
    Ident(String),
    /// `$HTTP`, `$SERVER`, `$REQUEST_HEADER`, ...
    Dollar(String),
    /// `=`.
    Assign,
    /// `+=`.
    Append,
    /// `:=`.
    Force,
    /// `+`.
    Plus,
    /// `=>`.
    Arrow,
    /// `==`, `!=`, `=~`, `!~`, `=^`, `=$`.
    Op(&'static str),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `[`.
    LBracket,
    /// `]`.
    RBracket,
    /// `{`.
    LBrace,
    /// `}`.
    RBrace,
    /// `,`.
    Comma,
    /// `;` (accepted between statements, as lighttpd does).
    Semicolon,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Splits `text` (from `file`) into tokens.
pub(super) fn lex(text: &str, file: &str) -> Result<Vec<(Tok, Pos)>, Error> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let err = |line, column, msg: String| Error::at(file, line, column, msg);
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos {
            file: file.into(),
            line,
            column: col,
        };
        let advance = |n: usize, i: &mut usize, col: &mut usize| {
            *i += n;
            *col += n;
        };
        match c {
            '\n' => {
                i += 1;
                line += 1;
                col = 1;
            }
            c if c.is_whitespace() => advance(1, &mut i, &mut col),
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '"' => {
                let mut s = String::new();
                let (sl, sc) = (line, col);
                i += 1;
                col += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(err(sl, sc, "unterminated string".into()));
                    };
                    i += 1;
                    col += 1;
                    match c {
                        '"' => break,
                        '\\' if chars.get(i) == Some(&'"') => {
                            s.push('"');
                            i += 1;
                            col += 1;
                        }
                        '\n' => {
                            s.push('\n');
                            line += 1;
                            col = 1;
                        }
                        c => s.push(c),
                    }
                }
                out.push((Tok::Str(s), pos));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                col += i - start;
                let n = s
                    .parse()
                    .map_err(|_| err(pos.line, pos.column, format!("integer {s} out of range")))?;
                out.push((Tok::Int(n), pos));
            }
            '$' => {
                let start = i + 1;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if name.is_empty() {
                    return Err(err(line, col, "expected a condition name after '$'".into()));
                }
                col += i - start + 1;
                out.push((Tok::Dollar(name), pos));
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                col += i - start;
                out.push((Tok::Ident(chars[start..i].iter().collect()), pos));
            }
            _ => {
                let next = chars.get(i + 1).copied();
                let (tok, n) = match (c, next) {
                    ('=', Some('=')) => (Tok::Op("=="), 2),
                    ('=', Some('~')) => (Tok::Op("=~"), 2),
                    ('=', Some('^')) => (Tok::Op("=^"), 2),
                    ('=', Some('$')) => (Tok::Op("=$"), 2),
                    ('=', Some('>')) => (Tok::Arrow, 2),
                    ('!', Some('=')) => (Tok::Op("!="), 2),
                    ('!', Some('~')) => (Tok::Op("!~"), 2),
                    ('+', Some('=')) => (Tok::Append, 2),
                    (':', Some('=')) => (Tok::Force, 2),
                    ('=', _) => (Tok::Assign, 1),
                    ('+', _) => (Tok::Plus, 1),
                    ('(', _) => (Tok::LParen, 1),
                    (')', _) => (Tok::RParen, 1),
                    ('[', _) => (Tok::LBracket, 1),
                    (']', _) => (Tok::RBracket, 1),
                    ('{', _) => (Tok::LBrace, 1),
                    ('}', _) => (Tok::RBrace, 1),
                    (',', _) => (Tok::Comma, 1),
                    (';', _) => (Tok::Semicolon, 1),
                    _ => return Err(err(line, col, format!("unexpected character {c:?}"))),
                };
                advance(n, &mut i, &mut col);
                out.push((tok, pos));
            }
        }
    }
    Ok(out)
}
