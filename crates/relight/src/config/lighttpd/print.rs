//! Prints an evaluated configuration back in lighttpd's language (`relight -p`): every scope
//! with its final values. Reading the output again gives the same configuration.

use std::fmt::Write;

use super::{LighttpdConfig, Value};

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

fn value(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Str(s) => out.push_str(&quote(s)),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("( )");
                return;
            }
            out.push_str("(\n");
            for (k, v) in items {
                out.push_str(&"\t".repeat(indent + 1));
                if let Some(k) = k {
                    let _ = write!(out, "{} => ", quote(k));
                }
                value(out, v, indent + 1);
                out.push_str(",\n");
            }
            out.push_str(&"\t".repeat(indent));
            out.push(')');
        }
    }
}

/// The operator and pattern that hold exactly when `op pattern` does not.
fn negate(op: &'static str, pattern: &str) -> (&'static str, String) {
    let escape = |s: &str| {
        s.chars().fold(String::new(), |mut o, c| {
            if "\\.^$|?*+()[]{}".contains(c) {
                o.push('\\');
            }
            o.push(c);
            o
        })
    };
    match op {
        "==" => ("!=", pattern.into()),
        "!=" => ("==", pattern.into()),
        "=~" => ("!~", pattern.into()),
        "!~" => ("=~", pattern.into()),
        "=^" => ("!~", format!("^{}", escape(pattern))),
        _ => ("!~", format!("{}$", escape(pattern))),
    }
}

/// The configuration as text.
pub fn print(c: &LighttpdConfig) -> String {
    let mut out = String::new();
    for (i, b) in c.blocks.iter().enumerate() {
        let indent = usize::from(i > 0);
        if i > 0 && b.settings.is_empty() {
            continue; // a block that only holds other blocks: they carry its conditions
        }
        if i > 0 {
            // Each block on its own, nested in every condition that leads to it; an `else`
            // branch's earlier conditions are written negated.
            out.push('\n');
            let mut opened = 0;
            for c in &b.conditions {
                let (op, pattern) = if c.negated {
                    negate(c.op, &c.pattern)
                } else {
                    (c.op, c.pattern.clone())
                };
                let _ = writeln!(
                    out,
                    "{}${} {} {} {{",
                    "\t".repeat(opened),
                    c.field,
                    op,
                    quote(&pattern)
                );
                opened += 1;
            }
            for (k, v, _) in &b.settings {
                out.push_str(&"\t".repeat(opened));
                let _ = write!(out, "{k} = ");
                value(&mut out, v, opened);
                out.push('\n');
            }
            for o in (0..opened).rev() {
                let _ = writeln!(out, "{}}}", "\t".repeat(o));
            }
            continue;
        }
        for (k, v, _) in &b.settings {
            out.push_str(&"\t".repeat(indent));
            let _ = write!(out, "{k} = ");
            value(&mut out, v, indent);
            out.push('\n');
        }
    }
    out
}
