//! The web-server-side decoder never panics, whatever a backend sends, in any split.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut d = fcgi_proto::server::ResponseDecoder::new(1, fcgi_proto::Limits::default());
    for chunk in data.chunks(data.first().map_or(1, |&b| b as usize % 64 + 1)) {
        d.push(chunk);
        while let Ok(Some(_)) = d.next_event() {}
    }
});
