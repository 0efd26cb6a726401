//! The application-side decoder never panics, whatever a web server sends, in any split.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut d = fcgi_proto::app::RequestDecoder::new(fcgi_proto::Limits::default());
    for chunk in data.chunks(data.first().map_or(1, |&b| b as usize % 64 + 1)) {
        d.push(chunk);
        while let Ok(Some(ev)) = d.next_event() {
            if matches!(ev, fcgi_proto::app::RequestEvent::StdinEnd) {
                d.finish_request();
            }
        }
    }
});
