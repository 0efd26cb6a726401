//! The lighttpd configuration parser, printer and mapper never panic on any text (includes are
//! refused).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(c) = relight::config::lighttpd::parse_sandboxed(text)
    {
        let _ = relight::config::lighttpd::print::print(&c);
        let _ = relight::config::lighttpd::map::to_config(&c, std::path::Path::new("/fuzz.conf"));
    }
});
