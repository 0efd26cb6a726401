//! fcgi-app serving one connection never panics on any bytes a client sends (the handler
//! reads the whole body and answers).
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
    let handler = |req: &mut fcgi_app::Request, resp: &mut fcgi_app::Response| {
        let mut body = Vec::new();
        req.read_to_end(&mut body)?;
        write!(resp, "{} {}", req.method(), body.len())
    };
    fcgi_app::Builder::new()
        .workers(1)
        .serve_connection(fcgi_app::Stream::Unix(server), &handler);
});
