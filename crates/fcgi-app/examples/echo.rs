//! Answers its role, its params (sorted, one `NAME=value` per line) and its body.
use std::io::{Read, Write};

fn main() {
    let r = fcgi_app::run(
        |req: &mut fcgi_app::Request, resp: &mut fcgi_app::Response| {
            let mut params: Vec<String> = req
                .params()
                .map(|(n, v)| {
                    format!(
                        "{}={}",
                        String::from_utf8_lossy(n),
                        String::from_utf8_lossy(v)
                    )
                })
                .collect();
            params.sort();
            let mut body = Vec::new();
            req.read_to_end(&mut body)?;
            resp.set_header("Content-Type", "text/plain");
            writeln!(resp, "ROLE={:?}", req.role())?;
            for p in params {
                writeln!(resp, "{p}")?;
            }
            writeln!(resp, "BODY_LENGTH={}", body.len())?;
            resp.write_all(b"BODY=")?;
            resp.write_all(&body)
        },
    );
    if let Err(e) = r {
        eprintln!("echo: {e}");
        std::process::exit(1);
    }
}
