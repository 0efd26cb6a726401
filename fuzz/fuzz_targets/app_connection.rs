//! fcgi-app serving one connection never panics or hangs on any bytes a client sends (the
//! handler reads the whole body and answers). The client's side is drained by a thread, as a
//! web server reads its backend: the answers to thousands of management records fill a socket
//! buffer that nobody reads, and the application then rightly waits in write.
#![no_main]
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok((mut client, server)) = UnixStream::pair() else {
        return;
    };
    // Inputs are small: they fit in the socket buffer, so writing first cannot block.
    if data.len() > 64 << 10 || client.write_all(data).is_err() {
        return;
    }
    let _ = client.shutdown(std::net::Shutdown::Write);
    let drain = std::thread::spawn(move || std::io::copy(&mut client, &mut std::io::sink()));
    let handler = |req: &mut fcgi_app::Request, resp: &mut fcgi_app::Response| {
        let mut body = Vec::new();
        req.read_to_end(&mut body)?;
        write!(resp, "{} {}", req.method(), body.len())
    };
    fcgi_app::Builder::new()
        .workers(1)
        .serve_connection(fcgi_app::Stream::Unix(server), &handler);
    // The connection is closed once served: the drain sees the end.
    let _ = drain.join();
});
