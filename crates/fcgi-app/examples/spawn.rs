//! Starts `sleep 100000` in the background twice — with `std::process::Command` and with
//! `libc::system("sleep 100000 &")` — then answers `spawned`. With libfcgi both children would
//! hold the listening socket; with fcgi-app neither does.
use std::io::Write;

fn main() {
    let r = fcgi_app::run(
        |_req: &mut fcgi_app::Request, resp: &mut fcgi_app::Response| {
            let child = std::process::Command::new("sleep").arg("100000").spawn()?;
            // SAFETY: the argument is a NUL-terminated string literal; system(3) only reads it.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::system(c"sleep 100000 &".as_ptr()) };
            resp.set_header("Content-Type", "text/plain");
            writeln!(resp, "spawned (pid {}, system() returned {rc})", child.id())
        },
    );
    if let Err(e) = r {
        eprintln!("spawn: {e}");
        std::process::exit(1);
    }
}
