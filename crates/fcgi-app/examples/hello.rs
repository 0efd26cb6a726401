//! Answers `Hello from fcgi-app` and its pid.
use std::io::Write;

fn main() {
    let r = fcgi_app::run(
        |_req: &mut fcgi_app::Request, resp: &mut fcgi_app::Response| {
            resp.set_header("Content-Type", "text/plain");
            writeln!(resp, "Hello from fcgi-app, pid {}", std::process::id())
        },
    );
    if let Err(e) = r {
        eprintln!("hello: {e}");
        std::process::exit(1);
    }
}
