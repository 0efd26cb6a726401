//! Name-value pair decoding never panics and never allocates past its limits.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let block = bytes::Bytes::copy_from_slice(data);
    let _ = fcgi_proto::pairs::decode_pairs(&block, &fcgi_proto::Limits::default());
});
