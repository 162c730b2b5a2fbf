//! libFuzzer target `body`: see `wssniff_fuzz::body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssniff_fuzz::body(data));
