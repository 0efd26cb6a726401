//! The lighttpd configuration parser, printer and mapper never panic on any text (includes are
//! refused).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(c) = relight::lighttpd::parse_sandboxed(text)
    {
        let _ = relight::lighttpd::print::print(&c);
        let _ = relight::lighttpd::map::to_config(&c, std::path::Path::new("/fuzz.conf"));
    }
});
