//! The lighttpd configuration parser never panics on any text (includes are refused).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(c) = relight::lighttpd::parse_sandboxed(text)
    {
        let _ = relight::lighttpd::print::print(&c);
    }
});
